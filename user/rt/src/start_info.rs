//! What a program the roottask starts finds when it begins: the page [`StartInfo`]
//! (its address is the `hip` argument of `main` and the initial RSP, as the HIP's is for
//! the roottask), its capabilities at the selectors below, and the memory regions it was
//! given.
//!
//! A program runs in a protection domain of its own. Its main EC starts on the CPU in
//! `main`'s first argument with the registers the roottask's start-up reply sets. Every
//! EC it creates on CPU `c` should use [`StartInfo::event_base`]`(c)` (unless it handles
//! its own exceptions): the exception portals there lead to the roottask, which reports
//! the fault and stops the program.

/// "FACETINI": the page is a start-info page of this layout.
pub const MAGIC: u64 = u64::from_le_bytes(*b"FACETINI");

/// Where the roottask maps the page in every program (read-only).
pub const START_INFO_ADDR: u64 = facet_abi::layout::ROOT_HIP_ADDR;
/// The main EC's UTCB.
pub const MAIN_UTCB_ADDR: u64 = facet_abi::layout::ROOT_UTCB_ADDR;
/// The HIP, read-only.
pub const HIP_ADDR: u64 = facet_abi::layout::ROOT_UTCB_ADDR - 0x1000;

/// Selectors every program finds (the exception portals of the main EC's event base 0
/// are at 0..32, its start-up portal at 30).
pub mod sel {
    /// The program's own protection domain.
    pub const PD: u64 = 32;
    /// Its main EC and that EC's SC.
    pub const EC: u64 = 33;
    pub const SC: u64 = 34;
    /// Event bases of ECs created on CPU `c`: `EVENT_BASES + 32 * c`.
    pub const EVENT_BASES: u64 = 0x100;
    /// The console's portals and semaphore: `crate::console_protocol::sel`
    /// (0x1000-0x1041).
    /// Interrupt semaphores given to a driver (GSI n's at `GSIS + n`).
    pub const GSIS: u64 = 0x1100;
    /// The roottask's portal for what a program tells it ([`super::parent`]), on the
    /// main EC's CPU.
    pub const PARENT: u64 = 0x1042;
    /// The first selector the program may use for objects of its own.
    pub const FREE: u64 = 0x2000;
}

/// A region of memory mapped into the program.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Region {
    /// A name, NUL-padded (`ram`, `heap`, or a multiboot module's name).
    pub name: [u8; 16],
    /// Where it is mapped.
    pub va: u64,
    /// Its size in bytes (a multiple of 4 KiB but for modules, which are exact).
    pub size: u64,
    /// [`REGION_WRITABLE`], [`REGION_GUEST`].
    pub flags: u64,
}

/// The region is mapped writable.
pub const REGION_WRITABLE: u64 = 1;
/// The region is meant as a guest's memory (the program may map it into its guest page
/// table at guest-physical 0).
pub const REGION_GUEST: u64 = 2;

/// Regions at most.
pub const MAX_REGIONS: usize = 8;

/// The start-info page.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    /// [`MAGIC`].
    pub magic: u64,
    /// CPUs online, and which of them the program may use (bit n: CPU n).
    pub cpus: u64,
    pub cpu_mask: u64,
    /// The TSC frequency in kHz (the HIP's).
    pub tsc_khz: u64,
    /// Whether each console capability was given (1) or not (0).
    pub console: u64,
    /// Regions: the first `region_count` of `regions` are valid.
    pub region_count: u64,
    pub regions: [Region; MAX_REGIONS],
    /// The program's command line (its multiboot module's, after the program name).
    pub cmdline_len: u64,
    pub cmdline: [u8; 1024],
}

const _: () = assert!(core::mem::size_of::<StartInfo>() <= 4096);

impl StartInfo {
    /// A zeroed page's worth (the roottask fills it).
    pub const fn empty() -> StartInfo {
        StartInfo {
            magic: 0,
            cpus: 0,
            cpu_mask: 0,
            tsc_khz: 0,
            console: 0,
            region_count: 0,
            regions: [Region {
                name: [0; 16],
                va: 0,
                size: 0,
                flags: 0,
            }; MAX_REGIONS],
            cmdline_len: 0,
            cmdline: [0; 1024],
        }
    }

    /// The page at `addr` (the address the program was started with), if it is one.
    pub fn at(addr: u64) -> Option<&'static StartInfo> {
        // SAFETY: the roottask maps the start-info page read-only at this address for
        // the program's whole life; nobody writes it while it is mapped; the layout is
        // plain data of this size.
        let info = unsafe { &*(addr as *const StartInfo) };
        (info.magic == MAGIC).then_some(info)
    }

    /// The command line.
    pub fn cmdline(&self) -> &str {
        let n = (self.cmdline_len as usize).min(self.cmdline.len());
        core::str::from_utf8(&self.cmdline[..n]).unwrap_or("")
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        let n = (self.region_count as usize).min(MAX_REGIONS);
        self.regions[..n].iter().find(|r| r.name() == name)
    }

    /// Where ECs on CPU `cpu` find their exception portals.
    pub fn event_base(cpu: u32) -> u64 {
        sel::EVENT_BASES + 32 * cpu as u64
    }
}

impl Region {
    /// The name as a string.
    pub fn name(&self) -> &str {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.name[..n]).unwrap_or("")
    }

    /// A region record (the name is cut at 16 bytes).
    pub fn new(name: &str, va: u64, size: u64, flags: u64) -> Region {
        let mut n = [0u8; 16];
        let len = name.len().min(16);
        n[..len].copy_from_slice(&name.as_bytes()[..len]);
        Region {
            name: n,
            va,
            size,
            flags,
        }
    }
}

/// What a program tells the roottask through `sel::PARENT` (word 0 of the message).
pub mod parent {
    /// A service registers the capabilities of its client slots (the console:
    /// `facet_rt::console_protocol`), delegated as typed items.
    pub const REGISTER_CONSOLE: u64 = 1;
    /// The program is done: word 1 is its exit code. The roottask stops it.
    pub const EXIT: u64 = 2;
    /// A service registers its portal: word 1 names the service (the edu driver's is
    /// `facet_edu_core::protocol::layout::SERVICE`), typed item 0 delegates the portal.
    /// The roottask answers 0 when it took it and hands it to the service's clients.
    pub const REGISTER_SERVICE: u64 = 3;
}

//! Starting a program from a multiboot module in a protection domain of its own.
//!
//! The module must be an ELF image that passes the same checks the kernel makes of the
//! roottask (`facet_kcore::elf::parse_root`: ELF64 executable for x86_64, loadable
//! segments whose file size is their memory size, nothing on page 0 or the top pages).
//! Unlike the kernel, the roottask copies each page into fresh memory, so that one
//! module can be started several times. The program then gets:
//!
//! - its start-info page read-only at `START_INFO_ADDR`, the HIP below its UTCB;
//! - its own PD, EC and SC capabilities (`start_info::sel`), the PD with the rights to
//!   create ECs, SCs, portals and semaphores but not PDs;
//! - event base 0 for its main EC: exception portals that lead to the roottask (which
//!   reports the fault and stops the program) and the start-up portal; the same
//!   exception portals at `sel::EVENT_BASES + 32 * cpu` for ECs it creates on each CPU
//!   it may use; the roottask's portal for what it tells the roottask (`sel::PARENT`);
//! - whatever [`Program`]'s other methods add (memory regions, ports, capabilities)
//!   before [`Program::start`] creates its main EC and SC.

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_kcore::elf::parse_root;
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, ec_flags, pd_ctrl_delegate, pt_ctrl,
};
use facet_rt::start_info::{
    sel, Region, StartInfo, HIP_ADDR, MAGIC, MAIN_UTCB_ADDR, MAX_REGIONS, START_INFO_ADDR,
};

use super::handlers::{self, Event};
use super::modules::Module;
use super::phys::{give, virt, Phys};
use super::Sels;

/// Exception vectors with portals (30 and 31 are start-up and recall).
const EXCEPTIONS: u64 = 30;

/// A program being set up or running.
pub struct Program {
    /// Its index among the roottask's programs (in its portals' ids).
    pub index: usize,
    /// The roottask's capability to its PD.
    pub pd: u64,
    /// The CPU its main EC runs on and the CPUs it may use.
    pub cpu: u32,
    pub cpu_mask: u64,
    pub entry: u64,
    /// Its start-info page (physical).
    info: u64,
    /// The roottask's capabilities to its main EC and SC (0 until started).
    pub ec: u64,
    pub sc: u64,
    name: [u8; 16],
}

/// Why a program could not be started.
pub type Failure = &'static str;

impl Program {
    /// Creates the program of `module` (its PD, its memory image, its start-info page
    /// and its event portals); its main EC will run on `cpu`.
    pub fn create(
        index: usize,
        module: &Module,
        cpu: u32,
        cpu_mask: u64,
        phys: &mut Phys,
        sels: &mut Sels,
    ) -> Result<Program, Failure> {
        let image =
            parse_root(module.bytes(), module.phys).map_err(|_| "not a valid ELF program")?;
        let pd = sels.take(1);
        create_pd(pd, ROOT_SEL_PD, Crd::NULL, false).map_err(|_| "create_pd failed")?;
        // The image, page by page, into fresh memory.
        for seg in image.segments() {
            let rights = perm::MEM_R
                | if seg.writable { perm::MEM_W } else { 0 }
                | if seg.executable { perm::MEM_X } else { 0 };
            for i in 0..seg.pages {
                let page = phys.alloc(0).ok_or("out of memory for the image")?;
                // SAFETY: both pages are mapped in the window: the module read-only, the
                // new page read-write, and they do not overlap.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        virt(seg.phys + i * 4096) as *const u8,
                        virt(page) as *mut u8,
                        4096,
                    )
                };
                if !give(pd, page, 0, seg.vaddr + i * 4096, rights) {
                    return Err("mapping the image failed");
                }
            }
        }
        let info = phys
            .alloc(0)
            .ok_or("out of memory for the start-info page")?;
        let mut p = Program {
            index,
            pd,
            cpu,
            cpu_mask: cpu_mask | 1 << cpu,
            entry: image.entry,
            info,
            ec: 0,
            sc: 0,
            name: [0; 16],
        };
        let n = module.name().len().min(16);
        p.name[..n].copy_from_slice(&module.name().as_bytes()[..n]);
        {
            let hip = facet_rt::hip::at(facet_abi::layout::ROOT_HIP_ADDR);
            let mask = p.cpu_mask;
            let i = p.info();
            *i = StartInfo::empty();
            i.magic = MAGIC;
            i.cpus = super::cpus_online(&hip) as u64;
            i.cpu_mask = mask;
            i.tsc_khz = hip.u32(facet_abi::hip::off::FREQ_TSC) as u64;
            let args = module.args().as_bytes();
            let len = args.len().min(i.cmdline.len());
            i.cmdline[..len].copy_from_slice(&args[..len]);
            i.cmdline_len = len as u64;
        }
        if !give(pd, info, 0, START_INFO_ADDR, perm::MEM_R) {
            return Err("mapping the start-info page failed");
        }
        let hip_page = Crd::new(
            Kind::Memory,
            facet_abi::layout::ROOT_HIP_ADDR >> 12,
            0,
            perm::MEM_R,
        );
        let hip_at = Crd::new(Kind::Memory, HIP_ADDR >> 12, 0, perm::MEM_R);
        pd_ctrl_delegate(
            ROOT_SEL_PD,
            pd,
            hip_page,
            facet_abi::hypercall::xfer::DELEGATE,
            hip_at,
        )
        .map_err(|_| "mapping the HIP failed")?;
        // Its own PD, able to create everything but PDs.
        let rights = perm::PD_EC | perm::PD_SC | perm::PD_PT | perm::PD_SM;
        p.give_object(pd, sel::PD, rights)?;
        // Exception portals, and the start-up portal of the main EC's event base 0.
        p.event_portals(0, cpu, sels, true)?;
        let mask = p.cpu_mask;
        for c in (0..64).filter(|c| mask & 1 << c != 0) {
            p.event_portals(StartInfo::event_base(c), c, sels, false)?;
        }
        let parent = sels.take(1);
        p.portal(parent, cpu, Event::Parent)?;
        p.give_object(parent, sel::PARENT, perm::PT_ALL)?;
        Ok(p)
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }

    /// Its start-info page, to fill in before it starts.
    pub fn info(&mut self) -> &mut StartInfo {
        // SAFETY: the page is mapped read-write in the roottask's window and the program
        // (which sees it read-only) reads it only once it runs; nobody else writes it.
        unsafe { &mut *(virt(self.info) as *mut StartInfo) }
    }

    /// Portals for the exceptions of ECs on `cpu` at event base `base` of the program
    /// (and the start-up portal at +30 with `startup`).
    fn event_portals(
        &mut self,
        base: u64,
        cpu: u32,
        sels: &mut Sels,
        startup: bool,
    ) -> Result<(), Failure> {
        let first = sels.take(EXCEPTIONS + 1);
        for v in 0..EXCEPTIONS {
            self.portal(first + v, cpu, Event::Exception(v as u8))?;
            self.give_object(first + v, base + v, perm::PT_ALL)?;
        }
        if startup {
            self.portal(first + EXCEPTIONS, cpu, Event::Startup)?;
            self.give_object(first + EXCEPTIONS, base + 30, perm::PT_ALL)?;
        }
        Ok(())
    }

    /// A portal at `sel` of the roottask into its handler on `cpu`, for `event` of this
    /// program.
    fn portal(&self, at: u64, cpu: u32, event: Event) -> Result<(), Failure> {
        let (ec, ip, mtd) = handlers::portal_target(cpu, event).ok_or("no handler on that CPU")?;
        create_pt(at, ROOT_SEL_PD, ec, mtd, ip).map_err(|_| "create_pt failed")?;
        pt_ctrl(at, handlers::portal_id(cpu, self.index, event)).map_err(|_| "pt_ctrl failed")
    }

    /// Delegates the roottask's object capability `from` into the program at `to`.
    pub fn give_object(&self, from: u64, to: u64, rights: u8) -> Result<(), Failure> {
        let crd = Crd::new(Kind::Object, from, 0, rights);
        let window = Crd::new(Kind::Object, to, 0, rights);
        pd_ctrl_delegate(
            ROOT_SEL_PD,
            self.pd,
            crd,
            facet_abi::hypercall::xfer::DELEGATE,
            window,
        )
        .map(|_| ())
        .map_err(|_| "delegating a capability failed")
    }

    /// Delegates the roottask's ports `[base, base + 2^order)`.
    pub fn give_ports(&self, base: u64, order: u8) -> Result<(), Failure> {
        let crd = Crd::new(Kind::Pio, base, order, perm::PIO_A);
        pd_ctrl_delegate(
            ROOT_SEL_PD,
            self.pd,
            crd,
            facet_abi::hypercall::xfer::DELEGATE,
            crd,
        )
        .map(|_| ())
        .map_err(|_| "delegating ports failed")
    }

    /// Gives the program `size` bytes of fresh memory at `va` (both 2 MiB-aligned for
    /// speed; any page-aligned size works) and records the region.
    pub fn give_ram(
        &mut self,
        phys: &mut Phys,
        name: &str,
        va: u64,
        size: u64,
        flags: u64,
    ) -> Result<(), Failure> {
        let mut done = 0;
        while done < size {
            let left = size - done;
            let order = if left >= 0x20_0000 && (va + done).is_multiple_of(0x20_0000) {
                9
            } else {
                0
            };
            let block = phys.alloc(order).ok_or("out of memory")?;
            let mut rights = if flags & facet_rt::start_info::REGION_WRITABLE != 0 {
                perm::MEM_R | perm::MEM_W
            } else {
                perm::MEM_R
            };
            // A guest executes its RAM, and under SVM only what was delegated with the
            // execute right: rights only shrink from here to the VMM's guest table.
            if flags & facet_rt::start_info::REGION_GUEST != 0 {
                rights |= perm::MEM_X;
            }
            if !give(self.pd, block, order, va + done, rights) {
                return Err("mapping memory failed");
            }
            done += 4096 << order;
        }
        self.add_region(Region::new(name, va, size, flags))
    }

    /// Maps module `m` read-only at `va` and records it as region `name`.
    pub fn give_module(&mut self, name: &str, m: &Module, va: u64) -> Result<(), Failure> {
        let start = m.phys & !0xfff;
        let pages = (m.phys + m.size - start).div_ceil(4096);
        for i in 0..pages {
            if !give(self.pd, start + i * 4096, 0, va + i * 4096, perm::MEM_R) {
                return Err("mapping a module failed");
            }
        }
        self.add_region(Region::new(name, va + (m.phys - start), m.size, 0))
    }

    /// Maps physical memory the kernel owns no part of (a device's registers, the VGA
    /// text buffer) at `va`, from the kernel, and records it.
    pub fn give_device_memory(
        &mut self,
        name: &str,
        phys: u64,
        pages: u64,
        va: u64,
    ) -> Result<(), Failure> {
        for i in 0..pages {
            let crd = Crd::new(Kind::Memory, (phys >> 12) + i, 0, perm::MEM_R | perm::MEM_W);
            let window = Crd::new(Kind::Memory, (va >> 12) + i, 0, perm::MEM_R | perm::MEM_W);
            pd_ctrl_delegate(ROOT_SEL_PD, self.pd, crd, crate::FROM_KERNEL, window)
                .map_err(|_| "mapping device memory failed")?;
        }
        self.add_region(Region::new(
            name,
            va,
            pages * 4096,
            facet_rt::start_info::REGION_WRITABLE,
        ))
    }

    /// Gives the program `1 << order` pages of fresh memory for its device's DMA: at
    /// `va` in its address space and at `device` in its device page table (the device
    /// reaches it there once it is assigned to the program), recorded as region `name`;
    /// the memory's physical address.
    pub fn give_dma(
        &mut self,
        phys: &mut Phys,
        name: &str,
        order: u32,
        va: u64,
        device: u64,
    ) -> Result<u64, Failure> {
        use facet_abi::hypercall::delegate::{DEVICE, NOT_HOST};
        let block = phys.alloc(order).ok_or("out of memory")?;
        let rw = perm::MEM_R | perm::MEM_W;
        if !give(self.pd, block, order, va, rw) {
            return Err("mapping memory failed");
        }
        let crd = Crd::new(Kind::Memory, virt(block) >> 12, order as u8, rw);
        let window = Crd::new(Kind::Memory, device >> 12, order as u8, rw);
        let meta = facet_abi::hypercall::xfer::DELEGATE | DEVICE | NOT_HOST;
        pd_ctrl_delegate(ROOT_SEL_PD, self.pd, crd, meta, window)
            .map_err(|_| "mapping memory into the device page table failed")?;
        self.add_region(Region::new(
            name,
            va,
            4096 << order,
            facet_rt::start_info::REGION_WRITABLE,
        ))?;
        Ok(block)
    }

    fn add_region(&mut self, r: Region) -> Result<(), Failure> {
        let i = self.info();
        let n = i.region_count as usize;
        if n == MAX_REGIONS {
            return Err("too many regions");
        }
        i.regions[n] = r;
        i.region_count += 1;
        Ok(())
    }

    /// Creates the main EC and its SC: the program starts (its start-up message reaches
    /// the roottask's handler on its CPU, whose reply sets its entry).
    pub fn start(&mut self, sels: &mut Sels) -> Result<(), Failure> {
        let (ec, sc) = (sels.take(1), sels.take(1));
        create_ec(
            ec,
            self.pd,
            ec_flags::GLOBAL,
            self.cpu as u64,
            MAIN_UTCB_ADDR,
            0,
            0,
        )
        .map_err(|_| "create_ec failed")?;
        self.give_object(ec, sel::EC, perm::EC_ALL)?;
        handlers::set_entry(self.index, self.entry, self.cpu);
        create_sc(sc, ROOT_SEL_PD, ec, 1, 10_000).map_err(|_| "create_sc failed")?;
        self.give_object(sc, sel::SC, perm::SC_ALL)?;
        self.ec = ec;
        self.sc = sc;
        Ok(())
    }
}

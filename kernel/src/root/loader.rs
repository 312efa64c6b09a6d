//! Loading the roottask from multiboot module 0 and entering it.
//!
//! The ELF image is validated by `facet_kcore::elf` and its loadable segments are mapped
//! in place, with the rights their program headers ask for. The HIP is mapped read-only
//! one page below `USER_ADDR`, the UTCB one page below that. The root Pd, Ec and Sc are
//! real objects with capabilities at selectors 32, 33 and 34 of the root's object space. The roottask starts in ring
//! 3 at its entry point with RSP pointing at the HIP and RDI holding the boot CPU's
//! number, as in the reference.

use facet_abi::layout::{
    ROOT_HIP_ADDR, ROOT_SEL_EC, ROOT_SEL_PD, ROOT_SEL_SC, ROOT_UTCB_ADDR, SEL_USER_CODE64,
    SEL_USER_DATA,
};
use facet_abi::perm;
use facet_kcore::bootinfo::BootInfo;
use facet_kcore::capspace::{self, Cap};
use facet_kcore::elf::{parse_root, ElfError};
use facet_kcore::paging::{Attrs, MapError, PageSize};

use crate::arch::regs::Frame;
use crate::mem::direct_map::virt;
use crate::mem::frames::{self, PoolFrames};
use crate::mem::init::Plan;
use crate::mem::kspace;
use crate::mem::usage::Use;
use crate::obj::ec::{Ec, EcParams};
use crate::obj::pd::{self, Pd};
use crate::obj::sc::{Sc, DEFAULT_PRIO, DEFAULT_QUANTUM};
use crate::obj::spaces::{obj_space, tools};
use crate::obj::{with, Kind};

/// Why the roottask could not be started.
#[derive(Debug)]
pub enum RootError {
    NoModule,
    OutsideMemory { start: u64, end: u64 },
    Elf(ElfError),
    OutOfMemory,
    Map(MapError),
}

impl core::fmt::Display for RootError {
    // Only the boot prints it; the ELF parser's messages are boot-only code too.
    #[link_section = ".init.text"]
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            RootError::NoModule => write!(
                f,
                "no roottask module: pass the roottask ELF as multiboot module 0"
            ),
            RootError::OutsideMemory { start, end } => {
                write!(
                    f,
                    "roottask module [{start:#x}, {end:#x}) lies outside the memory map"
                )
            }
            RootError::Elf(e) => {
                // Called directly: a `{e}` would go through a resident `<&T as Display>`
                // shim into the boot-only code.
                f.write_str("roottask module 0 is not an ELF64 executable Facet can load: ")?;
                core::fmt::Display::fmt(e, f)
            }
            RootError::OutOfMemory => {
                write!(f, "kernel pool exhausted while building the roottask")
            }
            RootError::Map(e) => write!(f, "roottask mapping failed: {e:?}"),
        }
    }
}

/// Builds the roottask and enters it. Returns only on failure.
#[link_section = ".init.text"]
pub fn start(
    info: &BootInfo,
    plan: &Plan,
    cpu: u64,
) -> Result<core::convert::Infallible, RootError> {
    let module = *info.modules().first().ok_or(RootError::NoModule)?;
    let mem = kspace::phys();
    if module.end < module.start || module.end > mem.limit || module.start % 4096 != 0 {
        return Err(RootError::OutsideMemory {
            start: module.start,
            end: module.end,
        });
    }
    // SAFETY: the module lies in RAM covered by the direct map (checked above), the
    // allocator never hands out its frames (reserved at boot), and nothing writes to it
    // while the kernel reads it here.
    let image = unsafe {
        core::slice::from_raw_parts(
            virt(module.start) as *const u8,
            (module.end - module.start) as usize,
        )
    };
    let elf = parse_root(image, module.start).map_err(RootError::Elf)?;

    let root = Pd::create(true, true).map_err(|_| RootError::OutOfMemory)?;
    let pt = with::<Pd, _>(root, |p| p.page_table()).ok_or(RootError::OutOfMemory)?;
    let mut mem = kspace::phys();
    let mut fs = PoolFrames::new(Use::HostTables);

    for s in elf.segments() {
        let attrs = Attrs {
            write: s.writable,
            execute: s.executable,
            user: true,
            global: false,
            uncached: false,
        };
        for i in 0..s.pages {
            pt.map(
                &mut mem,
                &mut fs,
                s.vaddr + i * 4096,
                s.phys + i * 4096,
                PageSize::Size4K,
                attrs,
            )
            .map_err(RootError::Map)?;
        }
    }

    let hip_frame = frames::alloc_zeroed(0, Use::Boot).ok_or(RootError::OutOfMemory)?;
    crate::mem::set_hip_frame(hip_frame);
    // SAFETY: the frame was just allocated from the pool, is direct-mapped, and is only
    // written here, before the roottask can see it.
    let hip_page = unsafe { core::slice::from_raw_parts_mut(virt(hip_frame) as *mut u8, 4096) };
    super::hip::build(hip_page, info, plan, crate::mem::image::phys_range());
    let ro = Attrs {
        write: false,
        execute: false,
        user: true,
        global: false,
        uncached: false,
    };
    pt.map(
        &mut mem,
        &mut fs,
        ROOT_HIP_ADDR,
        hip_frame,
        PageSize::Size4K,
        ro,
    )
    .map_err(RootError::Map)?;

    // The root EC (global, with its UTCB) and its SC, and the three capabilities.
    let ec = Ec::create(&EcParams {
        pd: root,
        cpu: cpu as u32,
        global: true,
        vcpu: false,
        user_page: ROOT_UTCB_ADDR,
        utcb_pd: root,
        sp: ROOT_HIP_ADDR,
        evt: 0,
    })
    .map_err(|_| RootError::OutOfMemory)?;
    let sc = Sc::create(ec, DEFAULT_PRIO, DEFAULT_QUANTUM).map_err(|_| RootError::OutOfMemory)?;
    // The capability tables take their frames and their memory as every later insertion
    // does (`tools`, not the page tables' `mem` and `fs`): one instance of the table code
    // for the boot and the run time, and the frames counted as capability tables.
    let (mut spaces, mut cap_mem, mut cap_frames) = tools();
    // The rights the reference gives: all five on the PD, those defined for the others.
    for (sel, kind, obj, perms) in [
        (ROOT_SEL_PD, Kind::Pd, root, perm::ALL),
        (ROOT_SEL_EC, Kind::Ec, ec, perm::EC_ALL),
        (ROOT_SEL_SC, Kind::Sc, sc, perm::SC_ALL),
    ] {
        capspace::insert_root(
            &mut spaces,
            &mut cap_mem,
            &mut cap_frames,
            obj_space(root),
            sel,
            Cap::new(obj, kind as u8, perms),
        )
        .map_err(|_| RootError::OutOfMemory)?;
    }
    // SAFETY: the root Pd was just created; its capabilities keep it alive.
    unsafe { pd::activate(root) };
    with::<Ec, _>(ec, |e| e.state = crate::obj::ec::State::Ready);
    crate::exec::sched::start(sc, ec);

    let frame = Frame {
        rip: elf.entry,
        cs: SEL_USER_CODE64 as u64,
        rflags: 0x202,
        rsp: ROOT_HIP_ADDR,
        ss: SEL_USER_DATA as u64,
        rdi: cpu,
        ..Frame::default()
    };
    crate::println!(
        "FACET: starting the roottask at {:#x} ({} segments)",
        elf.entry,
        elf.segments().len()
    );
    // SAFETY: the new table shares the kernel half with the current one.
    unsafe { crate::arch::cpu::write_cr3(pt.root) };
    enter(frame)
}

/// Gives the boot-only code back to the pool and enters the roottask with `frame`.
/// Resident: the boot-only code (this module's `start` among it) is gone when it returns
/// to user mode, and nothing returns into it.
#[inline(never)]
fn enter(frame: Frame) -> ! {
    // This CPU's TLB, and every other CPU's that ran a Pd (none yet): the application
    // processors idle in resident code, started with an empty TLB.
    let gained = crate::mem::release_boot_only(crate::smp::shootdown::everywhere);
    crate::println!("memory: boot-only code given back, {gained} frames for the kernel pool");
    crate::smp::bkl::release();
    // SAFETY: the one token of this kernel entry (the boot), used once.
    *unsafe { crate::exec::CurrentFrame::new() } = frame;
    // SAFETY: the roottask's frame is a ring-3 state with user selectors, canonical RIP
    // (inside an executable segment below USER_ADDR) and RSP, IF set and IOPL 0; GS is
    // the kernel's.
    unsafe { crate::entry::syscall::enter_user() }
}

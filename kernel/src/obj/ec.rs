//! Ec: an execution context, a thread (local or global) or a virtual CPU, bound to one
//! CPU.
//!
//! So far Ecs are created and destroyed with their UTCB; running them (portals, the
//! scheduler) comes with the IPC and scheduling work, vCPUs with virtualization.

use facet_kcore::paging::{Attrs, PageSize};

use super::{get, put, with, Handle, Header, Kind, Object, OUT_OF_MEMORY};
use crate::arch::regs::Frame;
use crate::mem::frames::{self, PoolFrames};
use crate::mem::kspace;
use crate::mem::usage::Use;
use facet_abi::status::Status;

/// An execution context.
#[repr(C)]
pub struct Ec {
    hdr: Header,
    /// The Pd it runs in (a counted reference).
    pub pd: Handle,
    /// Its CPU.
    pub cpu: u32,
    /// A global Ec runs under its own Sc; a local one only through portals.
    pub global: bool,
    /// A virtual CPU.
    pub vcpu: bool,
    /// What the Ec is doing (see [`State`]).
    pub state: State,
    /// Always 0: the last byte of the word [`Ec::is_idle_local_thread_on`] compares.
    zero: u8,
    /// Physical address of the UTCB (or vLAPIC page for a vCPU, 0 if none). Every thread
    /// has one, as in the reference, mapped into user space or not.
    pub utcb: u64,
    /// Where the UTCB is mapped, and in which Pd (a counted reference), if anywhere.
    pub utcb_addr: u64,
    pub utcb_pd: Handle,
    /// Event base: first selector of its exception (or VM-exit) portals.
    pub evt: u64,
    /// User register state while the Ec is not on the CPU.
    pub regs: Frame,
    /// While it waits for a reply: the handler it called (the Sc it lends runs there).
    pub callee: Handle,
    /// While it serves a call or message: the Ec its reply goes to. A handler that calls
    /// on has both, which is how calls nest.
    pub reply_to: Handle,
    /// The caller waits in an exception (its reply restores state through the MTD),
    /// not in a `call`.
    pub in_exception: bool,
    /// The MTD of the exception message being handled.
    pub mtd: u64,
    /// Next Ec waiting on the same semaphore.
    pub next_waiter: Handle,
    /// The Sc that ran the Ec when it blocked (to be resumed with it).
    pub blocked_sc: Handle,
    /// That Sc's serial (`Sc::serial`): the handle alone may name a destroyed Sc.
    pub blocked_serial: u64,
    /// User FS and GS bases while the Ec is not on the CPU.
    pub fs_base: u64,
    pub gs_base: u64,
    /// Physical address of the VMCB of a vCPU (0 for a thread).
    pub vmcb: u64,
    /// The XCR0 a vCPU's guest runs with (x87 only at first).
    pub guest_xcr0: u64,
    /// Absolute TSC deadline of a semaphore wait (0: none). With one, the Ec is on the
    /// list of timed waits, in deadline order (`exec::semaphore`), between these two.
    pub deadline: u64,
    pub timed_prev: Handle,
    pub timed_next: Handle,
    /// The semaphore the Ec waits on (while in `WaitSm`), or the handler (while in
    /// `WaitHandler`).
    pub waiting_on: Handle,
    /// First of the callers waiting for this (busy) handler, linked by `next_waiter`.
    pub helpers: Handle,
    /// Scs parked here: the chains they run stop at this Ec (`exec::sched`).
    pub parked: Handle,
    /// A recall is pending: the next time the Ec would return to user mode it sends a
    /// message to event base + 31 instead.
    pub recall: bool,
    /// An exception, start-up, recall or VM-exit message that found its handler busy:
    /// its event number plus one (0: none), and the fault address it carries. The Ec
    /// waits for the handler (helping it) and sends the message when it runs again.
    pub pending_event: u64,
    pub pending_cr2: u64,
    /// FPU/SSE/AVX state while the Ec is not on the CPU.
    pub fpu: crate::arch::fpu::FpuArea,
}

/// The life of an Ec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// A local Ec waiting for a call through one of its portals.
    Idle,
    /// Ready to run in user mode with its saved registers.
    Ready,
    /// A global Ec that has not received its start-up message yet.
    Startup,
    /// Waiting for the reply to a call or an exception message.
    WaitReply,
    /// Waiting on a semaphore.
    WaitSm,
    /// Waiting for a busy portal handler to finish (it then issues its call again).
    WaitHandler,
    /// Stopped for good (a fault nobody handles).
    Dead,
}

/// What `create_ec` asks for.
pub struct EcParams {
    pub pd: Handle,
    pub cpu: u32,
    pub global: bool,
    pub vcpu: bool,
    pub user_page: u64,
    pub utcb_pd: Handle,
    pub sp: u64,
    pub evt: u64,
}

// `cpu`, `global`, `vcpu`, `state` and `zero` make one aligned 64-bit word, in this order.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Ec, cpu).is_multiple_of(8));
    assert!(offset_of!(Ec, global) == offset_of!(Ec, cpu) + 4);
    assert!(offset_of!(Ec, vcpu) == offset_of!(Ec, cpu) + 5);
    assert!(offset_of!(Ec, state) == offset_of!(Ec, cpu) + 6);
    assert!(offset_of!(Ec, zero) == offset_of!(Ec, cpu) + 7);
    assert!(State::Idle as u8 == 0 && core::mem::size_of::<State>() == 1);
};

impl Ec {
    /// Whether the Ec is a local thread (not global, not a vCPU) waiting idle for a call,
    /// on CPU `cpu`: the IPC fast path's test of a portal's handler, one comparison of the
    /// word these fields make (its CPU number, then bytes that are all 0 exactly then).
    #[inline(always)]
    pub fn is_idle_local_thread_on(&self, cpu: u32) -> bool {
        // SAFETY: the five fields make one aligned, initialized word of the Ec (asserted
        // above; `zero` stands for what would be padding), read through a pointer to the
        // whole Ec.
        let word = unsafe {
            core::ptr::read(
                (self as *const Ec as *const u8).add(core::mem::offset_of!(Ec, cpu)) as *const u64,
            )
        };
        word == cpu as u64
    }

    /// The Ec's last capability went: its UTCB (a vCPU's virtual-APIC page) leaves the
    /// user address space now, as in the reference, even while the Ec lives on. The
    /// frame stays the Ec's (the kernel still reads it) until the Ec is destroyed.
    pub fn release_user_page(h: Handle) {
        let Some((utcb, addr, upd)) = with::<Ec, _>(h, |e| {
            let page = (e.utcb, e.utcb_addr, e.utcb_pd);
            e.utcb_pd = 0;
            page
        }) else {
            return;
        };
        if utcb != 0 && upd != 0 {
            unmap_utcb_frame(upd, addr, utcb);
            put(upd);
        }
    }

    /// Creates an Ec with a zeroed UTCB (a thread always, a vCPU's virtual-APIC page only
    /// with a `user_page`), mapped at `user_page` (if non-zero) in `utcb_pd`.
    pub fn create(p: &EcParams) -> Result<Handle, Status> {
        let utcb = if p.user_page != 0 || !p.vcpu {
            frames::alloc_zeroed(0, Use::Utcbs).ok_or(OUT_OF_MEMORY)?
        } else {
            0
        };
        if p.user_page != 0 {
            let mut mem = kspace::phys();
            let mut fs = PoolFrames::new(Use::HostTables);
            let attrs = Attrs {
                write: true,
                execute: false,
                user: true,
                global: false,
                uncached: false,
            };
            let Some(pt) = with::<super::pd::Pd, _>(p.utcb_pd, |d| d.page_table()) else {
                frames::free(utcb, 0, Use::Utcbs);
                return Err(Status::BadCap);
            };
            let mapped = pt.remap(
                &mut mem,
                &mut fs,
                p.user_page,
                Some((utcb, attrs)),
                PageSize::Size4K,
            );
            crate::smp::shootdown::everywhere();
            fs.flushed();
            if mapped.is_err() {
                frames::free(utcb, 0, Use::Utcbs);
                return Err(OUT_OF_MEMORY);
            }
        }
        // A vCPU's page (its virtual-APIC page on VMX) is the one just mapped.
        let vmcb = if p.vcpu {
            match vcpu_block(p.pd, utcb) {
                Ok(b) => b,
                Err(e) => {
                    if utcb != 0 {
                        unmap_utcb(p.utcb_pd, p.user_page);
                        frames::free(utcb, 0, Use::Utcbs);
                    }
                    return Err(e);
                }
            }
        } else {
            0
        };
        // A user-mode state: user selectors, interrupts on.
        let regs = Frame {
            rsp: p.sp,
            cs: facet_abi::layout::SEL_USER_CODE64 as u64,
            ss: facet_abi::layout::SEL_USER_DATA as u64,
            rflags: 0x202,
            ..Frame::default()
        };
        let ec = Ec {
            hdr: Header::new(Kind::Ec),
            pd: p.pd,
            cpu: p.cpu,
            global: p.global,
            vcpu: p.vcpu,
            state: if p.global {
                State::Startup
            } else {
                State::Idle
            },
            zero: 0,
            utcb,
            utcb_addr: p.user_page,
            utcb_pd: if p.user_page != 0 { p.utcb_pd } else { 0 },
            evt: p.evt,
            regs,
            callee: 0,
            reply_to: 0,
            in_exception: false,
            mtd: 0,
            next_waiter: 0,
            blocked_sc: 0,
            blocked_serial: 0,
            recall: false,
            pending_event: 0,
            pending_cr2: 0,
            fs_base: 0,
            gs_base: 0,
            deadline: 0,
            timed_prev: 0,
            timed_next: 0,
            waiting_on: 0,
            helpers: 0,
            parked: 0,
            vmcb,
            guest_xcr0: facet_kcore::vcpu_state::start::XCR0,
            fpu: crate::arch::fpu::FpuArea([0; 3072]),
        };
        let h = alloc_or_unmap(ec)?;
        get(p.pd);
        if p.user_page != 0 {
            get(p.utcb_pd);
        }
        Ok(h)
    }
}

/// The control block of a new vCPU of `pd`, whose virtual-APIC page is `vlapic` (0:
/// none).
fn vcpu_block(pd: Handle, vlapic: u64) -> Result<u64, Status> {
    let (npt, access) = with::<super::pd::Pd, _>(pd, |d| (d.guest_table(), d.apic_access_page()))
        .ok_or(OUT_OF_MEMORY)?;
    let (Some(npt), Some(access)) = (npt, access) else {
        return Err(OUT_OF_MEMORY);
    };
    crate::vcpu::create(npt.root, access, vlapic).ok_or(OUT_OF_MEMORY)
}

fn alloc_or_unmap(ec: Ec) -> Result<Handle, Status> {
    let (utcb, addr, pd) = (ec.utcb, ec.utcb_addr, ec.utcb_pd);
    let (block, cpu) = (ec.vmcb, ec.cpu);
    super::alloc(ec).inspect_err(|_| {
        if block != 0 {
            crate::vcpu::destroy(block, cpu);
        }
        if utcb != 0 {
            // Unmapped first (a Pd of 0: never mapped).
            unmap_utcb(pd, addr);
            frames::free(utcb, 0, Use::Utcbs);
        }
    })
}

/// Unmaps the UTCB page at `addr` from Pd `pd` (nothing for a `pd` of 0).
fn unmap_utcb(pd: Handle, addr: u64) {
    let mut mem = kspace::phys();
    let mut fs = PoolFrames::new(Use::HostTables);
    if let Some(pt) = with::<super::pd::Pd, _>(pd, |d| d.page_table()) {
        let _ = pt.remap(&mut mem, &mut fs, addr, None, PageSize::Size4K);
        crate::smp::shootdown::everywhere();
        fs.flushed();
    }
}

/// Unmaps `frame` from `addr` of Pd `pd` if it is still mapped there: another Ec's UTCB
/// created at the same address since replaced it and stays.
fn unmap_utcb_frame(pd: Handle, addr: u64, frame: u64) {
    let mem = kspace::phys();
    let Some(pt) = with::<super::pd::Pd, _>(pd, |d| d.page_table()) else {
        return;
    };
    if pt.translate(&mem, addr).map(|(p, _, _)| p & !0xfff) == Some(frame) {
        unmap_utcb(pd, addr);
    }
}

impl Object for Ec {
    const KIND: Kind = Kind::Ec;
}

//! The VM-exit round trip, measured as the reference's figure was: a real-mode guest runs
//! CPUID 1,000 times between two RDTSCs; each CPUID exits to a portal of a handler in
//! another PD (the vCPU lives in a PD of its own, the handler in the roottask's), which
//! moves RIP past the instruction and resumes the guest (RAX-RDX and RIP transferred
//! both ways). The guest then halts with the span in EAX; the HLT's handler records it
//! and resumes the guest, which measures again. The figure is the median span of
//! [`ROUNDS`] measurements divided by 1,000: one exit, the handler, the reply and the
//! entry, with the guest's own three loop instructions.
//!
//! `vm_exit_round_trip_cpuid` prints the figure (SVM under QEMU's TCG, VMX under Bochs).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::hypercall::delegate;
use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate, reply,
    sm_down, sm_up,
};
use facet_rt::println;
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::{median, op_guest_loop, profiling, PD};
use crate::args::Args;
use crate::world::{World, SCRATCH};
use crate::FROM_KERNEL;

/// The benchmark's name.
const NAME: &str = "vm_exit_round_trip_cpuid";
/// Measurements of 1,000 exits each (the first is a warm-up and not counted).
const ROUNDS: usize = 12;
const EXITS_PER_ROUND: u64 = 1000;
/// Selectors: the VM's PD, the handler, the semaphore it signals when done, the vCPU and
/// its SC; the vCPU's event base (in the VM's PD and, for creating the portals, in the
/// roottask's).
const VM_PD: u64 = 730;
const HANDLER: u64 = 731;
const DONE: u64 = 732;
const VCPU: u64 = 733;
const VCPU_SC: u64 = 734;
const PARK: u64 = 735;
const EVT: u64 = 0x2000;
const HANDLER_UTCB: Utcb = Utcb::at(0x300a_0000);
/// The guest's code page: RAM, at guest-physical page 1, and where the roottask writes it.
const GUEST_RAM: u64 = 0x0100_0000;
const GUEST_PAGE: u64 = 1;
const CODE: Window = Window::new(SCRATCH + 0xb0_0000, 0x1000);

/// The guest, at guest-physical 0x1000, CS base 0:
///
/// ```text
/// 1000: rdtsc; mov esi, eax; mov di, 1000
/// 1008: xor eax, eax; cpuid; dec di; jnz 1008
/// 1010: rdtsc; sub eax, esi; hlt; jmp 1000
/// ```
const GUEST: [u8; 24] = [
    0x0f, 0x31, 0x66, 0x89, 0xc6, 0xbf, 0xe8, 0x03, 0x66, 0x31, 0xc0, 0x0f, 0xa2, 0x4f, 0x75, 0xf8,
    0x0f, 0x31, 0x66, 0x29, 0xf0, 0xf4, 0xeb, 0xe8,
];

/// Where the loop of CPUIDs starts in [`GUEST`].
const LOOP_OFFSET: u64 = 8;

static STACK: Stack = Stack::new();
static ROUND: AtomicU64 = AtomicU64::new(0);
static mut SPANS: [u64; ROUNDS] = [0; ROUNDS];

facet_rt::portal_entry!(fn startup_entry on STACK => startup);
facet_rt::portal_entry!(fn cpuid_entry on STACK => cpuid);
facet_rt::portal_entry!(fn hlt_entry on STACK => hlt);

extern "C" fn startup(_id: u64) -> ! {
    let m = HANDLER_UTCB.real_mode(GUEST_PAGE << 12, 2);
    HANDLER_UTCB.reply_with(m);
    reply()
}

/// CPUID: resume after the instruction, with RAX-RDX as the message brought them.
extern "C" fn cpuid(_id: u64) -> ! {
    HANDLER_UTCB.put(u::RIP, HANDLER_UTCB.get(u::RIP) + 2);
    HANDLER_UTCB.reply_with(mtd::GPR_ACDB | mtd::RIP_LEN);
    reply()
}

/// HLT: record the round's span; resume after the HLT, or park once every round is in.
extern "C" fn hlt(_id: u64) -> ! {
    let round = ROUND.fetch_add(1, Ordering::SeqCst) as usize;
    if round < ROUNDS {
        // SAFETY: only this handler writes the spans, and the roottask reads them only
        // after DONE is signalled, when the handler writes no more.
        unsafe {
            (*core::ptr::addr_of_mut!(SPANS))[round] = HANDLER_UTCB.get(u::RAX) & 0xffff_ffff
        };
    }
    if round + 1 < ROUNDS {
        HANDLER_UTCB.put(u::RIP, HANDLER_UTCB.get(u::RIP) + 1);
        HANDLER_UTCB.reply_with(mtd::RIP_LEN);
        reply()
    }
    let _ = sm_up(DONE);
    loop {
        let _ = sm_down(PARK);
    }
}

pub fn run(world: &World, args: &Args) {
    if args.skips(NAME) {
        return;
    }
    let flags = world.hip.u32(off::API_FLG);
    // Exit numbers: SVM's exit codes, VMX's basic exit reasons.
    let (cpuid_exit, hlt_exit, ext) = if flags & FEAT_SVM != 0 {
        (0x72, 0x78, "svm")
    } else if flags & FEAT_VMX != 0 {
        (10, 12, "vmx")
    } else {
        return;
    };
    if profiling() {
        // Each pass through the loop's first instruction is one round trip.
        op_guest_loop(NAME, (GUEST_PAGE << 12) + LOOP_OFFSET);
    }
    if let Err(what) = setup(cpuid_exit, hlt_exit) {
        println!("bench: no VM-exit round trip ({what})");
        return;
    }
    if sm_down(DONE).is_err() {
        return;
    }
    // SAFETY: the handler has signalled DONE and writes no more spans.
    let spans = unsafe { &mut *core::ptr::addr_of_mut!(SPANS) };
    let m = median(&mut spans[1..]);
    println!(
        "bench {NAME}: {} ticks per operation (median of {} rounds of {EXITS_PER_ROUND}, {ext})",
        m / EXITS_PER_ROUND,
        ROUNDS - 1
    );
}

fn setup(cpuid_exit: u64, hlt_exit: u64) -> Result<(), &'static str> {
    let rw = perm::MEM_R | perm::MEM_W;
    let code = Crd::new(Kind::Memory, CODE.page_number(), 0, rw);
    let ram = Crd::new(Kind::Memory, GUEST_RAM >> 12, 0, perm::MEM_ALL);
    pd_ctrl_delegate(
        PD,
        PD,
        Crd::new(Kind::Memory, GUEST_RAM >> 12, 0, rw),
        FROM_KERNEL,
        code,
    )
    .map_err(|_| "code page")?;
    CODE.write_bytes(0, &GUEST);
    create_pd(VM_PD, PD, Crd::NULL, false).map_err(|_| "PD")?;
    let gpa = Crd::new(Kind::Memory, GUEST_PAGE, 0, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    pd_ctrl_delegate(PD, VM_PD, ram, meta, gpa).map_err(|_| "guest memory")?;
    create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB.addr(), 0, 0).map_err(|_| "handler")?;
    create_sm(DONE, PD, 0, 0).map_err(|_| "semaphore")?;
    create_sm(PARK, PD, 0, 0).map_err(|_| "semaphore")?;
    let exits = [
        (VM_EVENT_STARTUP, 0, addr(startup_entry)),
        (cpuid_exit, mtd::GPR_ACDB | mtd::RIP_LEN, addr(cpuid_entry)),
        (hlt_exit, mtd::GPR_ACDB | mtd::RIP_LEN, addr(hlt_entry)),
    ];
    for (event, m, entry) in exits {
        let pt = EVT + event;
        create_pt(pt, PD, HANDLER, m as u64, entry).map_err(|_| "portal")?;
        let crd = Crd::new(Kind::Object, pt, 0, perm::ALL);
        pd_ctrl_delegate(PD, VM_PD, crd, facet_abi::hypercall::xfer::DELEGATE, crd)
            .map_err(|_| "portal to the VM")?;
    }
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    create_ec(VCPU, VM_PD, vcpu, 0, 0, 0, EVT).map_err(|_| "vCPU")?;
    create_sc(VCPU_SC, PD, VCPU, 1, 10_000).map_err(|_| "vCPU SC")?;
    Ok(())
}

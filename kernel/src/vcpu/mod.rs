//! Virtual CPUs independent of the vendor: the kernel enables whichever of AMD SVM (with
//! nested paging) or Intel VMX (with EPT and unrestricted guests) the bootstrap CPU
//! offers, and the rest of the kernel creates, runs and exchanges state with vCPUs
//! through this module only.
//!
//! A vCPU Ec holds the physical address of its control block (a VMCB or a VMCS); the
//! general registers other than those the control block keeps live in the Ec's frame.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use facet_abi::config::NUM_CPU;
use facet_kcore::tags::TagSet;

use crate::arch::cpu::Features;

pub mod debug;
use crate::arch::regs::Frame;

/// Exceptions that always exit, on both extensions: alignment checks (a guest could
/// otherwise loop in #AC delivery).
pub const FORCED_EXCEPTIONS: u32 = 1 << 17;

/// Assembly: loads a guest's general registers but RAX and RSP from the frame at RDI
/// (RDI itself last), for the entry code of both extensions.
macro_rules! load_guest_registers {
    () => {
        "
    mov rbx, [rdi + 13*8]
    mov rcx, [rdi + 12*8]
    mov rdx, [rdi + 11*8]
    mov rsi, [rdi + 10*8]
    mov rbp, [rdi + 8*8]
    mov r8,  [rdi + 7*8]
    mov r9,  [rdi + 6*8]
    mov r10, [rdi + 5*8]
    mov r11, [rdi + 4*8]
    mov r12, [rdi + 3*8]
    mov r13, [rdi + 2*8]
    mov r14, [rdi + 1*8]
    mov r15, [rdi + 0*8]
    mov rdi, [rdi + 9*8]
"
    };
}

/// Assembly: stores a guest's general registers but RAX, RSP and RDI into the frame at
/// RDI.
macro_rules! store_guest_registers {
    () => {
        "
    mov [rdi + 13*8], rbx
    mov [rdi + 12*8], rcx
    mov [rdi + 11*8], rdx
    mov [rdi + 10*8], rsi
    mov [rdi + 8*8], rbp
    mov [rdi + 7*8], r8
    mov [rdi + 6*8], r9
    mov [rdi + 5*8], r10
    mov [rdi + 4*8], r11
    mov [rdi + 3*8], r12
    mov [rdi + 2*8], r13
    mov [rdi + 1*8], r14
    mov [rdi + 0*8], r15
"
    };
}

pub(crate) use {load_guest_registers, store_guest_registers};

const NONE: u8 = 0;
const SVM: u8 = 1;
const VMX: u8 = 2;

static VENDOR: AtomicU8 = AtomicU8::new(NONE);

/// Whether guests get their own TLB tags (VPIDs, ASIDs): unless `novpid`.
static TAGGED: AtomicBool = AtomicBool::new(false);
/// The TLB tags of live vCPUs.
static TAGS: crate::sync::SpinLock<TagSet> = crate::sync::SpinLock::new(TagSet::new(0));
/// Bumped whenever a guest page table loses or changes a mapping.
static GUEST_GENERATION: AtomicU64 = AtomicU64::new(1);
/// The generation each CPU last flushed guest translations for.
static GUEST_FLUSHED: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// What an exit asks the kernel to do next.
pub enum Exit {
    /// A physical interrupt arrived: take it and continue (or switch, if it woke
    /// something more important).
    Interrupt,
    /// A message to the VMM's portal at event base + this index.
    Message(u64),
}

/// Enables the extension the executing (bootstrap) CPU offers, SVM first. Returns its
/// name, or `None` when vCPUs are not available: a CPU without the nested-paging part of
/// its extension is treated as having no virtualization at all.
/// `tags` says whether guests may get their own TLB tags (not `novpid`).
#[link_section = ".init.text"]
pub fn init(f: &Features, tags: bool) -> Option<&'static str> {
    if crate::svm::init_cpu(f.svm && f.npt) {
        VENDOR.store(SVM, Ordering::Release);
        mark_ready();
        // ASID 1 is shared by untagged vCPUs; tag t is ASID t + 1.
        let asids = crate::svm::asid_count();
        enable_tags(tags && asids > 2, asids.saturating_sub(2));
        return Some("SVM with nested paging");
    }
    if crate::vmx::init_cpu(f) {
        VENDOR.store(VMX, Ordering::Release);
        mark_ready();
        enable_tags(tags && crate::vmx::has_vpid(), TagSet::CAPACITY);
        return Some("VMX with EPT and unrestricted guests");
    }
    None
}

/// Turns the extension the bootstrap CPU enabled on for an application processor too.
/// Returns whether vCPUs can run there.
pub fn init_ap(f: &Features) -> bool {
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::init_cpu(f.svm && f.npt),
        VMX => crate::vmx::init_cpu(f),
        _ => false,
    }
}

/// Before S3, on each CPU: VMX flushes a loaded VMCS to memory (SVM's VMCBs are memory).
pub fn before_sleep() {
    if VENDOR.load(Ordering::Acquire) == VMX {
        crate::vmx::sleep_here();
    }
}

/// After S3, on each CPU that had it: the extension on again, with the CPU's pages.
pub fn resume_here(f: &Features) {
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::resume_cpu(),
        VMX => crate::vmx::resume_cpu(f),
        _ => {}
    }
}

/// Whether vCPUs can run on CPU `cpu`.
pub fn usable_on(cpu: u32) -> bool {
    cpu < NUM_CPU as u32 && READY_CPUS.load(Ordering::Acquire) & (1 << cpu) != 0
}

/// Records that vCPUs can run on the executing CPU.
pub fn mark_ready() {
    READY_CPUS.fetch_or(1 << crate::arch::percpu::cpu_id(), Ordering::AcqRel);
}

/// CPUs with the extension on (bit n: CPU n).
static READY_CPUS: AtomicU64 = AtomicU64::new(0);

fn enable_tags(on: bool, max: u32) {
    TAGGED.store(on, Ordering::Release);
    if on {
        TAGS.lock().set_max(max);
        crate::println!("vcpu: {max} TLB tags for guests");
    }
}

/// A TLB tag for a new vCPU, or 0: untagged (the host's tag on VMX, which then flushes
/// guest translations on every entry and exit; on SVM a shared ASID flushed on every
/// entry). A tag may have been used by a destroyed vCPU: its first entry flushes.
pub fn alloc_tag() -> u32 {
    if !TAGGED.load(Ordering::Acquire) {
        return 0;
    }
    TAGS.lock().alloc().unwrap_or(0)
}

/// Gives back the tag of a destroyed vCPU.
pub fn free_tag(tag: u32) {
    if tag != 0 {
        TAGS.lock().free(tag);
    }
}

/// Whether the CPU about to enter a guest must drop cached guest-physical translations
/// first (a guest page table changed since it last did); answering `true` records that
/// it will.
pub fn guest_tables_stale() -> bool {
    let generation = GUEST_GENERATION.load(Ordering::Acquire);
    let here = &GUEST_FLUSHED[crate::arch::percpu::cpu_id() as usize % NUM_CPU];
    // Only this CPU writes its slot: a plain compare, and a store only on a change.
    if here.load(Ordering::Relaxed) == generation {
        return false;
    }
    here.store(generation, Ordering::Relaxed);
    true
}

/// Whether vCPUs can be created.
pub fn enabled() -> bool {
    VENDOR.load(Ordering::Acquire) != NONE
}

/// Whether the enabled extension is VMX (for the HIP's feature flags).
pub fn is_vmx() -> bool {
    VENDOR.load(Ordering::Acquire) == VMX
}

/// Whether the enabled extension is SVM.
pub fn is_svm() -> bool {
    VENDOR.load(Ordering::Acquire) == SVM
}

/// A control block for a new vCPU of a Pd whose guest page table is rooted at `npt` and
/// whose APIC-access page (used on VMX) is `apic_access`; `vlapic` is the vCPU's
/// virtual-APIC page on VMX (0: none).
pub fn create(npt: u64, apic_access: u64, vlapic: u64) -> Option<u64> {
    let block = match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::new_vmcb(npt),
        VMX => crate::vmx::new_vmcs(npt, apic_access, vlapic),
        _ => None,
    }?;
    debug::init(block);
    Some(block)
}

/// Frees the control block of a destroyed vCPU that was bound to CPU `cpu`.
pub fn destroy(block: u64, cpu: u32) {
    debug::forget(block);
    match VENDOR.load(Ordering::Acquire) {
        VMX => free_tag(crate::vmx::run::forget(block, cpu)),
        _ => free_tag(
            crate::svm::vmcb::Vmcb(block)
                .r32(crate::svm::vmcb::ASID)
                .saturating_sub(1),
        ),
    }
    // Both extensions allocate the control block with a kernel-private page after it.
    crate::mem::frames::free(block, 1, crate::mem::usage::Use::Vcpus);
}

/// A dying Pd's guest page table is about to be freed: every CPU drops cached
/// guest-physical translations before it next enters a guest. No guest runs on the table
/// any more (its vCPUs are gone), so no CPU needs to leave a guest now.
pub fn guest_table_freed() {
    GUEST_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A guest page table changed: translations cached from it must not be used again. The
/// shootdown IPI makes every CPU that runs a guest leave it (an external-interrupt
/// exit) before this returns, and each flushes before it enters a guest again.
pub fn guest_tables_changed() {
    GUEST_GENERATION.fetch_add(1, Ordering::AcqRel);
    crate::smp::shootdown::everywhere();
}

/// Runs the vCPU whose general registers are in `frame` until its next exit. `user_gs`
/// is the user GS base the CPU holds (the vCPU's record of it, `exec::exchange_to_vcpu`):
/// the guest's run leaves it, and the user FS base, as they were.
pub fn enter(frame: &mut Frame, block: u64, user_gs: u64) -> Exit {
    debug::load_for(block);
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::run::enter(frame, crate::svm::vmcb::Vmcb(block)),
        _ => crate::vmx::run::enter(frame, block, user_gs),
    }
}

/// Writes the guest state `mtd` selects into a VMM's UTCB (an exit message); `xcr0` is
/// the guest's XCR0, which travels with the control registers.
pub fn load(utcb: u64, block: u64, frame: &mut Frame, mtd: u32, event: u64, xcr0: u64) {
    if mtd & facet_abi::mtd::CR != 0 && utcb != 0 {
        crate::utcb::write_word(utcb, facet_abi::utcb::XCR0, xcr0);
    }
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::state::load(utcb, crate::svm::vmcb::Vmcb(block), frame, mtd),
        _ => crate::vmx::state::load(utcb, block, frame, mtd, event),
    }
}

/// Applies the state a VMM's reply selects to the vCPU, including its XCR0 (with the
/// control registers; a value the kernel could not run the guest with is ignored).
pub fn save(utcb: u64, block: u64, frame: &mut Frame, xcr0: &mut u64) {
    if utcb != 0 {
        let mtd = crate::utcb::read_word(utcb, facet_abi::utcb::MTD) as u32;
        let wanted = crate::utcb::read_word(utcb, facet_abi::utcb::XCR0);
        let host = crate::arch::fpu::host_xcr0();
        if mtd & facet_abi::mtd::CR != 0 && facet_kcore::xcr0::valid_for_guest(wanted, host) {
            *xcr0 = wanted;
        }
    }
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::state::save(utcb, crate::svm::vmcb::Vmcb(block), frame),
        _ => crate::vmx::state::save(utcb, block, frame),
    }
}

/// The MTD bits a VM-exit message and its reply carry on the fast path
/// (`exec::vm_exit`): the general registers, RSP, RIP and the instruction length, RFLAGS,
/// the qualification and the TSC offset. Both extensions move them without their tables,
/// and none of them in a reply can make the next entry fail, so neither takes a snapshot
/// or compares paging state for them ([`load_fast`], [`save_fast`]).
pub const PLAIN_MTD: u32 = crate::svm::state::PLAIN;
const _: () = assert!(crate::svm::state::PLAIN == crate::vmx::state::PLAIN);

/// Writes the message of exit `event` into the VMM's UTCB `utcb` (a thread's) for the
/// VM-exit fast path; returns whether it did (if not, nothing is written and the general
/// path's [`load`] is the way). A message of [`PLAIN_MTD`] state only is written by the
/// plain transfers; any other by [`load`] itself, as the general path writes it (reading
/// the vCPU's state never fails or changes it, so the message is the same either way);
/// `xcr0` is the guest's XCR0, for [`load`].
#[inline(always)]
pub fn load_fast(
    utcb: u64,
    block: u64,
    frame: &mut Frame,
    mtd: u32,
    event: u64,
    xcr0: u64,
) -> bool {
    debug_assert!(utcb != 0);
    if mtd & !PLAIN_MTD != 0 {
        return load_full(utcb, block, frame, mtd, event, xcr0);
    }
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::state::load_plain(utcb, crate::svm::vmcb::Vmcb(block), frame, mtd),
        // The start-up message hides part of the start state (`vmx::state::load`).
        _ if event == facet_abi::layout::VM_EVENT_STARTUP => return false,
        _ if !crate::vmx::run::make_current(block) => return false,
        _ => crate::vmx::state::load_plain(frame, utcb, mtd),
    }
    true
}

/// [`load_fast`] for a message beyond [`PLAIN_MTD`]: [`load`], out of line (the rarer
/// case, and the general path's code).
#[inline(never)]
fn load_full(utcb: u64, block: u64, frame: &mut Frame, mtd: u32, event: u64, xcr0: u64) -> bool {
    match VENDOR.load(Ordering::Acquire) {
        SVM => {}
        // As for plain messages: the start-up message and a VMCS that cannot be made
        // current take the general path.
        _ if event == facet_abi::layout::VM_EVENT_STARTUP => return false,
        _ if !crate::vmx::run::make_current(block) => return false,
        _ => {}
    }
    load(utcb, block, frame, mtd, event, xcr0);
    true
}

/// Applies a VMM's reply in UTCB `utcb` (a thread's) to the vCPU for the VM-exit fast
/// path if its MTD selects only [`PLAIN_MTD`] state, or on SVM also an injection that
/// needs no EVENTINJ (`svm::state::save_fast`); returns whether it did (if not, nothing
/// has changed and [`save`] is the way).
#[inline(always)]
pub fn save_fast(utcb: u64, block: u64, frame: &mut Frame) -> bool {
    let mtd = crate::utcb::read_word(utcb, facet_abi::utcb::MTD) as u32;
    match VENDOR.load(Ordering::Acquire) {
        SVM => crate::svm::state::save_fast(utcb, crate::svm::vmcb::Vmcb(block), frame, mtd),
        _ if mtd & !PLAIN_MTD != 0 => false,
        _ if !crate::vmx::run::make_current(block) => false,
        _ => {
            crate::vmx::state::save_plain(frame, utcb, mtd);
            true
        }
    }
}

/// The general registers other than RAX and RSP with their UTCB offsets and MTD bits:
/// what the kernel keeps in a vCPU's frame on both extensions (SVM keeps RAX in the
/// VMCB, VMX in the frame; RSP is in the VMCB or VMCS). Registers of the frame are
/// reached through `facet_kcore::utcb::RegFile`.
pub use facet_kcore::vcpu_state::GPRS;

/// [`GPRS`] in its three groups, one per MTD bit: each group is tested once rather than
/// each register (the order is checked at compile time).
const GROUPS: [(core::ops::Range<usize>, u32); 3] = [
    (0..3, facet_abi::mtd::GPR_ACDB),
    (3..6, facet_abi::mtd::GPR_BSD),
    (6..14, facet_abi::mtd::GPR_R8_R15),
];
const _: () = {
    let mut g = 0;
    while g < GROUPS.len() {
        let mut i = GROUPS[g].0.start;
        while i < GROUPS[g].0.end {
            assert!(GPRS[i].2 == GROUPS[g].1, "GPRS grouped by MTD bit");
            i += 1;
        }
        g += 1;
    }
    assert!(GROUPS[2].0.end == GPRS.len());
};

/// Writes the general registers of `f` that `m` selects into a VMM's UTCB.
#[inline(always)]
pub fn gprs_to_utcb(utcb: u64, f: &mut Frame, m: u32) {
    use facet_kcore::utcb::RegFile;
    for (range, bit) in GROUPS {
        if m & bit != 0 {
            for (at, r, _) in &GPRS[range] {
                crate::utcb::write_word(utcb, *at, *f.reg(*r));
            }
        }
    }
}

/// Reads the general registers `m` selects from a VMM's UTCB into `f`.
#[inline(always)]
pub fn gprs_from_utcb(utcb: u64, f: &mut Frame, m: u32) {
    use facet_kcore::utcb::RegFile;
    for (range, bit) in GROUPS {
        if m & bit != 0 {
            for (at, r, _) in &GPRS[range] {
                *f.reg(*r) = crate::utcb::read_word(utcb, *at);
            }
        }
    }
}

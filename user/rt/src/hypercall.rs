//! Hypercall wrappers.
//!
//! ARG1..ARG5 go in RDI, RSI, RDX, RAX and R8; the kernel returns the status in RDI
//! bits 7:0 and may change RSI, RDX and RAX. RCX and R11 are clobbered by `syscall`.

use core::arch::asm;

use facet_abi::crd::Crd;
use facet_abi::hypercall::{arg1, pd_ctrl, Hypercall};
use facet_abi::status::Status;

/// Registers after a hypercall.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rax: u64,
}

/// Issues a hypercall whose only argument is ARG1 (a call, a semaphore up or down):
/// the other argument registers are left as they are, and only RDI comes back.
pub fn raw1(a1: u64) -> Out {
    let rdi;
    // SAFETY: as for `raw`; the kernel reads no other argument register for these and
    // changes none but RDI.
    unsafe { asm!("syscall", inout("rdi") a1 => rdi, out("rcx") _, out("r11") _, options(nostack)) }
    Out {
        rdi,
        rsi: 0,
        rdx: 0,
        rax: 0,
    }
}

/// Issues a hypercall with ARG1..ARG3 (RDI, RSI, RDX); RAX and R8 are left as they are.
pub fn raw3(a1: u64, a2: u64, a3: u64) -> Out {
    let (rdi, rsi, rdx);
    // SAFETY: as for `raw`.
    unsafe {
        asm!(
            "syscall",
            inout("rdi") a1 => rdi,
            inout("rsi") a2 => rsi,
            inout("rdx") a3 => rdx,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        )
    }
    Out {
        rdi,
        rsi,
        rdx,
        rax: 0,
    }
}

/// Issues a raw hypercall.
pub fn raw(a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> Out {
    let (rdi, rsi, rdx, rax);
    // SAFETY: `syscall` enters the kernel, which preserves every register but the ones
    // named here and never touches this program's memory except its UTCB.
    unsafe {
        asm!(
            "syscall",
            inout("rdi") a1 => rdi,
            inout("rsi") a2 => rsi,
            inout("rdx") a3 => rdx,
            inout("rax") a4 => rax,
            in("r8") a5,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        )
    }
    Out { rdi, rsi, rdx, rax }
}

/// The status of a hypercall's result (unknown codes read as BAD_HYP).
pub fn status(out: &Out) -> Status {
    Status::from_out1(out.rdi).unwrap_or(Status::BadHyp)
}

/// `pd_ctrl delegate`: transfers the capabilities `crd` of PD `src` into the window
/// `window` of PD `dst`, with transfer metadata `meta` (kind, flags, hotspot).
/// Returns the delegated CRD and the resulting metadata.
pub fn pd_ctrl_delegate(
    src: u64,
    dst: u64,
    crd: Crd,
    meta: u64,
    window: Crd,
) -> Result<(Crd, u64), Status> {
    let o = raw(
        arg1(Hypercall::PdCtrl, pd_ctrl::DELEGATE, src),
        dst,
        crd.0,
        meta,
        window.0,
    );
    match status(&o) {
        Status::Success => Ok((Crd(o.rdx), o.rax)),
        s => Err(s),
    }
}

#[inline]
fn status_of(o: &Out) -> Result<(), Status> {
    // SUCCESS is the common answer: one test, the decoding only for the others.
    if o.rdi as u8 == Status::Success as u8 {
        return Ok(());
    }
    Err(failure(o))
}

#[cold]
fn failure(o: &Out) -> Status {
    status(o)
}

/// `create_pd`: a new PD at `sel`, created under PD `parent`, receiving the object
/// capabilities `crd` of the caller at its selector 0 onwards.
pub fn create_pd(sel: u64, parent: u64, crd: Crd, passthrough: bool) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::CreatePd, passthrough as u64, sel),
        parent,
        crd.0,
        0,
        0,
    ))
}

/// `create_ec` flags (ARG1 bits 7:4).
pub mod ec_flags {
    /// A global EC (runs under an SC) instead of a local one.
    pub const GLOBAL: u64 = 1 << 0;
    /// A virtual CPU.
    pub const VCPU: u64 = 1 << 1;
    /// Map the UTCB into the calling PD instead of the EC's PD.
    pub const UTCB_IN_CALLER: u64 = 1 << 3;
}

/// `create_ec`: an EC at `sel` in PD `pd` on `cpu`, UTCB at `utcb` (page-aligned, 0 for
/// none), initial stack pointer `sp`, event base `evt`.
pub fn create_ec(
    sel: u64,
    pd: u64,
    flags: u64,
    cpu: u64,
    utcb: u64,
    sp: u64,
    evt: u64,
) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::CreateEc, flags, sel),
        pd,
        utcb | (cpu & 0xfff),
        sp,
        evt,
    ))
}

/// `create_sc`: an SC at `sel` for the global EC `ec`, with a priority and a quantum.
pub fn create_sc(sel: u64, pd: u64, ec: u64, prio: u8, quantum: u64) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::CreateSc, 0, sel),
        pd,
        ec,
        quantum << 12 | prio as u64,
        0,
    ))
}

/// `create_pt`: a portal at `sel` into the local EC `ec`.
pub fn create_pt(sel: u64, pd: u64, ec: u64, mtd: u64, ip: u64) -> Result<(), Status> {
    status_of(&raw(arg1(Hypercall::CreatePt, 0, sel), pd, ec, mtd, ip))
}

/// `create_sm`: a semaphore at `sel` with an initial count, optionally chained.
pub fn create_sm(sel: u64, pd: u64, count: u64, chained: u64) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::CreateSm, 0, sel),
        pd,
        count,
        chained,
        0,
    ))
}

/// `revoke`: take back `crd` (and, with `include_self`, the range itself), in the
/// caller or, with `remote`, in the PD named by that selector.
pub fn revoke(crd: Crd, include_self: bool, remote: Option<u64>) -> Result<(), Status> {
    revoke_then_signal(crd, include_self, remote, 0)
}

/// [`revoke`], then an `up` on the semaphore at selector `sm` (0: none; a selector that
/// names no semaphore the caller may up is ignored): whoever waits on it learns that the
/// revocation is complete.
pub fn revoke_then_signal(
    crd: Crd,
    include_self: bool,
    remote: Option<u64>,
    sm: u64,
) -> Result<(), Status> {
    let flags = include_self as u64 | (remote.is_some() as u64) << 1;
    status_of(&raw(
        arg1(Hypercall::Revoke, flags, sm),
        crd.0,
        remote.unwrap_or(0),
        0,
        0,
    ))
}

/// `pd_ctrl lookup`: what the caller holds at the base of `crd`.
pub fn lookup(crd: Crd) -> Result<Crd, Status> {
    let o = raw(arg1(Hypercall::PdCtrl, pd_ctrl::LOOKUP, 0), crd.0, 0, 0, 0);
    status_of(&o).map(|_| Crd(o.rsi))
}

/// `pd_ctrl msr_access`: reads an MSR (pass-through PDs only).
pub fn msr_read(index: u32) -> Result<u64, Status> {
    let o = raw(
        arg1(Hypercall::PdCtrl, pd_ctrl::MSR_ACCESS, index as u64),
        0,
        0,
        0,
        0,
    );
    status_of(&o).map(|_| o.rsi)
}

/// `pd_ctrl msr_access`: writes an MSR (pass-through PDs only).
pub fn msr_write(index: u32, value: u64) -> Result<(), Status> {
    status_of(&raw(
        arg1(
            Hypercall::PdCtrl,
            pd_ctrl::MSR_ACCESS | pd_ctrl::MSR_WRITE,
            index as u64,
        ),
        value,
        0,
        0,
        0,
    ))
}

/// `pt_ctrl`: sets a portal's id.
pub fn pt_ctrl(pt: u64, id: u64) -> Result<(), Status> {
    status_of(&raw(arg1(Hypercall::PtCtrl, 0, pt), id, 0, 0, 0))
}

/// `sm_ctrl up`.
pub fn sm_up(sm: u64) -> Result<(), Status> {
    status_of(&raw1(arg1(Hypercall::SmCtrl, 0, sm)))
}

/// `sm_ctrl down` (without deadline).
pub fn sm_down(sm: u64) -> Result<(), Status> {
    // ARG2:ARG3 zero: no deadline.
    status_of(&raw3(arg1(Hypercall::SmCtrl, 1, sm), 0, 0))
}

/// `call`: calls portal `pt` with the message in the caller's UTCB; the reply is in the
/// UTCB afterwards.
#[inline]
pub fn call(pt: u64) -> Result<(), Status> {
    call_with(pt, 0)
}

/// `pd_ctrl map_access_page`: maps the running PD's APIC-access page at the guest-physical
/// page `crd` names (memory, order 0, read and write rights).
pub fn map_access_page(crd: Crd) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::PdCtrl, pd_ctrl::MAP_ACCESS_PAGE, 0),
        crd.0,
        0,
        0,
        0,
    ))
}

/// `call` with flags from `facet_abi::hypercall::call` (for example DISABLE_BLOCKING:
/// TIMEOUT at once if the handler is busy, instead of waiting for it).
#[inline]
pub fn call_with(pt: u64, flags: u64) -> Result<(), Status> {
    status_of(&raw1(arg1(Hypercall::Call, flags, pt)))
}

/// `reply`: answers the current call with the message in the UTCB and waits for the
/// next one (a portal handler's last act; it does not return).
pub fn reply() -> ! {
    raw(arg1(Hypercall::Reply, 0, 0), 0, 0, 0, 0);
    // The kernel never resumes a handler after its reply: the next call starts it at
    // the portal's entry again.
    loop {
        core::hint::spin_loop();
    }
}

/// `sc_ctrl`: the time the SC has consumed, in microseconds.
pub fn sc_time(sc: u64) -> Result<u64, Status> {
    let o = raw(arg1(Hypercall::ScCtrl, 0, sc), 0, 0, 0, 0);
    status_of(&o).map(|_| o.rsi << 32 | (o.rdx & 0xffff_ffff))
}

/// `machine_ctrl` sub-operation 3, Facet's own: the kernel pool's (free, total) frames,
/// after every object whose last reference went away has been freed (pass-through PDs).
pub fn pool_stats() -> Result<(u64, u64), Status> {
    use facet_abi::hypercall::machine_ctrl::FACET_POOL_STATS;
    let o = raw(
        arg1(Hypercall::MachineCtrl, FACET_POOL_STATS, 0),
        0,
        0,
        0,
        0,
    );
    status_of(&o).map(|_| (o.rsi, o.rdx))
}

/// `ec_ctrl recall`: the EC reports to its recall portal before it next runs user code.
pub fn ec_recall(ec: u64) -> Result<(), Status> {
    status_of(&raw(arg1(Hypercall::EcCtrl, 0, ec), 0, 0, 0, 0))
}

/// `assign_gsi`: routes the GSI of interrupt semaphore `sm` to `cpu`; `chain` is a
/// semaphore to signal instead (`u64::MAX`: none). Returns the MSI address and data.
pub fn assign_gsi(sm: u64, dev: u64, cpu: u32, chain: u64) -> Result<(u64, u64), Status> {
    let o = raw(arg1(Hypercall::AssignGsi, 0, sm), dev, cpu as u64, chain, 0);
    status_of(&o).map(|_| (o.rsi, o.rdx))
}

/// `assign_pci`: the device whose configuration page PD `pd` maps at `dev` to that PD's
/// device page table (IOMMU), with `hint` naming the device.
pub fn assign_pci(pd: u64, dev: u64, hint: u64) -> Result<(), Status> {
    status_of(&raw(arg1(Hypercall::AssignPci, 0, pd), dev, hint, 0, 0))
}

/// `assign_gsi` for an I/O APIC pin with its trigger mode and polarity overridden
/// (level-triggered and active-low is how PCI wires its INTx pins).
pub fn assign_gsi_mode(
    sm: u64,
    cpu: u32,
    level: bool,
    active_low: bool,
    chain: u64,
) -> Result<(), Status> {
    let mode = (level as u64) << 32 | (active_low as u64) << 33;
    let o = raw(
        arg1(Hypercall::AssignGsi, 1, sm),
        0,
        cpu as u64 | mode,
        chain,
        0,
    );
    status_of(&o)
}

/// `sm_ctrl down` with an absolute TSC deadline (0: none); TIMEOUT when it passes.
pub fn sm_down_until(sm: u64, deadline: u64) -> Result<(), Status> {
    status_of(&raw(
        arg1(Hypercall::SmCtrl, 1, sm),
        deadline >> 32,
        deadline & 0xffff_ffff,
        0,
        0,
    ))
}

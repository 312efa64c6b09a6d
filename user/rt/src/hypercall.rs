//! Hypercall wrappers.
//!
//! ARG1..ARG5 go in RDI, RSI, RDX, RAX and R8; the kernel returns the status in RDI
//! bits 7:0 and may change RSI, RDX and RAX. RCX and R11 are clobbered by `syscall`.
//! Every wrapper encodes its arguments and decodes its results with the typed layouts
//! of [`facet_abi::args`], which follow what the kernel reads.

use core::arch::asm;

use facet_abi::args::{
    Args, AssignGsi, AssignGsiOut, AssignPci, Call, CreateEc, CreatePd, CreatePt, CreateSc,
    CreateSm, Delegate, DelegateOut, EcCtrl, FrameStatsOut, GsiMode, IommuFaultsOut, Lookup,
    LookupOut, MachineCtrl, MapAccessPage, MicrocodeOut, MsrAccess, MsrAccessOut, ObjectStatsOut,
    PdStatsOut, PoolStatsOut, PtCtrl, Regs, Reply, Results, Revoke, ScCtrl, ScCtrlOut, SmDown,
    SmUp, SuspendOut, TimerStatsOut,
};
use facet_abi::crd::Crd;
use facet_abi::hypercall::call as call_flags;
use facet_abi::status::Status;

/// Registers after a hypercall.
pub use facet_abi::args::Out;

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

/// Issues a hypercall with ARG1 and ARG2 (RDI, RSI); RDX, RAX and R8 are left as they
/// are.
pub fn raw2(a1: u64, a2: u64) -> Out {
    let (rdi, rsi);
    // SAFETY: as for `raw`.
    unsafe {
        asm!(
            "syscall",
            inout("rdi") a1 => rdi,
            inout("rsi") a2 => rsi,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        )
    }
    Out {
        rdi,
        rsi,
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

/// Issues the hypercall `a` encodes, with all five argument registers.
#[inline(always)]
fn issue(a: &impl Args) -> Out {
    let r: Regs = a.to_regs();
    raw(r.rdi, r.rsi, r.rdx, r.rax, r.r8)
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
    let o = issue(&Delegate {
        src,
        dst,
        crd,
        meta,
        window,
    });
    match status(&o) {
        Status::Success => {
            let r = DelegateOut::from_out(&o);
            Ok((r.crd, r.meta))
        }
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
    status_of(&issue(&CreatePd {
        sel,
        passthrough,
        parent,
        crd,
    }))
}

/// `create_ec` flags (ARG1 bits 7:4).
pub mod ec_flags {
    /// A global EC (runs under an SC) instead of a local one.
    pub const GLOBAL: u64 = 1 << 0;
    /// A virtual CPU.
    pub const VCPU: u64 = 1 << 1;
    /// The reference's: the vCPU uses its PD's APIC-access page (Facet ignores it).
    pub const APIC_ACCESS_PAGE: u64 = 1 << 2;
    /// Map the UTCB into the calling PD instead of the EC's PD.
    pub const UTCB_IN_CALLER: u64 = 1 << 3;
}

/// `create_ec`: an EC at `sel` in PD `pd` on `cpu` (bits 11:0), UTCB at `utcb`
/// (page-aligned: bits 11:0 are not passed; 0 for none), initial stack pointer `sp`,
/// event base `evt`. `flags` are [`ec_flags`].
pub fn create_ec(
    sel: u64,
    pd: u64,
    flags: u64,
    cpu: u64,
    utcb: u64,
    sp: u64,
    evt: u64,
) -> Result<(), Status> {
    status_of(&issue(&CreateEc {
        sel,
        global: flags & ec_flags::GLOBAL != 0,
        vcpu: flags & ec_flags::VCPU != 0,
        apic_access_page: flags & ec_flags::APIC_ACCESS_PAGE != 0,
        utcb_in_caller: flags & ec_flags::UTCB_IN_CALLER != 0,
        pd,
        cpu: (cpu & 0xfff) as u16,
        utcb,
        sp,
        evt,
    }))
}

/// `create_sc`: an SC at `sel` for the global EC `ec`, with a priority and a quantum.
pub fn create_sc(sel: u64, pd: u64, ec: u64, prio: u8, quantum: u64) -> Result<(), Status> {
    status_of(&issue(&CreateSc {
        sel,
        pd,
        ec,
        prio,
        quantum,
    }))
}

/// `create_pt`: a portal at `sel` into the local EC `ec`.
pub fn create_pt(sel: u64, pd: u64, ec: u64, mtd: u64, ip: u64) -> Result<(), Status> {
    status_of(&issue(&CreatePt {
        sel,
        pd,
        ec,
        mtd,
        ip,
    }))
}

/// `create_sm`: a semaphore at `sel` with an initial count, optionally chained.
pub fn create_sm(sel: u64, pd: u64, count: u64, chained: u64) -> Result<(), Status> {
    status_of(&issue(&CreateSm {
        sel,
        pd,
        count,
        chain: chained,
    }))
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
    status_of(&issue(&Revoke {
        crd,
        include_self,
        remote,
        sm,
    }))
}

/// `pd_ctrl lookup`: what the caller holds at the base of `crd`.
#[inline]
pub fn lookup(crd: Crd) -> Result<Crd, Status> {
    // ARG1 and ARG2 only: the kernel reads nothing else for a lookup.
    let r = Lookup { crd }.to_regs();
    let o = raw2(r.rdi, r.rsi);
    status_of(&o).map(|_| LookupOut::from_out(&o).crd)
}

/// `pd_ctrl msr_access`: reads an MSR (pass-through PDs only).
pub fn msr_read(index: u32) -> Result<u64, Status> {
    let o = issue(&MsrAccess {
        index,
        write: false,
        value: 0,
    });
    status_of(&o).map(|_| MsrAccessOut::from_out(&o).value)
}

/// `pd_ctrl msr_access`: writes an MSR (pass-through PDs only).
pub fn msr_write(index: u32, value: u64) -> Result<(), Status> {
    status_of(&issue(&MsrAccess {
        index,
        write: true,
        value,
    }))
}

/// `pt_ctrl`: sets a portal's id.
#[inline]
pub fn pt_ctrl(pt: u64, id: u64) -> Result<(), Status> {
    // ARG1 and ARG2 only: the kernel reads nothing else for a pt_ctrl.
    let r = PtCtrl { pt, id }.to_regs();
    status_of(&raw2(r.rdi, r.rsi))
}

/// `sm_ctrl up`.
#[inline]
pub fn sm_up(sm: u64) -> Result<(), Status> {
    // ARG1 only: the kernel reads nothing else for an up.
    status_of(&raw1(SmUp { sm }.to_regs().rdi))
}

/// `sm_ctrl down` (without deadline).
#[inline]
pub fn sm_down(sm: u64) -> Result<(), Status> {
    // ARG1..ARG3 only, ARG2:ARG3 zero: no deadline.
    let r = SmDown {
        sm,
        zero: false,
        deadline: 0,
    }
    .to_regs();
    status_of(&raw3(r.rdi, r.rsi, r.rdx))
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
    status_of(&issue(&MapAccessPage { crd }))
}

/// `call` with flags from `facet_abi::hypercall::call` (for example DISABLE_BLOCKING:
/// TIMEOUT at once if the handler is busy, instead of waiting for it).
#[inline]
pub fn call_with(pt: u64, flags: u64) -> Result<(), Status> {
    let a = Call {
        pt,
        disable_blocking: flags & call_flags::DISABLE_BLOCKING != 0,
        disable_donation: flags & call_flags::DISABLE_DONATION != 0,
        disable_replycap: flags & call_flags::DISABLE_REPLYCAP != 0,
    };
    // ARG1 only: the kernel reads nothing else for a call.
    status_of(&raw1(a.to_regs().rdi))
}

/// `reply`: answers the current call with the message in the UTCB and waits for the
/// next one (a portal handler's last act; it does not return).
pub fn reply() -> ! {
    issue(&Reply { sm: 0 });
    // The kernel never resumes a handler after its reply: the next call starts it at
    // the portal's entry again.
    loop {
        core::hint::spin_loop();
    }
}

/// `sc_ctrl`: the time the SC has consumed, in microseconds.
pub fn sc_time(sc: u64) -> Result<u64, Status> {
    let o = issue(&ScCtrl { sc });
    status_of(&o).map(|_| ScCtrlOut::from_out(&o).us)
}

/// `machine_ctrl` sub-operation 3, Facet's own: the kernel pool's (free, total) frames,
/// after every object whose last reference went away has been freed (pass-through PDs).
pub fn pool_stats() -> Result<(u64, u64), Status> {
    let o = issue(&MachineCtrl::PoolStats);
    status_of(&o).map(|_| {
        let r = PoolStatsOut::from_out(&o);
        (r.free, r.total)
    })
}

/// Facet's `machine_ctrl` statistics of the pool: the frames used for `item`
/// (`machine_ctrl::frames`), after every object whose last reference went away has been
/// freed (pass-through PDs).
pub fn frame_stats(item: u64) -> Result<u64, Status> {
    let o = issue(&MachineCtrl::FrameStats { item });
    status_of(&o).map(|_| FrameStatsOut::from_out(&o).frames)
}

/// Facet's `machine_ctrl` statistics of kernel objects of `kind`
/// (`machine_ctrl::objects`): (alive now, most alive at once since boot).
pub fn object_stats(kind: u64) -> Result<(u64, u64), Status> {
    let o = issue(&MachineCtrl::ObjectStats { kind });
    status_of(&o).map(|_| {
        let r = ObjectStatsOut::from_out(&o);
        (r.live, r.peak)
    })
}

/// Facet's `machine_ctrl` statistics of the PD at selector `pd`: its frames in `part`
/// (`machine_ctrl::pd_frames`).
pub fn pd_frames(pd: u64, part: u64) -> Result<u64, Status> {
    let o = issue(&MachineCtrl::PdStats { pd, part });
    status_of(&o).map(|_| PdStatsOut::from_out(&o).frames)
}

/// `machine_ctrl` suspend: the machine enters the sleep state whose SLP_TYP values
/// (from the DSDT's `\_Sx` package) are `slp_typa` and `slp_typb`, and the call returns
/// once it has woken (pass-through PDs). The status, and OUT2: the FACS waking vector the
/// firmware had (mode 0, real mode, in bits 63:62).
pub fn suspend(slp_typa: u8, slp_typb: u8) -> (Status, u64) {
    let o = issue(&MachineCtrl::Suspend { slp_typa, slp_typb });
    (status(&o), SuspendOut::from_out(&o).waking_vector)
}

/// `machine_ctrl` update microcode: the update of `size` bytes at physical address
/// `address` (pass-through PDs). The status, and OUT2: the microcode revision the calling
/// CPU runs afterwards (Facet's; set with SUCCESS and with ABORT, the CPUs not having
/// taken the update).
pub fn update_microcode(size: u32, address: u64) -> (Status, u64) {
    let o = issue(&MachineCtrl::UpdateMicrocode { size, address });
    (status(&o), MicrocodeOut::from_out(&o).revision)
}

/// Facet's `machine_ctrl` statistics of the IOMMU: the faults its units recorded since
/// boot and the last of them (pass-through PDs only).
pub fn iommu_faults() -> Result<IommuFaultsOut, Status> {
    let o = issue(&MachineCtrl::IommuFaults);
    status_of(&o).map(|_| IommuFaultsOut::from_out(&o))
}

/// Facet's `machine_ctrl` statistics of the timer: the timer interrupts CPU `cpu` took
/// since boot (pass-through PDs only; BAD_PAR for a CPU that is not online).
pub fn timer_interrupts(cpu: u64) -> Result<u64, Status> {
    let o = issue(&MachineCtrl::TimerInterrupts { cpu });
    status_of(&o).map(|_| TimerStatsOut::from_out(&o).interrupts)
}

/// `ec_ctrl recall`: the EC reports to its recall portal before it next runs user code.
pub fn ec_recall(ec: u64) -> Result<(), Status> {
    use facet_abi::hypercall::ec_ctrl::RECALL;
    status_of(&issue(&EcCtrl {
        ec,
        op: RECALL as u8,
    }))
}

/// `assign_gsi`: routes the GSI of interrupt semaphore `sm` to `cpu`; `chain` is a
/// semaphore to signal instead (`u64::MAX`: none). Returns the MSI address and data.
pub fn assign_gsi(sm: u64, dev: u64, cpu: u32, chain: u64) -> Result<(u64, u64), Status> {
    let o = issue(&AssignGsi {
        sm,
        dev,
        cpu,
        mode: None,
        chain,
    });
    status_of(&o).map(|_| {
        let r = AssignGsiOut::from_out(&o);
        (r.msi_address, r.msi_data)
    })
}

/// `assign_pci`: the device whose configuration page PD `pd` maps at `dev` to that PD's
/// device page table (IOMMU), with `hint` naming the device.
pub fn assign_pci(pd: u64, dev: u64, hint: u64) -> Result<(), Status> {
    status_of(&issue(&AssignPci { pd, dev, hint }))
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
    status_of(&issue(&AssignGsi {
        sm,
        dev: 0,
        cpu,
        mode: Some(GsiMode { level, active_low }),
        chain,
    }))
}

/// `sm_ctrl down` with an absolute TSC deadline (0: none); TIMEOUT when it passes.
pub fn sm_down_until(sm: u64, deadline: u64) -> Result<(), Status> {
    status_of(&issue(&SmDown {
        sm,
        zero: false,
        deadline,
    }))
}

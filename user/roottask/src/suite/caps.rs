//! The capability model: creating objects, delegating, looking up and revoking, with
//! every status the reference gives for bad arguments.

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, ROOT_SEL_SC};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, lookup, msr_read, msr_write,
    pd_ctrl_delegate, pt_ctrl, revoke, sm_down, sm_up,
};

use super::{ok, Fail, TestResult};
use crate::world::SCRATCH;
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// Transfer metadata: a plain delegation between PDs.
const DELEGATE: u64 = facet_abi::hypercall::xfer::DELEGATE;

fn obj(sel: u64) -> Crd {
    Crd::new(Kind::Object, sel, 0, perm::ALL)
}

/// A semaphore's capability with every right it has: what a lookup or translation of a
/// new one answers.
fn sm_cap(sel: u64) -> Crd {
    Crd::new(Kind::Object, sel, 0, perm::SM_ALL)
}

fn found(sel: u64) -> Result<Crd, Fail> {
    lookup(obj(sel)).map_err(|s| Fail::new(format_args!("lookup {}: {}", sel, s.name())))
}

fn expect(r: Result<(), Status>, want: Status, what: &str) -> TestResult {
    match r {
        Err(s) if s == want => Ok(()),
        Err(s) => Err(Fail::new(format_args!(
            "{}: {} instead of {}",
            what,
            s.name(),
            want.name()
        ))),
        Ok(()) => Err(Fail::new(format_args!(
            "{}: SUCCESS instead of {}",
            what,
            want.name()
        ))),
    }
}

pub fn root_capabilities() -> TestResult {
    // The rights the reference gives: all five on the PD, those defined for the others.
    for (sel, perms) in [
        (ROOT_SEL_PD, perm::ALL),
        (ROOT_SEL_EC, perm::EC_ALL),
        (ROOT_SEL_SC, perm::SC_ALL),
    ] {
        ensure_eq!(found(sel)?, Crd::new(Kind::Object, sel, 0, perms));
    }
    ensure_eq!(found(31)?, Crd::NULL);
    ensure_eq!(found(35)?, Crd::NULL);
    // Memory is not recorded: a lookup gives a null CRD even for mapped pages.
    let mem = lookup(Crd::new(Kind::Memory, 0x400, 0, perm::MEM_ALL))
        .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(mem, Crd::NULL);
    Ok(())
}

pub fn semaphore_counts() -> TestResult {
    ok(create_sm(100, PD, 2, 0), "create_sm")?;
    // A new semaphore's capability has the two rights a semaphore knows.
    ensure_eq!(found(100)?, Crd::new(Kind::Object, 100, 0, perm::SM_ALL));
    ok(sm_down(100), "down 1")?;
    ok(sm_down(100), "down 2")?;
    ok(sm_up(100), "up")?;
    ok(sm_down(100), "down after up")?;
    Ok(())
}

pub fn create_refusals() -> TestResult {
    expect(
        create_sm(100, PD, 0, 0),
        Status::BadCap,
        "occupied selector",
    )?;
    expect(
        create_sm(ROOT_SEL_PD, PD, 0, 0),
        Status::BadCap,
        "selector of the PD cap",
    )?;
    expect(
        create_sm(1 << 26, PD, 0, 0),
        Status::BadCap,
        "selector beyond the space",
    )?;
    expect(
        create_sm(101, ROOT_SEL_EC, 0, 0),
        Status::BadCap,
        "EC cap as PD",
    )?;
    expect(
        create_sm(101, 999, 0, 0),
        Status::BadCap,
        "empty selector as PD",
    )?;
    expect(
        create_sm(101, PD, 0, ROOT_SEL_SC),
        Status::BadCap,
        "SC cap as chained SM",
    )?;
    ensure_eq!(found(101)?, Crd::NULL);
    Ok(())
}

pub fn ec_sc_pt_checks() -> TestResult {
    let utcb = SCRATCH + 0x20_0000;
    expect(
        create_ec(120, PD, 0, 5, utcb, 0, 0),
        Status::BadCpu,
        "CPU 5",
    )?;
    expect(
        create_ec(120, PD, 0, 0xfff, utcb, 0, 0),
        Status::BadCpu,
        "CPU 4095",
    )?;
    expect(
        create_ec(120, PD, 0, 0, 0x7fff_ffff_f000, 0, 0),
        Status::BadPar,
        "UTCB at USER_ADDR",
    )?;
    expect(
        create_ec(120, ROOT_SEL_SC, 0, 0, utcb, 0, 0),
        Status::BadCap,
        "SC cap as PD",
    )?;
    ok(create_ec(120, PD, 0, 0, utcb, 0x1000, 0x200), "local EC")?;
    // SAFETY: the kernel just mapped the new EC's UTCB here, read-write.
    let w = unsafe { (utcb as *const u64).read_volatile() };
    ensure_eq!(w, 0u64);
    ok(
        create_ec(121, PD, ec_flags::GLOBAL, 0, utcb + 0x1000, 0x1000, 0x200),
        "global EC",
    )?;

    expect(
        create_sc(130, PD, 120, 1, 10_000),
        Status::BadCap,
        "SC for a local EC",
    )?;
    expect(
        create_sc(130, PD, 121, 0, 10_000),
        Status::BadPar,
        "priority 0",
    )?;
    expect(
        create_sc(130, PD, 121, 128, 10_000),
        Status::BadPar,
        "priority 128",
    )?;
    expect(create_sc(130, PD, 121, 1, 0), Status::BadPar, "quantum 0")?;
    expect(
        create_sc(130, PD, 100, 1, 10_000),
        Status::BadCap,
        "SM cap as EC",
    )?;
    ok(create_sc(130, PD, 121, 127, 10_000), "SC")?;

    expect(
        create_pt(140, PD, 121, 0, 0x1000),
        Status::BadCap,
        "portal to a global EC",
    )?;
    ok(create_pt(140, PD, 120, 0x1f, 0x1000), "portal")?;
    ok(pt_ctrl(140, 0xdead_beef), "pt_ctrl")?;
    expect(pt_ctrl(100, 1), Status::BadCap, "pt_ctrl on an SM")?;
    Ok(())
}

pub fn delegate_and_revoke_recursively() -> TestResult {
    // A new PD gets SM 100 at its selector 0.
    ok(create_pd(200, PD, obj(100), false), "create_pd")?;
    // Take it back from the new PD into selector 300, down-rights only.
    let window = Crd::new(Kind::Object, 300, 0, perm::SM_DOWN);
    let (got, _) = pd_ctrl_delegate(200, PD, obj(0), DELEGATE, window)
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, Crd::new(Kind::Object, 300, 0, perm::SM_DOWN));
    ensure_eq!(found(300)?, Crd::new(Kind::Object, 300, 0, perm::SM_DOWN));
    expect(sm_up(300), Status::BadCap, "up without the up right")?;
    ok(sm_up(100), "up on the original")?;
    ok(sm_down(300), "down through the grandchild")?;
    // Revoking the children of 100 removes 300 (a grandchild) but keeps 100.
    ok(revoke(obj(100), false, None), "revoke children")?;
    ensure_eq!(found(300)?, Crd::NULL);
    ensure_eq!(found(100)?, Crd::new(Kind::Object, 100, 0, perm::SM_ALL));
    // With `self` the capability itself goes too.
    ok(revoke(obj(100), true, None), "revoke self")?;
    ensure_eq!(found(100)?, Crd::NULL);
    // The selector is free again.
    ok(create_sm(100, PD, 0, 0), "re-create")?;
    Ok(())
}

pub fn revoke_reduces_rights() -> TestResult {
    ok(create_sm(110, PD, 1, 0), "create_sm")?;
    let (got, _) = pd_ctrl_delegate(PD, PD, obj(110), DELEGATE, obj(111))
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, obj(111));
    let up_only = Crd::new(Kind::Object, 110, 0, perm::SM_UP);
    ok(revoke(up_only, false, None), "revoke up")?;
    ensure_eq!(found(111)?, Crd::new(Kind::Object, 111, 0, perm::SM_DOWN));
    ensure_eq!(found(110)?, sm_cap(110));
    expect(sm_up(111), Status::BadCap, "up after revoke")?;
    ok(sm_down(111), "down still allowed")?;
    // An occupied destination is left alone.
    ok(create_sm(112, PD, 0, 0), "create_sm")?;
    let (got, _) = pd_ctrl_delegate(PD, PD, obj(110), DELEGATE, obj(112))
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, obj(112));
    ensure_eq!(found(112)?, sm_cap(112));
    Ok(())
}

pub fn remote_revoke_and_bad_pd() -> TestResult {
    ok(create_pd(210, PD, obj(112), false), "create_pd")?;
    // Remote revoke of the new PD's selector 0 (its copy of SM 112).
    ok(revoke(obj(0), true, Some(210)), "remote revoke")?;
    // Delegating the (now empty) selector 0 back transfers nothing. Like the reference,
    // the answer still names the receive window.
    let r = pd_ctrl_delegate(210, PD, obj(0), DELEGATE, obj(301));
    ensure!(
        r.map(|x| x.0) == Ok(obj(301)),
        "unexpected answer {:?}",
        r.map(|x| x.0)
    );
    ensure_eq!(found(301)?, Crd::NULL);
    expect(
        revoke(obj(0), true, Some(100)),
        Status::BadCap,
        "remote revoke with an SM cap",
    )?;
    Ok(())
}

pub fn ports_follow_capabilities() -> TestResult {
    let port = Crd::new(Kind::Pio, 0x80, 0, perm::PIO_A);
    pd_ctrl_delegate(PD, PD, port, FROM_KERNEL, port)
        .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    let l = lookup(port).map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(l, port);
    facet_rt::io::outb(0x80, 0x42);
    ok(revoke(port, true, None), "revoke port")?;
    let l = lookup(port).map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(l, Crd::NULL);
    // COM1 is still ours: the eight ports the roottask took from the kernel in one
    // delegation, which a lookup of any of them answers (as the reference answers the
    // range of its mapping-database node).
    for port in [0x3f8, 0x3fb, 0x3ff] {
        let com1 = lookup(Crd::new(Kind::Pio, port, 0, perm::PIO_A))
            .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
        ensure_eq!(com1, Crd::new(Kind::Pio, 0x3f8, 3, perm::PIO_A));
    }
    Ok(())
}

pub fn msr_access() -> TestResult {
    // PAT still holds its architectural reset value: the kernel does not change it.
    let pat = msr_read(0x277).map_err(|s| Fail::new(format_args!("PAT: {}", s.name())))?;
    ensure_eq!(pat, 0x0007_0406_0007_0406u64);
    // What the kernel owns, and what reaches past it (Intel PT's output base and
    // control, DEBUGCTL and the LBR stack, MISC_ENABLE, AMD's SYSCFG, IORR and TOP_MEM):
    // refused both ways, whether or not the CPU has it.
    for msr in [
        0xc000_0080,
        0xc000_0082,
        0x6e0,
        0x3a,
        0x10,
        0x48,
        0x560,
        0x570,
        0x1d9,
        0x680,
        0x1a0,
        0xc001_0010,
        0xc001_0016,
        0xc001_001a,
    ] {
        ensure_eq!(msr_read(msr), Err(Status::BadPar));
        ensure_eq!(msr_write(msr, 0), Err(Status::BadPar));
    }
    // The memory types may be read but not written.
    ensure_eq!(msr_write(0x277, 0), Err(Status::BadPar));
    ensure_eq!(msr_write(0x2ff, 0), Err(Status::BadPar));
    // An allowed register the CPU does not have raises #GP on hardware, which the
    // kernel catches and answers with BAD_PAR; QEMU's TCG and Bochs may read it as 0
    // instead. Either way the kernel answers and stays healthy.
    let maybe = msr_read(0x770);
    ensure!(
        matches!(maybe, Err(Status::BadPar) | Ok(_)),
        "HWP: {:?}",
        maybe
    );
    // Registers outside the list, existing or not, are refused.
    ensure_eq!(msr_read(0x4000_1234), Err(Status::BadPar));
    ensure_eq!(msr_read(0x277), Ok(0x0007_0406_0007_0406u64));
    Ok(())
}

/// Translation names the receiver's own capability that a sent one derives from, inside
/// the receiver's window and with the sender's rights; translate-or-delegate delegates
/// when there is nothing to translate.
pub fn translate_names_the_receivers_capability() -> TestResult {
    use facet_abi::hypercall::xfer::{TRANSLATE, TRANS_DELEGATE};
    let (sm, child) = (1800, 1801);
    ok(create_sm(sm, PD, 0, 0), "create_sm")?;
    // The child PD gets the semaphore at its selector 0.
    ok(create_pd(child, PD, obj(sm), false), "create_pd")?;
    let all = Crd::new(Kind::Object, 0, 20, perm::ALL);
    let xlt = |src, dst, crd, meta, window| {
        pd_ctrl_delegate(src, dst, crd, meta, window)
            .map_err(|s| Fail::new(format_args!("translate: {}", s.name())))
    };
    // The child's capability derives from the roottask's at `sm`.
    ensure_eq!(xlt(child, PD, obj(0), TRANSLATE, all)?.0, sm_cap(sm));
    // Not inside the window: nothing.
    let small = Crd::new(Kind::Object, 0, 4, perm::ALL);
    ensure_eq!(xlt(child, PD, obj(0), TRANSLATE, small)?.0, Crd::NULL);
    // The other way round nothing derives: nothing; within one PD a capability is itself.
    ensure_eq!(xlt(PD, child, obj(sm), TRANSLATE, all)?.0, Crd::NULL);
    ensure_eq!(xlt(PD, PD, obj(sm), TRANSLATE, all)?.0, sm_cap(sm));
    // Memory is not translated: a memory window hands any item back unchanged (as the
    // reference's code does), and translate-or-delegate then delegates nothing.
    let mem = Crd::new(Kind::Memory, SCRATCH >> 12, 0, perm::MEM_R);
    let mem_all = Crd::new(Kind::Memory, 0, 30, perm::MEM_R);
    ensure_eq!(xlt(PD, PD, mem, TRANSLATE, mem_all)?.0, mem);
    ensure_eq!(xlt(PD, child, obj(sm), TRANSLATE, mem_all)?.0, obj(sm));
    let (got, flags) = xlt(PD, child, mem, TRANS_DELEGATE, mem_all)?;
    ensure_eq!((got, flags & 1), (mem, 0u64));
    // A memory item into an object window: nothing.
    ensure_eq!(xlt(PD, PD, mem, TRANSLATE, all)?.0, Crd::NULL);
    // Translate-or-delegate: nothing to translate into the child, so it delegates (and
    // says so in bit 0 of the answer) ...
    let window = Crd::new(Kind::Object, 7, 0, perm::ALL);
    let (got, flags) = xlt(PD, child, obj(sm), TRANS_DELEGATE, window)?;
    ensure_eq!(got, obj(7));
    ensure_eq!(flags & 1, 1u64);
    // ... and back from the child it translates.
    let (got, flags) = xlt(child, PD, obj(7), TRANS_DELEGATE, all)?;
    ensure_eq!(got, sm_cap(sm));
    ensure_eq!(flags & 1, 0u64);
    Ok(())
}

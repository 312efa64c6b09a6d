//! Portal calls and replies: words both ways, the portal id, typed items in a reply, and
//! a handler that revokes its own capabilities while it serves a call.

use core::sync::atomic::{AtomicBool, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::cpu::fs_base;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    call, create_ec, create_pt, create_sm, lookup, pt_ctrl, reply, revoke, sm_down, sm_up,
};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{IPC, IPC_UTCBS, NOTHING};
use crate::suite::tools::{obj, revoke_all, semaphores, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The echo handler EC, and its portals (echo, grant, FS base).
const ECHO: Handler = Handler::new(IPC.at(0), IPC_UTCBS.utcb(0));
const E: Utcb = ECHO.utcb;
const ECHO_PT: u64 = IPC.at(1);
const GRANT_PT: u64 = IPC.at(2);
const FS_BASE_PT: u64 = IPC.at(3);
/// The semaphore the grant handler hands on, and where it arrives.
const SM_GRANTED: u64 = IPC.at(80);
const GRANT_WINDOW: u64 = IPC.at(81);
/// The self-revoking handler's ECs and portals, and their UTCB.
const SELF_REVOKE: [u64; 7] = [
    IPC.at(70),
    IPC.at(71),
    IPC.at(72),
    IPC.at(73),
    IPC.at(74),
    IPC.at(75),
    IPC.at(76),
];
const SELF_REVOKE_UTCB: Utcb = IPC_UTCBS.utcb(6);

/// The echo EC's handlers, one call at a time; the self-revoking handler also uses it
/// (never at the same time).
static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn echo_entry on STACK => echo_handler);
facet_rt::portal_entry!(fn grant_entry on STACK => grant_handler);
facet_rt::portal_entry!(fn fs_base_entry on STACK => fs_base_handler);
facet_rt::portal_entry!(fn self_revoke_entry on STACK => self_revoke_handler);

/// Portal handler: answers (a + b, portal id).
extern "C" fn echo_handler(id: u64) -> ! {
    let (a, b) = (E.word(0), E.word(1));
    E.send(&[a.wrapping_add(b), id]);
    reply()
}

/// Portal handler: replies with one typed item delegating SM_GRANTED (up right only).
extern "C" fn grant_handler(_id: u64) -> ! {
    let crd = Crd::new(Kind::Object, SM_GRANTED, 0, perm::SM_UP);
    E.set_typed(0, crd, 1);
    E.set_items(1 << 16);
    reply()
}

/// Portal handler: replies with its own FS base.
extern "C" fn fs_base_handler(_id: u64) -> ! {
    E.send(&[fs_base()]);
    reply()
}

/// Whether the self-revoking handler writes its UTCB after the revoke.
static TOUCH_UTCB: AtomicBool = AtomicBool::new(false);

/// Portal handler that revokes its own portal and EC capabilities before replying: the
/// kernel must keep the running EC alive until it has replied.
extern "C" fn self_revoke_handler(_id: u64) -> ! {
    let _ = revoke(obj(SELF_REVOKE[1]), true, None);
    let _ = revoke(obj(SELF_REVOKE[0]), true, None);
    if TOUCH_UTCB.load(Ordering::SeqCst) {
        // Its UTCB left the address space with its last capability: this faults.
        SELF_REVOKE_UTCB.set_items(0);
    }
    reply()
}

/// Creates the echo handler EC and its portal (id 0x77).
fn setup_echo() -> TestResult {
    ECHO.create()?;
    ECHO.portal(ECHO_PT, 0, echo_entry)?;
    ok(pt_ctrl(ECHO_PT, 0x77), "pt_ctrl")
}

pub fn call_and_reply(_: &Env) -> TestResult {
    setup_echo()?;
    let root = Utcb::ROOT;
    for (a, b) in [(40u64, 2u64), (1000, 337)] {
        root.send(&[a, b]);
        ok(call(ECHO_PT), "call")?;
        ensure_eq!(root.items(), 2u64);
        let (sum, id) = (root.word(0), root.word(1));
        ensure_eq!(sum, a + b);
        ensure_eq!(id, 0x77u64);
    }
    ensure!(
        call(NOTHING) == Err(Status::BadCap),
        "call through an empty selector"
    );
    ensure!(
        call(PD) == Err(Status::BadCap),
        "call through a PD capability"
    );
    Ok(())
}

/// Calls a handler EC (the echo EC, needs `call_and_reply` first) that reports its FS
/// base.
pub fn fs_base_of_handler() -> Result<u64, Fail> {
    ECHO.portal(FS_BASE_PT, 0, fs_base_entry)?;
    Utcb::ROOT.set_items(0);
    ok(call(FS_BASE_PT), "call")?;
    Ok(Utcb::ROOT.word(0))
}

/// Needs `call_and_reply` first (the handler EC).
pub fn reply_delegates_typed_items(_: &Env) -> TestResult {
    semaphores([SM_GRANTED])?;
    ECHO.portal(GRANT_PT, 0, grant_entry)?;
    let window = Crd::new(Kind::Object, GRANT_WINDOW, 0, perm::ALL);
    let root = Utcb::ROOT;
    root.set_delegate_window(window);
    root.set_items(0);
    ok(call(GRANT_PT), "call")?;
    ensure_eq!(root.items(), 1u64 << 16);
    let (crd, meta) = root.typed(0);
    ensure_eq!(crd, Crd::new(Kind::Object, GRANT_WINDOW, 0, perm::SM_UP));
    ensure_eq!(meta, 1u64);
    let got = lookup(Crd::new(Kind::Object, GRANT_WINDOW, 0, perm::ALL))
        .map_err(|s| Fail::new(format_args!("lookup: {}", s.name())))?;
    ensure_eq!(got, Crd::new(Kind::Object, GRANT_WINDOW, 0, perm::SM_UP));
    ok(sm_up(GRANT_WINDOW), "up through the received capability")?;
    ensure!(
        sm_down(GRANT_WINDOW) == Err(Status::BadCap),
        "down without the right"
    );
    Ok(())
}

/// A handler that revokes its own portal and EC capabilities still replies: the kernel
/// keeps the Ec until then. Its UTCB, though, leaves the address space with its last
/// capability, as in the reference: a handler that writes it afterwards faults, and its
/// caller gets ABORT. A new Ec can have its UTCB at the same address at once.
pub fn handler_revoking_itself_is_safe(_: &Env) -> TestResult {
    let [ec, pt, ec2, pt2, first, second, pt3] = SELF_REVOKE;
    let utcb = SELF_REVOKE_UTCB.addr();
    let entry = addr(self_revoke_entry);
    let handler = || -> TestResult {
        ok(create_ec(ec, PD, 0, 0, utcb, 0, 0), "create handler EC")?;
        ok(create_pt(pt, PD, ec, 0, entry), "create portal")
    };
    let root = Utcb::ROOT;
    handler()?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    root.set_items(0);
    ensure_eq!(call(pt), Err(Status::Abort));
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    handler()?;
    root.set_items(0);
    ok(call(pt), "call")?;
    for sel in [ec, pt] {
        let c = lookup(obj(sel)).map_err(|s| Fail::new(format_args!("lookup: {}", s.name())))?;
        ensure_eq!(c, Crd::NULL);
    }
    ensure!(call(pt) == Err(Status::BadCap), "the portal is gone");
    // An Ec whose capability went while its portal keeps it: its UTCB's address is free
    // at once for a new Ec, whose UTCB stays when the old Ec goes for good. (The new
    // handler's revokes find nothing; it writes its UTCB and replies.)
    handler()?;
    ok(revoke(obj(ec), true, None), "revoke the EC")?;
    ok(
        create_ec(ec2, PD, 0, 0, utcb, 0, 0),
        "a new EC at the same UTCB",
    )?;
    ok(create_pt(pt2, PD, ec2, 0, entry), "its portal")?;
    ok(revoke(obj(pt), true, None), "revoke the old portal")?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    root.set_items(0);
    ok(call(pt2), "call the new EC")?;
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    revoke_all([pt2, ec2])?;
    // Two ECs with their UTCBs at one address: the later mapping is there, and it stays
    // when the earlier EC's last capability goes (the reference unmaps whatever is at
    // the address).
    ok(create_ec(first, PD, 0, 0, utcb, 0, 0), "first EC")?;
    ok(create_ec(second, PD, 0, 0, utcb, 0, 0), "second EC")?;
    ok(create_pt(pt3, PD, second, 0, entry), "the second's portal")?;
    ok(revoke(obj(first), true, None), "revoke the first")?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    root.set_items(0);
    ok(call(pt3), "call the second EC")?;
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    revoke_all([pt3, second])?;
    // The selectors are free again, and the kernel healthy.
    ok(
        create_sm(ec, PD, 1, 0),
        "re-create at the handler's selector",
    )?;
    ok(sm_down(ec), "down")?;
    Ok(())
}

//! Translation.

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::hypercall::{create_pd, create_sm, pd_ctrl_delegate};

use super::sm_cap;
use crate::suite::fixture::{CAPS_TRANSLATE, CMDLINE};
use crate::suite::tools::obj;
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;

/// Translation names the receiver's own capability that a sent one derives from, inside
/// the receiver's window and with the sender's rights; translate-or-delegate delegates
/// when there is nothing to translate.
pub fn translate_names_the_receivers_capability(_: &Env) -> TestResult {
    use facet_abi::hypercall::xfer::{TRANSLATE, TRANS_DELEGATE};
    let (sm, child) = (CAPS_TRANSLATE.at(0), CAPS_TRANSLATE.at(1));
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
    let mem = Crd::new(Kind::Memory, CMDLINE.window().page_number(), 0, perm::MEM_R);
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

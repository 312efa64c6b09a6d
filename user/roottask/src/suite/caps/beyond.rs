//! Selectors beyond the object space (2^26 on) name nothing, whatever their low bits
//! hold. The kernel's lookups fold the range check into the root table's (the call fast
//! path tests only the root entry's index, `cap::lookup::object_at_arg1`), so a selector
//! that would alias a capability the caller holds, were its high bits dropped, must
//! still find none: on the fast path (`call`), on the general one (`pt_ctrl`,
//! `sm_ctrl`) and in `pd_ctrl` lookup.

use core::arch::global_asm;

use facet_abi::crd::Crd;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_rt::entry::addr;
use facet_rt::hypercall::{call, create_ec, create_pt, create_sm, lookup, pt_ctrl, sm_up};

use crate::suite::fixture::{BEYOND, BEYOND_UTCB};
use crate::suite::tools::{obj, revoke_all};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const EC: u64 = BEYOND.at(0);
const PT: u64 = BEYOND.at(1);
const SM: u64 = BEYOND.at(2);

global_asm!(
    r#"
    .section .text.caps_beyond, "ax"
    .global __caps_beyond_reply
    // The portal's handler: reply (hypercall 1) at once.
__caps_beyond_reply:
    mov edi, 1
    syscall
    ud2
"#
);

extern "C" {
    fn __caps_beyond_reply();
}

/// High selector bits that alias nothing: the first beyond the space, those the root
/// table's index covers (up to 2^34), and beyond them up to ARG1's 56 bits.
const HIGH: [u64; 7] = [
    1 << 26,
    1 << 27,
    1 << 33,
    (1 << 34) - (1 << 26),
    1 << 34,
    1 << 40,
    1 << 55,
];

pub fn selectors_beyond_the_space_name_nothing(_: &Env) -> TestResult {
    ok(
        create_ec(EC, PD, 0, 0, BEYOND_UTCB.addr(0), 0, 0),
        "local EC",
    )?;
    ok(
        create_pt(PT, PD, EC, 0, addr(__caps_beyond_reply)),
        "portal",
    )?;
    ok(create_sm(SM, PD, 0, 0), "semaphore")?;
    let checked = (|| {
        // The capabilities themselves work.
        ok(pt_ctrl(PT, 1), "pt_ctrl")?;
        ok(call(PT), "call")?;
        for high in HIGH {
            for sel in [PT, SM, PD] {
                let s = high | sel;
                ensure_eq!(call(s), Err(Status::BadCap));
                ensure_eq!(pt_ctrl(s, 2), Err(Status::BadCap));
                ensure_eq!(sm_up(s), Err(Status::BadCap));
                // A CRD's base has 52 bits.
                if s < 1 << 52 {
                    ensure_eq!(lookup(obj(s)), Ok(Crd::NULL));
                }
            }
        }
        Ok(())
    })();
    let revoked = revoke_all([PT, EC, SM]);
    checked?;
    revoked
}

//! Capability lookups in the calling Pd's object space, with the type and permission
//! checks every hypercall makes.

use facet_abi::args::ARG1_SEL_SHIFT;
use facet_abi::status::Status;
use facet_kcore::capspace::{self, Cap};
use facet_kcore::phys::PhysMem;

use crate::obj::spaces::{obj_space, tools};
use crate::obj::{pd, Handle, Kind};

// The HIP's selector count is the object space's size.
const _: () = assert!(1u64 << capspace::OBJECT_BITS == facet_abi::config::NUM_OBJ_SELECTORS as u64);

/// The capability at `sel` in the running Pd, if any.
#[inline]
pub fn lookup(sel: u64) -> Option<Cap> {
    Cap::decode(lookup_word(sel)?)
}

/// The stored word of the capability at `sel` in the running Pd: 0 for an empty slot (and
/// for a selector from 2^26 to 2^34, beyond the space), `None` for one beyond that.
#[inline(always)]
fn lookup_word(sel: u64) -> Option<u64> {
    // A hypercall comes from a running Ec, whose Pd is the running one.
    lookup_word_in(pd::current_obj_root(), sel)
}

/// [`lookup_word`] in the object space whose root frame is `root`.
#[inline(always)]
fn lookup_word_in(root: u64, sel: u64) -> Option<u64> {
    debug_assert!(root != 0);
    let table = capspace::Table {
        root,
        bits: capspace::OBJECT_BITS,
    };
    // The range check is the root's: selectors beyond the space find no capability.
    capspace::object_lookup_word(&crate::mem::cap_mem::CapMem, table, sel)
}

/// The object behind `sel` if it is of kind `kind` and the capability has every bit of
/// `perms`; otherwise BAD_CAP.
///
/// Kind and permissions are tested in one masked comparison of the stored word, so that
/// a permission costs the hot paths (`call`, `sm_ctrl`) nothing over the kind check.
#[inline]
pub fn object(sel: u64, kind: Kind, perms: u8) -> Result<Handle, Status> {
    match lookup_word(sel) {
        Some(w) if Cap::word_grants(w, kind as u8, perms) => Ok(Cap::word_obj(w)),
        _ => Err(Status::BadCap),
    }
}

/// [`object`] as a call, for the hypercalls off the measured paths (creating Ecs, Scs
/// and portals, the controls of Ecs and Scs, interrupt and device assignment, machine
/// control): the lookup inlined into each of them cost about 140 bytes of resident code
/// a time.
#[inline(never)]
pub fn object_out_of_line(sel: u64, kind: Kind, perms: u8) -> Result<Handle, Status> {
    object(sel, kind, perms)
}

/// [`object`] for the selector in bits 63:8 of a hypercall's first argument `arg1` (the
/// fast path's `call`, `exec::call::portal_at`).
///
/// The root's entry is picked by shifting `arg1` in assembly: the compiler would
/// otherwise test the selector's range on its own (`arg1 >> 42`) and compute the entry's
/// offset apart (shift and mask), two instructions more on every `call` and on the null
/// hypercall. Here the entry's range test is the range check, and the load scales it.
#[inline(always)]
pub fn object_at_arg1(arg1: u64, kind: Kind, perms: u8) -> Result<Handle, Status> {
    const SHIFT: u32 = ARG1_SEL_SHIFT + capspace::Table::OBJECT_ROOT_SHIFT;
    let mut entry = arg1;
    // SAFETY: a shift of a register.
    unsafe {
        core::arch::asm!("shr {0}, {s}", inout(reg) entry, s = const SHIFT,
                         options(pure, nomem, nostack))
    };
    if entry >= capspace::DIR_ENTRIES {
        return Err(Status::BadCap);
    }
    let mem = crate::mem::cap_mem::CapMem;
    let below = mem.read_u64(pd::current_obj_root() + entry * 8);
    let slot = capspace::Table::object_slot_below(&mem, below, arg1 >> ARG1_SEL_SHIFT);
    match mem.read_u64(slot) {
        w if Cap::word_grants(w, kind as u8, perms) => Ok(Cap::word_obj(w)),
        _ => Err(Status::BadCap),
    }
}

/// [`object`] in the object space whose root frame is `root` (a Pd's `obj.root`): for
/// the VM-exit fast path, whose vCPU's Pd need not be the running one
/// (`exec::vm_exit`).
#[inline(always)]
pub fn object_in(root: u64, sel: u64, kind: Kind, perms: u8) -> Result<Handle, Status> {
    match lookup_word_in(root, sel) {
        Some(w) if Cap::word_grants(w, kind as u8, perms) => Ok(Cap::word_obj(w)),
        _ => Err(Status::BadCap),
    }
}

/// Like [`object`], also returning the capability's permissions.
pub fn object_with_perms(sel: u64, kind: Kind, perms: u8) -> Result<(Handle, u8), Status> {
    match lookup(sel) {
        Some(c) if c.kind == kind as u8 && c.perms & perms == perms => Ok((c.obj, c.perms)),
        _ => Err(Status::BadCap),
    }
}

/// Puts a new object's capability at `sel` in the running Pd. An occupied or
/// out-of-range selector gives BAD_CAP, as in the reference; the object is then
/// destroyed again (it has no other reference).
pub fn install(sel: u64, kind: Kind, perms: u8, obj: Handle) -> Result<(), Status> {
    let (mut spaces, mut mem, mut fs) = tools();
    let r = capspace::insert_root(
        &mut spaces,
        &mut mem,
        &mut fs,
        obj_space(pd::current()),
        sel,
        Cap::new(obj, kind as u8, perms),
    );
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            // Nothing refers to the object: queue it for destruction.
            crate::obj::get(obj);
            crate::obj::put(obj);
            Err(match e {
                capspace::CapError::OutOfMemory => crate::obj::OUT_OF_MEMORY,
                _ => Status::BadCap,
            })
        }
    }
}

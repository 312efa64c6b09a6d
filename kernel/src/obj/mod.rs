//! Kernel objects: Pd, Ec, Sc, Pt and Sm.
//!
//! An Ec occupies a frame of the kernel pool (its FPU area alone is 3 KiB); the other
//! objects share frames in slots of 128 bytes (`mem::slots`). An object is named by a
//! handle, its address in units of a slot; capabilities store that handle. Every object
//! begins with a
//! [`Header`] that records its kind and how many references it has: one per capability
//! (counted by the capability spaces through [`spaces::KernelSpaces`]) and one per
//! object that points at it (an Ec at its Pd, an Sc or Pt at its Ec, an Sm at the Sm it
//! signals). When the count drops to zero the object goes on a list of dead objects,
//! which [`reap`] destroys after the hypercall, one at a time, so that a chain of
//! destructions never recurses on the kernel stack. When only its last capability goes,
//! an Ec loses its user-visible pages (as in the reference) and a Pd the capabilities
//! it holds, at once: a Pd holding a capability to itself, or to an Ec of its own (which
//! refers to it), would otherwise keep itself alive for good (docs/memory.md).
//!
//! What a death undoes is each type's [`Destroy`]: for Ecs, Scs and Sms that is leaving
//! the execution layer's queues (run queues, semaphore waiters, callers waiting for a
//! handler), so their implementations live there (`exec::destroy`), and this layer calls
//! nothing above it.
//!
//! The kernel is not preemptible and one CPU at a time runs kernel code (the big kernel
//! lock, `smp::bkl`), so objects are reached through [`with`], which lends out one
//! object at a time; a caller never holds two loans of the same object. Debug builds
//! check that rule on every loan ([`loans`]).

pub mod ec;
pub mod kern;
pub mod loans;
pub mod pd;
pub mod pd_frames;
pub mod pt;
pub mod sc;
pub mod sm;
pub mod spaces;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::status::Status;

use crate::mem::direct_map::virt;
use crate::mem::frames;
use crate::sync::SpinLock;

/// A handle: the object's physical address (never 0), a multiple of [`HANDLE_UNIT`].
///
/// The address itself rather than a slot number: reaching an object is then one add of
/// the direct map's base, which folds into the access's addressing, where a slot number
/// took a shift besides (several per IPC).
pub type Handle = u64;

/// The unit of handles: a slot, the alignment of every object.
pub const HANDLE_UNIT: u64 = crate::mem::slots::SLOT_BYTES;

/// The direct-mapped address of the object `h`.
#[inline(always)]
fn addr(h: Handle) -> u64 {
    virt(h)
}

/// The slots an object of kind `kind` lives in (`mem::slots`).
fn slot_kind(kind: Kind) -> crate::mem::slots::For {
    match kind {
        Kind::Sc => crate::mem::slots::For::Sc,
        _ => crate::mem::slots::For::Others,
    }
}

/// Whether objects of type `T` live in a slot (or else in a frame of their own).
const fn in_slot<T>() -> bool {
    core::mem::size_of::<T>() <= HANDLE_UNIT as usize
        && core::mem::align_of::<T>() <= HANDLE_UNIT as usize
}

/// The type of an object, also the kind tag of its capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Pd = 1,
    Ec = 2,
    Sc = 3,
    Pt = 4,
    Sm = 5,
}

impl Kind {
    /// The kind with this tag.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Pd,
            2 => Kind::Ec,
            3 => Kind::Sc,
            4 => Kind::Pt,
            5 => Kind::Sm,
            _ => return None,
        })
    }
}

/// What every object starts with.
#[repr(C)]
pub struct Header {
    kind: u8,
    /// On the list of dead objects (at most once).
    queued: bool,
    /// Capabilities naming the object (included in `refs`). When the last goes, an Ec
    /// loses its user-visible pages at once, as the reference's does, even if other
    /// references keep it alive.
    caps: u32,
    /// References: capabilities, and the kernel's own links. 64 bits, so that no
    /// number of them can wrap the count (each takes memory).
    refs: u64,
    next_dead: Handle,
}

impl Header {
    /// A header for a new object with no references yet.
    pub const fn new(kind: Kind) -> Header {
        Header {
            kind: kind as u8,
            queued: false,
            caps: 0,
            refs: 0,
            next_dead: 0,
        }
    }
}

/// A kernel object type.
pub trait Object: Sized {
    /// Its kind.
    const KIND: Kind;
}

/// How an object of a type dies once its last reference went ([`reap`]). Pds and Pts
/// implement it here; Ecs, Scs and Sms in the execution layer (`exec::destroy`), whose
/// queues they must leave, so that this module calls nothing above it.
pub trait Destroy {
    /// Releases what the object owns (references, frames). The object's own slot or
    /// frame is freed by the caller.
    fn destroy(handle: Handle);
}

/// The status for "the kernel pool is exhausted". The reference has no code for it (it
/// stops); Facet returns ABORT and stays healthy.
pub const OUT_OF_MEMORY: Status = Status::Abort;

const _: () = assert!(in_slot::<pd::Pd>() && in_slot::<pt::Pt>());
const _: () = assert!(in_slot::<sm::Sm>() && in_slot::<sc::Sc>());
const _: () = assert!(!in_slot::<ec::Ec>() && core::mem::size_of::<ec::Ec>() <= 4096);

/// Places `value` in a new slot (or frame, for an Ec) and returns its handle.
pub fn alloc<T: Object>(value: T) -> Result<Handle, Status> {
    // Not zeroed: the object is written whole here, and nothing reads the rest of the
    // slot or frame (zeroing 4 KiB was most of creating a semaphore).
    let phys = if in_slot::<T>() {
        crate::mem::slots::alloc(slot_kind(T::KIND))
    } else {
        frames::alloc_object()
    }
    .ok_or(OUT_OF_MEMORY)?;
    // SAFETY: the slot or frame was just allocated to us, is direct-mapped, aligned to a
    // slot at least (enough for `T`: `in_slot`, or a frame for the rest) and large enough
    // (asserted above); nothing else refers to it yet.
    unsafe { core::ptr::write(virt(phys) as *mut T, value) };
    born(T::KIND);
    Ok(phys)
}

/// Objects of each kind alive now (by kind tag).
static LIVE: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
/// The most Scs that were alive at once when one of them died: their count only falls
/// at a death, so the most ever alive is the larger of this and the count now (Sc slot
/// frames stay, and this bounds them; creation pays for one addition only).
static SC_PEAK: AtomicU64 = AtomicU64::new(0);

/// An object of `kind` was made.
#[inline(always)]
fn born(kind: Kind) {
    LIVE[kind as usize].fetch_add(1, Ordering::Relaxed);
}

/// An object of `kind` was destroyed.
#[inline(always)]
fn died(kind: Kind) {
    LIVE[kind as usize].fetch_sub(1, Ordering::Relaxed);
}

/// An Sc is about to die: the count of Scs is at a peak, perhaps.
fn sc_dies() {
    let live = LIVE[Kind::Sc as usize].load(Ordering::Relaxed);
    // Under the kernel lock: no other CPU changes the figures meanwhile.
    if live > SC_PEAK.load(Ordering::Relaxed) {
        SC_PEAK.store(live, Ordering::Relaxed);
    }
}

/// Objects of `kind` alive now, and for Scs the most alive at once since boot (0 for
/// the other kinds).
pub fn live(kind: Kind) -> (u64, u64) {
    let live = LIVE[kind as usize].load(Ordering::Relaxed);
    let peak = match kind {
        Kind::Sc => SC_PEAK.load(Ordering::Relaxed).max(live),
        _ => 0,
    };
    (live, peak)
}

/// The kind of the object behind a handle taken from a capability.
pub fn kind_of(h: Handle) -> Option<Kind> {
    loans::assert_not_lent(h);
    // SAFETY: handles come from capabilities or objects, which only exist while the
    // object does; the header is at the start of every object frame.
    Kind::from_tag(unsafe { (*(addr(h) as *const Header)).kind })
}

/// Lends the object `h` of type `T` to `f`. Returns `None` if `h` is not a `T`.
pub fn with<T: Object, R>(h: Handle, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    if h == 0 || kind_of(h) != Some(T::KIND) {
        return None;
    }
    // SAFETY: `h` names a live object of type `T` (kind checked; liveness as in
    // `kind_of`). Loans are not nested for the same object (module rule), the kernel is
    // not preemptible and the big kernel lock keeps every other CPU out of kernel code
    // that touches objects, so this is the only reference.
    let obj = unsafe { &mut *(addr(h) as *mut T) };
    let _loan = loans::lend(h);
    Some(f(obj))
}

/// Lends `h`, which the caller knows to be a live `T`, to `f` without the kind check of
/// [`with`] (made in debug builds only). For the handles the kernel keeps itself on the
/// IPC path: the running Ec, the two Ecs a call links (each holds a reference to the
/// other), a portal's Ec (the portal holds a reference), the object a capability of that
/// kind names. Never for a handle a user named.
///
/// # Safety
/// 1. `h` names a live object of type `T`.
/// 2. No loan of it is active.
#[inline(always)]
pub unsafe fn with_known<T: Object, R>(h: Handle, f: impl FnOnce(&mut T) -> R) -> R {
    debug_assert!(h != 0 && kind_of(h) == Some(T::KIND));
    let _loan = loans::lend(h);
    // SAFETY: the caller's promise; exclusive as for `with`.
    f(unsafe { &mut *(addr(h) as *mut T) })
}

/// Lends two different objects at once (the two sides of a call), both known to be live
/// objects of their types (as for [`with_known`]). Returns `None` if both are the same
/// object.
///
/// # Safety
/// 1. `a` names a live object of type `T` and `b` one of type `U`.
/// 2. No loan of either is active.
#[inline(always)]
pub unsafe fn with2_known<T: Object, U: Object, R>(
    a: Handle,
    b: Handle,
    f: impl FnOnce(&mut T, &mut U) -> R,
) -> Option<R> {
    if a == b {
        return None;
    }
    debug_assert!(a != 0 && kind_of(a) == Some(T::KIND));
    debug_assert!(b != 0 && kind_of(b) == Some(U::KIND));
    // SAFETY: the caller's promise; two different handles name two objects that do not
    // overlap (each has its own slot or frame), so neither do the two loans.
    let (x, y) = unsafe { (&mut *(addr(a) as *mut T), &mut *(addr(b) as *mut U)) };
    let _loans = (loans::lend(a), loans::lend(b));
    Some(f(x, y))
}

/// [`with2_known`] for two handles the caller knows to differ: no comparison (checked in
/// debug builds). For the IPC fast path, whose other checks already tell the two sides
/// apart.
///
/// # Safety
/// As for [`with2_known`], and `a != b`.
#[inline(always)]
pub unsafe fn with2_distinct_known<T: Object, U: Object, R>(
    a: Handle,
    b: Handle,
    f: impl FnOnce(&mut T, &mut U) -> R,
) -> R {
    debug_assert!(a != b);
    // SAFETY: the caller's promise, `a != b` included (see `with2_known`).
    unsafe { with2_known(a, b, f).unwrap_unchecked() }
}

fn header(h: Handle) -> &'static mut Header {
    loans::assert_not_lent(h);
    // SAFETY: as for `with`; a header loan is never held across another loan.
    unsafe { &mut *(addr(h) as *mut Header) }
}

/// Adds a reference to `h`.
pub fn get(h: Handle) {
    let hd = header(h);
    hd.refs += 1;
}

/// A capability to `h` was created: a reference, counted as a capability too.
pub fn cap_added(h: Handle) {
    let hd = header(h);
    // No space holds 2^32 capabilities to one object (each takes a 32-byte slot).
    hd.caps = hd.caps.wrapping_add(1);
    hd.refs += 1;
}

/// A capability to `h` was deleted. An Ec or Pd whose last capability went is queued so
/// that [`reap`] takes away its user pages or the capabilities it holds, whatever else
/// still refers to it.
pub fn cap_dropped(h: Handle) {
    let hd = header(h);
    debug_assert!(hd.caps != 0);
    hd.caps = hd.caps.wrapping_sub(1);
    // Pd and Ec are the kinds 1 and 2 (0 is no object's).
    const _: () = assert!(Kind::Pd as u8 == 1 && Kind::Ec as u8 == 2);
    if hd.caps == 0 && hd.kind <= Kind::Ec as u8 {
        queue_dead(h);
    }
    put(h);
}

static DEAD: SpinLock<Handle> = SpinLock::new(0);
/// Whether [`DEAD`] may hold anything, or the CPU that holds the kernel lock must look at
/// its scheduling context before it leaves ([`exit_slowly`]): read after every hypercall
/// without taking the lock, so that the common way out tests one flag for both (the slow
/// way sorts out which).
static ANY_DEAD: AtomicBool = AtomicBool::new(false);

/// Makes the CPU that holds the kernel lock leave the kernel by the slow way, which
/// looks at its per-CPU mark (`exec::sched::check`). Until that CPU leaves, no other
/// reaps (they wait for the lock), so the flag stays set for it.
#[inline]
pub fn exit_slowly() {
    ANY_DEAD.store(true, Ordering::Relaxed);
}

/// Drops a reference to `h`; at zero the object is queued for destruction.
pub fn put(h: Handle) {
    let hd = header(h);
    // A put without its get is a kernel bug: caught in debug builds; in release builds
    // the count wraps and the object is never destroyed (a leak, never a free of an
    // object in use).
    debug_assert!(hd.refs != 0);
    hd.refs = hd.refs.wrapping_sub(1);
    if hd.refs == 0 {
        queue_dead(h);
    }
}

fn queue_dead(h: Handle) {
    let hd = header(h);
    if hd.queued {
        return;
    }
    hd.queued = true;
    let mut dead = DEAD.lock();
    hd.next_dead = *dead;
    *dead = h;
    ANY_DEAD.store(true, Ordering::Relaxed);
}

/// Ec `h` left the CPU it ran on. The running Ec holds no reference to itself (that
/// cost a count up and down on every switch): if its last one went away while it ran,
/// [`reap`] left it alone, and it goes now.
#[inline]
pub fn left_cpu(h: Handle) {
    if header(h).refs == 0 {
        queue_dead(h);
    }
}

/// Whether objects wait to be destroyed (for [`reap`]), or the CPU must leave the kernel
/// by the slow way ([`exit_slowly`]).
///
/// Every hypercall tests this on its way out. An atomic load compiles to a load and a
/// test of the register; one compare of the byte in memory and a branch to the caller's
/// slow way is an instruction less. The flag is read as a relaxed load reads it: a
/// single byte, written only with atomic stores.
#[inline(always)]
pub fn any_dead() -> bool {
    // SAFETY: the assembly only reads the flag's byte and jumps to the label when it is
    // set; it touches no register and no stack.
    unsafe {
        core::arch::asm!(
            "cmp byte ptr [rip + {flag}], 0",
            "jne {dead}",
            flag = sym ANY_DEAD,
            dead = label { return true; },
            options(nostack, readonly),
        );
    }
    false
}

/// Destroys every object whose last reference went away (including those that die
/// because of these destructions).
#[inline]
pub fn reap() {
    if any_dead() {
        reap_all();
    }
}

#[cold]
fn reap_all() {
    loop {
        let h = {
            let mut dead = DEAD.lock();
            let h = *dead;
            if h == 0 {
                ANY_DEAD.store(false, Ordering::Relaxed);
                return;
            }
            *dead = header(h).next_dead;
            h
        };
        let hd = header(h);
        hd.queued = false;
        let kind = Kind::from_tag(hd.kind);
        if hd.caps == 0 {
            match kind {
                // Its last capability went: the UTCB (or virtual-APIC page) leaves user
                // space now, as in the reference, though the Ec may live on (a portal, a
                // caller).
                Some(Kind::Ec) => ec::Ec::release_user_page(h),
                // Its last capability went: it loses the capabilities it holds now,
                // though its Ecs may live on.
                Some(Kind::Pd) => pd::Pd::release_spaces(h),
                _ => {}
            }
        }
        if header(h).refs != 0 {
            // Referred to again since (a running Ec that called on): alive.
            continue;
        }
        if kind == Some(Kind::Ec) && running_anywhere(h) {
            // Destroyed once it leaves its CPU (`left_cpu`).
            continue;
        }
        match kind {
            Some(Kind::Pd) => pd::Pd::destroy(h),
            Some(Kind::Ec) => ec::Ec::destroy(h),
            Some(Kind::Sc) => {
                sc_dies();
                sc::Sc::destroy(h)
            }
            Some(Kind::Pt) => pt::Pt::destroy(h),
            Some(Kind::Sm) => sm::Sm::destroy(h),
            None => {}
        }
        // A freed object has no kind: a handle some Ec still keeps without a reference
        // (the Sc it recorded to wake with) then names nothing.
        header(h).kind = 0;
        let phys = h;
        match kind {
            Some(Kind::Ec) => frames::free_object(phys),
            Some(k) => crate::mem::slots::free(slot_kind(k), phys),
            None => crate::println!("FACET WARNING: dead object {h:#x} of no kind; not freed"),
        }
        if let Some(k) = kind {
            died(k);
        }
    }
}

/// Whether Ec `ec` is running on some CPU.
fn running_anywhere(ec: Handle) -> bool {
    crate::smp::cpus_in(crate::smp::all_online())
        .any(|c| crate::arch::percpu::current_ec_of(c) == ec)
}

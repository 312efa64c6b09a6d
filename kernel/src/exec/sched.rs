//! The scheduler: per-priority run queues of scheduling contexts, round robin within a
//! priority, highest priority first.
//!
//! Every CPU has its own queues and runs the Scs whose Ecs are bound to it (the big
//! kernel lock serializes the kernel, the per-CPU structures keep each CPU's current Ec
//! and Sc apart). An Sc in a queue is ready; the running Sc is not queued. The Ec an Sc
//! runs is its own Ec or, while that Ec waits for a reply, the handler it called (the Sc
//! is donated along the call chain, which never leaves the CPU), and while it waits for
//! a busy handler, that handler's chain (helping).
//!
//! Preemption: an Sc made ready on its own CPU with a priority above the running Sc's
//! marks the CPU (its per-CPU `hazard`), and every way out of the kernel ([`check`])
//! then puts the running Sc back at the head of its queue and runs the higher one,
//! before user mode or a guest runs another instruction. An Sc made ready for another
//! CPU sends that CPU the reschedule IPI, whose handler marks it likewise. The
//! one-shot timer (`super::timer`) ends quanta: it is armed for the running Sc's quantum
//! end, and its interrupt marks the CPU too; a used-up quantum is filled again and its
//! Sc goes to the end of its queue.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::{NUM_CPU, NUM_PRIORITIES};
use facet_kcore::sched::{
    self as core_sched, EcChain, EcLinks, ParkLinks, RunQueues, ScLinks, Wait,
};

use crate::obj::ec::{Ec, State};
use crate::obj::sc::Sc;
use crate::obj::{with, with_known, Handle};
use crate::sync::SpinLock;

/// A CPU's run queues (`facet_kcore::sched`).
struct Queues {
    run: RunQueues<{ NUM_PRIORITIES as usize }>,
}

static QUEUES: [SpinLock<Queues>; NUM_CPU] = [const {
    SpinLock::new(Queues {
        run: RunQueues::new(),
    })
}; NUM_CPU];

/// When each CPU's running Sc was last charged (a TSC value; only that CPU uses it).
static SINCE: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// The links of the objects, as the portable queue and park-list operations and chain
/// walks read and write them: each operation one loan of one object.
struct Objects;

impl ScLinks for Objects {
    #[inline]
    fn next(&self, sc: u64) -> u64 {
        with::<Sc, _>(sc, |s| s.next).unwrap_or(0)
    }
    #[inline]
    fn set_next(&mut self, sc: u64, next: u64) {
        with::<Sc, _>(sc, |s| s.next = next);
    }
    #[inline]
    fn enter(&mut self, sc: u64) {
        with::<Sc, _>(sc, |s| {
            s.next = 0;
            s.queued = true;
        });
    }
    #[inline]
    fn leave(&mut self, sc: u64) -> u64 {
        with::<Sc, _>(sc, |s| {
            s.queued = false;
            s.next
        })
        .unwrap_or(0)
    }
}

impl ParkLinks for Objects {
    fn push_head(&mut self, on: u64, sc: u64) -> Option<u64> {
        with::<Ec, _>(on, |e| core::mem::replace(&mut e.parked, sc))
    }
    fn set_head(&mut self, on: u64, sc: u64) {
        with::<Ec, _>(on, |e| e.parked = sc);
    }
    fn link_parked(&mut self, sc: u64, on: u64, next: u64) {
        with::<Sc, _>(sc, |s| {
            s.next = next;
            s.prev = 0;
            s.parked_on = on;
            s.queued = false;
        });
    }
    fn set_prev(&mut self, sc: u64, prev: u64) {
        with::<Sc, _>(sc, |s| s.prev = prev);
    }
    fn set_next(&mut self, sc: u64, next: u64) {
        with::<Sc, _>(sc, |s| s.next = next);
    }
    fn take_parked(&mut self, sc: u64) -> Option<(u64, u64, u64)> {
        with::<Sc, _>(sc, |s| {
            let links = (s.parked_on, s.prev, s.next);
            if s.parked_on != 0 {
                s.parked_on = 0;
                s.prev = 0;
                s.next = 0;
            }
            links
        })
    }
}

impl EcLinks for Objects {
    #[inline]
    fn chain(&self, ec: u64) -> Option<EcChain> {
        with::<Ec, _>(ec, |e| EcChain {
            wait: match e.state {
                State::WaitReply => Wait::Reply,
                State::WaitHandler => Wait::Handler,
                State::Ready | State::Startup => Wait::Runs,
                _ => Wait::Other,
            },
            callee: e.callee,
            waiting_on: e.waiting_on,
        })
    }
}

/// Each CPU's running Sc: atomics rather than under the queue lock (the big kernel lock
/// orders every update). The running Ec is in each CPU's per-CPU block.
static CURRENT_SC: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// Whether the Ec on the CPU is a vCPU (a vCPU stays one for its whole life; asked on
/// every way out of the kernel).
#[inline]
pub fn current_is_vcpu() -> bool {
    crate::arch::percpu::is_vcpu() != 0
}

fn cpu() -> usize {
    crate::arch::percpu::cpu_id() as usize % NUM_CPU
}

/// The executing CPU's queues.
fn here() -> &'static SpinLock<Queues> {
    &QUEUES[cpu()]
}

fn set_current_sc(sc: Handle) {
    CURRENT_SC[cpu()].store(sc, Ordering::Relaxed);
}

/// The CPU an Sc runs on: its Ec's.
fn cpu_of(sc: Handle) -> u32 {
    with::<Sc, _>(sc, |s| s.ec)
        .and_then(|ec| with::<Ec, _>(ec, |e| e.cpu))
        .unwrap_or(0)
}

/// The Ec running on CPU `cpu` (0 if none).
pub fn current_ec_on(cpu: u32) -> Handle {
    crate::arch::percpu::current_ec_of(cpu)
}

/// The Ec on the CPU.
#[inline]
pub fn current_ec() -> Handle {
    crate::arch::percpu::current_ec()
}

/// Records the Ec on the CPU.
///
/// Revoking the last capability of a running Ec destroys it only once it has left the
/// CPU (see `obj::left_cpu`).
#[inline]
pub fn set_current_ec(ec: Handle) {
    let (mut frame, mut vcpu) = (core::ptr::null_mut(), false);
    if ec != 0 {
        // SAFETY: the Ec about to run (its caller found it as an Ec).
        (frame, vcpu) =
            unsafe { with_known::<Ec, _>(ec, |e| (&mut e.regs as *mut _, e.vmcb != 0)) };
    }
    // Its user state is where the kernel entries save and the exit restores registers.
    super::current::point_at(frame);
    crate::arch::percpu::set_is_vcpu(vcpu as u64);
    become_current(ec, true);
}

/// Records `ec` as the Ec on the CPU, once the exit path points at its frame and the
/// vCPU flag says what it is ([`set_current_ec`] without those two). `check_old`: the Ec
/// that left may have lost its last reference while it ran (then it goes now).
#[inline(always)]
pub fn become_current(ec: Handle, check_old: bool) {
    let old = if check_old {
        crate::arch::percpu::current_ec()
    } else {
        0
    };
    crate::arch::percpu::set_current_ec(ec);
    if old != 0 {
        crate::obj::left_cpu(old);
    }
}

/// The Sc whose time the CPU is spending.
#[inline]
pub fn current_sc() -> Handle {
    CURRENT_SC[cpu()].load(Ordering::Relaxed)
}

use crate::arch::cpu::tsc;

/// The running Sc and its serial, for an Ec that begins to wait to record
/// (`Ec::blocked_sc`, `Ec::blocked_serial`).
pub fn current_sc_record() -> (Handle, u64) {
    let sc = current_sc();
    (sc, with::<Sc, _>(sc, |s| s.serial).unwrap_or(0))
}

/// Whether the Sc an Ec recorded (handle `sc`, serial `serial`) still exists: not
/// destroyed since, nor its memory taken by another Sc.
fn is_recorded(sc: Handle, serial: u64) -> bool {
    sc != 0 && with::<Sc, _>(sc, |s| s.serial) == Some(serial)
}

/// Makes `sc` the running Sc (at boot, for the roottask's).
#[link_section = ".init.text"]
pub fn start(sc: Handle, ec: Handle) {
    set_current_ec(ec);
    set_current_sc(sc);
    SINCE[cpu()].store(tsc(), Ordering::Relaxed);
    super::timer::program();
}

/// Ec `ec` became ready: the Scs parked on it look again (its chain may be what they
/// ran), and the Sc it recorded (`Ec::blocked_sc`, the one that ran it when it began to
/// wait, if that still exists) goes back to its queue.
pub fn wake(ec: Handle) {
    let Some((sc, serial, parked)) =
        with::<Ec, _>(ec, |e| (e.blocked_sc, e.blocked_serial, e.parked))
    else {
        return;
    };
    if parked != 0 {
        release_parked(ec);
    }
    if is_recorded(sc, serial) {
        enqueue(sc);
    }
}

/// Adds a ready Sc at the end of its priority's queue (taking it off the Ec it was
/// parked on, if it was).
pub fn enqueue(sc: Handle) {
    let Some((prio, parked)) = with::<Sc, _>(sc, |s| (s.prio as usize, s.parked_on)) else {
        return;
    };
    if parked != 0 {
        unpark(sc);
    }
    let cpu = cpu_of(sc);
    let mut q = QUEUES[cpu as usize % NUM_CPU].lock();
    let queued = with::<Sc, _>(sc, |s| s.queued).unwrap_or(true);
    if queued || CURRENT_SC[cpu as usize % NUM_CPU].load(Ordering::Relaxed) == sc {
        return;
    }
    q.run.append(&mut Objects, prio, sc);
    drop(q);
    if cpu as usize % NUM_CPU != self::cpu() {
        crate::smp::reschedule(cpu);
    } else if with::<Sc, _>(current_sc(), |s| prio > s.prio as usize)
        // An Ec running without an Sc (destroyed while it ran) gives way too.
        .unwrap_or(current_ec() != 0)
    {
        // The running Sc gives way before this CPU leaves the kernel.
        look_again();
    }
}

/// Marks the executing CPU to look at its running Sc on the way out of the kernel
/// ([`check`]): a higher priority may be ready, or its quantum over.
#[inline]
pub fn look_again() {
    crate::arch::percpu::set_hazard(1);
    // The end of a hypercall tests one global flag for this and for reaping.
    crate::obj::exit_slowly();
}

/// On every way out of the kernel to user mode or a guest: if the CPU was marked
/// ([`look_again`]), the running Sc gives way to a higher priority made ready (back at
/// the head of its queue, with what is left of its quantum) or, its quantum over, goes to
/// the end of its queue with a full one. Leaves the CPU with no Ec only if nothing is
/// ready; the caller then idles.
#[inline(always)]
pub fn check(frame: &mut super::CurrentFrame) {
    if crate::arch::percpu::hazard() != 0 {
        look(frame);
    }
}

/// [`check`] for a marked CPU.
#[inline(never)]
fn look(frame: &mut super::CurrentFrame) {
    crate::arch::percpu::set_hazard(0);
    let sc = current_sc();
    if sc == 0 {
        // No Sc runs. An idle CPU's scheduler picks one anyway; an Ec whose Sc was
        // destroyed while it ran has no time of its own and gives way to any Sc that is
        // ready (as a yield did before the timer was one-shot), or it would keep the CPU
        // for good.
        if current_ec() != 0 && here().lock().run.any_above(0) {
            let _ = schedule(frame);
        } else {
            super::timer::program();
        }
        return;
    }
    account();
    let Some((prio, left)) = with::<Sc, _>(sc, |s| (s.prio as usize, s.left)) else {
        super::timer::program();
        return;
    };
    let over = left == 0;
    if !over && !here().lock().run.any_above(prio) {
        // Nothing to do (the timer fired for a deadline, or a little early).
        super::timer::program();
        return;
    }
    set_current_sc(0);
    if over {
        with::<Sc, _>(sc, |s| s.left = crate::obj::sc::quantum_ticks(s.quantum));
        enqueue(sc);
    } else {
        here().lock().run.prepend(&mut Objects, prio, sc);
    }
    let _ = schedule(frame);
}

/// When the running Sc's quantum ends (a TSC value), if an Sc runs.
pub fn quantum_end() -> Option<u64> {
    let sc = current_sc();
    let left = with::<Sc, _>(sc, |s| s.left)?;
    Some(
        SINCE[cpu()]
            .load(Ordering::Relaxed)
            .saturating_add(left.max(1)),
    )
}

/// Parks `sc` (neither queued nor running) on Ec `on`, where the chain it runs stops:
/// it looks again when `on` wakes or dies ([`release_parked`]). Several Scs can run one
/// chain (its owner's and those of callers helping its busy handler), and the chain's
/// waiting Ec records only one to wake with; the others wait here, with the Ec whose
/// change is the only one that can let their chain go on, so that no scheduling event
/// elsewhere costs more for them (NOVA queues such Scs on the Ec likewise).
fn park(sc: Handle, on: Handle) {
    core_sched::park(&mut Objects, sc, on);
}

/// Takes `sc` off the Ec it is parked on, if any.
fn unpark(sc: Handle) {
    core_sched::unpark(&mut Objects, sc);
}

/// Every Sc parked on `ec` goes back to its queue, to look again (`ec` woke up or is
/// going away).
pub fn release_parked(ec: Handle) {
    while let Some(sc) = with::<Ec, _>(ec, |e| e.parked).filter(|&s| s != 0) {
        enqueue(sc);
    }
}

/// Removes an Sc from its queue (when it is destroyed).
pub fn dequeue(sc: Handle) {
    let Some((prio, queued)) = with::<Sc, _>(sc, |s| (s.prio as usize, s.queued)) else {
        return;
    };
    unpark(sc);
    let cpu = cpu_of(sc) as usize % NUM_CPU;
    let mut q = QUEUES[cpu].lock();
    let _ = CURRENT_SC[cpu].compare_exchange(sc, 0, Ordering::Relaxed, Ordering::Relaxed);
    if queued {
        q.run.remove(&mut Objects, prio, sc);
    }
}

fn pop_highest() -> Option<Handle> {
    here().lock().run.pop_highest(&mut Objects)
}

/// Charges the running Sc for the time since it was last charged: to its consumed time
/// and its quantum.
fn account() {
    let now = tsc();
    let since = SINCE[cpu()].swap(now, Ordering::Relaxed);
    let sc = current_sc();
    if sc != 0 {
        let elapsed = now.saturating_sub(since);
        // Less than a microsecond left is none (a one-shot timer may fire that early).
        let slack = crate::arch::lapic::frequencies().0 / 1000;
        with::<Sc, _>(sc, |s| {
            s.consumed = s.consumed.saturating_add(elapsed);
            s.left = facet_kcore::timer::charge(s.left, elapsed, slack);
        });
    }
}

/// Charges the running Sc up to now (before its consumed time is read).
pub fn account_now() {
    account();
}

/// The Ec an Sc runs: its own, or the end of the chain from it ([`chain_end`]).
fn runnable_ec(sc: Handle) -> Option<Handle> {
    chain_end(with::<Sc, _>(sc, |s| s.ec)?)
}

/// The Ec that time lent to `ec` runs: `ec` itself if it is ready; while it waits for a
/// reply, the end of the call chain it donated its time along; while it waits for a
/// busy handler, the end of that handler's chain (it helps the handler finish, as the
/// reference's callers do). `None` if the chain ends in an Ec that waits otherwise.
pub fn chain_end(ec: Handle) -> Option<Handle> {
    chain_stop(ec).ok()
}

/// Whether the chain from `from` (its reply and helping links, as [`chain_end`] follows
/// them) passes through `ec`, or is longer than any a program builds: `ec` waiting for
/// `from` would then wait for itself.
pub fn chain_reaches(from: Handle, ec: Handle) -> bool {
    core_sched::chain_reaches(&Objects, from, ec)
}

/// [`chain_end`], or the Ec where the chain stops: `Err` with the waiting Ec (0 if the
/// chain is broken or longer than any a program builds).
fn chain_stop(ec: Handle) -> Result<Handle, Handle> {
    core_sched::chain_stop(&Objects, ec)
}

/// Sc `sc`, which is not queued, has nothing to run here (it leaves the CPU, or came up
/// with a chain that waits). If its own chain can go on (it lent its time to another
/// chain and its own Ec is ready again), it goes back to its queue; if that chain waits
/// for an Ec that recorded `sc` as the Sc to wake, the wake brings it back; otherwise
/// (it helped, or ran, a chain that stopped elsewhere) it is parked on the Ec where the
/// chain stops (on its own Ec if the chain is broken or beyond the walk's bound), to look
/// again when that Ec wakes. The Sc of a dead Ec is dropped.
fn settle(sc: Handle) {
    let Some(own) = with::<Sc, _>(sc, |s| s.ec) else {
        return;
    };
    match chain_stop(own) {
        Ok(_) => enqueue(sc),
        Err(stop) => {
            let serial = with::<Sc, _>(sc, |s| s.serial).unwrap_or(0);
            let recorded =
                with::<Ec, _>(stop, |e| e.blocked_sc == sc && e.blocked_serial == serial)
                    .unwrap_or(false);
            let dead = with::<Ec, _>(own, |e| e.state == State::Dead).unwrap_or(true);
            if !recorded && !dead {
                park(sc, if stop != 0 { stop } else { own });
            }
        }
    }
}

/// The running Sc stops (its Ec blocked or died): picks the next ready Sc and puts its
/// Ec on the CPU. Returns `false` if nothing is ready.
pub fn schedule(frame: &mut super::CurrentFrame) -> bool {
    Next::Schedule.finish(frame)
}

/// What the CPU does once the Ec on it cannot go on (it stopped, or waits for a busy
/// handler): handed back to [`Next::finish`] instead of done on the spot, so that a run
/// of such Ecs in one kernel entry (a thousand threads that stop at once) takes no kernel
/// stack per Ec.
#[must_use]
pub enum Next {
    /// Done: whether something runs on the CPU.
    Done(bool),
    /// Put this Ec (a chain's end) on the CPU with the running Sc's time.
    Run(Handle),
    /// The running Sc stops: the next ready one runs.
    Schedule,
}

impl Next {
    /// Does what `self` says, and whatever that leads to, in a loop. Returns whether
    /// something runs on the CPU.
    pub fn finish(mut self, frame: &mut super::CurrentFrame) -> bool {
        loop {
            self = match self {
                Next::Done(runs) => return runs,
                Next::Run(ec) => run_step(frame, ec),
                Next::Schedule => match pick_next() {
                    Some(ec) => run_step(frame, ec),
                    None => return false,
                },
            };
        }
    }
}

/// The first half of [`schedule`]: the leaving Sc is settled and the highest ready Sc
/// with something to run becomes the running one. Returns the Ec to put on the CPU.
fn pick_next() -> Option<Handle> {
    account();
    let leaving = current_sc();
    set_current_sc(0);
    if leaving != 0 {
        settle(leaving);
    }
    // Whatever marked the CPU is seen to now: the highest ready Sc runs.
    crate::arch::percpu::set_hazard(0);
    while let Some(sc) = pop_highest() {
        let Some(ec) = runnable_ec(sc) else {
            settle(sc);
            continue;
        };
        set_current_sc(sc);
        super::timer::program_quantum();
        return Some(ec);
    }
    None
}

/// Whether the running Sc's time reaches `ec` by donation: its own Ec is `ec` or called
/// along a chain to it (rather than helping a handler on the way).
pub fn lent_to(ec: Handle) -> bool {
    with::<Sc, _>(current_sc(), |s| s.ec).is_some_and(|own| core_sched::lent_to(&Objects, own, ec))
}

/// Runs what the running Sc runs now (after its time helped another chain): the end of
/// its own chain, or, if that waits, whatever is ready next. Returns `false` if nothing
/// is ready.
pub fn run_current_sc(frame: &mut super::CurrentFrame) -> bool {
    match with::<Sc, _>(current_sc(), |s| s.ec).and_then(chain_end) {
        Some(end) => run(frame, end),
        None => schedule(frame),
    }
}

/// Puts `ec`, a chain's end ([`chain_end`]), on the CPU with the running Sc's time.
/// Returns whether something runs on the CPU.
pub fn run(frame: &mut super::CurrentFrame, ec: Handle) -> bool {
    Next::Run(ec).finish(frame)
}

/// One step of [`run`]: `ec` goes on the CPU, and a message it has to send first (its
/// start-up message, one that found its handler busy, a recall) is sent, which may say
/// what runs instead.
fn run_step(frame: &mut super::CurrentFrame, ec: Handle) -> Next {
    let (startup, pending) =
        with::<Ec, _>(ec, |e| (e.state == State::Startup, e.pending_event != 0))
            .unwrap_or((false, false));
    super::switch_to(ec);
    if startup {
        return super::exception::startup(frame, ec);
    } else if pending {
        // A message that found its handler busy goes now.
        return super::exception::send_pending(frame, ec);
    } else if with::<Ec, _>(ec, |e| core::mem::replace(&mut e.recall, false)).unwrap_or(false) {
        return super::exception::recall(frame, ec);
    }
    Next::Done(true)
}

/// Nothing is ready: sleeps with interrupts on until an interrupt makes an Sc ready,
/// then puts its Ec into `frame`.
pub fn idle_until_ready(frame: &mut super::CurrentFrame) {
    loop {
        // Before every sleep, not only the first: a wake-up whose Ec stopped at once (a
        // start-up message without a portal) may have loaded its Pd, and a CPU that
        // sleeps marked as caching user translations is woken by every unmap.
        crate::obj::pd::idle_here();
        // Only a deadline of a wait on this CPU (or a report due) arms its timer; an Sc
        // made ready elsewhere for this CPU comes with the reschedule IPI.
        super::timer::program();
        // The kernel lock is free while the CPU sleeps.
        crate::smp::bkl::release();
        // SAFETY: enabling interrupts and halting is how an idle CPU waits; interrupts
        // taken here only queue work (they see a kernel-mode frame).
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
        crate::smp::bkl::reacquire();
        if schedule(frame) {
            return;
        }
    }
}

/// Delivers a pending recall of the Ec on the CPU (from the reschedule IPI, or after a
/// guest's exit). Returns whether something runs on the CPU: the Ec, its recall handler,
/// or (while the Ec waits for a busy handler) whatever else is ready.
pub fn deliver_recall(frame: &mut super::CurrentFrame) -> bool {
    let ec = current_ec();
    if with::<Ec, _>(ec, |e| core::mem::replace(&mut e.recall, false)).unwrap_or(false) {
        return super::exception::recall(frame, ec).finish(frame);
    }
    ec != 0
}

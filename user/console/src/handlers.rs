//! The portal handlers: one local EC per served CPU, which every slot's output portal on
//! that CPU leads to (and, on the main CPU, every slot's input portal). A portal's id is
//! its slot.
//!
//! Several handler ECs serve the same slot ids at once, so an entry cannot pick its stack
//! by portal id. Each EC's stack is aligned to its size instead, and the entry finds the
//! top of its own stack from RSP: a local EC enters every call with the stack pointer it
//! had when it last replied (the kernel keeps its registers), or the one it was created
//! with, both inside its stack. The stack's place in [`STACKS`] is the EC's index, which
//! names its UTCB too.

use facet_console_core::pack::{pack_word, unpack, words_for};
use facet_rt::console_protocol::{
    answer, MAX_CPUS, MAX_READ, MESSAGE_WORDS, OP_NAME, OP_READ, OP_WRITE, SLOTS, UTCBS,
};
use facet_rt::entry::{Stack, STACK_SIZE};
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use crate::state::STATE;

/// A handler's stack, aligned to its size so that RSP names it.
#[repr(C, align(16384))]
pub struct HandlerStack(Stack);

const _: () = assert!(core::mem::size_of::<HandlerStack>() == STACK_SIZE);

/// The stack of each handler EC, by index (the served CPUs in ascending order).
pub static STACKS: [HandlerStack; MAX_CPUS] = [const { HandlerStack(Stack::new()) }; MAX_CPUS];

/// The stack pointer handler EC `index` is created with (inside its stack, as the
/// entries need).
pub fn initial_sp(index: usize) -> Option<u64> {
    STACKS.get(index).map(|s| s.0.top() - 16)
}

/// The UTCB of handler EC `index`.
pub fn utcb(index: usize) -> Utcb {
    Utcb::at(UTCBS).nth(index as u64)
}

/// The index of the handler EC whose stack ends at `top`.
fn index_of(top: u64) -> Option<usize> {
    let base = STACKS.as_ptr() as u64;
    let i = (top.checked_sub(base)? / STACK_SIZE as u64).checked_sub(1)?;
    (i < MAX_CPUS as u64).then_some(i as usize)
}

/// Declares a portal entry that calls `handler(id, top of this EC's stack)` on the top
/// of the stack RSP lies in.
macro_rules! entry {
    ($name:ident => $handler:path) => {
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name() {
            const _: extern "C" fn(u64, u64) -> ! = $handler;
            core::arch::naked_asm!(
                "or rsp, {mask}",
                "inc rsp",
                "mov rsi, rsp",
                "call {handler}",
                "ud2",
                mask = const STACK_SIZE - 1,
                handler = sym $handler,
            )
        }
    };
}

entry!(output_entry => on_output);
entry!(input_entry => on_input);

/// A call to an output portal: `[OP_WRITE | OP_NAME, n, bytes…]`, or `[OP_READ, max]`
/// as to the input portal (so that a client reads on whichever CPU it runs).
extern "C" fn on_output(slot: u64, top: u64) -> ! {
    if let Some(u) = index_of(top).map(utcb) {
        if u.untyped() >= 2 && u.word(0) == OP_READ {
            read(slot, u);
        } else {
            let a = output(slot as usize, u);
            u.send(&[a]);
        }
    }
    reply()
}

fn output(slot: usize, u: Utcb) -> u64 {
    let words = (u.untyped() as usize).min(MESSAGE_WORDS);
    if words < 2 || slot >= SLOTS {
        return answer::BAD_OP;
    }
    let (op, n) = (u.word(0), u.word(1));
    let Ok(bytes) = unpack(n, words - 2, |i| u.word(2 + i as u64)) else {
        return answer::BAD_LEN;
    };
    match op {
        OP_WRITE => STATE.lock().write(slot, bytes),
        OP_NAME => STATE.lock().set_name(slot, bytes),
        _ => return answer::BAD_OP,
    }
    answer::OK
}

/// A call to an input portal: `[OP_READ, max]` (or nothing); answers `[n, bytes…]`.
extern "C" fn on_input(slot: u64, top: u64) -> ! {
    if let Some(u) = index_of(top).map(utcb) {
        read(slot, u);
    }
    reply()
}

/// Answers a read: up to the `max` asked for (all it may if not asked), `[n, bytes…]`.
fn read(slot: u64, u: Utcb) {
    let words = (u.untyped() as usize).min(MESSAGE_WORDS);
    let max = match words >= 2 && u.word(0) == OP_READ {
        true => (u.word(1) as usize).min(MAX_READ),
        false => MAX_READ,
    };
    let n = input(slot as usize, max, u);
    u.set_word(0, n as u64);
    u.set_items(1 + words_for(n) as u64);
}

/// Moves up to `max` bytes of `slot`'s input into the reply's words from word 1 on.
fn input(slot: usize, max: usize, u: Utcb) -> usize {
    if slot >= SLOTS {
        return 0;
    }
    let mut state = STATE.lock();
    let mut n = 0;
    while n < max {
        let mut chunk = [0u8; 8];
        let want = (max - n).min(8);
        let got = state.take_input(slot, &mut chunk[..want]);
        if got == 0 {
            break;
        }
        u.set_word(1 + (n / 8) as u64, pack_word(&chunk[..got]));
        n += got;
        if got < 8 {
            break;
        }
    }
    state.report_drops(slot);
    n
}

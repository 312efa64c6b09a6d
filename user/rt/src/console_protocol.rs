//! The console service's protocol, shared by the console (`user/console`), the roottask
//! that starts it and hands its portals out, and the clients ([`crate::console`]).
//! `docs/console.md` describes the service as users see it.
//!
//! # What the console is given
//!
//! The roottask starts the console as a program (its main EC on CPU 0, with the
//! start-info page of [`crate::start_info`] as `main`'s second argument) and gives it:
//!
//! - the ports of COM1, [`COM1`]`..=COM1 + 7`, with the UART already programmed by the
//!   kernel (115200 8N1, FIFOs on);
//! - the interrupt semaphore of GSI [`COM1_GSI`] at [`sel::COM1_GSI`] (down rights at
//!   least; the console routes it to CPU 0 with `assign_gsi`, then turns on the UART's
//!   receive interrupt);
//! - the VGA text buffer (physical 0xb8000, 4 KiB) as the writable region [`VGA_REGION`]
//!   (optional: without it the console serves COM1 alone);
//! - `cpu_mask`: the CPUs it may create ECs on (all online ones, so that every client can
//!   reach it from its own CPU);
//! - a portal to the roottask at [`sel::PARENT`] for its registration;
//! - nothing mapped in `[`[`UTCBS`]`, `[`UTCBS_END`]`)`, where it creates the UTCBs of
//!   its handler ECs (one per CPU it serves; its objects take selectors from
//!   `start_info::sel::FREE` on).
//!
//! # Registration
//!
//! Once its portals exist, the console's main EC calls [`sel::PARENT`] with the words
//! `[`[`REGISTER_CONSOLE`]`, `[`SLOTS`]`, cpus]` (`cpus`: the CPUs it serves, normally
//! `cpu_mask`, see [`MAX_CPUS`]) and [`Layout::items`] typed items that delegate, slot
//! by slot: an output portal per served CPU (ascending), the input portal, the input
//! semaphore. Each is an object CRD of order 0 whose hotspot ([`item_meta`]) places item
//! `i` at the receiver's delegate-window base + `i`; the receiver's window must be at
//! least that large and aligned to its order. [`Layout::of_message`] rebuilds the layout
//! from the words and checks it against the items that came; [`Layout::output`],
//! [`Layout::input`] and [`Layout::semaphore`] name item `i`. The portals come with call
//! rights only (a client must not change their ids), the semaphores with down rights
//! only. The reply's word 0 is 0 if the roottask took the registration.
//!
//! # What a client is given
//!
//! The roottask gives slot `k`'s capabilities to its `k`-th client: the output portal of
//! each CPU `c` the client may use at [`sel::console_out`]`(c)`, the input semaphore at
//! [`sel::CONSOLE_IN_SM`] and the input portal at [`sel::CONSOLE_IN`] (on CPU 0: only
//! ECs on CPU 0 can call it). A slot given to two clients mixes their lines.
//!
//! # Messages
//!
//! Every message is a `call` with untyped words; bytes travel packed eight to a word,
//! little-endian ([`pack`]).
//!
//! - `[`[`OP_WRITE`]`, n, bytes…]` to an output portal: text (at most [`MAX_WRITE`]
//!   bytes a call). `[`[`OP_NAME`]`, n, bytes…]`: the slot's name (at most
//!   [`NAME_MAX`] printable characters are kept), which begins each of its lines as
//!   `name| `. The reply's word 0 is an [`answer`].
//! - `[`[`OP_READ`]`, max]` to the input portal (or no words, meaning `max` =
//!   [`MAX_READ`]): the reply is `[n, bytes…]`, the input waiting for the slot, at most
//!   `max` bytes (`n` may be 0). The console ups the slot's semaphore whenever new input
//!   for it arrives, so a client waits with a `down` and then reads.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer;
use facet_abi::perm;
use facet_abi::utcb::{DATA, TYPED_ITEM_SIZE};

pub use facet_console_core::focus::ESCAPE;
pub use facet_console_core::output::{LINE_MAX, NAME_MAX};
pub use facet_console_core::pack::{pack, pack_word, unpack, words_for, TooLong};
pub use facet_console_core::registration::Layout;

/// Clients the console serves.
pub const SLOTS: usize = 8;

/// Untyped words a message can carry (the UTCB page after its header).
pub const MESSAGE_WORDS: usize = (4096 - DATA) / 8;
/// Words of the registration message.
pub const REGISTRATION_WORDS: usize = 3;
/// Typed items the registration message has room for beside its words.
pub const MAX_ITEMS: usize = (4096 - DATA - 8 * REGISTRATION_WORDS) / TYPED_ITEM_SIZE;
/// CPUs the console serves at most (the lowest of `cpu_mask`, its main CPU always): one
/// registration message holds all capabilities. ECs on other CPUs have no output portal
/// (they can send through an EC on a served CPU).
pub const MAX_CPUS: usize = MAX_ITEMS / SLOTS - 2;

const _: () = assert!(MAX_CPUS >= 16 && SLOTS * (MAX_CPUS + 2) <= MAX_ITEMS);

/// Selectors of the console protocol.
pub mod sel {
    /// A client's output portals: `CONSOLE_OUT + cpu` for each CPU below 64 it may use.
    pub const CONSOLE_OUT: u64 = 0x1000;
    /// A client's input semaphore (down: new input may be waiting).
    pub const CONSOLE_IN_SM: u64 = 0x1040;
    /// A client's input portal (on CPU 0).
    pub const CONSOLE_IN: u64 = 0x1041;
    /// The console's portal to the roottask, for its registration: every program's
    /// parent portal.
    pub const PARENT: u64 = crate::start_info::sel::PARENT;
    /// The console's interrupt semaphore of COM1 (GSI 4).
    pub const COM1_GSI: u64 = crate::start_info::sel::GSIS + super::COM1_GSI as u64;

    /// The output portal for an EC on `cpu` (`None` for CPUs beyond 63).
    pub const fn console_out(cpu: u32) -> Option<u64> {
        if cpu < 64 {
            Some(CONSOLE_OUT + cpu as u64)
        } else {
            None
        }
    }
}

/// Word 0 of the registration message to [`sel::PARENT`].
pub use crate::start_info::parent::REGISTER_CONSOLE;

/// Word 0 of a message to an output portal: text.
pub const OP_WRITE: u64 = 1;
/// Word 0 of a message to an output portal: the slot's name.
pub const OP_NAME: u64 = 2;
/// Word 0 of a message to the input portal.
pub const OP_READ: u64 = 3;

/// Word 0 of the reply to [`OP_WRITE`] and [`OP_NAME`].
pub mod answer {
    /// Done.
    pub const OK: u64 = 0;
    /// Word 0 is no operation of this portal, or the message has fewer than 2 words.
    pub const BAD_OP: u64 = 1;
    /// `n` is more bytes than the message's words hold; nothing was done.
    pub const BAD_LEN: u64 = 2;
}

/// Bytes of text one [`OP_WRITE`] carries at most.
pub const MAX_WRITE: usize = (MESSAGE_WORDS - 2) * 8;
/// Bytes one [`OP_READ`] answers with at most.
pub const MAX_READ: usize = (MESSAGE_WORDS - 1) * 8;
/// Bytes of input the console keeps per slot until it is read (more are dropped and
/// counted).
pub const INPUT_RING: usize = 4096;

/// COM1's first port and its interrupt.
pub const COM1: u16 = 0x3f8;
pub const COM1_GSI: u32 = 4;
/// The name of the region holding the VGA text buffer.
pub const VGA_REGION: &str = "vga";

/// Where the console creates its handler ECs' UTCBs (one page per served CPU).
pub const UTCBS: u64 = 0x7ff0_0000_0000;
pub const UTCBS_END: u64 = UTCBS + 0x10_0000;

const _: () = assert!(UTCBS + 4096 * MAX_CPUS as u64 <= UTCBS_END);

/// Rights of the delegated output and input portals, and of the input semaphores.
pub const PORTAL_RIGHTS: u8 = perm::PT_CALL;
pub const SEMAPHORE_RIGHTS: u8 = perm::SM_DOWN;

/// The CPUs whose output portal has a selector of its own in a client: all, unless
/// [`sel::PARENT`] were moved into the range of `CONSOLE_OUT + cpu` (then that CPU would
/// get none).
pub const OUTPUT_CPUS: u64 = match sel::PARENT.checked_sub(sel::CONSOLE_OUT) {
    Some(cpu) if cpu < 64 => !(1 << cpu),
    _ => u64::MAX,
};

/// The layout of the registration of a console whose main EC runs on `main`, allowed
/// the CPUs of `cpu_mask`.
pub fn layout(cpu_mask: u64, main: u32) -> Layout {
    Layout::new(SLOTS, cpu_mask & OUTPUT_CPUS, main, MAX_ITEMS)
}

/// The typed item that delegates the object at `sel` (with `rights`) as item `i`.
pub fn item(sel: u64, rights: u8, i: usize) -> (Crd, u64) {
    (Crd::new(Kind::Object, sel, 0, rights), item_meta(i))
}

/// The metadata of item `i`: delegate, hotspot `i` (an order-0 item lands at the
/// receiver's window base + `i`).
pub fn item_meta(i: usize) -> u64 {
    xfer::DELEGATE | (i as u64) << 12
}

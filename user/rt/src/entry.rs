//! Entries of portal handlers and threads, and the stacks they run on.
//!
//! The kernel enters a portal handler (a local EC) at the portal's instruction pointer
//! with the portal id in RDI and no stack of its own; a global EC starts wherever its
//! start-up reply puts RIP and RSP. [`portal_entry!`](crate::portal_entry) declares such
//! an entry: it points RSP at the top of a [`Stack`] (or of one of an array of stacks,
//! chosen by the portal id) and calls a Rust `extern "C" fn(id: u64) -> !` there. A
//! start-up handler starts a thread on its own stack with
//! [`Utcb::start_thread`](crate::utcb::Utcb::start_thread).
//!
//! A stack belongs to one EC at a time: entries of the same handler EC (which serves
//! one call at a time) may share one, ECs that can be interrupted by one another may
//! not.

use core::cell::UnsafeCell;

/// Bytes in a [`Stack`].
pub const STACK_SIZE: usize = 0x4000;

/// A stack for a portal handler or a thread: `static S: Stack = Stack::new();`.
#[repr(C, align(16))]
pub struct Stack(UnsafeCell<[u8; STACK_SIZE]>);

// SAFETY: Rust code never reads or writes the bytes of a stack: only the EC running on
// it does, through its stack pointer, and the entries that set that pointer hand each
// stack to one EC at a time (the module's rule).
unsafe impl Sync for Stack {}

impl Stack {
    /// A stack (in `.bss`: writable, zero at start).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Stack {
        Stack(UnsafeCell::new([0; STACK_SIZE]))
    }

    /// The address above its last byte, where a stack pointer starts (16-byte aligned).
    pub fn top(&'static self) -> u64 {
        self.0.get() as u64 + STACK_SIZE as u64
    }
}

/// The number of stacks in an array (for the entry that picks one by portal id).
pub const fn count<const N: usize>(_: &[Stack; N]) -> usize {
    N
}

/// Code the kernel enters without a call: a portal handler's entry, a child's handler,
/// a thread started by its start-up reply. Never called from Rust.
pub type Entry = unsafe extern "C" fn();

/// The address of `entry` (what `create_pt` and start-up replies take).
pub fn addr(entry: Entry) -> u64 {
    entry as usize as u64
}

/// The address of a thread function (which a start-up reply may start directly).
pub fn thread_addr(thread: extern "C" fn(u64) -> !) -> u64 {
    thread as usize as u64
}

/// Declares an [`Entry`] that runs `handler(rdi)` (an `extern "C" fn(u64) -> !`: for a
/// portal handler RDI holds the portal id) on a stack of its own:
///
/// ```ignore
/// static STACK: Stack = Stack::new();
/// facet_rt::portal_entry!(fn echo_entry on STACK => echo);
/// // One stack per portal id (ids beyond the array end at a UD2):
/// static STACKS: [Stack; 16] = [const { Stack::new() }; 16];
/// facet_rt::portal_entry!(fn per_cpu_entry on STACKS[id] => per_cpu);
/// ```
///
/// The entry sets RSP and calls the handler, which must not return (a handler ends in
/// `reply`, a thread parks). Threads that set up their own stack start at such an entry
/// too.
#[macro_export]
macro_rules! portal_entry {
    ($(#[$attr:meta])* $vis:vis fn $name:ident on $stack:path => $handler:path) => {
        $(#[$attr])*
        #[unsafe(naked)]
        $vis unsafe extern "C" fn $name() {
            const _: extern "C" fn(u64) -> ! = $handler;
            core::arch::naked_asm!(
                "lea rsp, [rip + {stack} + {size}]",
                "call {handler}",
                "ud2",
                stack = sym $stack,
                size = const $crate::entry::STACK_SIZE,
                handler = sym $handler,
            )
        }
    };
    ($(#[$attr:meta])* $vis:vis fn $name:ident on $stacks:path [id] => $handler:path) => {
        $(#[$attr])*
        #[unsafe(naked)]
        $vis unsafe extern "C" fn $name() {
            const _: extern "C" fn(u64) -> ! = $handler;
            core::arch::naked_asm!(
                "cmp rdi, {count}",
                "jae 2f",
                "lea rsp, [rip + {stacks}]",
                "mov rax, rdi",
                "inc rax",
                "imul rax, rax, {size}",
                "add rsp, rax",
                "call {handler}",
                "2:",
                "ud2",
                stacks = sym $stacks,
                count = const $crate::entry::count(&$stacks),
                size = const $crate::entry::STACK_SIZE,
                handler = sym $handler,
            )
        }
    };
}

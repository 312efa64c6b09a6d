//! A value set once, by the main EC before any other EC of the VMM exists, and only read
//! afterwards: the VM's description and shared state.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const SETTING: u8 = 1;
const READY: u8 = 2;

pub struct Global<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, before `state` says READY (release), and only read
// (shared) after a reader saw READY (acquire); `T: Sync` makes the shared reads safe.
unsafe impl<T: Sync + Send> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new() -> Global<T> {
        Global {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Sets the value; false (and `value` dropped) if it was set before.
    pub fn set(&self, value: T) -> bool {
        if self
            .state
            .compare_exchange(EMPTY, SETTING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: only the caller that moved `state` from EMPTY to SETTING writes, and
        // nobody reads before READY.
        unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        true
    }

    /// The value, once set.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: READY means the value was written and is never written again.
        Some(unsafe { (*self.value.get()).assume_init_ref() })
    }
}

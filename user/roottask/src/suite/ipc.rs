//! Execution: portal calls and replies, exception messages, start-up of global ECs,
//! blocking on semaphores, preemption and recall, handlers that are busy or die, and
//! helping (a caller's time runs a busy handler).

mod blocking;
mod busy_exception;
mod busy_recall;
mod call;
mod handlers;
mod helping;
mod helping_time;
mod threads;
mod vectors;

pub use blocking::{consumed_time, fs_base_survives_blocking, semaphore_deadlines};
pub use busy_exception::exception_waits_for_a_busy_handler;
pub use busy_recall::recall_waits_for_a_busy_handler;
pub use call::{
    call_and_reply, fs_base_of_handler, handler_revoking_itself_is_safe,
    reply_delegates_typed_items,
};
pub use handlers::{
    calling_ones_own_portal_stops_the_caller, dying_handler_answers_abort,
    every_word_count_both_ways, higher_priority_runs_first, nested_calls_three_deep,
};
pub use helping::busy_handler_makes_callers_wait;
pub use helping_time::busy_handler_runs_on_the_callers_time;
pub use threads::{
    a_waiter_whose_sc_is_gone_does_not_run, exceptions_startup_and_semaphores,
    revoke_wakes_a_waiter_on_its_semaphore, startup_portal, timer_preempts_and_revoke_stops,
};
pub use vectors::every_user_exception_vector;

//! The on-target test suite, reported in the harness's protocol:
//! `test NAME ... ok` or `test NAME ... FAILED (reason)`, then `N passed, M failed`.
//!
//! Failure messages live in a fixed buffer (the roottask has no heap yet), so the error
//! type is large on purpose; tests run once and are not on a hot path.
#![allow(clippy::result_large_err)]

use core::fmt::{self, Write};

use facet_rt::println;

use crate::args::Args;
use crate::world::World;

/// A failure message in a fixed buffer.
pub struct Fail {
    buf: [u8; 160],
    len: usize,
}

impl Write for Fail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl Fail {
    pub fn new(args: fmt::Arguments) -> Fail {
        let mut f = Fail {
            buf: [0; 160],
            len: 0,
        };
        let _ = f.write_fmt(args);
        f
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// Result of one test.
pub type TestResult = Result<(), Fail>;

/// A hypercall result as a test step: its value, or a failure naming `what` and the
/// status.
pub(crate) fn ok<T>(r: Result<T, facet_abi::status::Status>, what: &str) -> Result<T, Fail> {
    r.map_err(|s| Fail::new(format_args!("{}: {}", what, s.name())))
}

/// Fails the test with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(Fail::new(format_args!($($arg)*)));
        }
    };
}

/// Fails unless two values are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(Fail::new(format_args!(
                "expected {:?}, got {:?} ({})",
                r,
                l,
                stringify!($left)
            )));
        }
    }};
}

mod boot;
mod busy_exception;
mod busy_recall;
mod caps;
mod child;
mod child_memory;
mod cpu;
mod delegate;
mod entry;
mod exc_vectors;
mod forward;
mod fuzz;
mod helping;
mod helping_time;
pub mod ipc;
mod ipc_more;
mod irq;
mod irq_checks;
mod kernel_mmio;
mod leak;
mod msi;
mod naps;
mod port_nodes;
mod ports;
mod smp;
mod stop_storm;
mod timeouts;
mod vm;
mod vm_apic;
mod vm_bad;
mod vm_cr2;
mod vm_crmon;
mod vm_long;
mod vm_smp;
mod vm_window;
mod vmm;

struct Runner {
    passed: u32,
    failed: u32,
    args: Args,
}

impl Runner {
    fn run(&mut self, name: &str, f: impl FnOnce() -> TestResult) {
        if self.args.skips(name) {
            println!("skipping {name}");
            return;
        }
        if self.args.trace {
            println!("starting {name}");
        }
        match f() {
            Ok(()) => {
                self.passed += 1;
                println!("test {name} ... ok");
            }
            Err(e) => {
                self.failed += 1;
                println!("test {name} ... FAILED ({})", e.as_str());
            }
        }
    }
}

/// Runs every test; returns (passed, failed).
pub fn run(w: &World, args: &Args) -> (u32, u32) {
    let mut r = Runner {
        passed: 0,
        failed: 0,
        args: *args,
    };
    if args.return_fault {
        // The kernel runs with `crash=return`: only the test that needs it.
        r.run(
            "entry::fault_on_return_is_the_handlers",
            entry::fault_on_return_is_the_handlers,
        );
        return (r.passed, r.failed);
    }
    r.run("boot::initial_registers", || boot::initial_registers(w));
    r.run(
        "boot::utcb_mapped_zeroed_writable",
        boot::utcb_mapped_zeroed_writable,
    );
    r.run("hip::signature_length_checksum", || boot::hip_valid(w));
    r.run("hip::interface_constants", || boot::hip_constants(w));
    r.run("hip::memory_descriptors", || boot::hip_memory(w, args));
    r.run("hip::boot_cpu_descriptor", || boot::hip_cpu(w));
    r.run("hip::cpus_online", || boot::hip_cpus_online(w, args));
    r.run("hip::acpi_tables", || boot::hip_acpi(w, args));
    r.run("hip::frequencies", || boot::hip_frequencies(w));
    r.run("cpu::virtualization_flags_match_cpuid", || {
        cpu::virtualization_flags(w, args)
    });
    r.run("cpu::xsave_enabled", cpu::xsave_enabled);
    r.run("cpu::fsgsbase_usable_in_user_mode", cpu::fsgsbase_usable);
    r.run("cpu::sse_usable_in_user_mode", cpu::sse_usable);
    r.run(
        "entry::compat_syscall_and_sysenter_are_the_callers_faults",
        entry::compat_syscall_and_sysenter_are_the_callers_faults,
    );
    r.run(
        "entry::portal_entries_and_stacks_outside_user_space_are_refused",
        entry::portal_entries_and_stacks_outside_user_space_are_refused,
    );
    r.run("delegate::ports_from_kernel", delegate::ports_from_kernel);
    r.run("delegate::memory_from_kernel_maps_module", || {
        delegate::memory_from_kernel(w)
    });
    r.run("delegate::bad_pd_selectors", delegate::bad_pd_selectors);
    r.run(
        "delegate::mismatched_kinds_give_null",
        delegate::mismatched_kinds,
    );
    r.run(
        "delegate::memory_into_device_space",
        delegate::memory_into_device_space,
    );
    r.run("caps::root_capabilities", caps::root_capabilities);
    r.run("caps::semaphore_counts", caps::semaphore_counts);
    r.run("caps::create_refusals", caps::create_refusals);
    r.run("caps::ec_sc_pt_checks", caps::ec_sc_pt_checks);
    r.run(
        "caps::delegate_and_revoke_recursively",
        caps::delegate_and_revoke_recursively,
    );
    r.run("caps::revoke_reduces_rights", caps::revoke_reduces_rights);
    r.run(
        "caps::remote_revoke_and_bad_pd",
        caps::remote_revoke_and_bad_pd,
    );
    r.run(
        "caps::ports_follow_capabilities",
        caps::ports_follow_capabilities,
    );
    r.run(
        "caps::child_ports_follow_capabilities",
        ports::child_ports_follow_capabilities,
    );
    r.run(
        "caps::port_nodes_from_the_kernel",
        port_nodes::nodes_from_the_kernel,
    );
    r.run(
        "caps::port_nodes_are_delegated_and_revoked_whole",
        port_nodes::nodes_are_delegated_and_revoked_whole,
    );
    r.run(
        "caps::port_bitmap_follows_whole_nodes",
        port_nodes::the_bitmap_follows_whole_nodes,
    );
    r.run(
        "caps::child_memory_follows_delegation",
        child_memory::child_memory_follows_delegation,
    );
    r.run("caps::msr_access", caps::msr_access);
    r.run("caps::kernel_device_pages_are_not_delegable", || {
        kernel_mmio::kernel_device_pages_are_not_delegable(w)
    });
    r.run(
        "caps::forwarded_items_lose_the_hypervisor_flag",
        forward::forwarded_items_lose_the_hypervisor_flag,
    );
    r.run("caps::machine_ctrl_answers", leak::machine_ctrl_answers);
    r.run(
        "caps::translate_names_the_receivers_capability",
        caps::translate_names_the_receivers_capability,
    );
    r.run("ipc::call_and_reply", ipc::call_and_reply);
    r.run(
        "ipc::reply_delegates_typed_items",
        ipc::reply_delegates_typed_items,
    );
    r.run(
        "ipc::exceptions_startup_and_semaphores",
        ipc::exceptions_startup_and_semaphores,
    );
    r.run("ipc::consumed_time", ipc::consumed_time);
    r.run("cpu::fs_base_is_per_ec", cpu::fs_base_is_per_ec);
    r.run(
        "ipc::handler_revoking_itself_is_safe",
        ipc::handler_revoking_itself_is_safe,
    );
    r.run("ipc::semaphore_deadlines", ipc::semaphore_deadlines);
    r.run(
        "ipc::fs_base_survives_blocking",
        ipc::fs_base_survives_blocking,
    );
    r.run("irq::hip_lists_ioapic", || irq::hip_lists_ioapic(w));
    r.run("irq::edu_msi_reaches_its_semaphore", || {
        msi::edu_msi_reaches_its_semaphore(w, args)
    });
    r.run("irq::edu_pin_interrupt_reaches_its_semaphore", || {
        msi::edu_pin_interrupt_reaches_its_semaphore(w, args)
    });
    r.run("irq::nmi_msis_are_events", || {
        msi::nmi_msis_are_events(w, args)
    });
    r.run(
        "irq::pit_interrupt_wakes_semaphore",
        irq::pit_interrupt_wakes_semaphore,
    );
    r.run("irq::gsi_chaining", irq::gsi_chaining);
    r.run(
        "irq::down_leaves_an_unrouted_pin_masked",
        irq_checks::down_leaves_an_unrouted_pin_masked,
    );
    r.run(
        "irq::a_refused_assign_gsi_changes_nothing",
        irq_checks::a_refused_assign_gsi_changes_nothing,
    );
    r.run(
        "ipc::timer_preempts_and_revoke_stops",
        ipc::timer_preempts_and_revoke_stops,
    );
    r.run(
        "ipc::revoke_wakes_a_waiter_on_its_semaphore",
        ipc::revoke_wakes_a_waiter_on_its_semaphore,
    );
    r.run(
        "ipc::a_waiter_whose_sc_is_gone_does_not_run",
        ipc::a_waiter_whose_sc_is_gone_does_not_run,
    );
    r.run("sm::every_deadline_ends_its_wait", || {
        timeouts::every_deadline_ends_its_wait(w)
    });
    r.run(
        "ipc::every_word_count_both_ways",
        ipc_more::every_word_count_both_ways,
    );
    r.run(
        "ipc::nested_calls_three_deep",
        ipc_more::nested_calls_three_deep,
    );
    r.run(
        "ipc::higher_priority_runs_first",
        ipc_more::higher_priority_runs_first,
    );
    r.run(
        "ipc::every_user_exception_vector",
        exc_vectors::every_user_exception_vector,
    );
    r.run(
        "ipc::dying_handler_answers_abort",
        ipc_more::dying_handler_answers_abort,
    );
    r.run(
        "ipc::calling_ones_own_portal_stops_the_caller",
        ipc_more::calling_ones_own_portal_stops_the_caller,
    );
    r.run(
        "ipc::busy_handler_makes_callers_wait",
        helping::busy_handler_makes_callers_wait,
    );
    r.run("ipc::busy_handler_runs_on_the_callers_time", || {
        helping_time::busy_handler_runs_on_the_callers_time(w)
    });
    r.run("ipc::exception_waits_for_a_busy_handler", || {
        busy_exception::exception_waits_for_a_busy_handler(w)
    });
    r.run("ipc::recall_waits_for_a_busy_handler", || {
        busy_recall::recall_waits_for_a_busy_handler(w)
    });
    r.run("sched::a_thousand_threads_stop_in_one_go", || {
        stop_storm::a_thousand_threads_stop_in_one_go(w)
    });
    r.run("vm::guest_runs_and_exits", || vm::guest_runs_and_exits(w));
    r.run("vm::triple_fault_is_an_exit", || {
        vm::triple_fault_is_an_exit(w)
    });
    r.run("vm::recall_of_a_spinning_vcpu", || {
        vm::recall_of_a_spinning_vcpu(w)
    });
    r.run("vm::long_mode_guest_beside_a_spinning_vm", || {
        vm_long::long_mode_guest_beside_a_spinning_vm(w)
    });
    r.run("vm::malformed_state_is_refused_and_repairable", || {
        vm_bad::malformed_state_is_refused_and_repairable(w)
    });
    r.run("vm::intercepts_and_interrupt_window", || {
        vm_window::intercepts_and_interrupt_window(w)
    });
    r.run("vm::apic_access_page", || vm_apic::apic_access_page(w));
    r.run("vm::monitored_cr0_bit_exits", || {
        vm_crmon::monitored_cr0_bit_exits(w)
    });
    r.run("vm::vmm_timeout_exits", || vm_crmon::vmm_timeout_exits(w));
    r.run("vm::guest_cr2_follows_mtd_cr", || {
        vm_cr2::guest_cr2_follows_mtd_cr(w)
    });
    r.run("vm::vcpus_on_every_cpu", || vm_smp::vcpus_on_every_cpu(w));
    r.run("smp::every_cpu_runs_ecs", || smp::every_cpu_runs_ecs(w));
    r.run(
        "leak::no_leaks_over_ten_thousand_rounds",
        leak::no_leaks_over_ten_thousand_rounds,
    );
    r.run(
        "leak::small_objects_share_frames",
        leak::small_objects_share_frames,
    );
    r.run(
        "leak::exhausting_the_pool_answers_abort",
        leak::exhausting_the_pool_answers_abort,
    );
    r.run(
        "fuzz::random_hypercalls_keep_the_kernel_healthy",
        fuzz::random_hypercalls_keep_the_kernel_healthy,
    );
    (r.passed, r.failed)
}

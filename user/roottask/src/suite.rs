//! The on-target test suite, reported in the harness's protocol:
//! `test NAME ... ok` or `test NAME ... FAILED (reason)`, then `N passed, M failed`.
//!
//! Every test is a `fn(&Env) -> TestResult` registered in [`TESTS`] by its path below
//! this module, which is also its name: `caps::msr_access` is `suite::caps::msr_access`
//! (a function of `caps.rs` or of a file under `caps/`, re-exported there). The table's
//! order is the run order, and some tests build on what an earlier one left (each says
//! so). What a test's objects and mappings occupy — selectors, event bases, UTCB and
//! window addresses — comes from the map in [`fixture`], which the build checks for
//! overlaps.
//!
//! Failure messages live in a fixed buffer (the roottask has no heap yet), so the error
//! type is large on purpose; tests run once and are not on a hot path.
#![allow(clippy::result_large_err)]

use core::fmt::{self, Write};

use facet_abi::hip::{off, HipReader, FEAT_SVM, FEAT_VMX};
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
mod caps;
mod child;
mod cpu;
mod delegate;
mod edu;
mod entry;
mod fixture;
mod flood;
mod fuzz;
mod hip;
mod iommu;
mod ipc;
mod irq;
mod leak;
mod naps;
mod perms;
mod preempt;
mod rng;
mod s3;
mod sched;
mod sm;
mod smp;
mod sysret;
mod tools;
mod vm;

/// What a test is given: the roottask's start state and its command line.
pub struct Env<'a> {
    pub world: &'a World,
    pub args: &'a Args,
}

impl Env<'_> {
    /// The HIP.
    pub fn hip(&self) -> &HipReader<'static> {
        &self.world.hip
    }

    /// TSC ticks per millisecond.
    pub fn per_ms(&self) -> u64 {
        self.hip().u32(off::FREQ_TSC) as u64
    }

    /// The virtualization extension the kernel offers: `Some(true)` for VMX,
    /// `Some(false)` for SVM, `None` without one.
    pub fn vmx(&self) -> Option<bool> {
        let flags = self.hip().u32(off::API_FLG);
        if flags & (FEAT_SVM | FEAT_VMX) == 0 {
            return None;
        }
        Some(flags & FEAT_VMX != 0)
    }

    /// A CPU number that is not online: the first offline one, or 64 (beyond what the
    /// HIP can describe) when all 64 are.
    pub fn offline_cpu(&self) -> u64 {
        (0..facet_abi::config::NUM_CPU)
            .find(|&i| self.hip().cpu(i).flags & 1 == 0)
            .unwrap_or(facet_abi::config::NUM_CPU) as u64
    }

    /// The CPUs online from CPU 0 up to the first one that is not (at most `max`).
    pub fn cpus(&self, max: usize) -> u64 {
        (0..facet_abi::config::NUM_CPU)
            .take_while(|&i| self.hip().cpu(i).flags & 1 != 0)
            .count()
            .min(max) as u64
    }
}

/// One test: its name and its function.
pub struct Test {
    name: &'static str,
    run: fn(&Env) -> TestResult,
}

/// `test!(caps::msr_access)`: the test at that path below `suite`, named by it.
macro_rules! test {
    ($first:ident $(:: $rest:ident)*) => {
        Test {
            name: concat!(stringify!($first) $(, "::", stringify!($rest))*),
            run: $first $(:: $rest)*,
        }
    };
}

/// Every test, in the order they run.
const TESTS: &[Test] = &[
    test!(boot::initial_registers),
    test!(boot::utcb_mapped_zeroed_writable),
    test!(hip::signature_length_checksum),
    test!(hip::interface_constants),
    test!(hip::memory_descriptors),
    test!(hip::memory_above_4g),
    test!(hip::uefi_flag),
    test!(hip::boot_cpu_descriptor),
    test!(hip::cpus_online),
    test!(hip::acpi_tables),
    test!(hip::frequencies),
    test!(cpu::virtualization_flags_match_cpuid),
    test!(cpu::xsave_enabled),
    test!(cpu::fsgsbase_usable_in_user_mode),
    test!(cpu::sse_usable_in_user_mode),
    test!(entry::compat_syscall_and_sysenter_are_the_callers_faults),
    test!(entry::portal_entries_and_stacks_outside_user_space_are_refused),
    test!(sysret::a_status_returns_to_the_top_of_user_space),
    test!(delegate::ports_from_kernel),
    test!(delegate::memory_from_kernel_maps_module),
    test!(delegate::bad_pd_selectors),
    test!(delegate::mismatched_kinds_give_null),
    test!(delegate::memory_into_device_space),
    test!(caps::root_capabilities),
    test!(caps::semaphore_counts),
    test!(caps::create_refusals),
    test!(caps::selectors_beyond_the_space_name_nothing),
    test!(caps::ec_sc_pt_checks),
    test!(caps::delegate_and_revoke_recursively),
    test!(caps::revoke_reduces_rights),
    test!(caps::remote_revoke_and_bad_pd),
    test!(caps::ports_follow_capabilities),
    test!(caps::child_ports_follow_capabilities),
    test!(caps::port_nodes_from_the_kernel),
    test!(caps::port_nodes_are_delegated_and_revoked_whole),
    test!(caps::port_bitmap_follows_whole_nodes),
    test!(caps::child_memory_follows_delegation),
    test!(caps::msr_access),
    test!(caps::kernel_device_pages_are_not_delegable),
    test!(caps::forwarded_items_lose_the_hypervisor_flag),
    test!(caps::machine_ctrl_answers),
    test!(caps::microcode_update),
    test!(s3::bad_sleep_types),
    test!(caps::translate_names_the_receivers_capability),
    test!(perms::create_pd_needs_the_pd_right),
    test!(perms::create_ec_needs_the_ec_right),
    test!(perms::create_sc_needs_the_sc_right_of_the_pd),
    test!(perms::create_pt_needs_the_pt_right_of_the_pd),
    test!(perms::create_sm_needs_the_sm_right),
    test!(perms::ec_ctrl_needs_the_ct_right),
    test!(perms::create_sc_needs_the_sc_right_of_the_ec),
    test!(perms::create_pt_needs_the_pt_right_of_the_ec),
    test!(perms::sc_ctrl_needs_the_ct_right),
    test!(perms::pt_ctrl_needs_the_ct_right),
    test!(perms::call_needs_the_call_right),
    test!(perms::up_needs_the_up_right),
    test!(perms::down_needs_the_down_right),
    test!(perms::chaining_needs_the_up_right),
    test!(perms::revoke_signals_only_with_the_up_right),
    test!(perms::port_access_needs_the_a_right),
    test!(perms::execution_needs_the_x_right),
    test!(ipc::call_and_reply),
    test!(ipc::reply_delegates_typed_items),
    test!(ipc::exceptions_startup_and_semaphores),
    test!(ipc::consumed_time),
    test!(cpu::fs_base_is_per_ec),
    test!(ipc::handler_revoking_itself_is_safe),
    test!(ipc::semaphore_deadlines),
    test!(ipc::fs_base_survives_blocking),
    test!(irq::hip_lists_ioapic),
    test!(irq::edu_msi_reaches_its_semaphore),
    test!(irq::edu_pin_interrupt_reaches_its_semaphore),
    test!(irq::nmi_msis_are_events),
    test!(irq::pit_interrupt_wakes_semaphore),
    test!(irq::gsi_chaining),
    test!(irq::down_leaves_an_unrouted_pin_masked),
    test!(irq::a_refused_assign_gsi_changes_nothing),
    test!(iommu::hip_reports_remapping),
    test!(iommu::dma_before_assign_pci_faults),
    test!(iommu::assign_pci_answers_as_the_reference),
    test!(iommu::dma_round_trip_through_the_domain),
    test!(iommu::dma_to_an_unmapped_address_faults),
    test!(iommu::revoked_device_pages_fault),
    test!(iommu::a_device_moves_between_domains),
    test!(iommu::forged_msis_are_blocked),
    test!(iommu::edu_driver_serves_clients),
    test!(iommu::killing_the_driver_stops_its_dma),
    test!(ipc::timer_preempts_and_revoke_stops),
    test!(ipc::revoke_wakes_a_waiter_on_its_semaphore),
    test!(ipc::a_waiter_whose_sc_is_gone_does_not_run),
    test!(sm::every_deadline_ends_its_wait),
    test!(ipc::every_word_count_both_ways),
    test!(ipc::nested_calls_three_deep),
    test!(ipc::higher_priority_runs_first),
    test!(ipc::every_user_exception_vector),
    test!(ipc::dying_handler_answers_abort),
    test!(ipc::calling_ones_own_portal_stops_the_caller),
    test!(ipc::busy_handler_makes_callers_wait),
    test!(ipc::busy_handler_runs_on_the_callers_time),
    test!(ipc::exception_waits_for_a_busy_handler),
    test!(ipc::recall_waits_for_a_busy_handler),
    test!(sched::a_thousand_threads_stop_in_one_go),
    test!(vm::guest_runs_and_exits),
    test!(vm::vcpus_start_in_the_reference_state),
    test!(vm::triple_fault_is_an_exit),
    test!(vm::recall_of_a_spinning_vcpu),
    test!(vm::long_mode_guest_beside_a_spinning_vm),
    test!(vm::malformed_state_is_refused_and_repairable),
    test!(vm::intercepts_and_interrupt_window),
    test!(vm::apic_access_page),
    test!(vm::monitored_cr0_bit_exits),
    test!(vm::vmm_timeout_exits),
    test!(vm::guest_cr2_follows_mtd_cr),
    test!(vm::fast_and_general_exits_agree),
    test!(vm::vcpus_on_every_cpu),
    test!(vm::debug_registers_are_per_vcpu),
    test!(vm::protection_keys_are_per_vcpu),
    test!(vm::revoked_guest_memory_faults),
    test!(vm::stale_guest_translations_do_not_survive_their_pd),
    test!(vm::parked_activity_states_are_left),
    test!(smp::every_cpu_runs_ecs),
    test!(preempt::a_higher_priority_runs_at_once),
    test!(leak::every_frame_has_a_use),
    test!(leak::no_leaks_over_ten_thousand_rounds),
    test!(leak::small_objects_share_frames),
    test!(leak::exhausting_the_pool_answers_abort),
    test!(leak::random_load_gives_every_frame_back),
    test!(flood::stopped_threads_print_a_bounded_number_of_lines),
    test!(fuzz::random_hypercalls_keep_the_kernel_healthy),
    // Last: its threads spin on every CPU until the end.
    test!(s3::suspend_and_resume),
];

/// The tests for a kernel started with `crash=return` (the roottask's `return-fault`):
/// only these run there.
const RETURN_FAULT_TESTS: &[Test] = &[test!(entry::fault_on_return_is_the_handlers)];

/// Runs every test (or, with `return-fault`, those of [`RETURN_FAULT_TESTS`]); returns
/// (passed, failed).
pub fn run(world: &World, args: &Args) -> (u32, u32) {
    let env = Env { world, args };
    let tests = if args.return_fault {
        RETURN_FAULT_TESTS
    } else {
        TESTS
    };
    let (mut passed, mut failed) = (0, 0);
    for t in tests {
        if args.skips(t.name) {
            println!("skipping {}", t.name);
            continue;
        }
        if args.trace {
            println!("starting {}", t.name);
        }
        match (t.run)(&env) {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok", t.name);
            }
            Err(e) => {
                failed += 1;
                println!("test {} ... FAILED ({})", t.name, e.as_str());
            }
        }
    }
    (passed, failed)
}

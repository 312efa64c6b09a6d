//! Where each test's objects and mappings go: one map of the roottask's object space
//! (selectors and event bases), of the addresses of the UTCBs and windows it maps (and
//! of those it gives its children), and of the RAM it takes from the kernel.
//!
//! A test takes every number from its entries here (`CAPS.at(0)`, `IPC_UTCBS.utcb(1)`),
//! and the entries are checked at compile time: no two ranges of one space overlap
//! (a collision fails the build, naming the first entry of the pair), each index stays
//! inside its range, and a range meant for one CRD is aligned to its size. Some ranges
//! are claimed so that nothing is ever made there (the roottask's own selectors, an
//! empty selector, an event base without portals).

use facet_abi::config::{NUM_EXC, NUM_VMI};
use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_UTCB_ADDR;
use facet_abi::perm;
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use crate::world::SCRATCH;

/// Selectors `base..base + len` of the roottask's object space.
#[derive(Clone, Copy)]
pub struct Sels {
    base: u64,
    len: u64,
}

impl Sels {
    pub const fn new(base: u64, len: u64) -> Sels {
        Sels { base, len }
    }

    /// The 2^`order` selectors at `base`, a multiple of 2^`order`: what one CRD names.
    pub const fn aligned(base: u64, order: u8) -> Sels {
        assert!(base.is_multiple_of(1 << order), "an aligned range");
        Sels::new(base, 1 << order)
    }

    /// The number of selectors.
    pub const fn len(self) -> u64 {
        self.len
    }

    /// Selector `i` of the range.
    pub const fn at(self, i: u64) -> u64 {
        assert!(i < self.len, "a selector inside its range");
        self.base + i
    }

    /// The whole range as one object CRD with every right (for a revoke); the range must
    /// be aligned to its size.
    pub const fn crd(self) -> Crd {
        assert!(self.len.is_power_of_two() && self.base.is_multiple_of(self.len));
        Crd::new(
            Kind::Object,
            self.base,
            self.len.trailing_zeros() as u8,
            perm::ALL,
        )
    }
}

/// `count` event bases from `first` on, each `size` selectors apart: exception portals
/// ([`NUM_EXC`]) or VM-exit portals ([`NUM_VMI`]) at base + event.
#[derive(Clone, Copy)]
pub struct Events {
    first: u64,
    count: u64,
    size: u64,
}

impl Events {
    /// Event bases of ECs: 32 exception and kernel events each.
    pub const fn exc(first: u64, count: u64) -> Events {
        Events {
            first,
            count,
            size: NUM_EXC as u64,
        }
    }

    /// Event bases of vCPUs: 256 VM exits and kernel events each, aligned to 256 (so
    /// that one CRD hands a vCPU's portals on).
    pub const fn vm(first: u64, count: u64) -> Events {
        assert!(
            first.is_multiple_of(NUM_VMI as u64),
            "VM event bases are aligned"
        );
        Events {
            first,
            count,
            size: NUM_VMI as u64,
        }
    }

    /// Event base `i`.
    pub const fn base(self, i: u64) -> u64 {
        assert!(i < self.count, "an event base inside its range");
        self.first + i * self.size
    }

    const fn span(self) -> (u64, u64) {
        (self.first, self.count * self.size)
    }
}

/// Pages at `base..base + count * 4096` of an address space: UTCBs and windows in the
/// roottask's (or, where the entry says so, in a child's).
#[derive(Clone, Copy)]
pub struct Pages {
    base: u64,
    count: u64,
}

impl Pages {
    pub const fn new(base: u64, count: u64) -> Pages {
        Pages { base, count }
    }

    /// The address of page `i`.
    pub const fn addr(self, i: u64) -> u64 {
        assert!(i < self.count, "a page inside its range");
        self.base + i * 4096
    }

    /// The UTCB at page `i`.
    pub const fn utcb(self, i: u64) -> Utcb {
        Utcb::at(self.addr(i))
    }

    /// All the pages as one window.
    pub const fn window(self) -> Window {
        Window::new(self.base, self.count * 4096)
    }
}

/// Physical RAM pages `base..base + count * 4096` a test takes from the kernel.
#[derive(Clone, Copy)]
pub struct Frames {
    base: u64,
    count: u64,
}

impl Frames {
    pub const fn new(base: u64, count: u64) -> Frames {
        Frames { base, count }
    }

    /// The page number of frame `i`.
    pub const fn page(self, i: u64) -> u64 {
        assert!(i < self.count, "a frame inside its range");
        (self.base >> 12) + i
    }

    /// The physical range: its first byte and the byte past its end.
    pub const fn start(self) -> u64 {
        self.base
    }

    pub const fn end(self) -> u64 {
        self.base + self.count * 4096
    }
}

// ---- the roottask itself ----

/// Its exception event base (no portals), its PD, EC and SC, and one more selector that
/// stays empty.
pub const ROOT: Sels = Sels::new(0, 36);
/// Its UTCB and the HIP.
pub const ROOT_PAGES: Pages = Pages::new(ROOT_UTCB_ADDR, 2);
/// The page(s) `World` reads the command line through.
pub const CMDLINE: Pages = Pages::new(SCRATCH, 2);
/// A selector where nothing is ever made.
pub const NOTHING: u64 = 999;
/// An event base under which nothing is ever made: an EC of it that faults or starts
/// stops.
pub const NO_PORTALS: Events = Events::exc(60_000, 1);

// ---- boot, hip, delegate ----

/// `hip::acpi_tables`: where it looks at ACPI tables.
pub const ACPI_PAGE: Pages = Pages::new(SCRATCH + 0x60_0000, 1);
/// `hip::memory_above_4g`: where a page of RAM above 4 GiB goes.
pub const HIGH_PAGE: Pages = Pages::new(SCRATCH + 0x61_0000, 1);
/// `caps::microcode_update`: where the updates are written, and the RAM behind it.
pub const MICROCODE_PAGES: Pages = Pages::new(SCRATCH + 0x62_0000, 2);
pub const MICROCODE_RAM: Frames = Frames::new(0x0107_0000, 2);
/// `delegate::memory_from_kernel_maps_module`: where the module's first page goes.
pub const MODULE_PAGE: Pages = Pages::new(SCRATCH + 0x10_0000, 1);
/// `delegate::memory_into_device_space`: RAM delegated into the device space only.
pub const DEVICE_RAM: Frames = Frames::new(0x0105_0000, 4);

// ---- entry ----

/// `entry::*`: the exception handler EC, the worker and its SC, a semaphore, the
/// probes, the portal with a non-canonical entry and its handler.
pub const ENTRY: Sels = Sels::new(4000, 8);
/// The worker's event base (and that of the non-canonical portal's handler).
pub const ENTRY_EVENTS: Events = Events::exc(4100, 1);
/// UTCBs: the exception handler's, the worker's, the non-canonical portal's handler's.
pub const ENTRY_UTCBS: Pages = Pages::new(0x3200_0000, 3);
/// `sysret::a_status_returns_to_the_top_of_user_space`: a child, its handler and the
/// roottask's portal to it, the roottask's exception handler and its two portals.
pub const SYSRET_TOP: Sels = Sels::new(4030, 6);
/// The exception handler's UTCB.
pub const SYSRET_TOP_UTCB: Pages = Pages::new(0x3201_0000, 1);
/// The child's handler's UTCB, in the child.
pub const SYSRET_TOP_CHILD_UTCB: Pages = Pages::new(0x3202_0000, 1);
/// `caps::selectors_beyond_the_space_name_nothing`: a local EC, its portal, a semaphore;
/// the EC's UTCB.
pub const BEYOND: Sels = Sels::new(4040, 3);
pub const BEYOND_UTCB: Pages = Pages::new(0x3203_0000, 1);

// ---- caps ----

/// Semaphores, ECs, an SC and a portal of the object tests.
pub const CAPS: Sels = Sels::new(100, 50);
/// The PDs they create.
pub const CAPS_PDS: Sels = Sels::new(200, 16);
/// Windows delegations come back into.
pub const CAPS_WINDOWS: Sels = Sels::new(300, 2);
/// `caps::translate_names_the_receivers_capability`: a semaphore and a child.
pub const CAPS_TRANSLATE: Sels = Sels::new(160, 2);
/// The UTCBs of the ECs of `caps::ec_sc_pt_checks`.
pub const CAPS_UTCBS: Pages = Pages::new(SCRATCH + 0x20_0000, 2);
/// `caps::child_ports_follow_capabilities`: a child, its handlers and their portals.
pub const CAPS_PORTS: Sels = Sels::new(2200, 16);
/// Their UTCBs, in the child.
pub const CAPS_PORTS_UTCBS: Pages = Pages::new(0x3009_0000, 3);
/// `caps::port_nodes_*`: two PDs, the probes' handlers and portals.
pub const PORT_NODES: Sels = Sels::new(2230, 32);
/// The probes' UTCBs, in a child.
pub const PORT_NODES_UTCBS: Pages = Pages::new(0x300c_0000, 4);
/// `caps::child_memory_follows_delegation`: a child, its handlers and portals.
pub const CHILD_MEMORY: Sels = Sels::new(2400, 17);
/// Their UTCBs, and where the child sees the roottask's page, in the child.
pub const CHILD_MEMORY_UTCBS: Pages = Pages::new(0x300d_0000, 6);
pub const CHILD_MEMORY_AT: Pages = Pages::new(0x3100_0000, 1);
/// `caps::machine_ctrl_answers`: a child, its handler and portal.
pub const MACHINE_CTRL: Sels = Sels::new(2310, 3);
/// The handler's UTCB, in the child.
pub const MACHINE_CTRL_UTCB: Pages = Pages::new(0x300b_0000, 1);

/// `caps::forwarded_items_lose_the_hypervisor_flag`: a child, its two handlers and
/// their portals.
pub const FORWARD: Sels = Sels::new(4200, 5);
/// The replier's UTCB, in the child.
pub const FORWARD_UTCB: Pages = Pages::new(0x3300_0000, 1);
/// The reader's UTCB, in the roottask (it lives in its caller).
pub const FORWARD_READER_UTCB: Pages = Pages::new(0x3300_1000, 1);
/// The roottask's delegate window for the reply: nothing is ever mapped there.
pub const FORWARD_ROOT_WINDOW: Pages = Pages::new(0x3301_0000, 1);
/// The reader's delegate window and the page the replier's item names, in the child
/// (nothing mapped at either).
pub const FORWARD_CHILD_WINDOW: Pages = Pages::new(0x3302_0000, 1);
pub const FORWARD_ITEM: Pages = Pages::new(0x3303_0000, 1);
/// `caps::kernel_device_pages_are_not_delegable`: a child and the handlers and portals
/// of its five reads.
pub const KERNEL_MMIO: Sels = Sels::new(4300, 11);
/// Their UTCBs and where the page under test is mapped, in the child.
pub const KERNEL_MMIO_UTCBS: Pages = Pages::new(0x3400_0000, 5);
pub const KERNEL_MMIO_AT: Pages = Pages::new(0x3410_0000, 1);
/// Where the roottask looks at the DMAR table (two pages, for one CRD of order 1).
pub const DMAR_PAGES: Pages = Pages::new(SCRATCH + 0x90_0000, 2);

// ---- perms ----

/// `perms::*`: the reduced copy, what is made through it, the objects the tests need,
/// a handler EC and its portal; the UTCBs of the ECs they create.
pub const PERMS: Sels = Sels::new(4700, 8);
pub const PERMS_UTCBS: Pages = Pages::new(0x3620_0000, 3);
/// The children of the port and memory tests (PD, handlers, portals), and their
/// handlers' UTCBs (in the children).
pub const PERMS_PORT_CHILD: Sels = Sels::new(4710, 7);
pub const PERMS_PORT_UTCBS: Pages = Pages::new(0x3621_0000, 3);
pub const PERMS_CODE_CHILD: Sels = Sels::new(4720, 5);
pub const PERMS_CODE_UTCBS: Pages = Pages::new(0x3622_0000, 2);

// ---- ipc ----

/// The echo handler and its portals, the exception handler, the worker and the
/// threads, their semaphores.
pub const IPC: Sels = Sels::new(400, 100);
/// Event bases of the worker and of the three threads.
pub const IPC_EVENTS: Events = Events::exc(500, 4);
/// UTCBs: echo handler, exception handler, worker, three threads, self-revoking handler.
pub const IPC_UTCBS: Pages = Pages::new(0x3000_0000, 7);
/// `ipc::every_word_count_both_ways` and the handlers after it.
pub const IPC_HANDLERS: Sels = Sels::new(1900, 17);
pub const IPC_HANDLERS_EVENTS: Events = Events::exc(60_256, 1);
pub const IPC_HANDLERS_UTCBS: Pages = Pages::new(0x3007_0000, 16);
/// `ipc::every_user_exception_vector`.
pub const VECTORS: Sels = Sels::new(1950, 6);
pub const VECTORS_EVENTS: Events = Events::exc(9000, 1);
pub const VECTORS_UTCBS: Pages = Pages::new(0x3008_0000, 2);
/// `ipc::busy_handler_makes_callers_wait`.
pub const HELPING: Sels = Sels::new(1600, 35);
pub const HELPING_EVENTS: Events = Events::exc(1664, 1);
pub const HELPING_UTCBS: Pages = Pages::new(0x3004_0000, 4);
/// `ipc::busy_handler_runs_on_the_callers_time`.
pub const HELPING_TIME: Sels = Sels::new(1741, 15);
pub const HELPING_TIME_EVENTS: Events = Events::exc(1792, 1);
pub const HELPING_TIME_UTCBS: Pages = Pages::new(0x3004_4000, 6);
/// `ipc::exception_waits_for_a_busy_handler`.
pub const BUSY_EXCEPTION: Sels = Sels::new(1760, 10);
pub const BUSY_EXCEPTION_EVENTS: Events = Events::exc(2560, 1);
pub const BUSY_EXCEPTION_UTCBS: Pages = Pages::new(0x3004_a000, 4);
/// `ipc::recall_waits_for_a_busy_handler`.
pub const BUSY_RECALL: Sels = Sels::new(3100, 9);
pub const BUSY_RECALL_EVENTS: Events = Events::exc(3328, 1);
pub const BUSY_RECALL_UTCBS: Pages = Pages::new(0x3005_0000, 4);

// ---- irq ----

/// GSI 2's semaphore, and the semaphores of the chaining test.
pub const IRQ: Sels = Sels::new(800, 5);
/// The MSI's semaphore, and those of the eight PCI pins.
pub const MSI: Sels = Sels::new(1700, 18);
/// The edu device's configuration page and registers.
pub const MSI_PAGES: Pages = Pages::new(SCRATCH + 0x80_0000, 17);
/// `irq::down_leaves_an_unrouted_pin_masked`, `irq::a_refused_assign_gsi_changes_nothing`:
/// the RTC's and an MSI's semaphores, a semaphore to chain to.
pub const IRQ_CHECKS: Sels = Sels::new(4400, 3);

// ---- iommu ----

/// The device's two domains (children), GSI 100's and 101's semaphores, a semaphore.
pub const IOMMU: Sels = Sels::new(4600, 5);
/// The pages the device may reach (A, B), one it must not (P), and the host bridge's
/// configuration page, in the roottask; the RAM behind the first three.
pub const IOMMU_PAGES: Pages = Pages::new(SCRATCH + 0xd0_0000, 4);
pub const IOMMU_RAM: Frames = Frames::new(0x0108_0000, 3);
/// Where the children map the device's configuration page and a RAM page (in a child).
pub const IOMMU_CHILD: Pages = Pages::new(0x3600_0000, 2);
/// `iommu::edu_driver_serves_clients`: the child client, its handler and portal, and
/// the handler's UTCB (in the child).
pub const EDU_CLIENT: Sels = Sels::new(4620, 3);
pub const EDU_CLIENT_UTCB: Pages = Pages::new(0x3610_0000, 1);
/// The roottask's launcher (`init::Init::for_tests`): its selectors (its own objects,
/// the capabilities programs send it, its event semaphore), its handlers' UTCBs and
/// stacks, where it looks at modules' command lines and at configuration pages, its
/// window on physical memory, and the RAM it gives programs.
pub const INIT_SELS: Sels = Sels::new(
    crate::init::SELS.start,
    crate::init::SELS.end - crate::init::SELS.start,
);
pub const INIT_UTCBS: Pages = Pages::new(crate::init::HANDLER_UTCBS, 64);
pub const INIT_STACKS: Pages = Pages::new(crate::init::HANDLER_STACKS, 64 * 16);
pub const INIT_PROBE: Pages = Pages::new(crate::init::PROBE, 1);
pub const INIT_LINES: Pages = Pages::new(crate::init::MODULE_LINES, 2);
pub const INIT_WINDOW: Pages = Pages::new(crate::init::phys_window(0), 0x2_0000);
pub const INIT_RAM: Frames = Frames::new(0x0400_0000, 0x800);

// ---- sm, sched ----

/// `sm::every_deadline_ends_its_wait`: 512 threads, their SCs, three semaphores and the
/// threads' event base.
pub const SM_THREADS: Sels = Sels::aligned(3 << 20, 9);
pub const SM_SCS: Sels = Sels::aligned((3 << 20) + (1 << 12), 9);
pub const SM_SEMAPHORES: Sels = Sels::new((3 << 20) + (1 << 13), 3);
pub const SM_EVENTS: Events = Events::exc((3 << 20) + (1 << 14), 1);
/// `sched::a_thousand_threads_stop_in_one_go`: 1024 threads, their SCs, a semaphore.
pub const SCHED_THREADS: Sels = Sels::aligned(1 << 21, 10);
pub const SCHED_SCS: Sels = Sels::aligned((1 << 21) + (1 << 12), 10);
pub const SCHED_NAP: Sels = Sels::new((1 << 21) + (1 << 13), 1);

// ---- vm ----

/// The test VMs (fourteen), eight selectors each (VMM handler, two semaphores, vCPU, its SC, and
/// three for what else a VM needs); their event bases and handler UTCBs by number.
pub const VMS: Sels = Sels::new(5400, 8 * 14);
pub const VM_EVENTS: Events = Events::vm(32768, 14);
pub const VM_UTCBS: Pages = Pages::new(0x3001_0000, 14);
/// The second VM's virtual-APIC page, mapped in the roottask.
pub const VM_VLAPIC: Pages = Pages::new(0x3001_f000, 1);
/// The first VM's memory: its code page and its interrupt table (guest pages 1 and 0),
/// as the VMM sees them, and the RAM behind them.
pub const VM_GUEST: Pages = Pages::new(SCRATCH + 0x40_0000, 2);
pub const VM_GUEST_RAM: Frames = Frames::new(0x0100_0000, 2);
/// The second VM's eight pages, as the VMM sees them, and the RAM behind them.
pub const VM_LONG: Pages = Pages::new(SCRATCH + 0x50_0000, 8);
pub const VM_LONG_RAM: Frames = Frames::new(0x0101_0000, 8);
/// `vm::vcpus_on_every_cpu`: a VM per CPU (up to 16), eight selectors each.
pub const VM_SMP: Sels = Sels::new(2600, 8 * 16);
pub const VM_SMP_EVENTS: Events = Events::vm(16384, 16);
pub const VM_SMP_UTCBS: Pages = Pages::new(0x3006_0000, 16);
/// What one guest must not see of another, and what a VMM must not be able to do to a
/// CPU: eight more test VMs, eight selectors each (`vm::debug_registers_are_per_vcpu` 0
/// and 1, `vm::protection_keys_are_per_vcpu` 2 and 3, `vm::revoked_guest_memory_faults`
/// 4, `vm::stale_guest_translations_do_not_survive_their_pd` 5 and 6,
/// `vm::parked_activity_states_are_left` 7).
pub const VM_ISOLATION: Sels = Sels::new(4500, 8 * 8);
pub const VM_ISOLATION_EVENTS: Events = Events::vm(36864, 8);
pub const VM_ISOLATION_UTCBS: Pages = Pages::new(0x3500_0000, 8);
/// `vm::revoked_guest_memory_faults`: the guest's data page as the VMM sees it, and the
/// RAM behind it.
pub const VM_REVOKED: Pages = Pages::new(SCRATCH + 0xc0_0000, 1);
pub const VM_REVOKED_RAM: Frames = Frames::new(0x0106_0000, 1);
/// `vm::stale_guest_translations_do_not_survive_their_pd`: the first child's data page
/// as the VMM sees it, and the RAM behind it.
pub const VM_STALE: Pages = Pages::new(SCRATCH + 0xc1_0000, 1);
pub const VM_STALE_RAM: Frames = Frames::new(0x0106_1000, 1);
/// `vm::parked_activity_states_are_left`: the page mapped, read and revoked for a TLB
/// shootdown, and the RAM behind it.
pub const VM_PARKED_SHOOTDOWN: Pages = Pages::new(SCRATCH + 0xc2_0000, 1);
pub const VM_PARKED_SHOOTDOWN_RAM: Frames = Frames::new(0x0106_2000, 1);

// ---- smp ----

/// Per CPU (all 64 the HIP describes) at + CPU: handlers (+0), workers (+100), their SCs
/// (+200), wake-up semaphores (+300); then the report and parking semaphores (+400, +401).
pub const SMP: Sels = Sels::new(1100, 402);
pub const SMP_EVENTS: Events = Events::exc(12288, 64);
/// UTCBs: the handlers', the workers'.
pub const SMP_HANDLER_UTCBS: Pages = Pages::new(0x3010_0000, 64);
pub const SMP_WORKER_UTCBS: Pages = Pages::new(0x3014_0000, 64);
/// The page every worker reads, and its RAM.
pub const SMP_SHARED: Pages = Pages::new(SCRATCH + 0x70_0000, 1);
pub const SMP_SHARED_RAM: Frames = Frames::new(0x0102_0000, 1);

// ---- preempt ----
/// `preempt::*`: handlers, threads, their SCs and semaphores (one aligned range, one
/// revoke), an event base per kind of thread (its start-up portal tells them apart),
/// and the UTCBs of three handlers and eight threads.
pub const PREEMPT: Sels = Sels::aligned(6144, 5);
pub const PREEMPT_EVENTS: Events = Events::exc(45056, 6);
pub const PREEMPT_UTCBS: Pages = Pages::new(0x3700_0000, 11);

// ---- s3 ----

/// Per CPU (all 64) at + CPU: start-up handlers (+0), workers (+64), their SCs (+128);
/// then the timed semaphore, the thread waiting on it and its SC, the edu device's MSI
/// semaphore, a semaphore to nap on (+192..+196).
pub const S3: Sels = Sels::new(5000, 197);
/// Event bases: the workers' (by CPU) and the waiting thread's (+64).
pub const S3_EVENTS: Events = Events::exc(40960, 65);
/// UTCBs: the handlers', the workers' and the waiting thread's (+64).
pub const S3_HANDLER_UTCBS: Pages = Pages::new(0x3020_0000, 64);
pub const S3_WORKER_UTCBS: Pages = Pages::new(0x3024_0000, 65);

// ---- leak ----

/// The object made and revoked, a local and a global EC.
pub const LEAK: Sels = Sels::new(2300, 3);
pub const LEAK_UTCBS: Pages = Pages::new(0x300a_0000, 2);
/// The page mapped and unmapped, where it goes, and its RAM.
pub const LEAK_PAGES: Pages = Pages::new(SCRATCH + 0xa0_0000, 17);
pub const LEAK_RAM: Frames = Frames::new(0x0104_0000, 1);
/// What fills the pool: PDs, semaphores, probes with the pool empty, and a mapping that
/// needs new page tables.
pub const FILL_PDS: Sels = Sels::aligned(5 << 20, 18);
pub const FILL_SMS: Sels = Sels::aligned(6 << 20, 18);
pub const PROBES: Sels = Sels::aligned(7 << 20, 3);
pub const FILL_FAR: Pages = Pages::new(0x7000_0000, 1);
/// `leak::small_objects_share_frames`: 16,384 semaphores.
pub const MANY: Sels = Sels::aligned(1 << 22, 14);

// ---- flood ----

/// `flood::stopped_threads_print_a_bounded_number_of_lines`: the EC, its SC and a
/// semaphore to wait on; the EC's UTCB.
pub const FLOOD: Sels = Sels::new(2320, 3);
pub const FLOOD_UTCB: Pages = Pages::new(0x300e_0000, 1);

// ---- leak under load ----

/// `leak::random_load_gives_every_frame_back`: everything the roottask makes there (one
/// CRD, revoked at the end): its child PDs, their proxies' ECs and portals, and the
/// objects it makes at random.
pub const LOAD: Sels = Sels::aligned(8 << 20, 14);
/// The RAM it takes from the kernel, and where the roottask maps it to hand it on.
pub const LOAD_PAGES: Pages = Pages::new(SCRATCH + 0xe0_0000, 16);
pub const LOAD_RAM: Frames = Frames::new(0x0109_0000, 16);
/// Where its random UTCBs and mappings land in the roottask: anywhere from 4 TiB (above
/// what init maps) to 127 TiB (in the children: anywhere at all).
pub const LOAD_FAR: Pages = Pages::new(0x400_0000_0000, (0x7f00_0000_0000 - 0x400_0000_0000) >> 12);

// ---- fuzz ----

/// Where random object windows (with orders up to 3) and the probe afterwards go, and
/// the memory random UTCBs and windows land in.
pub const FUZZ: Sels = Sels::new(0x1_0000, 0x1008);
pub const FUZZ_PROBE: Sels = Sels::new(0x2_0000, 1);
pub const FUZZ_MEMORY: Pages = Pages::new(0x5000_0000, 0x108);

/// Where in which space.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    /// The roottask's object space.
    Selectors,
    /// Virtual addresses (the roottask's, or a child's where the entry says so).
    Addresses,
    /// Physical RAM.
    Ram,
}

/// One entry of the map: a name, a space, a range.
#[derive(Clone, Copy)]
struct Claim(&'static str, Space, u64, u64);

const fn sels(name: &'static str, s: Sels) -> Claim {
    Claim(name, Space::Selectors, s.base, s.len)
}

const fn events(name: &'static str, e: Events) -> Claim {
    let (base, len) = e.span();
    Claim(name, Space::Selectors, base, len)
}

const fn pages(name: &'static str, p: Pages) -> Claim {
    Claim(name, Space::Addresses, p.base, p.count * 4096)
}

const fn ram(name: &'static str, f: Frames) -> Claim {
    Claim(name, Space::Ram, f.base, f.count * 4096)
}

/// Every claim.
const MAP: &[Claim] = &[
    sels("roottask", ROOT),
    pages("roottask UTCB and HIP", ROOT_PAGES),
    pages("command line", CMDLINE),
    sels("nothing", Sels::new(NOTHING, 1)),
    events("no portals", NO_PORTALS),
    pages("hip", ACPI_PAGE),
    pages("hip", HIGH_PAGE),
    pages("microcode", MICROCODE_PAGES),
    ram("microcode", MICROCODE_RAM),
    pages("delegate", MODULE_PAGE),
    ram("delegate", DEVICE_RAM),
    sels("entry", ENTRY),
    events("entry", ENTRY_EVENTS),
    pages("entry", ENTRY_UTCBS),
    sels("sysret top", SYSRET_TOP),
    pages("sysret top", SYSRET_TOP_UTCB),
    pages("sysret top (child)", SYSRET_TOP_CHILD_UTCB),
    sels("beyond", BEYOND),
    pages("beyond", BEYOND_UTCB),
    sels("caps", CAPS),
    sels("caps PDs", CAPS_PDS),
    sels("caps windows", CAPS_WINDOWS),
    sels("caps translate", CAPS_TRANSLATE),
    pages("caps", CAPS_UTCBS),
    sels("caps ports", CAPS_PORTS),
    pages("caps ports (child)", CAPS_PORTS_UTCBS),
    sels("port nodes", PORT_NODES),
    pages("port nodes (child)", PORT_NODES_UTCBS),
    sels("child memory", CHILD_MEMORY),
    pages("child memory (child)", CHILD_MEMORY_UTCBS),
    pages("child memory (child)", CHILD_MEMORY_AT),
    sels("machine_ctrl", MACHINE_CTRL),
    pages("machine_ctrl (child)", MACHINE_CTRL_UTCB),
    sels("forward", FORWARD),
    pages("forward (child)", FORWARD_UTCB),
    pages("forward", FORWARD_READER_UTCB),
    pages("forward", FORWARD_ROOT_WINDOW),
    pages("forward (child)", FORWARD_CHILD_WINDOW),
    pages("forward (child)", FORWARD_ITEM),
    sels("kernel mmio", KERNEL_MMIO),
    pages("kernel mmio (child)", KERNEL_MMIO_UTCBS),
    pages("kernel mmio (child)", KERNEL_MMIO_AT),
    pages("dmar", DMAR_PAGES),
    sels("perms", PERMS),
    pages("perms", PERMS_UTCBS),
    sels("perms port child", PERMS_PORT_CHILD),
    pages("perms port child (child)", PERMS_PORT_UTCBS),
    sels("perms code child", PERMS_CODE_CHILD),
    pages("perms code child (child)", PERMS_CODE_UTCBS),
    sels("ipc", IPC),
    events("ipc", IPC_EVENTS),
    pages("ipc", IPC_UTCBS),
    sels("ipc handlers", IPC_HANDLERS),
    events("ipc handlers", IPC_HANDLERS_EVENTS),
    pages("ipc handlers", IPC_HANDLERS_UTCBS),
    sels("vectors", VECTORS),
    events("vectors", VECTORS_EVENTS),
    pages("vectors", VECTORS_UTCBS),
    sels("helping", HELPING),
    events("helping", HELPING_EVENTS),
    pages("helping", HELPING_UTCBS),
    sels("helping time", HELPING_TIME),
    events("helping time", HELPING_TIME_EVENTS),
    pages("helping time", HELPING_TIME_UTCBS),
    sels("busy exception", BUSY_EXCEPTION),
    events("busy exception", BUSY_EXCEPTION_EVENTS),
    pages("busy exception", BUSY_EXCEPTION_UTCBS),
    sels("busy recall", BUSY_RECALL),
    events("busy recall", BUSY_RECALL_EVENTS),
    pages("busy recall", BUSY_RECALL_UTCBS),
    sels("irq", IRQ),
    sels("msi", MSI),
    pages("msi", MSI_PAGES),
    sels("irq checks", IRQ_CHECKS),
    sels("iommu", IOMMU),
    pages("iommu", IOMMU_PAGES),
    ram("iommu", IOMMU_RAM),
    pages("iommu (child)", IOMMU_CHILD),
    sels("edu client", EDU_CLIENT),
    pages("edu client (child)", EDU_CLIENT_UTCB),
    sels("init", INIT_SELS),
    pages("init UTCBs", INIT_UTCBS),
    pages("init stacks", INIT_STACKS),
    pages("init probe", INIT_PROBE),
    pages("init command lines", INIT_LINES),
    pages("init window", INIT_WINDOW),
    ram("init", INIT_RAM),
    sels("sm threads", SM_THREADS),
    sels("sm SCs", SM_SCS),
    sels("sm semaphores", SM_SEMAPHORES),
    events("sm", SM_EVENTS),
    sels("sched threads", SCHED_THREADS),
    sels("sched SCs", SCHED_SCS),
    sels("sched nap", SCHED_NAP),
    sels("vms", VMS),
    events("vms", VM_EVENTS),
    pages("vms", VM_UTCBS),
    pages("vm vLAPIC", VM_VLAPIC),
    pages("vm guest", VM_GUEST),
    ram("vm guest", VM_GUEST_RAM),
    pages("vm long", VM_LONG),
    ram("vm long", VM_LONG_RAM),
    sels("vm smp", VM_SMP),
    events("vm smp", VM_SMP_EVENTS),
    pages("vm smp", VM_SMP_UTCBS),
    sels("vm isolation", VM_ISOLATION),
    events("vm isolation", VM_ISOLATION_EVENTS),
    pages("vm isolation", VM_ISOLATION_UTCBS),
    pages("vm revoked", VM_REVOKED),
    ram("vm revoked", VM_REVOKED_RAM),
    pages("vm stale", VM_STALE),
    ram("vm stale", VM_STALE_RAM),
    pages("vm parked", VM_PARKED_SHOOTDOWN),
    ram("vm parked", VM_PARKED_SHOOTDOWN_RAM),
    sels("smp", SMP),
    events("smp", SMP_EVENTS),
    sels("preempt", PREEMPT),
    events("preempt", PREEMPT_EVENTS),
    pages("preempt", PREEMPT_UTCBS),
    sels("s3", S3),
    events("s3", S3_EVENTS),
    pages("s3 handlers", S3_HANDLER_UTCBS),
    pages("s3 workers", S3_WORKER_UTCBS),
    pages("smp handlers", SMP_HANDLER_UTCBS),
    pages("smp workers", SMP_WORKER_UTCBS),
    pages("smp shared", SMP_SHARED),
    ram("smp shared", SMP_SHARED_RAM),
    sels("leak", LEAK),
    pages("leak", LEAK_UTCBS),
    pages("leak pages", LEAK_PAGES),
    ram("leak", LEAK_RAM),
    sels("fill PDs", FILL_PDS),
    sels("fill semaphores", FILL_SMS),
    sels("probes", PROBES),
    pages("fill far", FILL_FAR),
    sels("many", MANY),
    sels("flood", FLOOD),
    pages("flood", FLOOD_UTCB),
    sels("load", LOAD),
    pages("load", LOAD_PAGES),
    ram("load", LOAD_RAM),
    pages("load far", LOAD_FAR),
    sels("fuzz", FUZZ),
    sels("fuzz probe", FUZZ_PROBE),
    pages("fuzz", FUZZ_MEMORY),
];

/// Fails the build if two claims of one space overlap (naming the first of them).
const fn check(map: &[Claim]) {
    let mut i = 0;
    while i < map.len() {
        let Claim(name, space, base, len) = map[i];
        assert!(
            len > 0 && base.checked_add(len).is_some(),
            "an empty or wrapping claim"
        );
        let mut j = i + 1;
        while j < map.len() {
            let Claim(_, other_space, other_base, other_len) = map[j];
            let apart = base + len <= other_base || other_base + other_len <= base;
            if space as u8 == other_space as u8 && !apart {
                panic!("{}", name);
            }
            j += 1;
        }
        i += 1;
    }
}

const _: () = check(MAP);

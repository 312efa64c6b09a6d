//! Facet: a capability-based microhypervisor for x86_64.
//!
//! `kernel_start` is reached from the 32-bit multiboot entry (`boot::entry`) in long
//! mode on the boot stack. It parses the boot information, brings up the consoles, the
//! CPU, physical memory and the kernel address space, and hands control to the
//! roottask. The kernel is not preemptible and runs with interrupts disabled.

#![no_std]
#![no_main]

mod acpi;
mod arch;
mod boot;
mod cap;
mod console;
mod entry;
mod exec;
mod hypercall;
mod iommu;
mod mem;
mod obj;
mod root;
mod smp;
mod svm;
mod sync;
mod utcb;
mod vcpu;
mod vmx;

use facet_kcore::bootinfo::{self, BootInfo};
use facet_kcore::cmdline::{CrashTest, Options};
use facet_kcore::phys::read_cstr;

use arch::cpu::{self, Features};
use mem::direct_map::{DirectMap, BOOT_MAPPED_LIMIT};

/// The kernel's version, from its package.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Stops the boot with a message on every console.
macro_rules! fatal {
    ($($arg:tt)*) => {{
        console::write_emergency(format_args!("FACET: boot failed: {}\nFACET: halted\n", format_args!($($arg)*)));
        cpu::halt_forever()
    }};
}

/// The 64-bit entry point, called by the boot code with the multiboot magic and the
/// physical address of the boot information.
#[no_mangle]
#[link_section = ".init.text"]
pub extern "C" fn kernel_start(magic: u32, info_addr: u32) -> ! {
    let entered = cpu::tsc();
    let early = DirectMap {
        limit: BOOT_MAPPED_LIMIT,
    };
    let parsed = bootinfo::parse(magic, info_addr as u64, &early);
    let mut line = [0u8; 1024];
    let cmdline: &[u8] = match &parsed {
        Ok(i) if i.cmdline != 0 => read_cstr(&early, i.cmdline, &mut line).unwrap_or(&[]),
        _ => &[],
    };
    let opts = Options::parse(cmdline);
    // Without valid boot information the command line is unknown: use every console.
    // Firmware that booted through UEFI need not have a VGA text screen at 0xb8000.
    let efi = parsed.as_ref().is_ok_and(|i| i.efi);
    console::init(
        opts.serial || parsed.is_err(),
        (!opts.novga && !efi) || parsed.is_err(),
    );
    println!("\nFacet {} microhypervisor (interface API 4.3)", VERSION);
    let info = match parsed {
        Ok(i) => i,
        Err(e) => fatal!("bad boot information: {e}"),
    };
    println!(
        "command line: \"{}\"",
        core::str::from_utf8(cmdline).unwrap_or("(not UTF-8)")
    );
    println!(
        "options: serial={} vga={} iommu={} pcid={} vpid={}",
        opts.serial,
        !opts.novga && !info.efi,
        opts.iommu,
        !opts.nopcid,
        !opts.novpid
    );
    if info.efi {
        println!("boot: through UEFI firmware (no VGA text screen, no BIOS areas)");
    }

    let features = Features::detect();
    if !features.xsave || !features.fsgsbase {
        // Every switch between threads moves their state with XSAVE and RDFSBASE.
        fatal!("this CPU lacks XSAVE or FSGSBASE, which Facet requires");
    }
    let enabled = cpu::enable(&features, !opts.nopcid);
    if enabled.pcid {
        obj::pd::enable_pcids();
    }
    arch::fpu::init(enabled.xcr0);
    print_features(&features, &enabled);

    arch::pic::disable();
    // SAFETY: the tables are static and only the bootstrap CPU runs; its stacks are
    // part of the kernel image, mapped in every address space, page-aligned.
    unsafe { (*core::ptr::addr_of_mut!(arch::gdt::BSP_TABLES)).load(0, mem::image::bsp_stacks()) };
    arch::idt::init(entry::interrupt::stubs());
    entry::syscall::init();
    // The bootstrap CPU holds the kernel lock until it enters the roottask.
    let _ = smp::bkl::enter();

    let plan = match mem::init::init(&info, &early, opts.pool) {
        Ok(p) => p,
        Err(e) => fatal!("memory: {e}"),
    };
    mem::set_kernel_ranges(mem::image::phys_range(), (plan.pool.start, plan.pool.end));
    print_memory(&info, &plan);
    if let Some(asked) = opts.pool {
        println!(
            "memory: pool={} MiB asked, the kernel pool has {} MiB",
            asked >> 20,
            (plan.pool.end - plan.pool.start) >> 20
        );
    }

    if let Err(e) = mem::kspace::init(&info, features.page1g) {
        fatal!("building the kernel address space: {e:?}");
    }
    if !mem::cap_mem::init() {
        fatal!("memory: no frames for the empty capability tables");
    }
    self_test();
    match arch::lapic::init(features.x2apic, features.tsc_deadline) {
        Some(per_ms) => println!(
            "lapic: id {}{}, one-shot timer ({} APIC ticks per ms); TSC {} kHz, bus {} kHz",
            arch::lapic::id(),
            match (arch::lapic::x2apic(), arch::lapic::deadline_mode()) {
                (true, true) => " (x2APIC, TSC-deadline timer)",
                (true, false) => " (x2APIC)",
                (false, true) => " (TSC-deadline timer)",
                (false, false) => "",
            },
            per_ms,
            arch::lapic::frequencies().0,
            arch::lapic::frequencies().1
        ),
        None => println!("lapic: not usable; no preemption"),
    }
    match vcpu::init(&features, !opts.novpid) {
        Some(what) => println!("vcpu: {what}"),
        None => println!("vcpu: no usable virtualization extension"),
    }
    if let Err(e) = obj::kern::init() {
        fatal!("creating the kernel's interrupt semaphores: {}", e.name());
    }
    acpi::init(&info);
    // Without ACPI tables: the I/O APIC at its standard address, and application
    // processors probed by APIC id.
    if !acpi::setup_ioapics() && arch::arch_ioapic_default() {
        println!("ioapic: no MADT; assuming one at 0xfec00000");
    }
    // Before any other CPU runs (it reads PCI configuration space through a scratch
    // mapping only this CPU knows) and before the roottask's HIP is built.
    iommu::init(opts.iommu);
    let mut ids = [0u32; 64];
    let (n, dropped) = acpi::cpu_apic_ids(&mut ids).unwrap_or_else(|| {
        for (i, id) in ids.iter_mut().enumerate().take(16) {
            *id = i as u32;
        }
        (16, 0)
    });
    if dropped > 0 {
        println!(
            "smp: {} usable CPU(s) in the MADT; the HIP describes {}: {} dropped",
            n + dropped,
            facet_abi::config::NUM_CPU,
            dropped
        );
    }
    smp::sleep::set_entries(boot::resume::bsp, boot::resume::ap, vcpu::before_sleep);
    let before_aps = cpu::tsc();
    // Each started CPU goes idle under the kernel lock and sleeps without it, its timer
    // disarmed; the boot CPU lets the lock go meanwhile, so that no CPU already up spins
    // for it (under emulation the spinners slowed every further start).
    smp::bkl::release();
    let aps = smp::start(&ids[..n], plan.low_page, &features, !opts.nopcid, ap_entry);
    let ms = |ticks: u64| ticks / arch::lapic::frequencies().0.max(1);
    println!(
        "smp: {} CPU(s) online, started in {} ms",
        aps + 1,
        ms(cpu::tsc() - before_aps)
    );
    let (free, total) = mem::frames::stats();
    println!("memory: kernel pool has {} of {} frames free", free, total);

    match opts.crash {
        Some(CrashTest::Panic) => panic!("crash test requested on the command line"),
        Some(CrashTest::PageFault) => {
            println!("crash test: reading an unmapped kernel address");
            // SAFETY: not safe at all, on purpose: this address is unmapped and the
            // read must fault so that the fault report can be tested.
            let v = unsafe { core::ptr::read_volatile(0xffff_ffff_7fff_f000 as *const u64) };
            println!("crash test failed: read {v:#x}");
        }
        Some(CrashTest::Loan) => {
            println!("crash test: two loans of one object");
            obj::loans::lend_twice();
            println!("crash test: not caught (a release kernel does not check loans)");
        }
        Some(CrashTest::Return) => {
            println!("crash test: portal entry addresses are not checked");
            hypercall::UNCHECKED_PORTAL_IPS.store(true, core::sync::atomic::Ordering::Relaxed);
        }
        None => {}
    }

    FEATURES.lock().replace(features);
    println!(
        "boot: {} ms from the kernel's entry to the roottask",
        ms(cpu::tsc() - entered)
    );
    match root::loader::start(&info, &plan, 0) {
        Err(e) => fatal!("{e}"),
        Ok(never) => match never {},
    }
}

/// Where an application processor enters the kernel, on its own stack (`smp::start`).
extern "C" fn ap_entry(cpu: u32) -> ! {
    let Some((features, pcid)) = smp::ap_features() else {
        crate::arch::cpu::halt_forever()
    };
    let _ = arch::cpu::enable(&features, pcid);
    let Some(kernel) = mem::kspace::kernel_root() else {
        crate::arch::cpu::halt_forever()
    };
    // SAFETY: the kernel page table maps everything the kernel uses, including this
    // CPU's stack (mapped by `map_cpu_stacks`).
    unsafe { arch::cpu::write_cr3(kernel.root) };
    let Some(tables) = mem::frames::alloc_zeroed(2, mem::usage::Use::PerCpu) else {
        crate::arch::cpu::halt_forever()
    };
    const _: () = assert!(core::mem::size_of::<arch::gdt::CpuTables>() <= 4 * 4096);
    let ptr = mem::direct_map::virt(tables) as *mut arch::gdt::CpuTables;
    // SAFETY: the four frames were just allocated to this CPU for good and are
    // direct-mapped, page-aligned (CpuTables needs 4 KiB alignment) and large enough; the
    // bootstrap CPU mapped this CPU's stacks before starting it.
    unsafe {
        ptr.write(arch::gdt::CpuTables::new());
        (*ptr).load(cpu as u64, arch::stacks::ap_stacks(cpu as u64));
    }
    arch::idt::load();
    crate::entry::syscall::init();
    arch::lapic::init_ap();
    if crate::vcpu::init_ap(&features) {
        crate::vcpu::mark_ready();
    }
    crate::println!("smp: CPU {} online (APIC id {})", cpu, arch::lapic::id());
    // From here on this CPU runs the Ecs bound to it (online first: the bootstrap CPU
    // holds the kernel lock while it waits for this one).
    smp::set_online(cpu);
    let _ = smp::bkl::enter();
    // SAFETY: the one token of this kernel entry (the CPU's start).
    let mut frame = unsafe { crate::exec::CurrentFrame::new() };
    crate::exec::sched::idle_until_ready(&mut frame);
    crate::exec::resume(&mut frame);
    smp::bkl::release();
    // SAFETY: `idle_until_ready` put a runnable Ec on the CPU, whose frame holds a user
    // state, and GS holds this CPU's per-CPU base.
    unsafe { crate::entry::syscall::enter_user() }
}

#[link_section = ".init.text"]
fn print_features(f: &Features, e: &cpu::Enabled) {
    let vendor = core::str::from_utf8(&f.vendor).unwrap_or("?");
    print!(
        "cpu: {vendor} family {:#x} model {:#x}; features:",
        f.family, f.model
    );
    let list = [
        (f.xsave, "XSAVE"),
        (f.fsgsbase, "FSGSBASE"),
        (f.pcid, "PCID"),
        (f.vmx, "VMX"),
        (f.ept, "EPT"),
        (f.svm, "SVM"),
        (f.npt, "NPT"),
        (f.smep, "SMEP"),
        (f.smap, "SMAP"),
        (f.tsc_deadline, "TSC-DEADLINE"),
        (f.x2apic, "X2APIC"),
        (f.page1g, "1G-PAGES"),
    ];
    for (present, name) in list {
        if present {
            print!(" {name}");
        }
    }
    println!();
    println!(
        "cpu: enabled xcr0={:#x} fsgsbase={} pcid={} smep={} smap={}",
        e.xcr0, e.fsgsbase, e.pcid, e.smep, e.smap
    );
}

#[link_section = ".init.text"]
fn print_memory(info: &BootInfo, plan: &mem::init::Plan) {
    const KIB: u64 = 1024;
    for r in info.regions() {
        println!(
            "memory: [{:#014x}, {:#014x}) type {}",
            r.addr,
            r.addr.saturating_add(r.len),
            r.kind
        );
    }
    for (n, m) in info.modules().iter().enumerate() {
        println!("module {n}: [{:#x}, {:#x})", m.start, m.end);
    }
    match info.rsdp {
        Some(r) => println!(
            "acpi: RSDP copy from the bootloader at {:#x} ({} bytes, {})",
            r.addr,
            r.len,
            if r.new { "ACPI 2.0+" } else { "ACPI 1.0" }
        ),
        None => println!("acpi: no RSDP from the bootloader"),
    }
    println!(
        "memory: {} KiB usable, kernel pool [{:#x}, {:#x}) with {} KiB managed, {} KiB for user space",
        plan.usable / KIB,
        plan.pool.start,
        plan.pool.end,
        plan.managed_frames * 4,
        plan.user / KIB
    );
}

/// Checks the kernel can make about itself, reported in the test protocol's format.
#[link_section = ".init.text"]
fn self_test() {
    let wx = mem::kspace::check_wx();
    println!(
        "kernel: {} mappings checked in the kernel half",
        wx.mappings
    );
    let ok = wx.mappings > 0 && wx.violations == 0 && wx.mapped_guards == 0;
    if ok {
        println!("test kernel::wx_every_mapping ... ok");
    } else {
        // `first_bad` is set whenever a check failed. Not `{:?}` of the Option: that
        // would link the core library's Debug builders into resident code for this one
        // boot-only line.
        println!(
            "test kernel::wx_every_mapping ... FAILED ({} writable+executable, {} guard pages mapped, first at {:#x})",
            wx.violations,
            wx.mapped_guards,
            wx.first_bad.unwrap_or(0)
        );
    }
    match hypercall::stats::unaccounted() {
        0 => println!("test kernel::every_pool_frame_accounted ... ok"),
        n => println!(
            "test kernel::every_pool_frame_accounted ... FAILED ({n} frames of no known use)"
        ),
    }
}

static FEATURES: sync::SpinLock<Option<Features>> = sync::SpinLock::new(None);

/// The HIP feature flags: the IOMMU when DMA remapping is on, and the virtualization
/// extension that was enabled, as the reference clears the flag of one it found unusable.
pub fn hip_features() -> u32 {
    (if iommu::enabled() {
        facet_abi::hip::FEAT_IOMMU
    } else {
        0
    }) | (if vcpu::is_vmx() {
        facet_abi::hip::FEAT_VMX
    } else {
        0
    }) | (if vcpu::is_svm() {
        facet_abi::hip::FEAT_SVM
    } else {
        0
    })
}

/// What a CPU does when nothing is left to run: sleep with interrupts on.
pub fn idle() -> ! {
    loop {
        // SAFETY: enabling interrupts and halting is how an idle CPU waits.
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) }
    }
}

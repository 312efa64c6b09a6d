//! Building the VM: the command line, the guest images, guest RAM, the CPU and MSR
//! models, then per vCPU its handler, its exit portals, its timer thread and the vCPU
//! itself (with its scheduling context last: the vCPUs start at once).

use facet_abi::hip::{off as hip_off, FEAT_SVM, FEAT_VMX};
use facet_abi::status::Status;
use facet_rt::hypercall::{create_ec, create_pt, create_sc, create_sm, ec_flags, pt_ctrl};
use facet_rt::start_info::{sel, StartInfo, HIP_ADDR};
use facet_vmm_core::config::{self, cpu_of_vcpu};
use facet_vmm_core::cpuid::{CpuModel, CpuidResult};
use facet_vmm_core::exit::Extension;
use facet_vmm_core::machine::Machine;
use facet_vmm_core::msr::{MsrModel, Pvclock};

use crate::console::Sender;
use crate::exits::{exit_entry, mtd_for, portal_id};
use crate::guest::GuestRam;
use crate::layout::{self, vcpu, MAX_CPUS, MAX_VCPUS};
use crate::lock::SpinLock;
use crate::threads;
use crate::vm::{self, Name, Platform, Vcpu, Vm};
use facet_vmm_core::guest_console::{InputRing, LineBuffer};

/// The time of day the guest's clocks start at (the VMM has no clock of the host's to
/// read): 2025-01-01 00:00:00 UTC.
const BOOT_EPOCH_SECONDS: u64 = 1_735_689_600;

/// Exit numbers: every portal of a vCPU's event base.
const EXIT_NUMBERS: u64 = facet_abi::config::NUM_VMI as u64;

/// Builds and starts the VM; on failure reports why (through `out`) and returns.
/// Returns the TSC frequency in kHz. `started`: the TSC when the VMM started.
pub fn start(main_cpu: u32, info: &StartInfo, out: Sender, started: u64) -> Result<u64, ()> {
    macro_rules! fail {
        ($($arg:tt)*) => {{
            out.report(format_args!($($arg)*));
            return Err(());
        }};
    }
    let args = match config::parse(info.cmdline()) {
        Ok(args) => args,
        Err(e) => fail!("command line: {e}"),
    };
    let name = Name::new(args.name);
    crate::console::set_name(name);
    let hip = facet_rt::hip::at(HIP_ADDR);
    let features = hip.u32(hip_off::API_FLG);
    let extension = if features & FEAT_SVM != 0 {
        Extension::Svm
    } else if features & FEAT_VMX != 0 {
        Extension::Vmx
    } else {
        fail!("the kernel offers neither SVM nor VMX: no VM can run")
    };
    let tsc_khz = info.tsc_khz;
    if tsc_khz == 0 || tsc_khz > u32::MAX as u64 {
        fail!("the TSC frequency is unknown ({tsc_khz} kHz)")
    }
    let mask = info.cpu_mask;
    let vcpus = args
        .vcpus
        .map_or(mask.count_ones() as usize, usize::from)
        .clamp(1, MAX_VCPUS);
    let Some(ram_region) = info.region("ram") else {
        fail!("no guest RAM (region `ram`): is the module named `vmm`?")
    };
    let ram = match GuestRam::new(ram_region) {
        Ok(ram) => ram,
        Err(e) => fail!("{e}"),
    };
    let Some(kernel) = info.region("kernel").and_then(crate::boot::module_bytes) else {
        fail!("no guest kernel: name its module with `kernel=`")
    };
    let initrd = info
        .region("initrd")
        .and_then(crate::boot::module_bytes)
        .unwrap_or(&[]);
    let mut cmdline = [0u8; 1024];
    let Some(len) = config::guest_command_line(args.guest, &mut cmdline) else {
        fail!("the guest command line is too long")
    };
    let boot_cpu = match crate::boot::load(&ram, kernel, initrd, &cmdline[..len], vcpus as u8) {
        Ok(state) => state,
        Err(e) => fail!("{e}"),
    };
    if let Err(e) = ram.map_into_guest() {
        fail!("{e}")
    }
    let cpu_model = match CpuModel::new(vcpus as u32, host_cpuid) {
        Ok(model) => model,
        Err(e) => fail!("no CPU model for this host: {e:?}"),
    };
    let now = facet_rt::cpu::rdtsc();
    let vm = Vm {
        extension,
        vcpu_count: vcpus,
        ram,
        cpu_model,
        msr_model: MsrModel::new(&cpu_model, tsc_khz * 1000),
        clock: Pvclock {
            tsc_hz: tsc_khz * 1000,
            tsc_at_boot: now,
            boot_epoch_seconds: BOOT_EPOCH_SECONDS as u32,
            boot_epoch_nanoseconds: 0,
        },
        boot_cpu,
        platform: SpinLock::new(Platform {
            machine: Machine::new(tsc_khz as u32, BOOT_EPOCH_SECONDS, now, ram.size()),
            output: LineBuffer::new(),
        }),
        input: InputRing::new(),
        vcpus: core::array::from_fn(|i| {
            let cpu = cpu_of_vcpu(mask, i.min(vcpus - 1) as u8).unwrap_or(main_cpu as u8);
            Vcpu::new(i, cpu as u32, tsc_khz as u32)
        }),
    };
    if !vm::set(vm) {
        fail!("the VM was set up twice")
    }
    let vm = vm::vm();
    out.report(format_args!(
        "{} MiB, {vcpus} vCPU(s) on {}, kernel {} KiB, initrd {} KiB, command line \"{}\"",
        ram.size() >> 20,
        match extension {
            Extension::Svm => "SVM",
            Extension::Vmx => "VMX",
        },
        kernel.len() >> 10,
        initrd.len() >> 10,
        core::str::from_utf8(&cmdline[..len]).unwrap_or("?"),
    ));
    if let Err(s) = create_objects(vm, main_cpu, tsc_khz) {
        fail!("creating the VM's objects failed: {}", s.name())
    }
    if args.profile {
        crate::profile::enable(out, started);
    }
    if args.fault {
        out.report(format_args!("faulting on purpose (`fault`)"));
        crate::stop::fault_on_purpose()
    }
    Ok(tsc_khz)
}

/// CPUID on the host (the VMM's own CPU).
fn host_cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let (eax, ebx, ecx, edx) = facet_rt::cpu::cpuid(leaf, subleaf);
    CpuidResult { eax, ebx, ecx, edx }
}

/// The kernel objects: semaphores, a start-up handler per CPU, and per vCPU its handler
/// and portals, its timer thread and the vCPU with its SC; the input thread with the
/// console service.
fn create_objects(vm: &'static Vm, main_cpu: u32, tsc_khz: u64) -> Result<(), Status> {
    for sm in [layout::MAIN_SM, layout::STARTED_SM, layout::PARK_SM] {
        create_sm(sm, sel::PD, 0, 0)?;
    }
    // One start-up handler per CPU that gets threads.
    let mut starters = [u32::MAX; MAX_CPUS];
    let mut starter_of = |cpu: u32| -> Result<usize, Status> {
        if let Some(k) = starters.iter().position(|&c| c == cpu) {
            return Ok(k);
        }
        let k = starters
            .iter()
            .position(|&c| c == u32::MAX)
            .ok_or(Status::BadPar)?;
        threads::create_starter(k, cpu)?;
        starters[k] = cpu;
        Ok(k)
    };
    for i in 0..vm.vcpu_count {
        let cpu = vm.vcpus[i].cpu;
        create_handler(vm, i, cpu)?;
        threads::start_timer(i, starter_of(cpu)?, tsc_khz)?;
    }
    if crate::console::uses_service() {
        threads::start_input(starter_of(main_cpu)?, main_cpu, tsc_khz)?;
    }
    for i in 0..vm.vcpu_count {
        let cpu = vm.vcpus[i].cpu as u64;
        let flags = ec_flags::GLOBAL | ec_flags::VCPU;
        create_ec(vcpu::ec(i), sel::PD, flags, cpu, 0, 0, vcpu::events(i))?;
        create_sc(
            vcpu::sc(i),
            sel::PD,
            vcpu::ec(i),
            layout::VCPU_PRIORITY,
            layout::QUANTUM_US,
        )?;
    }
    Ok(())
}

/// vCPU `i`'s handler on `cpu`, a portal for every exit number, its semaphores.
fn create_handler(vm: &Vm, i: usize, cpu: u32) -> Result<(), Status> {
    let handler = vcpu::handler(i);
    let utcb = layout::handler_utcb(i).addr();
    create_ec(
        handler,
        sel::PD,
        0,
        cpu as u64,
        utcb,
        0,
        StartInfo::event_base(cpu),
    )?;
    for event in 0..EXIT_NUMBERS {
        let portal = vcpu::events(i) + event;
        let mtd = mtd_for(vm.extension.class(event));
        create_pt(
            portal,
            sel::PD,
            handler,
            mtd as u64,
            facet_rt::entry::addr(exit_entry),
        )?;
        pt_ctrl(portal, portal_id(i, event))?;
    }
    for sm in [vcpu::halt_sm(i), vcpu::sipi_sm(i), vcpu::timer_sm(i)] {
        create_sm(sm, sel::PD, 0, 0)?;
    }
    Ok(())
}

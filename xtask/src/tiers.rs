//! The on-target tiers: one emulator run each, with the kernel's and the roottask's
//! command lines, the emulator configuration, a timeout and what the serial log must
//! show. This table is the single place that says what `cargo xtask test` runs.
//!
//! A roottask's module command line always starts with the word `roottask` (its
//! argv\[0\]); under QEMU's `-initrd` the module path comes before it. The kernel's
//! command line under QEMU's `-kernel` is likewise preceded by the kernel's path.

use crate::artifacts::{Firmware, Multiboot};

/// The roottask's greeting, which every suite run must show.
const GREETING: &str = "Hello from the Facet roottask on CPU 0";

/// Which emulator runs the tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulator {
    /// `qemu-system-x86_64`; [`Tier::emulator_args`] are extra QEMU arguments.
    Qemu,
    /// `bochs-bin`; [`Tier::emulator_args`] are extra bochsrc lines.
    Bochs,
}

/// What QEMU's `-initrd` carries (direct multiboot boot only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initrd {
    /// The roottask ELF.
    Roottask,
    /// The roottask and the user programs named (built for the bare target, each a
    /// module named after its binary), which the roottask's suite starts.
    RoottaskWith(&'static [&'static str]),
    /// 4 KiB of 0x55: not an ELF.
    Junk,
    /// No module at all.
    Absent,
}

/// How the kernel gets loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// QEMU's built-in multiboot loader (`-kernel`, `-append`, `-initrd`).
    Direct(Initrd),
    /// GRUB from a rescue ISO on a CD-ROM.
    Grub(Multiboot),
    /// OVMF (UEFI firmware, on q35) starting GRUB's EFI image from a rescue ISO on a
    /// CD-ROM, which loads the kernel by multiboot 2.
    Uefi,
}

impl Boot {
    /// The protocol and firmware of the ISO this boot needs (`None`: no ISO).
    pub fn iso(self) -> Option<(Multiboot, Firmware)> {
        match self {
            Boot::Direct(_) => None,
            Boot::Grub(mb) => Some((mb, Firmware::Bios)),
            Boot::Uefi => Some((Multiboot::V2, Firmware::Uefi)),
        }
    }
}

/// What makes a run pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The roottask runs the on-target suite: closing line `N passed, 0 failed`, N test
    /// lines `... ok`, no `FAILED`, no kernel panic or exception, QEMU exit status 1
    /// (guest wrote 0 to port 0xf4; not checked for Bochs and `wx_monitor`). Each of
    /// `must_contain` must appear in the log.
    Suite {
        must_contain: &'static [&'static str],
        /// The roottask holds after the suite (`hold`); the harness then checks W^X of
        /// the kernel's mappings through QEMU's monitor (`info tlb`) and quits QEMU.
        wx_monitor: bool,
    },
    /// The kernel stops with a message: every substring must appear.
    Fatal {
        must_contain: &'static [&'static str],
    },
    /// Linux guests under the VMM (`linux_tier`): the harness checks each guest's report.
    Linux,
}

/// One on-target tier.
#[derive(Clone, Copy, Debug)]
pub struct Tier {
    pub name: &'static str,
    pub about: &'static str,
    pub emulator: Emulator,
    pub boot: Boot,
    pub kernel_args: &'static str,
    pub roottask_args: &'static str,
    pub emulator_args: &'static [&'static str],
    pub timeout_s: u64,
    pub expect: Expect,
    /// Runs only where the host has hardware KVM (`kvm_intel` or `kvm_amd`).
    pub needs_hardware_kvm: bool,
    /// Boots the checked kernel (release with debug assertions, `[profile.checked]`)
    /// instead of the release one.
    pub checked_kernel: bool,
}

const TCG_EPYC: &[&str] = &["-accel", "tcg", "-cpu", "EPYC", "-smp", "2"];
/// OVMF needs q35 (its SMM-less build runs there; the BIOS tiers keep QEMU's default).
const UEFI_768: &[&str] = &[
    "-accel", "tcg", "-machine", "q35", "-m", "768", "-cpu", "EPYC", "-smp", "2",
];
/// With 3192 MiB, q35 puts 2 GiB below 4 GiB and the rest above.
const UEFI_3192: &[&str] = &[
    "-accel", "tcg", "-machine", "q35", "-m", "3192", "-cpu", "EPYC", "-smp", "2",
];

/// The QEMU argument that lets q35 enter S3 (its `\_S3` package appears in the DSDT).
pub const S3_ENABLE: &str = "ICH9-LPC.disable_s3=0";
/// The line the kernel prints as it enters S3; the harness then wakes the machine.
pub const S3_ENTERING: &str = "acpi: entering S3";

impl Tier {
    /// Whether the machine may sleep in S3, to be woken by the harness through QEMU's
    /// monitor (`system_wakeup`) each time the kernel says it is entering S3.
    pub fn wakes_from_s3(&self) -> bool {
        self.emulator == Emulator::Qemu && self.emulator_args.contains(&S3_ENABLE)
    }
}

/// Every tier, in the order `cargo xtask test` runs them.
pub const TIERS: &[Tier] = &[
    Tier {
        name: "tcg-amd",
        about: "QEMU TCG, AMD EPYC (SVM), 4 CPUs; W^X of kernel mappings via the monitor",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "test hold usable=0x1ff7fc00 expect=svm cpus=4 leak-calls=100000",
        emulator_args: &["-accel", "tcg", "-cpu", "EPYC", "-smp", "4"],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "features: XSAVE FSGSBASE SVM NPT",
                "cpu: enabled xcr0=0x7 fsgsbase=true",
            ],
            wx_monitor: true,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "tcg-intel",
        about: "QEMU TCG, Intel Skylake (no VMX under TCG), 2 CPUs, a 24 MiB kernel pool (pool=24)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial pool=24",
        roottask_args: "test usable=0x1ff7fc00 expect=none cpus=2",
        emulator_args: &["-accel", "tcg", "-cpu", "Skylake-Client-v4", "-smp", "2"],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "cpu: GenuineIntel",
                "cpu: enabled xcr0=0x7 fsgsbase=true",
                "lapic: id 0 (x2APIC)",
                "memory: pool=24 MiB asked, the kernel pool has 24 MiB",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "tcg-smp1",
        about: "QEMU TCG, AMD EPYC (SVM) with protection keys, a single CPU, no TLB tags (nopcid novpid)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial nopcid novpid",
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=1 leak-calls=100000 leak-seed=2",
        // PKU (which EPYC lacks): guests get protection keys, and the kernel switches
        // PKRU with their XSAVE state (XCR0 bit 9).
        emulator_args: &["-accel", "tcg", "-cpu", "EPYC,+pku", "-smp", "1"],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "smp: 1 CPU(s) online",
                "pcid=false vpid=false",
                "cpu: enabled xcr0=0x207",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "smp64",
        about: "QEMU TCG, AMD EPYC, 64 CPUs (all the HIP describes): each reports in and runs a thread",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=64",
        emulator_args: &["-accel", "tcg", "-cpu", "EPYC", "-smp", "64"],
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[GREETING, "smp: 64 CPU(s) online", "smp: CPU 63 online"],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "smp65",
        about: "QEMU TCG, AMD EPYC, 65 CPUs: 64 run, one is reported as dropped (the suite without its 64-thread test)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        // The 64 threads of smp::every_cpu_runs_ecs run in the smp64 tier.
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=64 skip=smp::",
        emulator_args: &["-accel", "tcg", "-cpu", "EPYC", "-smp", "65"],
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "smp: 65 usable CPU(s) in the MADT; the HIP describes 64: 1 dropped",
                "smp: 64 CPU(s) online",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "kvm",
        about: "QEMU with hardware KVM, host CPU, 2 CPUs",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "test",
        emulator_args: &["-accel", "kvm", "-cpu", "host", "-smp", "2"],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[GREETING],
            wx_monitor: false,
        },
        needs_hardware_kvm: true,
        checked_kernel: false,
    },
    Tier {
        name: "tcg-iommu",
        about: "QEMU TCG, q35 with Intel VT-d (DMA and interrupt remapping on: `iommu`), the edu device and its driver",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::RoottaskWith(&["edu"])),
        kernel_args: "serial iommu",
        roottask_args: "test usable=0x1ff7ec00 expect=svm cpus=2 q35 iommu modules=2",
        emulator_args: &[
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-device",
            "intel-iommu,intremap=on",
            "-device",
            "edu",
            "-cpu",
            "EPYC",
            "-smp",
            "2",
        ],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "options: serial=true vga=true iommu=true",
                "iommu: DMA remapping on: 1 unit(s)",
                "interrupt remapping on (xAPIC destinations)",
                // The edu device's NMI-mode MSIs (irq::nmi_msis_are_events): QEMU lets
                // compatibility-format messages through (docs/iommu.md), the kernel
                // reports them.
                "NMI(s) received",
                // Faults the iommu tests cause, reported with requester and reason.
                "blocked a DMA write by 00:03.0 at",
                "blocked an interrupt from 00:03.0 (entry 101): reason 0x26",
                "edu: serving factorials and DMA copies",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "tcg-q35",
        about: "QEMU TCG, the same machine as tcg-iommu with the kernel's IOMMU off (no `iommu`): interrupts and assign_pci as without a unit",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::RoottaskWith(&["edu"])),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff7ec00 expect=svm cpus=2 q35 modules=2",
        emulator_args: &[
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-device",
            "intel-iommu,intremap=on",
            "-device",
            "edu",
            "-cpu",
            "EPYC",
            "-smp",
            "2",
        ],
        timeout_s: 120,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "options: serial=true vga=true iommu=false",
                "NMI(s) received",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "s3",
        about: "QEMU TCG q35 with S3 and the edu device, EPYC (SVM), 2 CPUs, GRUB multiboot 2: suspend to RAM, woken through the monitor",
        emulator: Emulator::Qemu,
        // Not QEMU's -kernel: QEMU keeps a multiboot ELF as ROM images and copies them
        // back over the kernel at every reset, the one of the wake-up from S3 included.
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial",
        roottask_args: "test s3 expect=svm cpus=2",
        emulator_args: &[
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-global",
            S3_ENABLE,
            "-device",
            "edu",
            "-cpu",
            "EPYC",
            "-smp",
            "2",
        ],
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                S3_ENTERING,
                "acpi: resumed from S3",
                "roottask: back from S3",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "s3-iommu",
        about: "the s3 machine with Intel VT-d and the kernel's DMA and interrupt remapping on: the units come back after the resume",
        emulator: Emulator::Qemu,
        // Not QEMU's -kernel: QEMU keeps a multiboot ELF as ROM images and copies them
        // back over the kernel at every reset, the one of the wake-up from S3 included.
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial iommu",
        // The DMAR the hip and iommu tests do not expect without `q35`, which would want the
        // edu driver program: those run in tcg-iommu.
        roottask_args: "test s3 expect=svm cpus=2 skip=hip::acpi skip=iommu::",
        emulator_args: &[
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-global",
            S3_ENABLE,
            "-device",
            "intel-iommu,intremap=on",
            "-device",
            "edu",
            "-cpu",
            "EPYC",
            "-smp",
            "2",
        ],
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                S3_ENTERING,
                "acpi: resumed from S3",
                "roottask: back from S3",
                "iommu: DMA remapping on",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "grub-mb1",
        about: "GRUB from an ISO, multiboot 1, QEMU TCG EPYC",
        emulator: Emulator::Qemu,
        boot: Boot::Grub(Multiboot::V1),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=2",
        emulator_args: TCG_EPYC,
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "command line: \"serial\"",
                "acpi: no RSDP from the bootloader",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "grub-mb2",
        about: "GRUB from an ISO, multiboot 2, QEMU TCG EPYC",
        emulator: Emulator::Qemu,
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=2",
        emulator_args: TCG_EPYC,
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "command line: \"serial\"",
                "acpi: RSDP copy from the bootloader at",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "uefi",
        about: "OVMF (UEFI) on q35, GRUB EFI, multiboot 2, 768 MiB, QEMU TCG EPYC",
        emulator: Emulator::Qemu,
        boot: Boot::Uefi,
        kernel_args: "serial",
        roottask_args: "test expect=svm cpus=2 uefi",
        emulator_args: UEFI_768,
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "boot: through UEFI firmware",
                "acpi: RSDP copy from the bootloader at",
                "options: serial=true vga=false",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "uefi-4g",
        about: "OVMF (UEFI) on q35, GRUB EFI, multiboot 2, 3192 MiB (RAM above 4 GiB)",
        emulator: Emulator::Qemu,
        boot: Boot::Uefi,
        kernel_args: "serial",
        roottask_args: "test expect=svm cpus=2 uefi above4g",
        emulator_args: UEFI_3192,
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "boot: through UEFI firmware",
                "usable above 4 GiB; page 0x1",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "bochs-vmx",
        about: "Bochs, Skylake-X (VMX with EPT), 2 CPUs, GRUB multiboot 2",
        emulator: Emulator::Bochs,
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff8f000 expect=vmx cpus=2 leak-calls=2000",
        emulator_args: &["cpu: model=corei7_skylake_x, count=2, ips=200000000"],
        timeout_s: 600,
        expect: Expect::Suite {
            must_contain: &[
                GREETING,
                "VMX EPT",
                "(x2APIC, TSC-deadline timer)",
                "cpu: enabled xcr0=0xe7 fsgsbase=true pcid=true",
            ],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "linux",
        about: "QEMU TCG, AMD EPYC (SVM), 5 CPUs: two Debian Linux guests at once, each in a VMM of its own with 2 vCPUs on CPUs 1-4, through the console service",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "exit-when-done",
        emulator_args: &["-accel", "tcg", "-cpu", "EPYC"],
        timeout_s: 900,
        expect: Expect::Linux,
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "bochs-linux",
        about: "Bochs, Skylake-X (VMX with EPT), 2 CPUs, GRUB multiboot 2: a Debian Linux guest with 2 vCPUs under the VMM boots to /init",
        emulator: Emulator::Bochs,
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial",
        roottask_args: "exit-when-done",
        emulator_args: &["cpu: model=corei7_skylake_x, count=2, ips=200000000"],
        timeout_s: 600,
        expect: Expect::Linux,
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "bochs-return",
        about: "Bochs, Skylake-X, 1 CPU, crash=return: a return to user mode that faults (IRET's canonical check, which QEMU's TCG skips) is the returning Ec's fault",
        emulator: Emulator::Bochs,
        boot: Boot::Grub(Multiboot::V2),
        kernel_args: "serial crash=return",
        roottask_args: "test return-fault cpus=1",
        emulator_args: &["cpu: model=corei7_skylake_x, count=1, ips=200000000"],
        timeout_s: 300,
        expect: Expect::Suite {
            must_contain: &[GREETING, "crash test: portal entry addresses are not checked"],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "checked",
        about: "the checked kernel (debug assertions, the one-loan check of obj::with): QEMU TCG, AMD EPYC (SVM), 2 CPUs",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "test usable=0x1ff7fc00 expect=svm cpus=2",
        emulator_args: TCG_EPYC,
        timeout_s: 180,
        expect: Expect::Suite {
            must_contain: &[GREETING, "features: XSAVE FSGSBASE SVM NPT"],
            wx_monitor: false,
        },
        needs_hardware_kvm: false,
        checked_kernel: true,
    },
    Tier {
        name: "checked-loan",
        about: "the checked kernel catches two loans of one object (crash=loan)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial crash=loan",
        roottask_args: "",
        emulator_args: TCG_EPYC,
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["FACET PANIC", "crash test: two loans of one object", "one-loan rule"],
        },
        needs_hardware_kvm: false,
        checked_kernel: true,
    },
    Tier {
        name: "panic",
        about: "deliberate kernel panic (crash=panic)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial crash=panic",
        roottask_args: "",
        emulator_args: TCG_EPYC,
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["FACET PANIC", "crash test"],
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "exception",
        about: "deliberate kernel page fault (crash=pagefault)",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial crash=pagefault",
        roottask_args: "",
        emulator_args: TCG_EPYC,
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["FACET EXCEPTION", "#PF", "cr2"],
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "old-cpu",
        about: "a CPU without XSAVE and FSGSBASE (QEMU's qemu64), which Facet refuses",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Roottask),
        kernel_args: "serial",
        roottask_args: "",
        emulator_args: &["-accel", "tcg", "-cpu", "qemu64", "-smp", "1"],
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["lacks XSAVE or FSGSBASE"],
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "no-roottask",
        about: "boot without a multiboot module",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Absent),
        kernel_args: "serial",
        roottask_args: "",
        emulator_args: TCG_EPYC,
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["no roottask module"],
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
    Tier {
        name: "bad-roottask",
        about: "boot with a module that is not an ELF",
        emulator: Emulator::Qemu,
        boot: Boot::Direct(Initrd::Junk),
        kernel_args: "serial",
        roottask_args: "",
        emulator_args: TCG_EPYC,
        timeout_s: 60,
        expect: Expect::Fatal {
            must_contain: &["roottask", "not an ELF"],
        },
        needs_hardware_kvm: false,
        checked_kernel: false,
    },
];

/// The tier called `name`.
pub fn find(name: &str) -> Option<&'static Tier> {
    TIERS.iter().find(|t| t.name == name)
}

/// The tier names, comma-separated (for error messages).
pub fn names() -> String {
    TIERS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in TIERS.iter().enumerate() {
            assert!(
                TIERS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn hold_and_monitor_go_together() {
        for t in TIERS {
            let hold = t.roottask_args.split_whitespace().any(|w| w == "hold");
            let wx = matches!(
                t.expect,
                Expect::Suite {
                    wx_monitor: true,
                    ..
                }
            );
            assert_eq!(
                hold, wx,
                "{}: `hold` without the monitor check or vice versa",
                t.name
            );
            assert!(!wx || t.emulator == Emulator::Qemu, "{}", t.name);
        }
    }

    #[test]
    fn suites_run_tests_and_fatal_tiers_do_not() {
        for t in TIERS {
            let test = t.roottask_args.split_whitespace().any(|w| w == "test");
            assert_eq!(test, matches!(t.expect, Expect::Suite { .. }), "{}", t.name);
            if let Expect::Fatal { must_contain } = t.expect {
                assert!(!must_contain.is_empty(), "{}", t.name);
            }
        }
    }

    #[test]
    fn bochs_boots_from_grub_and_qemu_runs_tcg_or_kvm() {
        for t in TIERS {
            match t.emulator {
                Emulator::Bochs => assert!(matches!(t.boot, Boot::Grub(_)), "{}", t.name),
                Emulator::Qemu => {
                    let accel = t.emulator_args.windows(2).find(|w| w[0] == "-accel");
                    let accel = accel.map(|w| w[1]);
                    assert!(accel == Some("tcg") || accel == Some("kvm"), "{}", t.name);
                    assert_eq!(accel == Some("kvm"), t.needs_hardware_kvm, "{}", t.name);
                    if t.boot == Boot::Uefi {
                        let machine = t.emulator_args.windows(2).find(|w| w[0] == "-machine");
                        assert_eq!(machine.map(|w| w[1]), Some("q35"), "{}", t.name);
                    }
                }
            }
            assert!(
                t.kernel_args.split_whitespace().any(|w| w == "serial"),
                "{}",
                t.name
            );
            assert!(t.timeout_s >= 60, "{}", t.name);
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(find("tcg-amd").map(|t| t.timeout_s), Some(120));
        assert!(find("nope").is_none());
        assert!(names().starts_with("tcg-amd, tcg-intel, tcg-smp1, smp64, smp65, kvm,"));
    }
}

//! Emulator command lines: QEMU's arguments for a tier or for `cargo xtask run`, and
//! the bochsrc of a Bochs tier. Pure functions of the tier and the paths, unit-tested.

use std::path::Path;

use crate::artifacts::join_words;
use crate::tiers::{Boot, Initrd, Tier};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// Bochs itself (`/usr/bin/bochs` is a shell wrapper whose `bochs-bin` child would
/// survive the wrapper's end).
pub const BOCHS: &str = "bochs-bin";

/// The isa-debug-exit device at port 0xf4.
pub const DEBUG_EXIT: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// Paths a tier's emulator command line refers to, already relative to the workspace
/// root where possible (the emulator runs there).
#[derive(Clone, Debug)]
pub struct Files {
    pub kernel_elf32: String,
    pub roottask: String,
    /// Where the other user programs are (`<dir>/<name>`).
    pub programs: String,
    pub junk: String,
    /// The ISO (GRUB tiers).
    pub iso: String,
    pub serial_log: String,
    /// The monitor socket (W^X tiers).
    pub monitor: String,
    /// The run's copy of OVMF's variable store (UEFI tiers).
    pub ovmf_vars: String,
}

/// QEMU's `-initrd` value: one module, its path followed by its command line. QEMU
/// splits modules at commas, so commas are doubled.
pub fn initrd_value(path: &str, roottask_args: &str) -> String {
    join_words(&[path, "roottask", roottask_args]).replace(',', ",,")
}

/// QEMU's arguments for `tier` (without the program name).
pub fn qemu_args(tier: &Tier, files: &Files, wx_monitor: bool) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    // A tier may size the machine itself.
    if !tier.emulator_args.contains(&"-m") {
        a.extend(["-m".to_string(), "512".to_string()]);
    }
    a.extend(
        ["-display", "none", "-no-reboot", "-device", DEBUG_EXIT]
            .iter()
            .map(|s| s.to_string()),
    );
    a.push("-serial".into());
    a.push(format!("file:{}", files.serial_log));
    a.push("-monitor".into());
    a.push(if wx_monitor {
        format!("unix:{},server,nowait", files.monitor)
    } else {
        "none".into()
    });
    a.extend(tier.emulator_args.iter().map(|s| s.to_string()));
    match tier.boot {
        Boot::Direct(initrd) => {
            a.push("-kernel".into());
            a.push(files.kernel_elf32.clone());
            a.push("-append".into());
            a.push(tier.kernel_args.into());
            let module = match initrd {
                Initrd::Roottask => Some(initrd_value(&files.roottask, tier.roottask_args)),
                Initrd::RoottaskWith(programs) => {
                    let mut v = initrd_value(&files.roottask, tier.roottask_args);
                    for p in programs {
                        v.push(',');
                        v.push_str(
                            &join_words(&[&format!("{}/{p}", files.programs), p])
                                .replace(',', ",,"),
                        );
                    }
                    Some(v)
                }
                Initrd::Junk => Some(initrd_value(&files.junk, tier.roottask_args)),
                Initrd::Absent => None,
            };
            if let Some(m) = module {
                a.push("-initrd".into());
                a.push(m);
            }
        }
        Boot::Uefi => {
            a.push("-drive".into());
            a.push(format!(
                "if=pflash,format=raw,readonly=on,file={}",
                crate::artifacts::OVMF_CODE
            ));
            a.push("-drive".into());
            a.push(format!("if=pflash,format=raw,file={}", files.ovmf_vars));
            a.push("-cdrom".into());
            a.push(files.iso.clone());
        }
        Boot::Grub(_) => {
            a.push("-cdrom".into());
            a.push(files.iso.clone());
            a.push("-boot".into());
            a.push("d".into());
        }
    }
    a
}

/// QEMU's arguments for `cargo xtask run`: serial and monitor on the terminal.
pub fn run_args(
    kernel_elf32: &str,
    roottask: &str,
    kernel_args: &str,
    roottask_args: &str,
    hardware_kvm: bool,
    extra: &[String],
) -> Vec<String> {
    let accel: [&str; 4] = if hardware_kvm {
        ["-accel", "kvm", "-cpu", "host"]
    } else {
        ["-accel", "tcg", "-cpu", "EPYC"]
    };
    let mut a: Vec<String> = vec![
        "-kernel".into(),
        kernel_elf32.into(),
        "-append".into(),
        kernel_args.into(),
        "-initrd".into(),
        if roottask_args.trim().is_empty() {
            roottask.replace(',', ",,")
        } else {
            initrd_value(roottask, roottask_args)
        },
        "-m".into(),
        "512".into(),
        "-smp".into(),
        "2".into(),
        "-serial".into(),
        "mon:stdio".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-device".into(),
        DEBUG_EXIT.into(),
    ];
    a.extend(accel.iter().map(|s| s.to_string()));
    a.extend(extra.iter().cloned());
    a
}

/// Makes `run_args` boot the modules in `initrd` (a whole `-initrd` value) on a machine
/// with `cpus` CPUs and `mem` MiB.
pub fn replace_machine(args: &mut [String], initrd: &str, cpus: u32, mem: u32) {
    for i in 0..args.len().saturating_sub(1) {
        match args[i].as_str() {
            "-initrd" => args[i + 1] = initrd.to_string(),
            "-smp" => args[i + 1] = cpus.max(2).to_string(),
            "-m" => args[i + 1] = mem.to_string(),
            _ => {}
        }
    }
}

/// The bochsrc of a Bochs tier (headless: rfb display that does not wait for a
/// client, no speaker, dummy sound). `extra` are the tier's own lines (the CPU model).
pub fn bochsrc(iso: &Path, serial_log: &Path, bochs_log: &Path, extra: &[&str]) -> String {
    let mut rc = String::from("megs: 512\n");
    for line in extra {
        rc.push_str(line);
        rc.push('\n');
    }
    rc.push_str(&format!(
        "romimage: file=/usr/share/bochs/BIOS-bochs-latest\n\
         vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest\n\
         ata0-master: type=cdrom, path={}, status=inserted\n\
         boot: cdrom\n\
         com1: enabled=1, mode=file, dev={}\n\
         display_library: rfb, options=\"timeout=0\"\n\
         log: {}\n\
         panic: action=fatal\n\
         port_e9_hack: enabled=1\n\
         speaker: enabled=0\n\
         sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy\n",
        iso.display(),
        serial_log.display(),
        bochs_log.display()
    ));
    rc
}

/// A command line for humans (arguments with spaces or quotes are single-quoted).
pub fn shell_line(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        if !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=.,:/+@%".contains(&b))
        {
            s.push_str(a);
        } else {
            s.push('\'');
            s.push_str(&a.replace('\'', r"'\''"));
            s.push('\'');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_machine_is_replaced_for_linux() {
        let mut a = run_args("k", "r", "serial", "", false, &[]);
        replace_machine(&mut a, "r roottask,v vmm", 4, 1024);
        let value =
            |a: &[String], flag: &str| a[a.iter().position(|x| x == flag).unwrap() + 1].clone();
        assert_eq!(value(&a, "-initrd"), "r roottask,v vmm");
        assert_eq!(value(&a, "-smp"), "4");
        assert_eq!(value(&a, "-m"), "1024");
        replace_machine(&mut a, "x", 1, 512);
        assert_eq!(value(&a, "-smp"), "2", "at least two CPUs");
    }

    use super::*;
    use crate::tiers::find;

    fn files() -> Files {
        Files {
            kernel_elf32: "target/facet.elf32".into(),
            roottask: "target/x86_64-unknown-none/release/roottask".into(),
            programs: "target/x86_64-unknown-none/release".into(),
            junk: "target/junk-roottask".into(),
            iso: "target/facet-grub-mb1.iso".into(),
            serial_log: "target/logs/t.log".into(),
            monitor: "target/logs/t.mon".into(),
            ovmf_vars: "target/logs/t.vars.fd".into(),
        }
    }

    fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
        args.windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].as_str())
    }

    #[test]
    fn uefi_boots_ovmf_from_flash_and_grub_from_the_iso() {
        let t = find("uefi-4g").unwrap();
        let a = qemu_args(t, &files(), false);
        let m: Vec<&String> = a.iter().filter(|x| *x == "-m").collect();
        assert_eq!(m.len(), 1, "one memory size: {a:?}");
        assert_eq!(value_of(&a, "-m"), Some("3192"));
        assert_eq!(value_of(&a, "-machine"), Some("q35"));
        let drives: Vec<&str> = a
            .windows(2)
            .filter(|w| w[0] == "-drive")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            drives,
            [
                "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "if=pflash,format=raw,file=target/logs/t.vars.fd"
            ]
        );
        assert_eq!(value_of(&a, "-cdrom"), Some("target/facet-grub-mb1.iso"));
        assert!(value_of(&a, "-kernel").is_none());
        // The BIOS tiers keep 512 MiB.
        let b = qemu_args(find("grub-mb2").unwrap(), &files(), false);
        assert_eq!(value_of(&b, "-m"), Some("512"));
    }

    #[test]
    fn tcg_amd_has_monitor_and_hold() {
        let t = find("tcg-amd").unwrap();
        let a = qemu_args(t, &files(), true);
        assert_eq!(
            value_of(&a, "-initrd"),
            Some("target/x86_64-unknown-none/release/roottask roottask test hold usable=0x1ff7fc00 expect=svm cpus=4 leak-calls=100000")
        );
        assert_eq!(value_of(&a, "-append"), Some("serial"));
        assert_eq!(
            value_of(&a, "-monitor"),
            Some("unix:target/logs/t.mon,server,nowait")
        );
        assert_eq!(value_of(&a, "-serial"), Some("file:target/logs/t.log"));
        assert_eq!(value_of(&a, "-cpu"), Some("EPYC"));
        assert_eq!(value_of(&a, "-device"), Some(DEBUG_EXIT));
        assert!(a.iter().any(|x| x == "-no-reboot"));
    }

    #[test]
    fn iommu_and_fatal_tiers() {
        let a = qemu_args(find("tcg-iommu").unwrap(), &files(), false);
        assert_eq!(value_of(&a, "-append"), Some("serial iommu"));
        assert_eq!(
            value_of(&a, "-initrd"),
            Some("target/x86_64-unknown-none/release/roottask roottask test usable=0x1ff7ec00 expect=svm cpus=2 q35 iommu modules=2,target/x86_64-unknown-none/release/edu edu")
        );
        assert_eq!(value_of(&a, "-machine"), Some("q35"));
        assert!(a
            .windows(2)
            .any(|w| w == ["-device", "intel-iommu,intremap=on"]));
        assert!(a.windows(2).any(|w| w == ["-device", "edu"]));
        assert_eq!(value_of(&a, "-monitor"), Some("none"));

        let a = qemu_args(find("no-roottask").unwrap(), &files(), false);
        assert_eq!(value_of(&a, "-initrd"), None);
        let a = qemu_args(find("bad-roottask").unwrap(), &files(), false);
        assert_eq!(
            value_of(&a, "-initrd"),
            Some("target/junk-roottask roottask")
        );
        let a = qemu_args(find("panic").unwrap(), &files(), false);
        assert_eq!(value_of(&a, "-append"), Some("serial crash=panic"));
    }

    #[test]
    fn grub_tiers_boot_the_cd() {
        let a = qemu_args(find("grub-mb1").unwrap(), &files(), false);
        assert_eq!(value_of(&a, "-cdrom"), Some("target/facet-grub-mb1.iso"));
        assert_eq!(value_of(&a, "-boot"), Some("d"));
        assert_eq!(value_of(&a, "-kernel"), None);
    }

    #[test]
    fn commas_in_module_lines_are_escaped() {
        assert_eq!(initrd_value("a,b", "x"), "a,,b roottask x");
    }

    #[test]
    fn run_uses_kvm_only_with_hardware_kvm() {
        let a = run_args("k", "r", "serial", "", false, &["-s".into()]);
        assert_eq!(value_of(&a, "-accel"), Some("tcg"));
        assert_eq!(value_of(&a, "-initrd"), Some("r"));
        assert_eq!(value_of(&a, "-serial"), Some("mon:stdio"));
        assert_eq!(a.last().map(String::as_str), Some("-s"));
        let a = run_args("k", "r", "serial", "test", true, &[]);
        assert_eq!(value_of(&a, "-accel"), Some("kvm"));
        assert_eq!(value_of(&a, "-cpu"), Some("host"));
        assert_eq!(value_of(&a, "-initrd"), Some("r roottask test"));
    }

    #[test]
    fn bochsrc_is_headless() {
        let rc = bochsrc(
            Path::new("/w/target/facet-bochs-vmx.iso"),
            Path::new("/w/target/logs/bochs-vmx.log"),
            Path::new("/w/target/logs/bochs.log"),
            find("bochs-vmx").unwrap().emulator_args,
        );
        for line in [
            "megs: 512",
            "cpu: model=corei7_skylake_x, count=2, ips=200000000",
            "ata0-master: type=cdrom, path=/w/target/facet-bochs-vmx.iso, status=inserted",
            "boot: cdrom",
            "com1: enabled=1, mode=file, dev=/w/target/logs/bochs-vmx.log",
            "display_library: rfb, options=\"timeout=0\"",
            "log: /w/target/logs/bochs.log",
            "port_e9_hack: enabled=1",
            "speaker: enabled=0",
            "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy",
        ] {
            assert!(rc.lines().any(|l| l == line), "missing {line:?} in\n{rc}");
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(
            shell_line(
                "qemu",
                &["-append".into(), "serial iommu".into(), "it's".into()]
            ),
            r"qemu -append 'serial iommu' 'it'\''s'"
        );
    }
}

//! Facet running Linux guests: the multiboot modules that make the roottask start the
//! console service and one VMM per VM with a guest kernel and initramfs, and QEMU's
//! machine for them. Used by `cargo xtask run` (a shell in one guest) and by the `linux`
//! tier (two guests at once running the test `/init`). Pure functions, unit-tested.

use std::path::Path;

use crate::artifacts::join_words;

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    pub vms: u32,
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub mem: u32,
    /// The guest kernel command line (the VMM adds what its machine needs).
    pub append: String,
    /// Extra per-VM kernel parameters: VM k (from 1) gets `facet.id=k` when set.
    pub ids: bool,
    /// CPU 0 runs no vCPU, only the roottask and the console service: needed under
    /// QEMU's multi-threaded TCG, where any CPU's FXRSTOR or XRSTOR rewrites CPU 0's SVM
    /// state without a lock and can undo a VMRUN or #VMEXIT there (`docs/vmm.md`).
    /// Single-threaded emulation (Bochs, `-icount`) needs no spare CPU.
    pub spare_cpu0: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            vms: 1,
            vcpus: 2,
            mem: 256,
            append: crate::guest::CMDLINE.to_string(),
            ids: false,
            spare_cpu0: true,
        }
    }
}

impl Setup {
    /// The first CPU a vCPU runs on (see [`Setup::spare_cpu0`]).
    fn first_vcpu_cpu(&self) -> u32 {
        self.spare_cpu0 as u32
    }

    /// CPUs the machine needs: every vCPU on a CPU of its own, after the spare CPU 0.
    pub fn cpus(&self) -> u32 {
        (self.first_vcpu_cpu() + self.vms * self.vcpus).max(1)
    }

    /// QEMU's memory size in MiB: the guests' memory, the VMMs and room for Facet.
    pub fn machine_mem(&self) -> u32 {
        256 + self.vms * (self.mem + 32)
    }

    /// The CPUs of VM `k` (from 0), as a `cpus=` list.
    pub fn cpu_list(&self, k: u32) -> String {
        let first = self.first_vcpu_cpu();
        let n = (self.cpus() - first).max(1);
        (0..self.vcpus)
            .map(|i| (first + (k * self.vcpus + i) % n).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The built programs and images the modules name.
pub struct Files<'a> {
    pub roottask: &'a Path,
    pub console: &'a Path,
    pub vmm: &'a Path,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
}

/// The multiboot modules, each `path name arguments`: the roottask (module 0), the
/// console, one VMM per VM, the kernel and the initramfs.
pub fn modules(f: &Files, setup: &Setup, roottask_args: &str) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let mut m = vec![
        join_words(&[&path(f.roottask), "roottask", roottask_args]),
        join_words(&[&path(f.console), "console"]),
    ];
    for k in 0..setup.vms {
        let mut append = setup.append.clone();
        if setup.ids {
            append.push_str(&format!(" facet.id={}", k + 1));
        }
        m.push(join_words(&[
            &path(f.vmm),
            "vmm",
            &format!("name=vm{}", k + 1),
            &format!("mem={}", setup.mem),
            &format!("cpus={}", setup.cpu_list(k)),
            "kernel=linux",
            "initrd=initrd",
            "--",
            &append,
        ]));
    }
    m.push(join_words(&[&path(f.kernel), "linux"]));
    m.push(join_words(&[&path(f.initrd), "initrd"]));
    m
}

/// QEMU's `-initrd` value for `modules`: separated by commas, commas inside doubled.
pub fn initrd_value(modules: &[String]) -> String {
    modules
        .iter()
        .map(|m| m.replace(',', ",,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `--vms`, `--vcpus`, `--mem`, `--append` values into `setup`.
pub fn apply(setup: &mut Setup, flag: &str, value: &str) -> Result<(), String> {
    let number = |what: &str| -> Result<u32, String> {
        value
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(format!("{what} needs a positive number, not `{value}`"))
    };
    match flag {
        "--vms" => setup.vms = number("--vms")?.min(8),
        "--vcpus" => setup.vcpus = number("--vcpus")?.min(8),
        "--mem" => setup.mem = number("--mem")?.clamp(32, 3072),
        "--append" => setup.append = value.to_string(),
        _ => return Err(format!("unknown option `{flag}`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files() -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
        (
            "t/roottask".into(),
            "t/console".into(),
            "t/vmm".into(),
            "g/vmlinuz".into(),
            "g/initramfs.cpio".into(),
        )
    }

    #[test]
    fn cpu0_is_spared_unless_asked_not_to() {
        let s = Setup::default();
        assert_eq!((s.cpus(), s.cpu_list(0)), (3, "1,2".to_string()));
        let s = Setup {
            spare_cpu0: false,
            ..Setup::default()
        };
        assert_eq!((s.cpus(), s.cpu_list(0)), (2, "0,1".to_string()));
    }

    #[test]
    fn two_vms_get_disjoint_cpus_and_ids() {
        let s = Setup {
            vms: 2,
            ids: true,
            append: "console=ttyS0".into(),
            ..Setup::default()
        };
        let (r, c, v, k, i) = files();
        let f = Files {
            roottask: &r,
            console: &c,
            vmm: &v,
            kernel: &k,
            initrd: &i,
        };
        let m = modules(&f, &s, "exit-when-done");
        assert_eq!(m.len(), 6);
        assert_eq!(m[0], "t/roottask roottask exit-when-done");
        assert_eq!(m[1], "t/console console");
        assert_eq!(
            m[2],
            "t/vmm vmm name=vm1 mem=256 cpus=1,2 kernel=linux initrd=initrd -- console=ttyS0 facet.id=1"
        );
        assert!(
            m[3].contains("name=vm2") && m[3].contains("cpus=3,4") && m[3].ends_with("facet.id=2")
        );
        assert_eq!(m[4], "g/vmlinuz linux");
        assert_eq!(m[5], "g/initramfs.cpio initrd");
        assert_eq!(s.cpus(), 5, "and the spare CPU 0");
        assert_eq!(s.machine_mem(), 256 + 2 * 288);
    }

    #[test]
    fn commas_are_doubled_inside_modules_only() {
        let v = initrd_value(&["a b=1,2".to_string(), "c".to_string()]);
        assert_eq!(v, "a b=1,,2,c");
    }

    #[test]
    fn options_are_checked() {
        let mut s = Setup::default();
        apply(&mut s, "--vms", "2").unwrap();
        apply(&mut s, "--mem", "100000").unwrap();
        assert_eq!((s.vms, s.mem), (2, 3072));
        assert!(apply(&mut s, "--vcpus", "0").is_err());
        assert!(apply(&mut s, "--vcpus", "x").is_err());
        assert!(apply(&mut s, "--bogus", "1").is_err());
    }
}

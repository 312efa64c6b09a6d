//! `cargo xtask bench`'s Linux part: what a guest pays for running under Facet and the
//! VMM, in exact instruction counts (QEMU TCG `-cpu EPYC -icount shift=0,sleep=off`, one
//! CPU, where the TSC counts executed instructions plus the virtual time skipped while
//! the CPU idles).
//!
//! Two boots of the same Debian kernel with the bench initramfs (`guest::Mode::Bench`),
//! one vCPU each: directly by QEMU, and by the VMM on Facet (the roottask as init, the
//! console service, one VMM with `profile`). The guest's `/init` prints the TSC when it
//! starts and runs `facet-exits` (1,000 CPUIDs and 1,000 reads of port 0x80, each an exit
//! to the VMM under Facet). From the two runs:
//!
//! - boot: direct, reset to `/init`; under Facet, the VMM's first instruction to
//!   `/init` (the guest's TSC is the host's), and the ratio;
//! - each exit's round trip, guest instruction to guest instruction: the loop's span per
//!   iteration under Facet less the same loop's without a VMM (where CPUID and the port
//!   read are single instructions);
//! - of that, the VMM's handler (its first instruction to its reply, `profile`'s count
//!   per exit) and the rest: the kernel's exit and resume paths, the message to the
//!   handler and the reply, and the CPU's own VMRUN and #VMEXIT.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::Built;
use crate::emulator::{watch, Emulator, Ending, Log};
use crate::guest::{self, check, exits};
use crate::launch::{self, QEMU};
use crate::linux::{self, Setup};
use crate::linux_tier::vm_text;
use crate::paths::{Paths, Profile};

/// The VMM's handlers: (CPUID exits, their ticks, port exits, their ticks).
type HandlerCounts = (u64, u64, u64, u64);

/// What the two boots measured (TSC values: instructions under `-icount`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Direct boot: reset to `/init`.
    pub direct_boot: u64,
    /// Under Facet: the VMM's start to `/init`.
    pub vmm_boot: u64,
    /// `facet-exits`' spans without a VMM: (CPUID loop, port loop).
    pub direct_spans: (u64, u64),
    /// The same under the VMM.
    pub vmm_spans: (u64, u64),
    /// The VMM's handlers.
    pub handlers: HandlerCounts,
}

impl Figures {
    /// Instructions per round trip, guest instruction to guest instruction: (CPUID,
    /// port read).
    pub fn round_trips(&self) -> (u64, u64) {
        let per = |vm: u64, direct: u64| vm.saturating_sub(direct) / exits::ITERATIONS;
        (
            per(self.vmm_spans.0, self.direct_spans.0),
            per(self.vmm_spans.1, self.direct_spans.1),
        )
    }

    /// The VMM's handler per exit: (CPUID, port read).
    pub fn handler_costs(&self) -> (u64, u64) {
        let (cn, ct, pn, pt) = self.handlers;
        (ct / cn.max(1), pt / pn.max(1))
    }

    /// The table's lines.
    pub fn table(&self) -> String {
        let (rc, rp) = self.round_trips();
        let (hc, hp) = self.handler_costs();
        let ratio = self.vmm_boot as f64 / self.direct_boot.max(1) as f64;
        let mut s = String::new();
        s.push_str(&format!(
            "{:<38} {:>12}\n",
            "linux_vm_exit_cpuid_round_trip", rc
        ));
        s.push_str(&format!(
            "  of which the VMM's handler             {:>12}   the rest: {}\n",
            hc,
            rc.saturating_sub(hc)
        ));
        s.push_str(&format!(
            "{:<38} {:>12}\n",
            "linux_vm_exit_port_read_round_trip", rp
        ));
        s.push_str(&format!(
            "  of which the VMM's handler             {:>12}   the rest: {}\n",
            hp,
            rp.saturating_sub(hp)
        ));
        s.push_str(&format!(
            "{:<38} {:>12}\n",
            "linux_boot_to_init_direct", self.direct_boot
        ));
        s.push_str(&format!(
            "{:<38} {:>12}   {ratio:.2}x the direct boot\n",
            "linux_boot_to_init_under_the_vmm", self.vmm_boot
        ));
        s
    }
}

/// The values of a finished bench guest's lines (`text`: the guest's own lines).
fn guest_values(text: &str) -> Result<(u64, (u64, u64)), String> {
    let init = check::tsc(text, "init").ok_or("no `tsc init` line")?;
    let spans = check::guest_lines(text)
        .iter()
        .find_map(|l| {
            let rest = l.strip_prefix("exits cpuid ")?;
            let (c, p) = rest.split_once(" port ")?;
            exits::parse_spans(c, p)
        })
        .ok_or("no `exits cpuid N port M` line")?;
    Ok((init, spans))
}

/// The VMM's `profile:` lines: (its start TSC, CPUID exits and ticks, port exits and
/// ticks).
fn profile_values(text: &str) -> Result<(u64, HandlerCounts), String> {
    let mut started = None;
    let (mut cpuid, mut port) = (None, None);
    for l in text.lines() {
        let Some(rest) = l.split("vmm: profile: ").nth(1) else {
            continue;
        };
        if let Some(r) = rest.strip_prefix("VMM started at TSC ") {
            started = r.split(',').next().and_then(|v| v.trim().parse().ok());
        }
        let counts = |kind: &str| -> Option<(u64, u64)> {
            let (n, r) = rest.split_once(&format!(" {kind} exits, "))?;
            let t = r.strip_suffix(" ticks in their handlers")?;
            Some((n.trim().parse().ok()?, t.trim().parse().ok()?))
        };
        cpuid = cpuid.or(counts("cpuid"));
        port = port.or(counts("port I/O"));
    }
    let started = started.ok_or("no `profile: VMM started at TSC` line")?;
    let (cn, ct) = cpuid.ok_or("no `profile: N cpuid exits` line")?;
    let (pn, pt) = port.ok_or("no `profile: N port I/O exits` line")?;
    Ok((started, (cn, ct, pn, pt)))
}

/// Boots both and measures.
pub fn run(paths: &Paths, built: &Built) -> Result<Figures, String> {
    let images = guest::build(paths)?;
    let logs = paths.logs();
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    // Directly by QEMU.
    let log = logs.join("bench-linux-direct.log");
    let opts = check::Opts {
        icount: true,
        cmdline: guest::CMDLINE.to_string(),
        cpus: 1,
    };
    let serial = format!("file:{}", paths.rel(&log));
    let mut args = check::qemu_args(paths, &images, guest::Mode::Bench, &opts, &serial);
    args.extend(["-monitor".into(), "none".into()]);
    let text = boot(paths, &args, &log)?;
    let (direct_boot, direct_spans) = guest_values(&text).map_err(|e| in_log(&e, &log))?;

    // By the VMM on Facet.
    let log = logs.join("bench-linux-vmm.log");
    let setup = Setup {
        vms: 1,
        vcpus: 1,
        mem: 256,
        append: guest::CMDLINE.to_string(),
        ids: false,
        spare_cpu0: false,
    };
    let console = paths.program(Profile::Release, "console");
    let vmm = paths.program(Profile::Release, "vmm");
    let mut modules = linux::modules(
        &linux::Files {
            roottask: Path::new(&paths.rel(&built.roottask)),
            console: Path::new(&paths.rel(&console)),
            vmm: Path::new(&paths.rel(&vmm)),
            kernel: Path::new(&paths.rel(&images.fetched.vmlinuz)),
            initrd: Path::new(&paths.rel(images.initramfs(guest::Mode::Bench))),
        },
        &setup,
        "exit-when-done",
    );
    for m in modules.iter_mut().filter(|m| m.contains(" vmm name=")) {
        *m = m.replacen(" vmm name=", " vmm profile name=", 1);
    }
    let mut args = launch::run_args(
        &paths.rel(&built.kernel_elf32),
        &paths.rel(&built.roottask),
        "serial",
        "",
        false,
        &[],
    );
    launch::replace_machine(
        &mut args,
        &linux::initrd_value(&modules),
        1,
        setup.machine_mem(),
    );
    for i in 0..args.len() {
        if args[i] == "-smp" {
            args[i + 1] = "1".into();
        }
        if args[i] == "mon:stdio" {
            args[i] = format!("file:{}", paths.rel(&log));
        }
    }
    args.extend(
        ["-icount", "shift=0,sleep=off", "-monitor", "none"]
            .iter()
            .map(|s| s.to_string()),
    );
    let text = boot(paths, &args, &log)?;
    let own = vm_text(&text, 1);
    let (init, vmm_spans) = guest_values(&own).map_err(|e| in_log(&e, &log))?;
    let (started, handlers) = profile_values(&text).map_err(|e| in_log(&e, &log))?;
    Ok(Figures {
        direct_boot,
        vmm_boot: init.saturating_sub(started),
        direct_spans,
        vmm_spans,
        handlers,
    })
}

fn in_log(e: &str, log: &Path) -> String {
    format!("{e} in {}", log.display())
}

/// Runs QEMU with `args` until the guest powers off; returns the serial log.
fn boot(paths: &Paths, args: &[String], log_path: &Path) -> Result<String, String> {
    let mut log = Log::fresh(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let out = log_path.with_extension("out");
    let mut cmd = Command::new(QEMU);
    cmd.args(args).current_dir(&paths.root);
    let started = Instant::now();
    let mut emu = Emulator::spawn(cmd, &out, None).map_err(|e| format!("{QEMU}: {e}"))?;
    let timeout = Duration::from_secs(600);
    let ending = watch(&mut emu, &mut log, started, timeout, |_| false);
    emu.stop();
    log.refresh();
    match ending {
        Ending::Exited(_) => Ok(log.text()),
        Ending::TimedOut => Err(format!(
            "{}: timed out after {} s",
            log_path.display(),
            timeout.as_secs()
        )),
        Ending::Stopped => Err(format!("{}: stopped", log_path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_the_guest_and_profile_lines() {
        let guest = "facet-guest: tsc init 900000\nfacet-guest: exits cpuid 6000 port 5000\n";
        assert_eq!(guest_values(guest), Ok((900_000, (6000, 5000))));
        assert!(guest_values("facet-guest: tsc init 9\n").is_err());
        let log = "vm1| vmm: profile: VMM started at TSC 100, guest created at TSC 200\n\
                   vm1| vmm: profile: 1003 cpuid exits, 300900 ticks in their handlers\n\
                   vm1| vmm: profile: 1000 port I/O exits, 200000 ticks in their handlers\n\
                   vm1| vmm: profile: 50 other exits, 7 ticks in their handlers\n";
        assert_eq!(
            profile_values(log),
            Ok((100, (1003, 300_900, 1000, 200_000)))
        );
        assert!(profile_values("vm1| vmm: profile: 1 cpuid exits, 2 ticks").is_err());
    }

    #[test]
    fn round_trips_are_the_difference_per_iteration() {
        let f = Figures {
            direct_boot: 1_000,
            vmm_boot: 1_300,
            direct_spans: (4_000, 3_000),
            vmm_spans: (1_504_000, 1_203_000),
            handlers: (1_000, 300_000, 1_000, 250_000),
        };
        assert_eq!(f.round_trips(), (1_500, 1_200));
        assert_eq!(f.handler_costs(), (300, 250));
        let t = f.table();
        assert!(t.contains("linux_vm_exit_cpuid_round_trip"));
        assert!(t.contains("the rest: 1200"));
        assert!(t.contains("1.30x the direct boot"));
    }
}

//! The `linux` tier: Facet under QEMU TCG (`-cpu EPYC`, SVM with nested paging) runs two
//! Linux guests at once, each in a VMM of its own on CPUs of its own, both booting the
//! test initramfs (`guest::Mode::Test`). The console service prefixes each guest's lines
//! with its VM's name (`vm1| `), so the harness checks every VM's report on its own:
//!
//! - the kernel release the images were built from, `nproc` equal to its vCPUs, the
//!   SHA-256 of the 16 MiB file against the host's, `sleep 2` between 1.5 and 4 s on the
//!   host's clock, `isolation ok` (neither guest saw the other's memory), `done`;
//! - the roottask's `init: vmN exited with 0` (the guest powered off), and at the end
//!   `init: every VM has ended (0 failed)`, after which the roottask ends QEMU.
//!
//! Each check counts as one test in the summary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::Built;
use crate::emulator::{describe_qemu_exit, watch, Emulator, Ending, Log};
use crate::guest::{self, check};
use crate::launch::{self, shell_line, QEMU};
use crate::linux::{self, Setup};
use crate::paths::{Paths, Profile};

/// How long the guests may hold their memory pattern before re-reading it: longer than
/// the time between the two guests' fills (they boot at the same time on other CPUs).
const HOLD_S: u32 = 8;

/// What a run of the tier found: each check with its problem (`None`: passed).
pub struct Verdict {
    pub checks: Vec<(String, Option<String>)>,
    pub command: String,
}

impl Verdict {
    pub fn passed(&self) -> u64 {
        self.checks.iter().filter(|(_, p)| p.is_none()).count() as u64
    }

    pub fn failed(&self) -> u64 {
        self.checks.len() as u64 - self.passed()
    }

    pub fn problems(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|(n, p)| p.as_ref().map(|p| format!("{n}: {p}")))
            .collect()
    }
}

/// The machine of the tier.
pub fn setup() -> Setup {
    Setup {
        vms: 2,
        vcpus: 2,
        mem: 256,
        append: format!("{} facet.hold={HOLD_S}", guest::CMDLINE),
        ids: true,
    }
}

/// Boots the tier and checks it; `log_path` receives the serial output.
pub fn run(
    paths: &Paths,
    built: &Built,
    log_path: &Path,
    out_path: &Path,
    timeout: Duration,
) -> Result<Verdict, String> {
    let images = guest::build(paths)?;
    let s = setup();
    let console = paths.program(Profile::Release, "console");
    let vmm = paths.program(Profile::Release, "vmm");
    let modules = linux::modules(
        &linux::Files {
            roottask: Path::new(&paths.rel(&built.roottask)),
            console: Path::new(&paths.rel(&console)),
            vmm: Path::new(&paths.rel(&vmm)),
            kernel: Path::new(&paths.rel(&images.fetched.vmlinuz)),
            initrd: Path::new(&paths.rel(images.initramfs(guest::Mode::Test))),
        },
        &s,
        "exit-when-done",
    );
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
        s.cpus(),
        s.machine_mem(),
    );
    for a in args.iter_mut() {
        if a == "mon:stdio" {
            *a = format!("file:{}", paths.rel(log_path));
        }
    }
    args.extend(["-monitor".into(), "none".into()]);
    let command = shell_line(QEMU, &args);
    let mut log = Log::fresh(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(QEMU);
    cmd.args(&args).current_dir(&paths.root);
    let started = Instant::now();
    let mut emu = Emulator::spawn(cmd, out_path, None).map_err(|e| format!("{QEMU}: {e}"))?;
    let mut seen: Vec<Seen> = (0..s.vms).map(|_| Seen::default()).collect();
    let ending = watch(&mut emu, &mut log, started, timeout, |text| {
        for (k, v) in seen.iter_mut().enumerate() {
            v.update(&vm_text(text, k as u32 + 1), started.elapsed());
        }
        false
    });
    emu.stop();
    log.refresh();
    let text = log.text();
    let expect = check::Expect {
        mode: guest::Mode::Test,
        release: images.fetched.release.clone(),
        nproc: s.vcpus,
        sha256: guest::init::test_data_sha256(),
    };
    let mut checks = Vec::new();
    for k in 1..=s.vms {
        let own = vm_text(&text, k);
        let problems = check::verify(&own, &expect);
        let name = format!("linux::vm{k}");
        checks.push((
            format!("{name}_report"),
            (!problems.is_empty()).then(|| problems.join("; ")),
        ));
        let gap = seen[k as usize - 1].gap("before-sleep", "after-sleep");
        checks.push((format!("{name}_sleep"), check::sleep_problem(gap)));
        let exited = format!("init: vm{k} exited with 0");
        checks.push((
            format!("{name}_powered_off"),
            (!text.contains(&exited)).then(|| format!("the log lacks `{exited}`")),
        ));
    }
    let all = "init: every VM has ended (0 failed)";
    let end = match ending {
        Ending::Exited(st) if st.code() == Some(1) && text.contains(all) => None,
        Ending::Exited(st) => Some(format!(
            "{} ({all:?} {})",
            describe_qemu_exit(st),
            if text.contains(all) {
                "seen"
            } else {
                "missing"
            }
        )),
        Ending::TimedOut => Some(format!("timed out after {} s", timeout.as_secs())),
        Ending::Stopped => Some("stopped".into()),
    };
    checks.push(("linux::every_vm_ended".into(), end));
    Ok(Verdict { checks, command })
}

/// The lines of VM `k` (the console's `vmK| ` prefix taken off), one per line.
pub fn vm_text(text: &str, k: u32) -> String {
    let prefix = format!("vm{k}| ");
    let mut out = String::new();
    for l in text.lines() {
        if let Some(i) = l.find(&prefix) {
            out.push_str(&l[i + prefix.len()..]);
            out.push('\n');
        }
    }
    out
}

/// When each of a VM's guest lines was first seen.
#[derive(Default)]
struct Seen {
    lines: Vec<(String, Duration)>,
}

impl Seen {
    fn update(&mut self, text: &str, at: Duration) {
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        for l in check::guest_lines(complete)
            .into_iter()
            .skip(self.lines.len())
        {
            self.lines.push((l.to_string(), at));
        }
    }

    fn gap(&self, from: &str, to: &str) -> Option<Duration> {
        let at = |w: &str| self.lines.iter().find(|(l, _)| l == w).map(|(_, t)| *t);
        at(to).zip(at(from)).map(|(b, a)| b.saturating_sub(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vm_gets_its_own_lines() {
        let log = "init| init: console started\nvm1| facet-guest: nproc 2\nvm2| facet-guest: nproc 1\nvm1| facet-guest: done\n";
        assert_eq!(vm_text(log, 1), "facet-guest: nproc 2\nfacet-guest: done\n");
        assert_eq!(vm_text(log, 2), "facet-guest: nproc 1\n");
        assert_eq!(vm_text(log, 3), "");
    }

    #[test]
    fn two_vms_on_four_cpus_with_a_long_hold() {
        let s = setup();
        assert_eq!((s.vms, s.vcpus, s.cpus()), (2, 2, 4));
        assert!(s.append.contains("facet.hold=8") && s.ids);
    }

    #[test]
    fn sleep_gaps_are_measured_per_vm() {
        let mut s = Seen::default();
        s.update("facet-guest: before-sleep\n", Duration::from_secs(10));
        s.update(
            "facet-guest: before-sleep\nfacet-guest: after-sleep\n",
            Duration::from_secs(12),
        );
        assert_eq!(
            s.gap("before-sleep", "after-sleep"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(s.gap("before-sleep", "done"), None);
    }
}

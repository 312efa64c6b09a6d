//! The `bochs-linux` tier: the VMM's VMX path with a real guest. Bochs
//! (`corei7_skylake_x`, VMX with EPT) boots a GRUB ISO with Facet, the roottask, the
//! console service and one VMM whose 2-vCPU guest runs the Debian kernel with the
//! boot-check initramfs (`guest::Mode::Boot`: kernel release, `nproc`, power off). Bochs
//! runs about a hundred times slower than QEMU's TCG, so the longer test `/init` of the
//! `linux` tier stays there (its times under Bochs are in `docs/vmm.md`).
//!
//! Checks, each one test in the summary: the guest's report (release, `nproc 2`, `done`,
//! no kernel panic), the roottask's `init: vm1 exited with 0` and
//! `init: every VM has ended (0 failed)`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::{self, Built, Multiboot};
use crate::emulator::{watch, Emulator, Ending, Log};
use crate::guest::{self, check};
use crate::launch::{self, shell_line, BOCHS};
use crate::linux::{self, Setup};
use crate::linux_tier::{vm_text, Verdict};
use crate::paths::{Paths, Profile};
use crate::protocol;
use crate::tiers::Tier;

/// What the roottask prints once every VM has ended well.
const ALL_ENDED: &str = "init: every VM has ended (0 failed)";

/// The machine of the tier: one VM of two vCPUs, on the machine's two CPUs.
pub fn setup() -> Setup {
    Setup {
        vms: 1,
        vcpus: 2,
        mem: 128,
        append: guest::CMDLINE.to_string(),
        ids: false,
        spare_cpu0: false,
    }
}

/// Boots the tier and checks it; `log_path` receives the serial output.
pub fn run(
    paths: &Paths,
    built: &Built,
    tier: &Tier,
    log_path: &Path,
    out_path: &Path,
) -> Result<Verdict, String> {
    let images = guest::build(paths)?;
    let s = setup();
    let console = paths.program(Profile::Release, "console");
    let vmm = paths.program(Profile::Release, "vmm");
    let initrd = images.initramfs(guest::Mode::Boot);
    let on_iso = |name: &str| format!("/boot/{name}");
    let (r, c, v, k, i) = (
        on_iso("roottask"),
        on_iso("console"),
        on_iso("vmm"),
        on_iso("vmlinuz"),
        on_iso("initrd"),
    );
    let modules = linux::modules(
        &linux::Files {
            roottask: Path::new(&r),
            console: Path::new(&c),
            vmm: Path::new(&v),
            kernel: Path::new(&k),
            initrd: Path::new(&i),
        },
        &s,
        tier.roottask_args,
    );
    let iso = artifacts::iso_with(
        paths,
        built,
        tier.name,
        (Multiboot::V2, artifacts::Firmware::Bios),
        tier.kernel_args,
        &[
            (built.roottask.as_path(), "roottask"),
            (console.as_path(), "console"),
            (vmm.as_path(), "vmm"),
            (images.fetched.vmlinuz.as_path(), "vmlinuz"),
            (initrd.as_path(), "initrd"),
        ],
        &modules,
    )?;

    let logs = paths.logs();
    let bochs_log = logs.join(format!("{}.bochs", tier.name));
    let rc_path = logs.join(format!("{}.bochsrc", tier.name));
    let rc = launch::bochsrc(&iso, log_path, &bochs_log, tier.emulator_args);
    fs::write(&rc_path, rc).map_err(|e| format!("{}: {e}", rc_path.display()))?;
    let _ = fs::remove_file(&bochs_log);
    let args = vec!["-q".into(), "-f".into(), rc_path.display().to_string()];
    let command = shell_line(BOCHS, &args);
    let mut log = Log::fresh(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(BOCHS);
    cmd.args(&args).current_dir(&paths.root);
    let started = Instant::now();
    let mut emu =
        Emulator::spawn(cmd, out_path, Some(b"c\n")).map_err(|e| format!("{BOCHS}: {e}"))?;
    let timeout = Duration::from_secs(tier.timeout_s);
    // Bochs has no exit device: the run is over when the roottask says every VM ended,
    // or soon after the kernel reports something fatal.
    let mut fatal_since: Option<Instant> = None;
    let ending = watch(&mut emu, &mut log, started, timeout, |text| {
        if fatal_since.is_none() && protocol::has_fatal(text) {
            fatal_since = Some(Instant::now());
        }
        text.contains("init: every VM has ended")
            || fatal_since
                .is_some_and(|t| t.elapsed() >= Duration::from_millis(protocol::FATAL_GRACE_MS))
    });
    emu.stop();
    log.refresh();
    let text = log.text();
    Ok(Verdict {
        checks: checks(&text, &images.fetched.release, &s, ending, timeout),
        command,
    })
}

/// The tier's checks of a finished run's serial output.
fn checks(
    text: &str,
    release: &str,
    s: &Setup,
    ending: Ending,
    timeout: Duration,
) -> Vec<(String, Option<String>)> {
    let expect = check::Expect {
        mode: guest::Mode::Boot,
        release: release.to_string(),
        nproc: s.vcpus,
        sha256: String::new(),
    };
    let problems = check::verify(&vm_text(text, 1), &expect);
    let exited = "init: vm1 exited with 0";
    let end = match ending {
        _ if text.contains(ALL_ENDED) => None,
        Ending::TimedOut => Some(format!("timed out after {} s", timeout.as_secs())),
        _ => Some(format!("the log lacks `{ALL_ENDED}`")),
    };
    vec![
        (
            "bochs_linux::vm1_report".into(),
            (!problems.is_empty()).then(|| problems.join("; ")),
        ),
        (
            "bochs_linux::vm1_powered_off".into(),
            (!text.contains(exited)).then(|| format!("the log lacks `{exited}`")),
        ),
        ("bochs_linux::every_vm_ended".into(), end),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "init| init: started vmm (vm1) on CPU 0\n\
        vm1| facet-guest: kernel 6.1.0-57-cloud-amd64\n\
        vm1| facet-guest: nproc 2\n\
        vm1| facet-guest: done\n\
        init| init: vm1 exited with 0\n\
        init| init: every VM has ended (0 failed)\n";

    fn failed(c: &[(String, Option<String>)]) -> Vec<&str> {
        c.iter()
            .filter(|(_, p)| p.is_some())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn a_good_run_passes_every_check() {
        let c = checks(
            GOOD,
            "6.1.0-57-cloud-amd64",
            &setup(),
            Ending::Stopped,
            Duration::from_secs(1),
        );
        assert_eq!(c.len(), 3);
        assert!(failed(&c).is_empty(), "{c:?}");
    }

    #[test]
    fn one_cpu_short_or_no_end_fails() {
        let short = GOOD.replace("nproc 2", "nproc 1");
        let c = checks(
            &short,
            "6.1.0-57-cloud-amd64",
            &setup(),
            Ending::Stopped,
            Duration::from_secs(1),
        );
        assert_eq!(failed(&c), ["bochs_linux::vm1_report"]);
        let cut = &GOOD[..GOOD.find("init| init: vm1").unwrap()];
        let c = checks(
            cut,
            "6.1.0-57-cloud-amd64",
            &setup(),
            Ending::TimedOut,
            Duration::from_secs(9),
        );
        assert_eq!(
            failed(&c),
            [
                "bochs_linux::vm1_powered_off",
                "bochs_linux::every_vm_ended"
            ]
        );
    }

    #[test]
    fn two_vcpus_on_the_two_cpus() {
        let s = setup();
        assert_eq!(
            (s.vms, s.vcpus, s.cpus(), s.cpu_list(0).as_str()),
            (1, 2, 2, "0,1")
        );
    }
}

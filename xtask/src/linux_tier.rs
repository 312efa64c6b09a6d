//! The `linux` tier: Facet under QEMU TCG (`-cpu EPYC`, SVM with nested paging) runs two
//! Linux guests at once, each in a VMM of its own on CPUs of its own, both booting the
//! test initramfs (`guest::Mode::Test`). The console service prefixes each guest's lines
//! with its VM's name (`vm1| `), so the harness checks every VM's report on its own:
//!
//! - the kernel release the images were built from, `nproc` equal to its vCPUs, the
//!   SHA-256 of the 16 MiB file against the host's, `sleep 2` between 1.5 and 4 s on the
//!   host's clock, `isolation ok` (neither guest saw the other's memory), `done`;
//! - vm1 powers off (`init: vm1 exited with 0`); vm2 ends in a triple fault instead
//!   (`facet.end=triple reboot=t`), which its VMM reports and which ends vm2 alone
//!   (`init: vm2 exited with 1`) while vm1 goes on;
//! - a third VMM, vm3, is given the initramfs as its kernel: it refuses the image with a
//!   clear message and ends (`init: vm3 exited with 1`) without disturbing the others;
//! - a fourth, vm4, crashes on purpose once its guest runs (its `fault` word): the
//!   roottask stops it (`init: vm4 stopped: exception 14 ...`) and with it its guest, and
//!   the others run on;
//! - at the end `init: every VM has ended (3 failed)`, after which the roottask ends
//!   QEMU.
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
        spare_cpu0: true,
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
    let mut modules = linux::modules(
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
    add_misbehaving_vms(&mut modules, &paths.rel(&vmm));
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
        s.machine_mem() + BAD_VM_MEM + FAULT_VM_MEM + 64,
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
        if k == TRIPLE_FAULT_VM {
            checks.push((
                format!("{name}_triple_fault_ends_it_alone"),
                missing(
                    &own,
                    &text,
                    "vmm: ",
                    "triple fault: the guest is dead",
                    k,
                    1,
                ),
            ));
        } else {
            let exited = format!("init: vm{k} exited with 0");
            checks.push((
                format!("{name}_powered_off"),
                (!text.contains(&exited)).then(|| format!("the log lacks `{exited}`")),
            ));
        }
    }
    let bad = s.vms + 1;
    checks.push((
        format!("linux::vm{bad}_bad_kernel_is_refused"),
        missing(
            &vm_text(&text, bad),
            &text,
            "vmm: ",
            "the kernel is refused: bzImage: ",
            bad,
            1,
        ),
    ));
    let crashed = s.vms + 2;
    let stopped = format!("init: vm{crashed} stopped: exception 14 at rip ");
    checks.push((
        format!("linux::vm{crashed}_crashing_vmm_stops_alone"),
        if !vm_text(&text, crashed).contains("vmm: faulting on purpose") {
            Some(format!("vm{crashed} never said it faults"))
        } else if !text.contains(&stopped) {
            Some(format!("the log lacks `{stopped}...`"))
        } else {
            None
        },
    ));
    // Three VMs end badly on purpose (the triple fault, the refused kernel, the crash).
    let all = "init: every VM has ended (3 failed)";
    let end = match ending {
        // The roottask's exit value 1 (a VM failed): QEMU exits with 3.
        Ending::Exited(st) if st.code() == Some(3) && text.contains(all) => None,
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

/// The VM whose guest ends in a triple fault.
const TRIPLE_FAULT_VM: u32 = 2;
/// MiB of the VM whose kernel is refused.
const BAD_VM_MEM: u32 = 32;
/// MiB of the VM whose VMM crashes.
const FAULT_VM_MEM: u32 = 64;

/// Makes vm2 end in a triple fault (`facet.end=triple` to its `/init`, `reboot=t` to its
/// kernel) and adds, before the image modules, a VMM whose "kernel" is the initramfs and
/// one that crashes once its guest runs (both on CPU 1: no vCPU runs on CPU 0, see
/// `linux::Setup::cpus`).
fn add_misbehaving_vms(modules: &mut Vec<String>, vmm: &str) {
    let triple = format!("vmm name=vm{TRIPLE_FAULT_VM} ");
    let mut vms = 0;
    for m in modules.iter_mut() {
        if m.contains(" vmm name=vm") {
            vms += 1;
        }
        if m.contains(&triple) {
            m.push_str(" facet.end=triple reboot=t");
        }
    }
    let bad = format!(
        "{vmm} vmm name=vm{} mem={BAD_VM_MEM} cpus=1 kernel=initrd initrd=initrd -- console=ttyS0",
        vms + 1
    );
    let crash = format!(
        "{vmm} vmm name=vm{} mem={FAULT_VM_MEM} cpus=1 fault kernel=linux initrd=initrd -- console=ttyS0 quiet",
        vms + 2
    );
    let at = modules.len().saturating_sub(2);
    modules.insert(at, crash);
    modules.insert(at, bad);
}

/// Whether VM `k`'s lines (`own`) include `prefix` + `line` and the roottask saw it exit
/// with `code`; the problem if not.
fn missing(own: &str, text: &str, prefix: &str, line: &str, k: u32, code: u32) -> Option<String> {
    let exited = format!("init: vm{k} exited with {code}");
    if !own
        .lines()
        .any(|l| l.starts_with(prefix) && l.contains(line))
    {
        Some(format!("vm{k} printed no `{prefix}...{line}` line"))
    } else if !text.contains(&exited) {
        Some(format!("the log lacks `{exited}`"))
    } else {
        None
    }
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
    fn vm2_triple_faults_and_vm3_gets_a_bad_kernel() {
        let mut m = vec![
            "r roottask exit-when-done".to_string(),
            "c console".to_string(),
            "v vmm name=vm1 mem=256 cpus=1,2 kernel=linux initrd=initrd -- quiet facet.id=1".into(),
            "v vmm name=vm2 mem=256 cpus=3,4 kernel=linux initrd=initrd -- quiet facet.id=2".into(),
            "k linux".to_string(),
            "i initrd".to_string(),
        ];
        add_misbehaving_vms(&mut m, "v");
        assert_eq!(m.len(), 8);
        assert!(m[2].ends_with("facet.id=1"));
        assert!(m[3].ends_with("facet.id=2 facet.end=triple reboot=t"));
        assert_eq!(
            m[4],
            "v vmm name=vm3 mem=32 cpus=1 kernel=initrd initrd=initrd -- console=ttyS0"
        );
        assert_eq!(
            m[5],
            "v vmm name=vm4 mem=64 cpus=1 fault kernel=linux initrd=initrd -- console=ttyS0 quiet"
        );
        assert_eq!(&m[6..], ["k linux", "i initrd"]);
    }

    #[test]
    fn a_misbehaving_vm_must_say_so_and_end() {
        let log = "vm2| vmm: vCPU 0 at rip 0x1: triple fault: the guest is dead\n\
                   init| init: vm2 exited with 1\n";
        let own = vm_text(log, 2);
        assert_eq!(missing(&own, log, "vmm: ", "triple fault", 2, 1), None);
        assert!(missing(&own, log, "vmm: ", "triple fault", 2, 0).is_some());
        assert!(missing("", log, "vmm: ", "triple fault", 2, 1).is_some());
    }

    #[test]
    fn two_vms_on_four_cpus_and_a_spare_with_a_long_hold() {
        let s = setup();
        assert_eq!((s.vms, s.vcpus, s.cpus()), (2, 2, 5));
        assert_eq!((s.cpu_list(0), s.cpu_list(1)), ("1,2".into(), "3,4".into()));
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

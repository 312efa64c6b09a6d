//! Running one tier: skip it if its emulator or KVM is missing, prepare its ISO or
//! module, start the emulator, watch the serial log until the expectation is decided,
//! do the monitor check, end the emulator and judge. A failing tier prints why, its
//! command line and the tail of its serial log and of the emulator's own output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::{self, Built, Firmware};
use crate::emulator::{self, Emulator, Ending, Kvm, Log};
use crate::launch::{self, Files};
use crate::monitor::{self, Monitor};
use crate::paths::{find_program, Paths};
use crate::protocol;
use crate::summary::{Kind, Status, TierOutcome};
use crate::tiers::{Boot, Emulator as Emu, Expect, Tier};

/// After the closing line, how long QEMU gets to act on the guest's port-0xf4 write.
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// Serial-log lines shown for a failing tier.
const LOG_TAIL: usize = 200;
/// Emulator-output lines shown for a failing tier.
const OUTPUT_TAIL: usize = 40;
/// What every tier shares.
pub struct Context<'a> {
    pub paths: &'a Paths,
    /// The artifacts, or why they could not be built.
    pub built: Result<Built, String>,
    pub kvm: Kvm,
}

/// The counting kind of a tier's expectation.
pub fn kind(tier: &Tier) -> Kind {
    match tier.expect {
        Expect::Suite { .. } | Expect::Linux => Kind::Suite,
        Expect::Fatal { .. } => Kind::Fatal,
    }
}

/// The programs a tier needs.
pub fn tools(tier: &Tier) -> Vec<&'static str> {
    let mut t = vec![match tier.emulator {
        Emu::Qemu => launch::QEMU,
        Emu::Bochs => launch::BOCHS,
    }];
    if tier.boot.iso().is_some() {
        t.extend(["grub-mkrescue", "xorriso", "mformat"]);
    }
    t
}

/// The files a tier needs beyond programs: GRUB's platform modules, OVMF.
pub fn files(tier: &Tier) -> Vec<&'static str> {
    match tier.boot.iso() {
        None => vec![],
        Some((_, fw)) if fw == Firmware::Uefi => {
            vec![fw.grub_dir(), artifacts::OVMF_CODE, artifacts::OVMF_VARS]
        }
        Some((_, fw)) => vec![fw.grub_dir()],
    }
}

/// Runs `tier` and reports.
pub fn run(ctx: &Context, tier: &'static Tier) -> TierOutcome {
    let kind = kind(tier);
    if tier.needs_hardware_kvm {
        if let Some(why) = ctx.kvm.skip_reason() {
            println!("==> tier {}: SKIPPED ({why})", tier.name);
            return TierOutcome::skipped(tier.name, kind, why);
        }
    }
    if let Some(tool) = tools(tier).into_iter().find(|t| find_program(t).is_none()) {
        println!("==> tier {}: SKIPPED (missing {tool})", tier.name);
        return TierOutcome::skipped(tier.name, kind, format!("missing {tool}"));
    }
    if let Some(file) = files(tier).into_iter().find(|f| !Path::new(f).exists()) {
        println!("==> tier {}: SKIPPED (missing {file})", tier.name);
        return TierOutcome::skipped(tier.name, kind, format!("missing {file}"));
    }
    println!("==> tier {}: {}", tier.name, tier.about);
    if tier.expect == Expect::Linux {
        return run_linux(ctx, tier);
    }
    let started = Instant::now();
    let run = match &ctx.built {
        Ok(built) => match built.for_tier(tier) {
            Ok(built) => attempt(ctx.paths, &built, tier),
            Err(e) => Attempt::failed(format!("not run: {e}")),
        },
        Err(e) => Attempt::failed(format!("not run: the build failed ({e})")),
    };
    let seconds = started.elapsed().as_secs_f64();
    let report = protocol::parse(&run.log);
    let status = if run.problems.is_empty() {
        Status::Passed
    } else {
        Status::Failed(run.problems.clone())
    };
    match &status {
        Status::Passed => println!(
            "<== tier {}: ok ({} in {seconds:.1} s){}",
            tier.name,
            match kind {
                Kind::Suite => format!("{} tests", report.ok),
                Kind::Fatal => "expected stop".to_string(),
            },
            run.note
                .as_ref()
                .map(|n| format!(" [{n}]"))
                .unwrap_or_default()
        ),
        Status::Failed(_) => print_failure(tier, &run, seconds),
        Status::Skipped(_) => {}
    }
    TierOutcome {
        name: tier.name,
        kind,
        status,
        ok_lines: report.ok + report.kernel_ok,
        failed_lines: report.failed_tests.len() as u64,
        seconds,
        note: run.note,
    }
}

/// The Linux tiers: their own machines and checks (`linux_tier`, `linux_vmx`).
fn run_linux(ctx: &Context, tier: &'static Tier) -> TierOutcome {
    let started = Instant::now();
    let logs = ctx.paths.logs();
    let log_path = logs.join(format!("{}.log", tier.name));
    let out_path = logs.join(format!("{}.out", tier.name));
    let once = || match &ctx.built {
        Ok(built) => fs::create_dir_all(&logs)
            .map_err(|e| format!("{}: {e}", logs.display()))
            .and_then(|_| {
                if tier.emulator == Emu::Bochs {
                    crate::linux_vmx::run(ctx.paths, built, tier, &log_path, &out_path)
                } else {
                    crate::linux_tier::run(
                        ctx.paths,
                        built,
                        &log_path,
                        &out_path,
                        Duration::from_secs(tier.timeout_s),
                    )
                }
            }),
        Err(e) => Err(format!("not run: the build failed ({e})")),
    };
    let outcome = |v: Result<crate::linux_tier::Verdict, String>| match v {
        Ok(v) => (v.passed(), v.failed(), v.problems(), Some(v.command)),
        Err(e) => (0, 1, vec![e], None),
    };
    let (mut ok, mut failed, mut problems, mut command) = outcome(once());
    // One more run after a failure, never silently: an intermittent failure of two
    // guests under QEMU's TCG is still open (docs/vmm.md, "Open risks"). The first run's
    // log is kept beside the second's and its problems are printed and noted.
    let mut note = None;
    if !problems.is_empty() && ctx.built.is_ok() {
        let first = logs.join(format!("{}.first.log", tier.name));
        let _ = fs::copy(&log_path, &first);
        println!(
            "<== tier {}: the first run failed ({}); its log is {}; running it once more",
            tier.name,
            problems.join("; "),
            first.display()
        );
        let first_problems = problems.join("; ");
        (ok, failed, problems, command) = outcome(once());
        if problems.is_empty() {
            note = Some(format!(
                "passed on the second run; the first failed: {first_problems}"
            ));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = if problems.is_empty() {
        println!("<== tier {}: ok ({ok} checks in {seconds:.1} s)", tier.name);
        Status::Passed
    } else {
        let run = Attempt {
            problems: problems.clone(),
            log: fs::read_to_string(&log_path).unwrap_or_default(),
            log_path: Some(log_path),
            command,
            outputs: vec![out_path],
            ..Attempt::default()
        };
        print_failure(tier, &run, seconds);
        Status::Failed(problems)
    };
    TierOutcome {
        name: tier.name,
        kind: Kind::Suite,
        status,
        ok_lines: ok,
        failed_lines: failed,
        seconds,
        note,
    }
}

/// What one emulator run produced.
#[derive(Default)]
struct Attempt {
    problems: Vec<String>,
    log: String,
    log_path: Option<PathBuf>,
    command: Option<String>,
    /// Emulator output files worth showing on failure.
    outputs: Vec<PathBuf>,
    /// Offending `info tlb` lines.
    violations: Vec<String>,
    note: Option<String>,
}

impl Attempt {
    fn failed(why: String) -> Attempt {
        Attempt {
            problems: vec![why],
            ..Attempt::default()
        }
    }
}

fn attempt(paths: &Paths, built: &Built, tier: &Tier) -> Attempt {
    let logs = paths.logs();
    if let Err(e) = fs::create_dir_all(&logs) {
        return Attempt::failed(format!("{}: {e}", logs.display()));
    }
    let log_path = logs.join(format!("{}.log", tier.name));
    let out_path = logs.join(format!("{}.out", tier.name));
    let mon_path = logs.join(format!("{}.mon", tier.name));
    let bochs_log = logs.join("bochs.log");
    let wx = matches!(
        tier.expect,
        Expect::Suite {
            wx_monitor: true,
            ..
        }
    );

    let iso = match tier.boot.iso() {
        Some(how) => {
            match artifacts::iso(
                paths,
                built,
                tier.name,
                how,
                tier.kernel_args,
                tier.roottask_args,
            ) {
                Ok(p) => p,
                Err(e) => return Attempt::failed(format!("building the ISO: {e}")),
            }
        }
        None => PathBuf::new(),
    };
    // UEFI firmware writes its variables: each run gets a fresh copy.
    let vars_path = logs.join(format!("{}.vars.fd", tier.name));
    if tier.boot == Boot::Uefi {
        if let Err(e) = fs::copy(artifacts::OVMF_VARS, &vars_path) {
            return Attempt::failed(format!("copying {}: {e}", artifacts::OVMF_VARS));
        }
    }
    let mut log = match Log::fresh(&log_path) {
        Ok(l) => l,
        Err(e) => return Attempt::failed(format!("{}: {e}", log_path.display())),
    };
    let _ = fs::remove_file(&mon_path);

    let (program, args, stdin): (&str, Vec<String>, Option<&[u8]>) = match tier.emulator {
        Emu::Qemu => {
            let files = Files {
                kernel_elf32: paths.rel(&built.kernel_elf32),
                roottask: paths.rel(&built.roottask),
                programs: paths.rel(
                    built
                        .roottask
                        .parent()
                        .unwrap_or_else(|| std::path::Path::new(".")),
                ),
                junk: paths.rel(&paths.junk_roottask()),
                iso: paths.rel(&iso),
                serial_log: paths.rel(&log_path),
                monitor: paths.rel(&mon_path),
                ovmf_vars: paths.rel(&vars_path),
            };
            let monitor = wx || tier.wakes_from_s3();
            (launch::QEMU, launch::qemu_args(tier, &files, monitor), None)
        }
        Emu::Bochs => {
            let rc_path = logs.join(format!("{}.bochsrc", tier.name));
            let rc = launch::bochsrc(&iso, &log_path, &bochs_log, tier.emulator_args);
            if let Err(e) = fs::write(&rc_path, rc) {
                return Attempt::failed(format!("{}: {e}", rc_path.display()));
            }
            // Bochs's rfb display takes the first free port from 5900 on, so Bochs runs
            // beside another.
            let _ = fs::remove_file(&bochs_log);
            let args = vec!["-q".into(), "-f".into(), rc_path.display().to_string()];
            (launch::BOCHS, args, Some(&b"c\n"[..]))
        }
    };
    let command = launch::shell_line(program, &args);
    let mut outputs = vec![out_path.clone()];
    if tier.emulator == Emu::Bochs {
        outputs.push(bochs_log);
    }
    let mut result = Attempt {
        log_path: Some(log_path.clone()),
        command: Some(command),
        outputs,
        ..Attempt::default()
    };

    let mut cmd = Command::new(program);
    cmd.args(&args).current_dir(&paths.root);
    let started = Instant::now();
    let mut emu = match Emulator::spawn(cmd, &out_path, stdin) {
        Ok(e) => e,
        Err(e) => {
            result.problems.push(format!("starting {program}: {e}"));
            return result;
        }
    };
    let timeout = Duration::from_secs(tier.timeout_s);
    let mut stop = stop_rule(tier);
    let mut waker = S3Waker::new(tier, &mon_path);
    let ending = emulator::watch(&mut emu, &mut log, started, timeout, |text: &str| {
        if let Err(e) = waker.poll(text) {
            result.problems.push(e);
            return true;
        }
        stop(text)
    });
    if let Some(n) = waker.woken() {
        result.note = Some(format!("{n} wake-up(s) from S3"));
    }
    let text = log.text();

    result.problems.extend(judge(tier, ending, &text));
    if let Expect::Suite {
        wx_monitor: true, ..
    } = tier.expect
    {
        let report = protocol::parse(&text);
        if ending == Ending::Stopped && report.closing.is_some() && report.fatal_lines.is_empty() {
            wx_check(&mut result, &mon_path);
            // `quit` was sent: let QEMU end by itself before the group is killed.
            emu.wait_for(Duration::from_secs(5));
        } else {
            result.note = Some("W^X: not checked (the suite did not finish)".into());
        }
    }
    emu.stop();
    // Anything printed after the decision (the rest of a register dump) is kept.
    log.refresh();
    result.log = log.text();
    result
}

/// What is wrong with a run, from how it ended and its log (empty: it passed, apart
/// from the monitor check).
fn judge(tier: &Tier, ending: Ending, log: &str) -> Vec<String> {
    let mut problems;
    match tier.expect {
        // Judged by `run_linux`.
        Expect::Linux => problems = Vec::new(),
        Expect::Fatal { must_contain } => {
            problems = protocol::fatal_problems(log, must_contain);
            if !problems.is_empty() {
                problems.push(describe_ending(tier, ending));
            }
        }
        Expect::Suite {
            must_contain,
            wx_monitor,
        } => {
            let report = protocol::parse(log);
            problems = protocol::suite_problems(&report, log, must_contain);
            let finished = report.closing.is_some() && report.fatal_lines.is_empty();
            // Only a QEMU whose guest does not hold gives a verdict by its exit status.
            let verdict_by_exit = tier.emulator == Emu::Qemu && !wx_monitor;
            match ending {
                Ending::Exited(status) if verdict_by_exit => {
                    if status.code() != Some(1) {
                        problems.push(emulator::describe_qemu_exit(status));
                    }
                }
                Ending::Stopped if verdict_by_exit && finished => {
                    problems.push(format!(
                        "the suite finished but QEMU did not exit within {} s (no write to port 0xf4?)",
                        EXIT_GRACE.as_secs()
                    ));
                }
                Ending::Stopped => {}
                other => problems.push(describe_ending(tier, other)),
            }
        }
    }
    problems
}

/// Wakes a machine from S3 through QEMU's monitor: each time the kernel has said it is
/// entering S3, waits until QEMU reports the machine suspended, then `system_wakeup`.
struct S3Waker<'a> {
    enabled: bool,
    path: &'a Path,
    monitor: Option<Monitor>,
    woken: usize,
}

impl<'a> S3Waker<'a> {
    fn new(tier: &Tier, path: &'a Path) -> S3Waker<'a> {
        S3Waker {
            enabled: tier.wakes_from_s3(),
            path,
            monitor: None,
            woken: 0,
        }
    }

    /// Wake-ups done (`None`: the tier does not sleep).
    fn woken(&self) -> Option<usize> {
        self.enabled.then_some(self.woken)
    }

    fn poll(&mut self, log: &str) -> Result<(), String> {
        if !self.enabled || log.matches(crate::tiers::S3_ENTERING).count() <= self.woken {
            return Ok(());
        }
        if self.monitor.is_none() {
            self.monitor = Some(Monitor::connect(self.path, Duration::from_secs(10))?);
        }
        let m = self.monitor.as_mut().expect("connected above");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = m.command("info status", Duration::from_secs(10))?;
            if status.contains("suspended") {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the kernel entered S3 but QEMU did not suspend (`info status`: {})",
                    status.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Asleep for a moment: timers and deadlines must survive it.
        std::thread::sleep(Duration::from_millis(500));
        m.command("system_wakeup", Duration::from_secs(10))?;
        self.woken += 1;
        Ok(())
    }
}

/// When to stop watching (the emulator keeps running until the caller ends it).
fn stop_rule(tier: &Tier) -> impl FnMut(&str) -> bool {
    let expect = tier.expect;
    let emulator = tier.emulator;
    let mut fatal_since: Option<Instant> = None;
    let mut closed_since: Option<Instant> = None;
    move |log: &str| match expect {
        Expect::Linux => false,
        Expect::Fatal { must_contain } => protocol::missing(log, must_contain).is_empty(),
        Expect::Suite { wx_monitor, .. } => {
            if fatal_since.is_none() && protocol::has_fatal(log) {
                fatal_since = Some(Instant::now());
            }
            if fatal_since
                .is_some_and(|t| t.elapsed() >= Duration::from_millis(protocol::FATAL_GRACE_MS))
            {
                return true;
            }
            if closed_since.is_none() && protocol::has_closing_line(log) {
                closed_since = Some(Instant::now());
            }
            match closed_since {
                None => false,
                // Nothing more to wait for: the roottask holds, or Bochs has no exit device.
                Some(_) if wx_monitor || emulator == Emu::Bochs => fatal_since.is_none(),
                // QEMU should exit by itself.
                Some(t) => t.elapsed() >= EXIT_GRACE,
            }
        }
    }
}

fn describe_ending(tier: &Tier, ending: Ending) -> String {
    match ending {
        Ending::TimedOut => format!("timed out after {} s", tier.timeout_s),
        Ending::Exited(status) => match tier.emulator {
            Emu::Qemu => format!("QEMU ended early: {}", emulator::describe_qemu_exit(status)),
            Emu::Bochs => format!("Bochs ended early ({status})"),
        },
        Ending::Stopped => "stopped".into(),
    }
}

/// Asks QEMU's monitor for `info tlb`, checks W^X, and quits QEMU.
fn wx_check(result: &mut Attempt, mon_path: &Path) {
    let outcome = Monitor::connect(mon_path, Duration::from_secs(10)).and_then(|mut m| {
        let out = m.command("info tlb", Duration::from_secs(60));
        m.quit();
        out
    });
    match outcome {
        Ok(output) => {
            let report = monitor::check_wx(&output);
            result.problems.extend(report.problems());
            result.note = Some(report.note());
            result.violations = report.violations;
            if report.kernel_mappings == 0 {
                let head: Vec<&str> = output.lines().take(10).collect();
                result
                    .violations
                    .push(format!("(monitor said: {})", head.join(" | ")));
            }
        }
        Err(e) => {
            result.problems.push(format!("W^X check: {e}"));
            result.note = Some("W^X: monitor failed".into());
        }
    }
}

fn print_failure(tier: &Tier, run: &Attempt, seconds: f64) {
    println!("<== tier {}: FAILED after {seconds:.1} s", tier.name);
    for p in &run.problems {
        println!("    - {p}");
    }
    if !run.violations.is_empty() {
        const SHOWN: usize = 100;
        println!("---- writable and executable kernel mappings (info tlb) ----");
        for v in run.violations.iter().take(SHOWN) {
            println!("{v}");
        }
        if run.violations.len() > SHOWN {
            println!("... and {} more", run.violations.len() - SHOWN);
        }
    }
    if let Some(c) = &run.command {
        println!("---- command (in the workspace root) ----\n{c}");
    }
    if let Some(path) = &run.log_path {
        let (tail, total) = protocol::tail(&run.log, LOG_TAIL);
        println!(
            "---- serial log {} ({} of {total} lines) ----",
            path.display(),
            if tail.len() == total {
                "all".to_string()
            } else {
                format!("last {}", tail.len())
            }
        );
        for l in tail {
            println!("{l}");
        }
    }
    for path in &run.outputs {
        let Ok(bytes) = fs::read(path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        // QEMU's complaints about CPU-model features TCG lacks are expected noise.
        let (noise, text): (Vec<&str>, Vec<&str>) = protocol::lines(&text)
            .partition(|l| l.contains("TCG doesn't support requested feature"));
        let text = text.join("\n");
        if text.trim().is_empty() && noise.is_empty() {
            continue;
        }
        let (tail, total) = protocol::tail(&text, OUTPUT_TAIL);
        println!(
            "---- {} (last {} of {total} lines{}) ----",
            path.display(),
            tail.len(),
            if noise.is_empty() {
                String::new()
            } else {
                format!("; {} TCG feature warnings left out", noise.len())
            }
        );
        for l in tail {
            println!("{l}");
        }
    }
    println!("---- end of {} ----", tier.name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiers::{find, TIERS};

    #[test]
    fn tools_per_tier() {
        assert_eq!(tools(find("tcg-amd").unwrap()), ["qemu-system-x86_64"]);
        assert_eq!(
            tools(find("grub-mb2").unwrap()),
            ["qemu-system-x86_64", "grub-mkrescue", "xorriso", "mformat"]
        );
        assert_eq!(tools(find("bochs-vmx").unwrap())[0], "bochs-bin");
        assert!(TIERS.iter().all(|t| !tools(t).is_empty()));
    }

    #[test]
    fn fatal_tiers_stop_as_soon_as_the_message_is_complete() {
        let mut stop = stop_rule(find("exception").unwrap());
        assert!(!stop(
            "FACET EXCEPTION #PF (vector 14) in the kernel: error 0x2 rip"
        ));
        assert!(stop(
            "FACET EXCEPTION #PF (vector 14) in the kernel: error 0x2 rip 0x1 cr2 0x0"
        ));
    }

    #[test]
    fn held_suites_stop_at_the_closing_line() {
        let mut stop = stop_rule(find("tcg-amd").unwrap());
        assert!(!stop("test a ... ok\n"));
        assert!(stop("test a ... ok\n1 passed, 0 failed\n"));
        let mut stop = stop_rule(find("bochs-vmx").unwrap());
        assert!(stop("1 passed, 0 failed\n"));
    }

    /// A passing log for tier `t`: every line it must contain, then two tests.
    fn pass(t: &Tier) -> String {
        let mut log = String::new();
        if let Expect::Suite { must_contain, .. } = t.expect {
            for m in must_contain {
                log.push_str(m);
                log.push('\n');
            }
        }
        log + "test a ... ok\ntest b ... ok\n2 passed, 0 failed\n"
    }

    fn exit(code: i32) -> Ending {
        use std::os::unix::process::ExitStatusExt;
        Ending::Exited(std::process::ExitStatus::from_raw(code << 8))
    }

    #[test]
    fn suite_verdicts_by_qemu_exit_status() {
        let t = find("tcg-intel").unwrap();
        let pass = pass(t);
        assert!(judge(t, exit(1), &pass).is_empty());
        let p = judge(t, exit(3), &pass);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("wrote 1"), "{p:?}");
        let p = judge(t, Ending::Stopped, &pass);
        assert!(p[0].contains("did not exit"), "{p:?}");
        let p = judge(t, Ending::TimedOut, "test a ... ok\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[1].contains("the log lacks"));
        assert!(p[2].contains("timed out after 120 s"));
    }

    #[test]
    fn held_and_bochs_suites_are_judged_by_the_log() {
        let t = find("tcg-amd").unwrap();
        assert!(judge(t, Ending::Stopped, &pass(t)).is_empty());
        let p = judge(t, exit(0), &pass(t));
        assert!(p[0].contains("QEMU ended early"), "{p:?}");
        let t = find("bochs-vmx").unwrap();
        assert!(judge(t, Ending::Stopped, &pass(t)).is_empty());
        let p = judge(t, Ending::Stopped, &pass(t).replace("VMX EPT", "SVM NPT"));
        assert_eq!(p, ["the log lacks \"VMX EPT\""]);
    }

    #[test]
    fn fatal_verdicts() {
        let t = find("panic").unwrap();
        let log = "FACET PANIC at kernel/src/main.rs:1:1: crash test requested\n";
        assert!(judge(t, Ending::Stopped, log).is_empty());
        assert!(judge(t, exit(0), log).is_empty());
        let p = judge(t, Ending::TimedOut, "Facet\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1].contains("timed out after 60 s"));
    }

    #[test]
    fn exiting_suites_wait_for_qemu() {
        let mut stop = stop_rule(find("tcg-intel").unwrap());
        assert!(!stop("1 passed, 0 failed\n"), "QEMU gets time to exit");
    }
}

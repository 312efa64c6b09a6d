//! `cargo xtask guest-check [--icount] [--shell] [--append ARGS]`: builds the guest images and boots
//! the kernel with the `test` initramfs directly under QEMU TCG (`-cpu EPYC -smp 2
//! -m 512`), without Facet, then checks every `facet-guest:` line: the kernel release
//! fetched, `nproc 2`, the SHA-256 of the 16 MiB against the host's, both sleep markers
//! 1.5 to 4 s apart on the host's clock, `isolation ok`, `done`, and a clean power-off.
//!
//! `--icount` adds `-icount shift=0,sleep=off`: the guest TSC then counts instructions
//! (and skipped idle time), so `tsc init` is the cost of the boot up to `/init`; the
//! virtual clock no longer follows the host's, so the sleep is reported, not checked.
//! `--shell` boots the `shell` initramfs with the serial console on this terminal.
//! `--append ARGS` adds kernel parameters after [`CMDLINE`] (a later parameter wins:
//! `--append loglevel=7` shows the boot log that `quiet` hides).

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use super::{init, Images, Mode, CMDLINE};
use crate::emulator::{describe_qemu_exit, watch, Emulator, Ending, Log};
use crate::launch::{shell_line, QEMU};
use crate::paths::{find_program, Paths};
use crate::setup;

/// The prefix of every line the test guest reports.
pub const PREFIX: &str = "facet-guest: ";

const USAGE: &str = "usage: cargo xtask guest-check [--icount] [--shell] [--append ARGS]";

/// The CPUs the guest gets.
const CPUS: u32 = 2;

/// The host-clock window for `sleep 2`.
const SLEEP_MIN: Duration = Duration::from_millis(1500);
const SLEEP_MAX: Duration = Duration::from_millis(4000);

pub fn run(paths: &Paths, args: &[String]) -> Result<ExitCode, String> {
    let (mut icount, mut shell) = (false, false);
    let mut cmdline = CMDLINE.to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--icount" => icount = true,
            "--shell" => shell = true,
            "--append" => {
                let extra = it
                    .next()
                    .ok_or(format!("--append needs a value\n{USAGE}"))?;
                cmdline = format!("{cmdline} {extra}");
            }
            _ => return Err(format!("unexpected argument `{a}`\n{USAGE}")),
        }
    }
    let opts = Opts {
        icount,
        cmdline,
        cpus: CPUS,
    };
    if find_program(QEMU).is_none() {
        setup::packages()?;
    }
    let images = super::build(paths)?;
    let f = &images.fetched;
    println!(
        "guest: Linux {} ({} {}), busybox {}",
        f.release, f.source.kernel_package, f.source.kernel_version, f.source.busybox_version
    );
    if shell {
        let args = qemu_args(paths, &images, Mode::Shell, &opts, "mon:stdio");
        eprintln!("{}", shell_line(QEMU, &args));
        let status = Command::new(QEMU)
            .args(&args)
            .current_dir(&paths.root)
            .status()
            .map_err(|e| format!("{QEMU}: {e}"))?;
        eprintln!("guest: {}", describe_qemu_exit(status));
        return Ok(ExitCode::SUCCESS);
    }
    let expect = Expect {
        mode: Mode::Test,
        release: f.release.clone(),
        nproc: CPUS,
        sha256: init::test_data_sha256(),
    };
    let ok = boot_and_check(paths, &images, &expect, &opts)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How QEMU runs the guest.
#[derive(Clone, Debug)]
pub struct Opts {
    /// `-icount shift=0,sleep=off`.
    pub icount: bool,
    /// The kernel command line.
    pub cmdline: String,
    /// `-smp`.
    pub cpus: u32,
}

/// QEMU's arguments for booting `mode`; `serial` is the `-serial` value.
pub fn qemu_args(
    paths: &Paths,
    images: &Images,
    mode: Mode,
    opts: &Opts,
    serial: &str,
) -> Vec<String> {
    let mut a: Vec<String> = ["-accel", "tcg"].iter().map(|s| s.to_string()).collect();
    if opts.icount {
        a.extend(["-icount".into(), "shift=0,sleep=off".into()]);
    }
    for s in [
        "-cpu",
        "EPYC",
        "-smp",
        &opts.cpus.to_string(),
        "-m",
        "512",
        "-kernel",
        &paths.rel(&images.fetched.vmlinuz),
        "-initrd",
        &paths.rel(images.initramfs(mode)),
        "-append",
        &opts.cmdline,
        "-display",
        "none",
        "-serial",
        serial,
        "-no-reboot",
    ] {
        a.push(s.to_string());
    }
    if mode == Mode::Test {
        a.extend(["-monitor".into(), "none".into()]);
    }
    a
}

/// What the guest must report.
#[derive(Clone, Debug)]
pub struct Expect {
    /// Which `/init` ran (what it reports: [`Mode::report`]).
    pub mode: Mode,
    pub release: String,
    pub nproc: u32,
    pub sha256: String,
}

/// The guest's lines, without the prefix, in order (a line may carry kernel output
/// before the prefix).
pub fn guest_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_end_matches('\r');
            l.find(PREFIX).map(|i| l[i + PREFIX.len()..].trim_end())
        })
        .collect()
}

/// The problems with a finished test guest's serial output (empty: it passed).
pub fn verify(text: &str, e: &Expect) -> Vec<String> {
    let lines = guest_lines(text);
    let mut problems = Vec::new();
    let want: Vec<String> = e
        .mode
        .report()
        .iter()
        .map(|&w| match w {
            "kernel" => format!("kernel {}", e.release),
            "nproc" => format!("nproc {}", e.nproc),
            "sha256" => format!("sha256 {}", e.sha256),
            w => w.to_string(),
        })
        .collect();
    let mut last = None;
    for w in &want {
        let key = w.split(' ').next().unwrap_or(w);
        let same_key: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i] == key || lines[i].starts_with(&format!("{key} ")))
            .collect();
        match same_key.as_slice() {
            [] => problems.push(format!("no `{PREFIX}{w}` line")),
            [i] if lines[*i] != w => {
                problems.push(format!("`{PREFIX}{}`, expected `{PREFIX}{w}`", lines[*i]))
            }
            [i] => {
                if last.is_some_and(|l| l > *i) {
                    problems.push(format!("`{PREFIX}{w}` out of order"));
                }
                last = Some(*i);
            }
            _ => problems.push(format!("`{PREFIX}{key}` more than once")),
        }
    }
    for l in &lines {
        if l.contains("FAILED") {
            problems.push(format!("{PREFIX}{l}"));
        }
    }
    for bad in ["Kernel panic", "BUG: ", "Oops: ", "WARNING: CPU: "] {
        if let Some(l) = text.lines().find(|l| l.contains(bad)) {
            problems.push(format!("kernel: {}", l.trim_end()));
        }
    }
    problems
}

/// A `tsc NAME VALUE` line's value.
pub fn tsc(text: &str, name: &str) -> Option<u64> {
    guest_lines(text).iter().find_map(|l| {
        l.strip_prefix("tsc ")?
            .strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Whether `sleep 2` took a believable time on the host's clock.
pub fn sleep_problem(gap: Option<Duration>) -> Option<String> {
    match gap {
        None => Some("the sleep markers were not both seen while the guest ran".into()),
        Some(g) if (SLEEP_MIN..=SLEEP_MAX).contains(&g) => None,
        Some(g) => Some(format!(
            "`sleep 2` took {:.2} s on the host's clock (expected {:.1} to {:.1} s)",
            g.as_secs_f64(),
            SLEEP_MIN.as_secs_f64(),
            SLEEP_MAX.as_secs_f64()
        )),
    }
}

/// When each guest line was first seen, relative to the start of QEMU.
#[derive(Default)]
struct Seen {
    lines: Vec<(String, Duration)>,
}

impl Seen {
    /// Records the complete guest lines of `text` not seen before.
    fn update(&mut self, text: &str, at: Duration) {
        // Only complete lines: the last one may still be arriving.
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        for l in guest_lines(complete).into_iter().skip(self.lines.len()) {
            self.lines.push((l.to_string(), at));
        }
    }

    fn at(&self, line: &str) -> Option<Duration> {
        self.lines.iter().find(|(l, _)| l == line).map(|(_, t)| *t)
    }
}

fn boot_and_check(
    paths: &Paths,
    images: &Images,
    expect: &Expect,
    opts: &Opts,
) -> Result<bool, String> {
    let icount = opts.icount;
    let logs = paths.logs();
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let name = if icount {
        "guest-check-icount"
    } else {
        "guest-check"
    };
    let log_path = logs.join(format!("{name}.log"));
    let out_path = logs.join(format!("{name}.qemu.txt"));
    let args = qemu_args(
        paths,
        images,
        Mode::Test,
        opts,
        &format!("file:{}", paths.rel(&log_path)),
    );
    println!("{}", shell_line(QEMU, &args));
    let mut log = Log::fresh(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(QEMU);
    cmd.args(&args).current_dir(&paths.root);
    let timeout = Duration::from_secs(if icount { 900 } else { 300 });
    let started = Instant::now();
    let mut emu = Emulator::spawn(cmd, &out_path, None).map_err(|e| format!("{QEMU}: {e}"))?;
    let mut seen = Seen::default();
    let ending = watch(&mut emu, &mut log, started, timeout, |text| {
        seen.update(text, started.elapsed());
        false
    });
    let wall = started.elapsed();
    let status = emu.stop();
    log.refresh();
    let text = log.text();
    seen.update(&format!("{text}\n"), wall);

    let mut problems = verify(&text, expect);
    match ending {
        Ending::Exited(s) if s.code() == Some(0) => {}
        Ending::Exited(s) => problems.push(describe_qemu_exit(s)),
        Ending::TimedOut => problems.push(format!("timed out after {} s", timeout.as_secs())),
        Ending::Stopped => problems.push(format!("stopped ({status:?})")),
    }
    let gap = seen
        .at("after-sleep")
        .zip(seen.at("before-sleep"))
        .map(|(a, b)| a.saturating_sub(b));
    if !icount {
        problems.extend(sleep_problem(gap));
    }

    let secs = |d: Option<Duration>| d.map_or("?".into(), |d| format!("{:.2} s", d.as_secs_f64()));
    let init_at = seen.lines.first().map(|(_, t)| *t);
    let tsc_init = tsc(&text, "init");
    println!(
        "guest: /init after {} (host clock, ±0.1 s), tsc at /init {}{}",
        secs(init_at),
        tsc_init.map_or("?".into(), |t| t.to_string()),
        if icount {
            " (= instructions + skipped idle ns)"
        } else {
            ""
        }
    );
    if let (Some(a), Some(b)) = (tsc_init, tsc(&text, "done")) {
        println!("guest: tsc from /init to done: {}", b.saturating_sub(a));
    }
    let timeline: Vec<String> = seen
        .lines
        .iter()
        .map(|(l, t)| {
            let key = l.split(' ').take(if l.starts_with("tsc ") { 2 } else { 1 });
            format!(
                "{} {:.1}",
                key.collect::<Vec<_>>().join(" "),
                t.as_secs_f64()
            )
        })
        .collect();
    println!("guest: host seconds at each line: {}", timeline.join(", "));
    if let Some(l) = guest_lines(&text).iter().find(|l| l.starts_with("filled ")) {
        println!("guest: {l}");
    }
    println!(
        "guest: sleep 2 took {} on the host's clock{}; wall time {:.1} s (QEMU TCG{})",
        secs(gap),
        if icount {
            " (not checked with -icount)"
        } else {
            ""
        },
        wall.as_secs_f64(),
        if icount { ", -icount" } else { "" }
    );
    if problems.is_empty() {
        println!("guest-check: pass ({})", paths.rel(&log_path));
        return Ok(true);
    }
    print_log(&log_path, &text, &out_path);
    for p in &problems {
        println!("guest-check: FAILED: {p}");
    }
    Ok(false)
}

fn print_log(log_path: &Path, text: &str, out_path: &Path) {
    println!("---- {} ----", log_path.display());
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    let qemu = std::fs::read_to_string(out_path).unwrap_or_default();
    let qemu: Vec<&str> = qemu
        .lines()
        .filter(|l| !l.contains("TCG doesn't support requested feature"))
        .collect();
    if !qemu.is_empty() {
        println!("---- {} ----", out_path.display());
        println!("{}", qemu.join("\n"));
    }
    println!("----");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            mode: Mode::Test,
            release: "6.1.0-57-cloud-amd64".into(),
            nproc: 2,
            sha256: "3fdb603bd165ac64604dba93cdab12d1062defc411913000fb7d481a69373484".into(),
        }
    }

    /// A passing run's serial output (CRLF, as the 8250 console sends it).
    const GOOD: &str = "\
facet-guest: tsc init 2402455160\r
facet-guest: kernel 6.1.0-57-cloud-amd64\r
facet-guest: nproc 2\r
facet-guest: sha256 3fdb603bd165ac64604dba93cdab12d1062defc411913000fb7d481a69373484\r
facet-guest: before-sleep\r
facet-guest: after-sleep\r
facet-guest: filled 392 MiB id=solo\r
facet-guest: isolation ok\r
facet-guest: tsc done 9902455160\r
facet-guest: done\r
[   12.345678] reboot: Power down\r
";

    #[test]
    fn a_good_run_passes() {
        assert_eq!(verify(GOOD, &expect()), Vec::<String>::new());
        assert_eq!(tsc(GOOD, "init"), Some(2_402_455_160));
        assert_eq!(tsc(GOOD, "done"), Some(9_902_455_160));
        assert_eq!(tsc(GOOD, "nope"), None);
    }

    #[test]
    fn each_wrong_line_is_named() {
        let bad = |from: &str, to: &str| verify(&GOOD.replace(from, to), &expect());
        let p = bad("kernel 6.1.0-57", "kernel 6.1.0-58");
        assert_eq!(
            p,
            ["`facet-guest: kernel 6.1.0-58-cloud-amd64`, expected `facet-guest: kernel 6.1.0-57-cloud-amd64`"]
        );
        assert_eq!(bad("nproc 2", "nproc 1").len(), 1);
        assert!(bad("sha256 3f", "sha256 4f")[0].contains("sha256"));
        assert_eq!(
            bad("facet-guest: after-sleep\r\n", ""),
            ["no `facet-guest: after-sleep` line"]
        );
        let p = bad("isolation ok", "isolation FAILED: 3 of 10 lines changed");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(bad("facet-guest: done\r\n", "").len(), 1);
        let twice = GOOD.replace("facet-guest: done", "facet-guest: done\nfacet-guest: done");
        assert_eq!(
            verify(&twice, &expect()),
            ["`facet-guest: done` more than once"]
        );
        let p = bad(
            "[   12.345678] reboot: Power down",
            "[    1.0] Kernel panic - not syncing: x",
        );
        assert_eq!(p, ["kernel: [    1.0] Kernel panic - not syncing: x"]);
        assert!(verify("", &expect()).len() >= 7);
    }

    #[test]
    fn order_matters() {
        let swapped = GOOD
            .replace("before-sleep", "TMP")
            .replace("after-sleep", "before-sleep")
            .replace("TMP", "after-sleep");
        assert_eq!(
            verify(&swapped, &expect()),
            ["`facet-guest: after-sleep` out of order"]
        );
    }

    #[test]
    fn kernel_output_before_the_prefix() {
        let mixed = GOOD.replace(
            "facet-guest: nproc 2",
            "[    2.1] random: crng init done facet-guest: nproc 2",
        );
        assert_eq!(verify(&mixed, &expect()), Vec::<String>::new());
    }

    #[test]
    fn sleep_window() {
        assert_eq!(sleep_problem(Some(Duration::from_millis(2050))), None);
        assert_eq!(sleep_problem(Some(Duration::from_millis(1500))), None);
        assert!(sleep_problem(Some(Duration::from_millis(1400))).is_some());
        assert!(sleep_problem(Some(Duration::from_millis(4100))).is_some());
        assert!(sleep_problem(None).is_some());
    }

    #[test]
    fn lines_are_timed_when_complete() {
        let mut s = Seen::default();
        s.update("facet-guest: before-sl", Duration::from_secs(1));
        assert_eq!(s.at("before-sleep"), None);
        s.update(
            "facet-guest: before-sleep\r\nfacet-guest: af",
            Duration::from_secs(2),
        );
        s.update(
            "facet-guest: before-sleep\r\nfacet-guest: after-sleep\r\n",
            Duration::from_secs(4),
        );
        assert_eq!(s.at("before-sleep"), Some(Duration::from_secs(2)));
        assert_eq!(s.at("after-sleep"), Some(Duration::from_secs(4)));
    }

    #[test]
    fn qemu_command_line() {
        let paths = Paths {
            root: "/w".into(),
            target: "/w/target".into(),
        };
        let dir = super::super::dir(&paths);
        let images = Images {
            fetched: crate::guest::debian::Fetched {
                source: crate::guest::debian::Source {
                    meta_version: "1".into(),
                    kernel_package: "linux-image-6.1.0-57-cloud-amd64".into(),
                    kernel_version: "1".into(),
                    busybox_version: "1".into(),
                },
                release: "6.1.0-57-cloud-amd64".into(),
                vmlinuz: dir.join("vmlinuz"),
                busybox: dir.join("busybox"),
            },
            initramfs: Mode::ALL
                .iter()
                .map(|m| (*m, dir.join(format!("initramfs-{}.cpio", m.name()))))
                .collect(),
        };
        let mut opts = Opts {
            icount: false,
            cmdline: CMDLINE.into(),
            cpus: CPUS,
        };
        let a = qemu_args(&paths, &images, Mode::Test, &opts, "file:x.log").join(" ");
        assert_eq!(
            a,
            format!("-accel tcg -cpu EPYC -smp 2 -m 512 -kernel target/guest/vmlinuz -initrd target/guest/initramfs-test.cpio -append {CMDLINE} -display none -serial file:x.log -no-reboot -monitor none")
        );
        opts.icount = true;
        let a = qemu_args(&paths, &images, Mode::Shell, &opts, "mon:stdio").join(" ");
        assert!(a.starts_with("-accel tcg -icount shift=0,sleep=off -cpu EPYC"));
        assert!(a.contains("initramfs-shell.cpio"));
        assert!(!a.contains("-monitor"));
    }
}

//! `cargo xtask bench`: the roottask's benchmarks, run twice under QEMU TCG.
//!
//! (a) With `-icount shift=0,sleep=off` the guest's TSC advances by exactly one per
//! executed instruction: the figures are instruction counts, identical on every run and
//! every machine, and they are the ones that decide. (b) Without `-icount` the TSC
//! follows the host's clock: TCG ticks, noisy and reported as such (on a host with
//! hardware KVM this is where cycles would come from). The table goes to the terminal
//! and to `target/bench.txt`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::Built;
use crate::emulator::Emulator;
use crate::launch;
use crate::paths::Paths;

/// One run: each benchmark's name and median, and the wall-clock seconds of the run.
struct Run {
    results: Vec<(String, u64)>,
    seconds: f64,
}

/// The benchmark lines of a log: `bench NAME: M ticks per operation ...`.
fn parse(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| l.strip_prefix("bench "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

fn run_once(paths: &Paths, built: &Built, icount: bool) -> Result<Run, String> {
    let logs = paths.root.join("target/logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let tag = if icount { "bench" } else { "bench-ticks" };
    let log = logs.join(format!("{tag}.log"));
    let out = logs.join(format!("{tag}.out"));
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(launch::QEMU);
    cmd.current_dir(&paths.root).args(["-accel", "tcg"]);
    if icount {
        cmd.args(["-icount", "shift=0,sleep=off"]);
    }
    cmd.args([
        "-cpu",
        "EPYC",
        "-smp",
        "1",
        "-m",
        "512",
        "-display",
        "none",
        "-no-reboot",
        "-monitor",
        "none",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-serial",
        &format!("file:{}", log.display()),
        "-kernel",
        &paths.rel(&built.kernel_elf32),
        "-append",
        "serial",
        "-initrd",
        &launch::initrd_value(&paths.rel(&built.roottask), "bench"),
    ]);
    let start = Instant::now();
    let mut emu = Emulator::spawn(cmd, &out, None).map_err(|e| format!("starting QEMU: {e}"))?;
    let status = emu.wait_for(Duration::from_secs(300));
    if status.is_none() {
        emu.stop();
    }
    let seconds = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let results = parse(&text);
    if results.is_empty() || status.is_none() || !text.contains("bench done") {
        print_tail(&log);
        return Err("the benchmark run did not finish".to_string());
    }
    Ok(Run { results, seconds })
}

/// Runs the benchmarks, prints the table and writes it to `target/bench.txt`; fails if a
/// run does not finish.
pub fn run(paths: &Paths, built: &Built) -> Result<(), String> {
    let exact = run_once(paths, built, true)?;
    let ticks = run_once(paths, built, false)?;
    let table = table(&exact, &ticks);
    print!("{table}");
    let file = paths.root.join("target/bench.txt");
    std::fs::write(&file, &table).map_err(|e| format!("writing {}: {e}", file.display()))?;
    println!("(written to target/bench.txt)");
    Ok(())
}

fn table(exact: &Run, ticks: &Run) -> String {
    let mut s = String::new();
    s.push_str("benchmark                              instructions   TCG ticks\n");
    s.push_str("                                       (-icount, exact) (host clock, noisy)\n");
    for (name, n) in &exact.results {
        let t = ticks
            .results
            .iter()
            .find(|(m, _)| m == name)
            .map_or("-".to_string(), |(_, v)| v.to_string());
        s.push_str(&format!("{name:<38} {n:>12}   {t:>10}\n"));
    }
    s.push_str(&format!(
        "(medians of 10,000 runs each; TCG wall clock {:.1} s and {:.1} s; no hardware KVM used)\n",
        exact.seconds, ticks.seconds
    ));
    s
}

fn print_tail(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines[lines.len().saturating_sub(40)..] {
        eprintln!("  | {l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_benchmark_lines_and_ignores_the_rest() {
        let log = "boot\r\nbench a_b: 232 ticks per operation (median of 10000)\r\n\
                   bench broken line\nbench c: x ticks\nbench done\n";
        assert_eq!(parse(log), vec![("a_b".to_string(), 232)]);
    }
}

//! `cargo xtask bench`: the roottask's benchmarks under QEMU with `-icount shift=0`,
//! where the guest's TSC advances by exactly one per executed instruction. The figures
//! are instruction counts, identical on every run and every machine; the wall-clock
//! time of the run is printed beside them and marked as TCG.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::Built;
use crate::emulator::Emulator;
use crate::launch;
use crate::paths::Paths;

/// Runs the benchmarks and prints their lines; fails if the run does not finish.
pub fn run(paths: &Paths, built: &Built) -> Result<(), String> {
    let logs = paths.root.join("target/logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let log = logs.join("bench.log");
    let out = logs.join("bench.out");
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(launch::QEMU);
    cmd.current_dir(&paths.root).args([
        "-accel",
        "tcg",
        "-icount",
        "shift=0,sleep=off",
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
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with("bench "))
        .collect();
    if lines.is_empty() || status.is_none() {
        print_tail(&log);
        return Err("the benchmark run did not finish".to_string());
    }
    println!("benchmarks (QEMU TCG, -icount shift=0: one TSC tick per instruction)");
    for l in &lines {
        println!("  {l}");
    }
    println!("  (wall clock for the whole TCG run: {seconds:.1} s)");
    Ok(())
}

fn print_tail(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines[lines.len().saturating_sub(40)..] {
        eprintln!("  | {l}");
    }
}

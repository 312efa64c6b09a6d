//! `cargo xtask bench`: the roottask's benchmarks, run twice under QEMU TCG.
//!
//! (a) With `-icount shift=0,sleep=off` the guest's TSC advances by exactly one per
//! executed instruction: the figures are instruction counts, identical on every run and
//! every machine, and they are the ones that decide. (b) On a host with hardware KVM the
//! second run is under KVM (`-cpu host`): the TSC counts the CPU's own cycles. Elsewhere
//! it is TCG without `-icount`, whose TSC follows the host's clock: TCG ticks, noisy and
//! reported as such. (c) The VM-exit round trip on VMX under Bochs, whose TSC follows its
//! instruction clock (no `-icount` there: about one tick per instruction). The table goes
//! to the terminal and to `target/bench.txt`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::artifacts::{self, Built, Firmware, Multiboot};
use crate::emulator::{self, Emulator, Ending, Kvm, Log};
use crate::launch;
use crate::paths::Paths;

/// The benchmark that times nothing: the timing loop's own cost.
const LOOP: &str = "loop_empty";

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

/// How a run counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// QEMU TCG with `-icount`: exact instruction counts.
    Instructions,
    /// QEMU TCG on the host's clock: noisy ticks.
    TcgTicks,
    /// Hardware KVM: the CPU's cycles.
    KvmCycles,
}

impl Mode {
    /// The QEMU options that choose the accelerator, the CPU and the clock.
    pub fn accel_args(self) -> &'static [&'static str] {
        match self {
            Mode::Instructions => &[
                "-accel",
                "tcg",
                "-icount",
                "shift=0,sleep=off",
                "-cpu",
                "EPYC",
            ],
            Mode::TcgTicks => &["-accel", "tcg", "-cpu", "EPYC"],
            Mode::KvmCycles => &["-accel", "kvm", "-cpu", "host"],
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Mode::Instructions => "bench",
            Mode::TcgTicks => "bench-ticks",
            Mode::KvmCycles => "bench-cycles",
        }
    }

    /// The second run: cycles where the host has hardware KVM, TCG ticks otherwise.
    fn second(kvm: &Kvm) -> Mode {
        if *kvm == Kvm::Hardware {
            Mode::KvmCycles
        } else {
            Mode::TcgTicks
        }
    }
}

/// QEMU's arguments for the benchmark machine (after the accelerator's): q35 with QEMU's
/// `edu` device, one CPU, 512 MiB, serial output to `serial`, the roottask started with
/// the words `roottask_words`. The bench and `cargo xtask profile` run the same machine.
pub fn machine_args(
    paths: &Paths,
    built: &Built,
    serial: &Path,
    roottask_words: &str,
) -> Vec<String> {
    let words = [
        "-machine",
        "q35",
        "-device",
        "edu",
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
        launch::DEBUG_EXIT,
    ];
    let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    args.extend([
        "-serial".to_string(),
        format!("file:{}", serial.display()),
        "-kernel".to_string(),
        paths.rel(&built.kernel_elf32),
        "-append".to_string(),
        "serial".to_string(),
        "-initrd".to_string(),
        launch::initrd_value(&paths.rel(&built.roottask), roottask_words),
    ]);
    args
}

fn run_once(paths: &Paths, built: &Built, mode: Mode) -> Result<Run, String> {
    let logs = paths.root.join("target/logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let tag = mode.tag();
    let log = logs.join(format!("{tag}.log"));
    let out = logs.join(format!("{tag}.out"));
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(launch::QEMU);
    cmd.current_dir(&paths.root).args(mode.accel_args());
    cmd.args(machine_args(paths, built, &log, "bench"));
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

/// The VM-exit round trip on VMX: the roottask's `bench only=vm` under Bochs
/// (`corei7_skylake_x`, one CPU, GRUB multiboot 2), whose TSC advances about once per
/// instruction (Bochs's `ips` clock), as the reference's VMX figure was measured. One run
/// (about a minute); the benchmark's lines of the log.
fn run_vmx(paths: &Paths, built: &Built) -> Result<Run, String> {
    let iso = artifacts::iso(
        paths,
        built,
        "bench-vmx",
        (Multiboot::V2, Firmware::Bios),
        "serial",
        "bench only=vm",
    )?;
    let logs = paths.logs();
    let serial = logs.join("bench-vmx.log");
    let rc_path = logs.join("bench-vmx.bochsrc");
    let rc = launch::bochsrc(
        &iso,
        &serial,
        &logs.join("bench-vmx.bochs.log"),
        &["cpu: model=corei7_skylake_x, count=1, ips=200000000"],
    );
    std::fs::write(&rc_path, rc).map_err(|e| format!("{}: {e}", rc_path.display()))?;
    let mut log = Log::fresh(&serial).map_err(|e| format!("{}: {e}", serial.display()))?;
    let mut cmd = Command::new(launch::BOCHS);
    cmd.current_dir(&paths.root)
        .args(["-q", "-f"])
        .arg(&rc_path);
    let start = Instant::now();
    let mut emu = Emulator::spawn(cmd, &logs.join("bench-vmx.out"), Some(b"c\n"))
        .map_err(|e| format!("starting Bochs: {e}"))?;
    let ending = emulator::watch(&mut emu, &mut log, start, Duration::from_secs(600), |t| {
        t.contains("bench done")
    });
    // Bochs has no exit device: the run ends when the roottask says it is done.
    emu.stop();
    let text = log.text();
    let results = parse(&text);
    if ending != Ending::Stopped || results.is_empty() {
        print_tail(&serial);
        return Err("the Bochs benchmark run did not finish".to_string());
    }
    Ok(Run {
        results,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Runs the benchmarks, prints the table and writes it to `target/bench.txt`; fails if a
/// run does not finish.
/// `quick`: only the exact run of the roottask's benchmarks (no second run, no Linux, no
/// Bochs); `vmx`: the Bochs run too, even when quick.
pub fn run(paths: &Paths, built: &Built, quick: bool, vmx: bool) -> Result<(), String> {
    let exact = run_once(paths, built, Mode::Instructions)?;
    let second = Mode::second(&Kvm::probe());
    let other = if quick {
        Run {
            results: Vec::new(),
            seconds: 0.0,
        }
    } else {
        run_once(paths, built, second)?
    };
    let mut table = table(&exact, &other, second);
    if !quick {
        println!("==> the Linux guest: direct and under the VMM (-icount, one CPU)");
        let linux = crate::bench_linux::run(paths, built)?;
        table.push_str(&linux.table());
        table.push_str(
            "(Linux: one run each, exact; round trips less the same loop without a VMM)\n",
        );
    }
    if !quick || vmx {
        println!("==> the VM-exit round trip on VMX (Bochs, about a minute)");
        let vmx = run_vmx(paths, built)?;
        for (name, n) in &vmx.results {
            table.push_str(&format!("{:<38} {n:>12}   (VMX, Bochs ips clock)\n", name));
        }
    }
    match code_sizes(&built.kernel_elf32) {
        Ok(line) => table.push_str(&line),
        Err(e) => table.push_str(&format!("(kernel code sizes unknown: {e})\n")),
    }
    print!("{table}");
    let file = paths.root.join("target/bench.txt");
    std::fs::write(&file, &table).map_err(|e| format!("writing {}: {e}", file.display()))?;
    println!("(written to target/bench.txt)");
    Ok(())
}

fn table(exact: &Run, other: &Run, mode: Mode) -> String {
    let mut s = String::new();
    let (column, about) = if mode == Mode::KvmCycles {
        ("KVM cycles", "(hardware)")
    } else {
        ("TCG ticks", "(host clock, noisy)")
    };
    s.push_str(&format!(
        "benchmark                              instructions  less loop   {column}\n"
    ));
    s.push_str(&format!(
        "                                       (-icount, exact)            {about}\n"
    ));
    let empty = exact
        .results
        .iter()
        .find(|(m, _)| m == LOOP)
        .map(|(_, v)| *v);
    for (name, n) in &exact.results {
        let t = other
            .results
            .iter()
            .find(|(m, _)| m == name)
            .map_or("-".to_string(), |(_, v)| v.to_string());
        let net = match empty {
            Some(e)
                if name != LOOP && !name.starts_with("latency_") && !name.starts_with("vm_") =>
            {
                n.saturating_sub(e).to_string()
            }
            _ => "-".to_string(),
        };
        s.push_str(&format!("{name:<38} {n:>12} {net:>10}   {t:>10}\n"));
    }
    s.push_str(
        "(every figure includes the timing loop, whose own cost is loop_empty; \
         `less loop` subtracts it)\n",
    );
    let second = if mode == Mode::KvmCycles {
        "on hardware KVM"
    } else {
        "no hardware KVM used"
    };
    s.push_str(&format!(
        "(medians of 10,000 runs each; wall clock {:.1} s and {:.1} s; {second})\n",
        exact.seconds, other.seconds
    ));
    s
}

/// The kernel's code in KiB: resident (`.text` without its boot-only part) and boot-only
/// (the part between `__init_start` and `__init_end`, at the start of `.text`, and the
/// 32-bit `.boot` section), from the kernel's symbols and section table.
fn code_sizes(kernel: &Path) -> Result<String, String> {
    let run = |tool: &str, args: &[&str]| -> Result<String, String> {
        let out = Command::new(tool)
            .args(args)
            .arg(kernel)
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let syms = run("nm", &[])?;
    let sections = run("objdump", &["-h"])?;
    sizes_line(&syms, &sections)
}

/// [`code_sizes`] from `nm` and `objdump -h` output.
fn sizes_line(syms: &str, sections: &str) -> Result<String, String> {
    let sym = |name: &str| {
        syms.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                let (addr, _, n) = (w.next()?, w.next()?, w.next()?);
                (n == name).then(|| u64::from_str_radix(addr, 16).ok())?
            })
            .ok_or(format!("no symbol {name}"))
    };
    let (text, text_end, init, end) = (
        sym("__text_start")?,
        sym("__text_end")?,
        sym("__init_start")?,
        sym("__init_end")?,
    );
    let boot = sections
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let (_, name, size) = (w.next()?, w.next()?, w.next()?);
            (name == ".boot").then(|| u64::from_str_radix(size, 16).ok())?
        })
        .unwrap_or(0);
    Ok(format!(
        "kernel code: resident {} KiB (.text less boot-only), boot-only {} KiB (.init.text {} KiB, .boot {} KiB)\n",
        (text_end - text - (end - init)) / 1024,
        (end - init + boot) / 1024,
        (end - init) / 1024,
        boot / 1024
    ))
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
    fn the_second_run_counts_cycles_only_on_hardware_kvm() {
        assert_eq!(Mode::second(&Kvm::Hardware), Mode::KvmCycles);
        for k in [Kvm::Pvm, Kvm::Absent, Kvm::Unusable("x".into())] {
            assert_eq!(Mode::second(&k), Mode::TcgTicks);
        }
        let a = Mode::KvmCycles.accel_args();
        assert!(a.windows(2).any(|w| w == ["-accel", "kvm"]));
        assert!(a.windows(2).any(|w| w == ["-cpu", "host"]));
        assert!(!a.contains(&"-icount"));
        let a = Mode::Instructions.accel_args();
        assert!(a.windows(2).any(|w| w == ["-icount", "shift=0,sleep=off"]));
        assert!(a.windows(2).any(|w| w == ["-accel", "tcg"]));
    }

    #[test]
    fn the_table_names_what_the_second_column_counts() {
        let run = |v| Run {
            results: vec![("null".to_string(), v)],
            seconds: 1.0,
        };
        let t = table(&run(82), &run(300), Mode::KvmCycles);
        assert!(t.contains("KVM cycles") && t.contains("on hardware KVM"));
        let t = table(&run(82), &run(3000), Mode::TcgTicks);
        assert!(t.contains("TCG ticks") && t.contains("no hardware KVM used"));
        assert!(t.contains("null") && t.contains("82") && t.contains("3000"));
    }

    #[test]
    fn code_sizes_come_from_the_symbols_and_the_boot_section() {
        let syms = "ffffffff80208000 T __text_start\nffffffff80208000 T __init_start\n\
                    ffffffff80216000 T __init_end\nffffffff8023b000 T __text_end\n";
        let sections = "  0 .boot         00008000  0000000000200000\n";
        let line = sizes_line(syms, sections).unwrap();
        assert!(line.contains("resident 148 KiB"), "{line}");
        assert!(
            line.contains("boot-only 88 KiB (.init.text 56 KiB, .boot 32 KiB)"),
            "{line}"
        );
        assert!(sizes_line("", sections).is_err());
    }

    #[test]
    fn parses_benchmark_lines_and_ignores_the_rest() {
        let log = "boot\r\nbench a_b: 232 ticks per operation (median of 10000)\r\n\
                   bench broken line\nbench c: x ticks\nbench done\n";
        assert_eq!(parse(log), vec![("a_b".to_string(), 232)]);
    }
}

//! `cargo xtask profile`: the instruction mix of each benchmark operation.
//!
//! The roottask runs its benchmarks in profile mode (`bench profile`): nothing is timed;
//! each operation runs [`RUNS`] times between calls of two empty marker functions
//! (`__bench_profile_begin`, `__bench_profile_end`), each group after a call of a third
//! (`__bench_profile_op`) and a serial line `profile NAME`. The VM-exit round trip has
//! no markers inside the guest: its line names the guest-physical address of the guest's
//! loop (`profile NAME guest-loop 0x1008`), and each pass through that address ends one
//! round trip and starts the next.
//!
//! QEMU (TCG, `-icount`, the bench's machine) logs every translated block's
//! instructions (`-d in_asm`) and every execution of a block (`-d exec`, with `nochain`
//! so that chained blocks are logged too). The log streams through a pipe: each block's
//! instructions are kept by address, and each execution inside a window adds its
//! instructions to the window's counts, by kind and by the symbol (kernel or roottask)
//! that contains them. An execution QEMU stops before the block's first instruction
//! ("Stopped execution of TB chain") is taken back, and so are the instructions of a
//! guest block after one that exits to the hypervisor (CPUID, HLT, port I/O, MSR
//! access, hypercalls) when the next block is the hypervisor's. A block left early by an
//! exception counts in full (the benchmarks' paths fault nowhere).
//!
//! The figures are instruction counts as `-icount` counts them, from the instruction
//! after the begin marker's return up to the end marker's call (not counted): the timing
//! loop's RDTSCs are not in them, so they compare with the bench's figures less its loop
//! (`loop_empty`). Of each operation's runs, the median by total is reported.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::artifacts::Built;
use crate::paths::Paths;
use crate::{bench, launch};

/// Windows kept per operation (the VM-exit loop makes thousands).
const MAX_WINDOWS: usize = 64;
/// Where the kernel lives: the top half of the address space.
const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;
/// QEMU's hflags bit for "SVM guest mode" (`HF_GUEST_SHIFT`), in the block's flags.
const HF_GUEST: u64 = 1 << 21;

/// The kinds of costly instruction counted apart, as bits of [`Insn::kinds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
enum Kind {
    /// `wrmsr`.
    MsrWrite = 1 << 0,
    /// `rdmsr`.
    MsrRead = 1 << 1,
    /// A load of a control register (`mov %r, %crN`, `lmsw`, `clts`).
    CrLoad = 1 << 2,
    /// The XSAVE family: `xsave*`, `xrstor*`, `fxsave*`, `fxrstor*`, `xsetbv`.
    Xsave = 1 << 3,
    /// TLB invalidations: `invlpg`, `invlpga`, `invpcid`, `invept`, `invvpid`.
    Tlb = 1 << 4,
    /// Locked: a `lock` prefix, or `xchg` with a memory operand.
    Locked = 1 << 5,
    /// Serialising in Intel's sense (SDM 3A 9.3): `cpuid`, `iret`, `wrmsr`, control- and
    /// debug-register loads, descriptor-table and task-register loads, the TLB
    /// invalidations, `invd`, `wbinvd`, `serialize`, `rsm`.
    Serialising = 1 << 6,
    /// Virtualization: `vmrun`, `vmload`, `vmsave`, `clgi`, `stgi`, `vmlaunch`,
    /// `vmresume`, `vmread`, `vmwrite`, `vmptrld`, `vmcall`, `vmmcall`.
    Vm = 1 << 7,
    /// Segment state: `swapgs`, `wrfsbase`, `wrgsbase`, `rdfsbase`, `rdgsbase`, loads of
    /// a data segment register.
    Segment = 1 << 8,
}

const KINDS: [(Kind, &str); 9] = [
    (Kind::MsrWrite, "wrmsr"),
    (Kind::MsrRead, "rdmsr"),
    (Kind::CrLoad, "cr-load"),
    (Kind::Xsave, "xsave"),
    (Kind::Tlb, "tlb"),
    (Kind::Locked, "locked"),
    (Kind::Serialising, "serial"),
    (Kind::Vm, "vm"),
    (Kind::Segment, "seg"),
];

/// The kinds of one instruction, from QEMU's (AT&T) disassembly: mnemonic and operands.
fn kinds(mnemonic: &str, operands: &str) -> u16 {
    let k = |x: Kind| x as u16;
    let m = mnemonic.trim_end_matches(['q', 'l', 'w']);
    let mut bits = 0;
    let to_cr = operands.contains(", %cr") && !operands.ends_with("%cr8");
    let to_dr = operands.contains(", %db") || operands.contains(", %dr");
    match mnemonic {
        "wrmsr" => bits |= k(Kind::MsrWrite) | k(Kind::Serialising),
        "rdmsr" => bits |= k(Kind::MsrRead),
        "lmsw" | "lmswl" | "lmsww" | "clts" => bits |= k(Kind::CrLoad) | k(Kind::Serialising),
        "invlpg" | "invpcid" | "invept" | "invvpid" => bits |= k(Kind::Tlb) | k(Kind::Serialising),
        "invlpga" => bits |= k(Kind::Tlb),
        "cpuid" | "invd" | "wbinvd" | "serialize" | "rsm" => bits |= k(Kind::Serialising),
        "iretq" | "iretl" | "iret" | "iretw" => bits |= k(Kind::Serialising),
        "lgdtq" | "lgdt" | "lidtq" | "lidt" | "lldtw" | "lldt" | "ltrw" | "ltr" => {
            bits |= k(Kind::Serialising)
        }
        "vmrun" | "vmload" | "vmsave" | "clgi" | "stgi" | "vmlaunch" | "vmresume" | "vmread"
        | "vmwrite" | "vmreadq" | "vmwriteq" | "vmptrld" | "vmcall" | "vmmcall" => {
            bits |= k(Kind::Vm)
        }
        "swapgs" | "wrfsbase" | "wrgsbase" | "rdfsbase" | "rdgsbase" => bits |= k(Kind::Segment),
        _ => {}
    }
    if m.starts_with("xsave")
        || m.starts_with("xrstor")
        || m.starts_with("fxsave")
        || m.starts_with("fxrstor")
        || mnemonic == "xsetbv"
    {
        bits |= k(Kind::Xsave);
    }
    if m.starts_with("mov") && (to_cr || to_dr) {
        bits |= k(Kind::Serialising);
        if to_cr {
            bits |= k(Kind::CrLoad);
        }
    }
    if m.starts_with("mov")
        && ["%ds", "%es", "%fs", "%gs", "%ss"]
            .iter()
            .any(|s| operands.ends_with(&format!(", {s}")))
    {
        bits |= k(Kind::Segment);
    }
    if mnemonic == "lock" || m.starts_with("xchg") && operands.contains('(') {
        bits |= k(Kind::Locked);
    }
    bits
}

/// One instruction of a translated block.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Insn {
    addr: u64,
    kinds: u16,
    /// An instruction that exits to the hypervisor when a guest runs it (`cpuid`, `hlt`,
    /// port I/O, MSR access, hypercalls).
    exits: bool,
    /// The disassembly, kept only for costly instructions (to list them).
    text: Option<String>,
}

/// One instruction line of `-d in_asm`: `0xADDR:  BYTES  MNEMONIC OPERANDS`. A line of
/// bytes alone continues a long instruction and is no instruction.
fn parse_insn(line: &str) -> Option<Insn> {
    let (addr, rest) = line.split_once(":  ")?;
    let addr = u64::from_str_radix(addr.strip_prefix("0x")?, 16).ok()?;
    let mut words = rest.split_whitespace().peekable();
    while words
        .peek()
        .is_some_and(|w| w.len() == 2 && w.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        words.next();
    }
    let mnemonic = words.next()?;
    let (mnemonic, operands) = if matches!(mnemonic, "lock" | "rep" | "repe" | "repne") {
        let next = words.next().unwrap_or("");
        let ops: Vec<&str> = words.collect();
        if mnemonic == "lock" {
            ("lock", format!("{next} {}", ops.join(" ")))
        } else {
            (next, ops.join(" "))
        }
    } else {
        (mnemonic, words.collect::<Vec<_>>().join(" "))
    };
    let kinds = kinds(mnemonic, &operands);
    let text = (kinds != 0).then(|| format!("{mnemonic} {operands}").trim().to_string());
    let exits = matches!(
        mnemonic.trim_end_matches(['b', 'w', 'l', 'q']),
        "cpuid" | "hlt" | "in" | "out" | "ins" | "outs" | "rdmsr" | "wrmsr" | "vmcall" | "vmmcall"
    );
    Some(Insn {
        addr,
        kinds,
        exits,
        text,
    })
}

/// A `Trace` line of `-d exec`: `Trace N: HOST [CS_BASE/PC/FLAGS/CFLAGS] SYMBOL`; the
/// block's PC and flags.
fn parse_trace(line: &str) -> Option<(u64, u64)> {
    let inner = line.split_once('[')?.1.split_once(']')?.0;
    let mut f = inner.split('/');
    let _cs_base = f.next()?;
    let pc = u64::from_str_radix(f.next()?, 16).ok()?;
    let flags = u64::from_str_radix(f.next()?, 16).ok()?;
    Some((pc, flags))
}

/// `Stopped execution of TB chain before HOST [PC] ...`: the block QEMU did not run.
fn parse_stopped(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("Stopped execution of TB chain before ")?;
    let pc = rest.split_once('[')?.1.split_once(']')?.0;
    u64::from_str_radix(pc, 16).ok()
}

/// Symbols sorted by address, to name the function an instruction belongs to.
#[derive(Default)]
struct Symbols(Vec<(u64, String)>);

impl Symbols {
    /// From `nm -n -C` output (text symbols only).
    fn from_nm(text: &str) -> Symbols {
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.splitn(3, ' ');
                let addr = u64::from_str_radix(w.next()?, 16).ok()?;
                let kind = w.next()?;
                let name = w.next()?;
                matches!(kind, "t" | "T").then(|| (addr, short_name(name)))
            })
            .collect();
        v.sort();
        Symbols(v)
    }

    fn merge(mut self, other: Symbols) -> Symbols {
        self.0.extend(other.0);
        self.0.sort();
        self
    }

    fn name(&self, addr: u64) -> &str {
        match self.0.partition_point(|(a, _)| *a <= addr) {
            0 => "?",
            i => &self.0[i - 1].1,
        }
    }
}

/// A demangled Rust path without its hash and crate prefix: `facet::exec::sched::x`
/// becomes `exec::sched::x`.
fn short_name(name: &str) -> String {
    let name = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 => head,
        _ => name,
    };
    let name = name.strip_prefix('<').unwrap_or(name);
    for krate in ["facet::", "facet_kcore::", "roottask::", "facet_rt::"] {
        if let Some(rest) = name.strip_prefix(krate) {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// The counts of one window (one run of an operation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    total: i64,
    user: i64,
    kernel: i64,
    guest: i64,
    by_kind: [i64; KINDS.len()],
    /// Costly instructions by their text.
    costly: HashMap<String, i64>,
    /// Instructions by function (kernel and roottask symbols; `guest` for the guest).
    by_symbol: HashMap<String, i64>,
}

impl Counts {
    fn add(&mut self, insn: &Insn, guest: bool, symbols: &Symbols, sign: i64) {
        self.total += sign;
        let place = if guest {
            self.guest += sign;
            "guest"
        } else if insn.addr >= KERNEL_BASE {
            self.kernel += sign;
            symbols.name(insn.addr)
        } else {
            self.user += sign;
            symbols.name(insn.addr)
        };
        *self.by_symbol.entry(place.to_string()).or_default() += sign;
        for (i, (k, _)) in KINDS.iter().enumerate() {
            if insn.kinds & *k as u16 != 0 {
                self.by_kind[i] += sign;
            }
        }
        if let Some(t) = &insn.text {
            *self.costly.entry(t.clone()).or_default() += sign;
        }
    }
}

/// How an operation's windows open and close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Windows {
    /// Between the begin and the end marker.
    Markers,
    /// From one pass through the guest's loop address to the next.
    GuestLoop(u64),
}

/// One operation: its name, how it is windowed, and its runs.
#[derive(Debug)]
struct Operation {
    name: String,
    windows: Windows,
    runs: Vec<Counts>,
}

/// The serial log's `profile NAME [guest-loop 0xADDR]` lines, in order.
fn operations(serial: &str) -> Vec<Operation> {
    serial
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("profile "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next().unwrap_or("?").to_string();
            let windows = match (w.next(), w.next()) {
                (Some("guest-loop"), Some(a)) => a
                    .strip_prefix("0x")
                    .and_then(|a| u64::from_str_radix(a, 16).ok())
                    .map_or(Windows::Markers, Windows::GuestLoop),
                _ => Windows::Markers,
            };
            Operation {
                name,
                windows,
                runs: Vec::new(),
            }
        })
        .collect()
}

/// The roottask's marker addresses.
#[derive(Clone, Copy, Debug)]
struct Markers {
    op: u64,
    begin: u64,
    end: u64,
}

/// The state of the walk through QEMU's log.
struct Walk<'a> {
    markers: Markers,
    symbols: &'a Symbols,
    /// Translated blocks by their first address.
    blocks: HashMap<u64, Vec<Insn>>,
    /// The block being read from `-d in_asm`.
    reading: Option<Vec<Insn>>,
    /// Which operation runs (an index into the `profile` lines; none before the first).
    op: Option<usize>,
    /// The open window and the last block counted in it.
    window: Option<Counts>,
    last: Option<(u64, bool)>,
    /// Windows per operation, in the order of the markers.
    done: Vec<Vec<Counts>>,
    /// Executed blocks inside a window that had no disassembly.
    unknown_blocks: u64,
}

impl<'a> Walk<'a> {
    fn new(markers: Markers, symbols: &'a Symbols) -> Walk<'a> {
        Walk {
            markers,
            symbols,
            blocks: HashMap::new(),
            reading: None,
            op: None,
            window: None,
            last: None,
            done: Vec::new(),
            unknown_blocks: 0,
        }
    }

    fn line(&mut self, line: &str, guest_loops: &[Option<u64>]) {
        if let Some(block) = &mut self.reading {
            if let Some(insn) = parse_insn(line) {
                block.push(insn);
                return;
            }
            if line.starts_with("0x") {
                return;
            }
            let block = self.reading.take().unwrap_or_default();
            if let Some(first) = block.first() {
                self.blocks.insert(first.addr, block);
            }
        }
        if line.starts_with("IN:") {
            self.reading = Some(Vec::new());
            return;
        }
        if let Some((pc, flags)) = parse_trace(line) {
            self.exec(pc, flags & HF_GUEST != 0, guest_loops);
        } else if let Some(pc) = parse_stopped(line) {
            if let (Some(w), Some((last, guest))) = (&mut self.window, self.last) {
                if last == pc {
                    if let Some(b) = self.blocks.get(&pc) {
                        for i in b {
                            w.add(i, guest, self.symbols, -1);
                        }
                    }
                    self.last = None;
                }
            }
        }
    }

    fn close(&mut self, drop_last_insn: bool) {
        if let (Some(mut w), Some(op)) = (self.window.take(), self.op) {
            if drop_last_insn {
                // The call of the end marker.
                if let Some((pc, guest)) = self.last {
                    if let Some(i) = self.blocks.get(&pc).and_then(|b| b.last()) {
                        w.add(i, guest, self.symbols, -1);
                    }
                }
            }
            self.done[op].push(w);
        }
        self.last = None;
    }

    fn exec(&mut self, pc: u64, guest: bool, guest_loops: &[Option<u64>]) {
        let m = self.markers;
        if !guest && pc == m.op {
            self.window = None;
            self.last = None;
            self.op = Some(self.op.map_or(0, |o| o + 1));
            self.done.push(Vec::new());
            return;
        }
        let Some(op) = self.op else { return };
        let guest_loop = guest_loops.get(op).copied().flatten();
        match guest_loop {
            None if !guest && pc == m.begin => {
                self.window = Some(Counts::default());
                self.last = None;
                return;
            }
            None if !guest && pc == m.end => {
                self.close(true);
                return;
            }
            Some(at) if guest && pc == at => {
                self.close(false);
                if self.done[op].len() < MAX_WINDOWS {
                    self.window = Some(Counts::default());
                }
            }
            _ => {}
        }
        if let Some(w) = &mut self.window {
            // A guest block that ends in a VM exit ran only up to the exiting instruction.
            if let (false, Some((last, true))) = (guest, self.last) {
                if let Some(b) = self.blocks.get(&last) {
                    if let Some(at) = b.iter().position(|i| i.exits) {
                        for i in &b[at + 1..] {
                            w.add(i, true, self.symbols, -1);
                        }
                    }
                }
            }
            match self.blocks.get(&pc) {
                Some(b) => {
                    for i in b {
                        w.add(i, guest, self.symbols, 1);
                    }
                }
                None => self.unknown_blocks += 1,
            }
            self.last = Some((pc, guest));
        }
    }
}

/// The ELF whose symbols name a booted kernel's code: `x` beside `x.elf32` if there is
/// one (the 64-bit image Facet's and the reference's builds both leave there), else the
/// file itself.
pub fn symbols_beside(elf32: &Path) -> PathBuf {
    let elf64 = elf32.with_extension("");
    if elf32.extension().is_some_and(|e| e == "elf32") && elf64.is_file() {
        elf64
    } else {
        elf32.to_path_buf()
    }
}

/// Runs QEMU with the roottask in profile mode, walks its log and prints the table
/// (also written to `target/profile.txt`). `only`: benchmark name prefixes;
/// `by_symbol`: add each operation's instructions by function.
pub fn run(
    paths: &Paths,
    built: &Built,
    kernel_elf64: &Path,
    only: &[String],
    by_symbol: bool,
) -> Result<(), String> {
    let nm = |file: &Path| -> Result<String, String> {
        let out = Command::new("nm")
            .args(["-n", "-C"])
            .arg(file)
            .output()
            .map_err(|e| format!("nm: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let user_nm = nm(&built.roottask)?;
    let symbols = Symbols::from_nm(&nm(kernel_elf64)?).merge(Symbols::from_nm(&user_nm));
    let marker = |name: &str| {
        user_nm
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                let (a, _, n) = (w.next()?, w.next()?, w.next()?);
                (n == name).then(|| u64::from_str_radix(a, 16).ok())?
            })
            .ok_or(format!("the roottask has no symbol {name}"))
    };
    let markers = Markers {
        op: marker("__bench_profile_op")?,
        begin: marker("__bench_profile_begin")?,
        end: marker("__bench_profile_end")?,
    };

    let logs = paths.logs();
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let serial = logs.join("profile.log");
    let _ = std::fs::remove_file(&serial);
    let mut words = vec!["bench".to_string(), "profile".to_string()];
    words.extend(only.iter().map(|o| format!("only={o}")));
    let mut cmd = Command::new(launch::QEMU);
    cmd.current_dir(&paths.root)
        .args(bench::Mode::Instructions.accel_args())
        .args(bench::machine_args(paths, built, &serial, &words.join(" ")))
        .args(["-d", "in_asm,exec,nochain", "-D", "/dev/stdout"]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("starting QEMU: {e}"))?;
    let pid = child.id();
    // A watchdog ends this QEMU (by its id) if the run hangs.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if stop_rx.recv_timeout(Duration::from_secs(600)).is_err() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    // Which operations use a guest loop the serial log tells as they start: the roottask
    // prints its line before it calls the op marker, so the log is read at each marker.
    let mut walk = Walk::new(markers, &symbols);
    let mut guest_loops: Vec<Option<u64>> = Vec::new();
    let stdout = child.stdout.take().ok_or("no pipe from QEMU")?;
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches('\n');
        if parse_trace(line).is_some_and(|(pc, _)| pc == markers.op) {
            guest_loops = operations(&std::fs::read_to_string(&serial).unwrap_or_default())
                .iter()
                .map(|o| match o.windows {
                    Windows::GuestLoop(a) => Some(a),
                    Windows::Markers => None,
                })
                .collect();
        }
        walk.line(line, &guest_loops);
    }
    let status = child.wait().map_err(|e| format!("waiting for QEMU: {e}"))?;
    let _ = stop_tx.send(());
    let _ = watchdog.join();
    let text = std::fs::read_to_string(&serial).unwrap_or_default();
    if !text.contains("bench done") {
        return Err(format!(
            "the profile run did not finish ({status}); serial log in {}",
            serial.display()
        ));
    }
    let mut ops = operations(&text);
    for (op, runs) in ops.iter_mut().zip(walk.done) {
        op.runs = runs;
    }
    let table = report(&ops, by_symbol, walk.unknown_blocks);
    print!("{table}");
    let file = paths.root.join("target/profile.txt");
    std::fs::write(&file, &table).map_err(|e| format!("writing {}: {e}", file.display()))?;
    println!("(written to target/profile.txt)");
    Ok(())
}

/// The run whose total is the median of the operation's runs.
fn median_run(runs: &[Counts]) -> Option<&Counts> {
    let mut v: Vec<&Counts> = runs.iter().collect();
    v.sort_by_key(|c| c.total);
    v.get(v.len() / 2).copied()
}

/// The table: per operation the median run's total, where it ran and its costly
/// instructions by kind; then each operation's costly instructions by text and, with
/// `by_symbol`, its instructions by function.
fn report(ops: &[Operation], by_symbol: bool, unknown: u64) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<36} {:>4} {:>6} {:>5} {:>6} {:>5}",
        "operation", "runs", "total", "user", "kernel", "guest"
    ));
    for (_, name) in KINDS {
        s.push_str(&format!(" {name:>7}"));
    }
    s.push('\n');
    for op in ops {
        let Some(c) = median_run(&op.runs) else {
            s.push_str(&format!("{:<36} {:>4}   (no window seen)\n", op.name, 0));
            continue;
        };
        s.push_str(&format!(
            "{:<36} {:>4} {:>6} {:>5} {:>6} {:>5}",
            op.name,
            op.runs.len(),
            c.total,
            c.user,
            c.kernel,
            c.guest
        ));
        for n in c.by_kind {
            s.push_str(&format!(" {n:>7}"));
        }
        s.push('\n');
    }
    s.push_str(
        "(instructions of the median run, without the timing loop: compare with the bench's \
         `less loop`; the VM-exit round trip is one pass of the guest's loop)\n",
    );
    for op in ops {
        let Some(c) = median_run(&op.runs) else {
            continue;
        };
        let mut costly: Vec<(&String, &i64)> = c.costly.iter().filter(|(_, n)| **n > 0).collect();
        costly.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = costly.iter().map(|(t, n)| format!("{n}x {t}")).collect();
        s.push_str(&format!(
            "\n{}: {}\n",
            op.name,
            if list.is_empty() {
                "no costly instructions".to_string()
            } else {
                list.join("; ")
            }
        ));
        if by_symbol {
            let mut syms: Vec<(&String, &i64)> =
                c.by_symbol.iter().filter(|(_, n)| **n != 0).collect();
            syms.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (name, n) in syms {
                s.push_str(&format!("  {n:>6}  {name}\n"));
            }
        }
    }
    if unknown > 0 {
        s.push_str(&format!(
            "\n(warning: {unknown} executed blocks had no disassembly and were not counted)\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(list: &[Kind]) -> u16 {
        list.iter().fold(0, |b, k| b | *k as u16)
    }

    #[test]
    fn instruction_lines_give_address_and_kinds() {
        let i = parse_insn("0xffffffff8021842b:  0f 22 db                 movq     %rbx, %cr3")
            .unwrap();
        assert_eq!(i.addr, 0xffff_ffff_8021_842b);
        assert_eq!(i.kinds, bits(&[Kind::CrLoad, Kind::Serialising]));
        assert_eq!(i.text.as_deref(), Some("movq %rbx, %cr3"));
        let i = parse_insn("0xffffffff8021a598:  0f 20 e0                 movq     %cr4, %rax")
            .unwrap();
        assert_eq!(
            i.kinds, 0,
            "reading a control register costs nothing special"
        );
        let i =
            parse_insn("0x00401000:  f0 48 0f b1 0a           lock cmpxchgq %rcx, (%rdx)").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Locked]));
        let i = parse_insn("0x1:  0f 30                    wrmsr    ").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::MsrWrite, Kind::Serialising]));
        let i = parse_insn("0x1:  48 0f ae 27              xsave64  (%rdi)").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Xsave]));
        let i = parse_insn("0x1:  48 87 07                 xchgq    %rax, (%rdi)").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Locked]));
        let i = parse_insn("0x1:  48 87 c3                 xchgq    %rax, %rbx").unwrap();
        assert_eq!(i.kinds, 0);
        let i = parse_insn("0x1:  0f 01 d8                 vmrun    ").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Vm]));
        let i = parse_insn("0x1:  0f 01 f8                 swapgs   ").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Segment]));
        let i = parse_insn("0x1:  48 cf                    iretq    ").unwrap();
        assert_eq!(i.kinds, bits(&[Kind::Serialising]));
        let i = parse_insn("0x1:  f3 48 a5                 rep movsq (%rsi), (%rdi)").unwrap();
        assert_eq!(i.kinds, 0);
        // A line of bytes alone continues the instruction above it.
        assert_eq!(parse_insn("0xffffffff80236181:  ff ff"), None);
    }

    #[test]
    fn trace_and_stop_lines_give_the_block() {
        assert_eq!(
            parse_trace("Trace 0: 0x7f4bfc377380 [00000000/000000000041f2aa/10d0c2b3/ff020200] "),
            Some((0x41f2aa, 0x10d0c2b3))
        );
        assert_eq!(
            parse_stopped(
                "Stopped execution of TB chain before 0x7f4bfc052ec0 [00000000000e9ced] "
            ),
            Some(0xe9ced)
        );
    }

    #[test]
    fn symbols_name_the_function_around_an_address() {
        let s = Symbols::from_nm(
            "ffffffff80200000 T facet::entry::syscall::entry\n\
             ffffffff80200100 t facet_kcore::capspace::mdb::lookup::h8747a5cc7b644ef0\n\
             ffffffff80200200 d some_data\n",
        );
        assert_eq!(s.name(0xffff_ffff_8020_0050), "entry::syscall::entry");
        assert_eq!(s.name(0xffff_ffff_8020_0150), "capspace::mdb::lookup");
        assert_eq!(s.name(0x10), "?");
    }

    /// A log of two marker windows and a guest loop, as QEMU writes it.
    #[test]
    fn windows_count_between_markers_and_guest_loop_passes() {
        let markers = Markers {
            op: 0x100,
            begin: 0x110,
            end: 0x120,
        };
        let symbols = Symbols::default();
        let mut w = Walk::new(markers, &symbols);
        let log = "\
IN: \n0x00000100:  c3                       retq     \n\n\
IN: \n0x00000110:  c3                       retq     \n\n\
IN: \n0x00000120:  c3                       retq     \n\n\
IN: \n0x00000200:  bf 00 88 13 00           movl     $0x138800, %edi\n\
0x00000205:  0f 05                    syscall  \n\n\
IN: \n0xffffffff80000000:  0f 01 f8                 swapgs   \n\
0xffffffff80000003:  0f 30                    wrmsr    \n\
0xffffffff80000005:  48 cf                    iretq    \n\n\
IN: \n0x00000207:  e8 00 00 00 00           callq    0x120\n\n\
Trace 0: 0x0 [00000000/0000000000000100/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000110/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000200/00000003/0] \n\
Trace 0: 0x0 [00000000/ffffffff80000000/00000000/0] \n\
Trace 0: 0x0 [00000000/0000000000000207/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000120/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000110/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000200/00000003/0] \n\
Trace 0: 0x0 [00000000/ffffffff80000000/00000000/0] \n\
Stopped execution of TB chain before 0x0 [ffffffff80000000] \n\
Trace 0: 0x0 [00000000/ffffffff80000000/00000000/0] \n\
Trace 0: 0x0 [00000000/0000000000000207/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000000120/00000003/0] \n\
IN: \n0x00001008:  66 31 c0                 xorl     %eax, %eax\n\
0x0000100b:  0f a2                    cpuid    \n\
0x0000100d:  4f                       decl     %edi\n\n\
Trace 0: 0x0 [00000000/0000000000000100/00000003/0] \n\
Trace 0: 0x0 [00000000/0000000000001008/00200000/0] \n\
Trace 0: 0x0 [00000000/ffffffff80000000/00000000/0] \n\
Trace 0: 0x0 [00000000/0000000000001008/00200000/0] \n\
Trace 0: 0x0 [00000000/ffffffff80000000/00000000/0] \n\
Trace 0: 0x0 [00000000/0000000000001008/00200000/0] \n";
        let loops = [None, Some(0x1008)];
        for l in log.lines() {
            w.line(l, &loops);
        }
        assert_eq!(w.done.len(), 2);
        let runs = &w.done[0];
        assert_eq!(runs.len(), 2);
        for r in runs {
            // mov, syscall, three kernel instructions; the call of the end marker left out.
            assert_eq!((r.total, r.user, r.kernel), (5, 2, 3));
            assert_eq!(r.by_kind[0], 1, "one wrmsr");
            assert_eq!(r.by_kind[6], 2, "wrmsr and iretq serialise");
            assert_eq!(r.by_kind[8], 1, "one swapgs");
        }
        let passes = &w.done[1];
        assert_eq!(passes.len(), 2);
        assert_eq!(
            (passes[0].total, passes[0].guest, passes[0].kernel),
            (5, 2, 3)
        );
        assert_eq!(passes[0].by_kind[6], 3, "cpuid, wrmsr, iretq");
    }

    #[test]
    fn operations_come_from_the_serial_lines() {
        let ops =
            operations("profile a\r\nbench x\nprofile vm_exit guest-loop 0x1008\nprofile b\n");
        let w: Vec<(&str, Windows)> = ops.iter().map(|o| (o.name.as_str(), o.windows)).collect();
        assert_eq!(
            w,
            [
                ("a", Windows::Markers),
                ("vm_exit", Windows::GuestLoop(0x1008)),
                ("b", Windows::Markers)
            ]
        );
    }
}

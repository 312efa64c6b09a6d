//! The initramfs: busybox at `/bin/busybox`, a symlink per applet the scripts use,
//! `facet-rdtsc` (see `tsc.rs`), the device nodes the console needs before devtmpfs is
//! mounted, and an `/init` script generated for a [`Mode`].
//!
//! # The `test` mode's lines
//!
//! ```text
//! facet-guest: tsc init N            the TSC when /init starts
//! facet-guest: kernel RELEASE        uname -r
//! facet-guest: nproc N
//! facet-guest: sha256 HEX            of 16 MiB written to tmpfs and read back
//! facet-guest: before-sleep          (then `sleep 2`)
//! facet-guest: after-sleep
//! facet-guest: filled N MiB id=ID    the isolation pattern is in place
//! facet-guest: isolation ok          (or `isolation FAILED ...`)
//! facet-guest: tsc done N
//! facet-guest: done                  then `poweroff -f`
//! ```
//!
//! A step that cannot run prints `facet-guest: FAILED WHAT` and powers off. With
//! `facet.end=triple` (and `reboot=t`) on the kernel's command line the guest ends in a
//! triple fault instead (`facet-guest: triple-faulting`, then `reboot -f`), for the
//! `linux` tier's check that it stops that VM alone.
//!
//! The 16 MiB are [`DATA_LINES`] lines of [`DATA_LINE`] bytes: line `i` is `i` in
//! decimal, zero-padded to 4095 digits, and a newline (one line per 4 KiB page, each page
//! different). busybox `awk` writes them (0.3 s under TCG; `seq -w` took 9 s); the host
//! computes the same bytes with [`test_data`].
//!
//! # Memory isolation
//!
//! Two guests A and B must never see each other's memory. From inside a Linux guest,
//! user space can look only at pages its kernel hands it, and Linux clears every page
//! before handing it out (`init_on_alloc`, and the zeroing of anonymous and tmpfs pages
//! in any case); `/dev/mem` is limited by `STRICT_DEVMEM` in Debian's kernels. So a
//! guest scanning freshly allocated memory for the other's data would always find zeros
//! and prove nothing. What user space can observe is memory that changes under it: if
//! some guest-physical frame of A and one of B are backed by the same host frame (a
//! mapping bug in the VMM or the hypervisor), or the VMM writes emulation results into
//! the wrong guest, then data written by one guest shows up in the other's pages.
//!
//! Hence: each guest fills most of its free RAM (MemAvailable less max(32 MiB, 1/8))
//! with a tmpfs file of 128-byte lines `facet-pattern id=ID boot=BOOT_ID` padded with
//! blanks (32 per page; `ID` from `facet.id=` on the kernel command line, default `solo`;
//! `BOOT_ID` is the kernel's random per-boot UUID, so two guests given the same id
//! still differ), waits `facet.hold=` seconds (default 1), then re-reads the whole file:
//! every line must still be exactly its own. A frame shared with the other guest is
//! overwritten by whichever guest fills later, so the one that filled first finds the
//! other's lines (`isolation FAILED`, with the count of foreign pattern lines and the
//! first of them); since each guest re-reads only after its hold, a harness running two
//! guests gives a hold longer than the time between their fills, so that both fills
//! happen before either re-read. Filling most of RAM also makes the VMM back nearly all
//! of guest memory, where a lazily mapped guest would otherwise touch little of it.
//!
//! Not covered from inside: a frame of A handed to B *after* A ended without being
//! scrubbed, since B's kernel clears it before user space sees it. That check belongs
//! to the host side (the VMM or roottask verifying that memory it gives a guest is
//! zero), or to a guest kernel reading its free pages through `/proc/kcore`.

use super::cpio::Writer;
use super::sha256;
use super::tsc;

/// What `/init` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An interactive shell on the console; power off when it exits.
    Shell,
    /// The tier check: version, CPUs, data, sleep, isolation, then power off.
    Test,
    /// The shortest check, for slow emulators: version and CPUs, then power off.
    Boot,
    /// For `cargo xtask bench`: the TSC at `/init`, `facet-exits`' spans, power off.
    Bench,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Shell, Mode::Test, Mode::Boot, Mode::Bench];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Shell => "shell",
            Mode::Test => "test",
            Mode::Boot => "boot",
            Mode::Bench => "bench",
        }
    }

    /// The `facet-guest:` lines a guest of this mode prints, in order, the values of
    /// `kernel` and `nproc` aside (`sha256` is the test data's); empty for the shell.
    pub fn report(self) -> &'static [&'static str] {
        match self {
            Mode::Shell => &[],
            Mode::Test => &[
                "kernel",
                "nproc",
                "sha256",
                "before-sleep",
                "after-sleep",
                "isolation ok",
                "done",
            ],
            Mode::Boot => &["kernel", "nproc", "done"],
            Mode::Bench => &["done"],
        }
    }
}

/// The applets linked in `/bin` (the `shell` mode adds every other one at boot with
/// `busybox --install -s /bin`).
pub const APPLETS: &[&str] = &[
    "[",
    "awk",
    "cat",
    "cttyhack",
    "date",
    "dd",
    "dmesg",
    "echo",
    "free",
    "grep",
    "head",
    "ls",
    "mkdir",
    "mount",
    "nproc",
    "poweroff",
    "printf",
    "reboot",
    "rm",
    "sed",
    "setsid",
    "sh",
    "sha256sum",
    "sleep",
    "stat",
    "sync",
    "test",
    "tr",
    "umount",
    "uname",
    "wc",
    "yes",
];

/// Bytes per line of the 16 MiB test data (one line per page).
pub const DATA_LINE: usize = 4096;
/// Lines of the test data.
pub const DATA_LINES: usize = 4096;

/// The 16 MiB the `test` guest writes: line `i` is `i` zero-padded to 4095 digits, then
/// a newline (what busybox awk's `printf "%04095d\n", i` prints).
pub fn test_data() -> Vec<u8> {
    let mut d = Vec::with_capacity(DATA_LINE * DATA_LINES);
    for i in 0..DATA_LINES {
        d.extend_from_slice(format!("{i:0w$}\n", w = DATA_LINE - 1).as_bytes());
    }
    d
}

/// The SHA-256 of [`test_data`], as `sha256sum` prints it.
pub fn test_data_sha256() -> String {
    sha256::hex(&sha256::digest(&test_data()))
}

/// The `/init` script for `mode`.
pub fn script(mode: Mode) -> String {
    match mode {
        Mode::Shell => SHELL_INIT.to_string(),
        Mode::Test => TEST_INIT
            .replace("@LINES@", &DATA_LINES.to_string())
            .replace("@WIDTH@", &format!("0{}", DATA_LINE - 1)),
        Mode::Boot => BOOT_INIT.to_string(),
        Mode::Bench => BENCH_INIT.to_string(),
    }
}

const BENCH_INIT: &str = r#"#!/bin/sh
# /init of the Facet bench guest, generated by cargo xtask (xtask/src/guest/init.rs): the
# TSC on reaching /init (instructions since reset under -icount), then facet-exits.
export PATH=/bin
echo "facet-guest: tsc init $(facet-rdtsc)"
mount -t proc proc /proc
set -- $(facet-exits)
echo "facet-guest: exits cpuid $1 port $2"
echo "facet-guest: done"
poweroff -f
"#;

const BOOT_INIT: &str = r#"#!/bin/sh
# /init of the Facet boot-check guest, generated by cargo xtask (xtask/src/guest/init.rs):
# the kernel reached user space with every CPU; nothing slow.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "facet-guest: kernel $(uname -r)"
echo "facet-guest: nproc $(nproc)"
echo "facet-guest: done"
poweroff -f
"#;

const SHELL_INIT: &str = r#"#!/bin/sh
# /init of the Facet shell guest, generated by cargo xtask (xtask/src/guest/init.rs).
export PATH=/bin HOME=/root TERM=vt100 PS1='facet-guest:$PWD# '
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
/bin/busybox --install -s /bin
echo
echo "facet-guest: busybox shell on Linux $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo) MiB"
echo "facet-guest: leave the shell (exit or Ctrl-D) to power off"
cd /root
setsid cttyhack sh
echo "facet-guest: shell exited; powering off"
poweroff -f
"#;

const TEST_INIT: &str = r#"#!/bin/sh
# /init of the Facet test guest, generated by cargo xtask (xtask/src/guest/init.rs,
# which explains each step). Results are `facet-guest:` lines on the console.
export PATH=/bin
echo "facet-guest: tsc init $(facet-rdtsc)"
fail() {
	echo "facet-guest: FAILED $*"
	poweroff -f
	exit 1
}
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mount -t tmpfs -o size=100% tmpfs /tmp || fail "mount /tmp"
echo "facet-guest: kernel $(uname -r)"
echo "facet-guest: nproc $(nproc)"

# 16 MiB of data the host can reproduce, written to tmpfs and read back.
awk 'BEGIN { for (i = 0; i < @LINES@; i++) printf "%@WIDTH@d\n", i }' >/tmp/data ||
	fail "writing /tmp/data"
set -- $(sha256sum /tmp/data)
echo "facet-guest: sha256 $1"
rm -f /tmp/data

echo "facet-guest: before-sleep"
sleep 2
echo "facet-guest: after-sleep"

# Memory isolation: fill most free RAM with this guest's own pattern, hold, re-read.
id=solo
hold=1
end=poweroff
for w in $(cat /proc/cmdline); do
	case $w in
	facet.id=*) id=${w#facet.id=} ;;
	facet.hold=*) hold=${w#facet.hold=} ;;
	facet.end=*) end=${w#facet.end=} ;;
	esac
done
line=$(printf '%-127.127s' "facet-pattern id=$id boot=$(cat /proc/sys/kernel/random/boot_id)")
avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
margin=$((avail / 8))
[ "$margin" -ge 32 ] || margin=32
chunks=$(((avail - margin) / 4))
[ "$chunks" -ge 1 ] || fail "isolation: only $avail MiB available"
yes "$line" | head -n 32768 >/tmp/chunk || fail "isolation: writing /tmp/chunk"
i=0
while [ $i -lt $chunks ]; do
	cat /tmp/chunk || fail "isolation: writing /tmp/fill"
	i=$((i + 1))
done >/tmp/fill
rm -f /tmp/chunk
size=$(stat -c %s /tmp/fill)
[ "$size" = $((chunks * 4194304)) ] || fail "isolation: /tmp/fill has $size bytes"
echo "facet-guest: filled $((chunks * 4)) MiB id=$id"
sleep "$hold"
bad=$(grep -c -v -F -x -e "$line" /tmp/fill)
if [ "$bad" = 0 ]; then
	echo "facet-guest: isolation ok"
else
	foreign=$(grep -a '^facet-pattern ' /tmp/fill | grep -c -v -F -x -e "$line")
	echo "facet-guest: isolation FAILED: $bad of $((size / 128)) lines changed, $foreign of them another pattern"
	grep -a '^facet-pattern ' /tmp/fill | grep -v -F -x -e "$line" | head -n 1 |
		sed 's/ *$//; s/^/facet-guest: first foreign line: /'
fi
rm -f /tmp/fill

echo "facet-guest: tsc done $(facet-rdtsc)"
echo "facet-guest: done"
# `facet.end=triple` (with `reboot=t`): end in a triple fault instead, which must stop
# this VM alone.
if [ "$end" = triple ]; then
	echo "facet-guest: triple-faulting"
	reboot -f
fi
poweroff -f
"#;

/// The initramfs for `mode` around the static `busybox` binary.
pub fn initramfs(mode: Mode, busybox: &[u8]) -> Result<Vec<u8>, String> {
    let mut w = Writer::new();
    for d in ["bin", "dev", "proc", "root", "sys"] {
        w.dir(d, 0o755)?;
    }
    w.dir("tmp", 0o1777)?;
    // Before devtmpfs: the kernel opens /dev/console for init's stdin/out/err.
    w.char_device("dev/console", 0o600, 5, 1)?;
    w.char_device("dev/null", 0o666, 1, 3)?;
    w.char_device("dev/ttyS0", 0o660, 4, 64)?;
    w.file("bin/busybox", 0o755, busybox)?;
    for a in APPLETS {
        w.symlink(&format!("bin/{a}"), "busybox")?;
    }
    w.file("bin/facet-rdtsc", 0o755, &tsc::rdtsc_elf())?;
    if mode == Mode::Bench {
        w.file("bin/facet-exits", 0o755, &super::exits::exits_elf())?;
    }
    w.file("init", 0o755, script(mode).as_bytes())?;
    Ok(w.finish())
}

/// The commands a script runs: the first word of every simple command (after `|`, `;`,
/// `&&`, `||`, `$(`, `then`, `do`, ...), without shell keywords, builtins, assignments,
/// functions the script defines and absolute paths. For the check that every one is an
/// applet in [`APPLETS`]. A sketch of a shell lexer, enough for the scripts above.
#[cfg(test)]
fn commands(script: &str) -> Vec<String> {
    const PREFIXES: &[&str] = &["if", "then", "else", "elif", "while", "until", "do", "!"];
    const SHELL: &[&str] = &[
        "fi", "for", "in", "done", "case", "esac", "export", "set", "exit", "cd", "shift",
        "return", "local", "break", "continue", "wait", "exec", "trap", "read", "{", "}",
    ];
    let defined: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_suffix("() {"))
        .collect();
    // Reduce the script to its code: quoted text and arithmetic dropped, command
    // substitutions and operators turned into `;`.
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        Code,
        Double,
    }
    let mut code = String::new();
    let mut stack = vec![Ctx::Code];
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = |k: usize| chars.get(i + k).copied();
        let ctx = *stack.last().unwrap_or(&Ctx::Code);
        if c == '$' && next(1) == Some('(') && next(2) == Some('(') {
            i += 1;
            let mut depth = 0;
            while i < chars.len() {
                match chars[i] {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            code.push_str(" 0 ");
            continue;
        }
        if c == '$' && next(1) == Some('(') {
            stack.push(Ctx::Code);
            code.push_str(" ; ");
            i += 2;
            continue;
        }
        match (ctx, c) {
            (Ctx::Code, '#') if code.is_empty() || code.ends_with([' ', '\n', '\t']) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            (Ctx::Code, '\'') => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                code.push_str(" q ");
            }
            (Ctx::Code, '"') => {
                stack.push(Ctx::Double);
                code.push_str(" q");
            }
            (Ctx::Double, '"') => {
                stack.pop();
                code.push(' ');
            }
            (Ctx::Double, _) => {}
            (Ctx::Code, ')') if stack.len() > 1 => {
                stack.pop();
                code.push_str(" ; ");
            }
            (Ctx::Code, '\n' | '|' | '&' | ')') => code.push_str(" ; "),
            (Ctx::Code, _) => code.push(c),
        }
        i += 1;
    }
    let mut found: Vec<String> = Vec::new();
    for part in code.split(';') {
        let mut words = part.split_whitespace().skip_while(|w| PREFIXES.contains(w));
        let Some(w) = words.next() else { continue };
        if SHELL.contains(&w)
            || defined.contains(&w)
            || w.contains(['=', '(', '*'])
            || w.starts_with(['/', '$', '>', '<'])
            || w == "q"
            || w.chars().all(|c| c.is_ascii_digit())
        {
            continue;
        }
        if !found.iter().any(|f| f == w) {
            found.push(w.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn test_data_is_16_mib_of_numbered_pages() {
        let d = test_data();
        assert_eq!(d.len(), 16 << 20);
        assert_eq!(&d[..8], b"00000000");
        assert_eq!(&d[4090..4100], b"00000\n0000");
        assert_eq!(&d[2 * 4096 - 3..2 * 4096], b"01\n");
        assert_eq!(&d[d.len() - 6..], b"04095\n");
        assert!(d.chunks(4096).all(|l| l.len() == 4096 && l[4095] == b'\n'));
    }

    #[test]
    fn test_data_digest() {
        // Computed independently: python3 -c "import hashlib; print(hashlib.sha256(
        //   b''.join(b'%04095d\n' % i for i in range(4096))).hexdigest())"
        assert_eq!(
            test_data_sha256(),
            "3fdb603bd165ac64604dba93cdab12d1062defc411913000fb7d481a69373484"
        );
    }

    #[test]
    fn test_script() {
        let s = script(Mode::Test);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains(r#"printf "%04095d\n", i }"#), "{s}");
        assert!(s.contains("i < 4096;"));
        assert!(!s.contains('@'), "unexpanded placeholder");
        for line in [
            "echo \"facet-guest: kernel $(uname -r)\"",
            "echo \"facet-guest: nproc $(nproc)\"",
            "echo \"facet-guest: sha256 $1\"",
            "echo \"facet-guest: before-sleep\"\nsleep 2\necho \"facet-guest: after-sleep\"",
            "echo \"facet-guest: isolation ok\"",
            "echo \"facet-guest: done\"\n",
            "if [ \"$end\" = triple ]; then\n\techo \"facet-guest: triple-faulting\"\n\treboot -f\nfi\npoweroff -f\n",
        ] {
            assert!(s.contains(line), "missing {line:?}");
        }
        // The order of the lines the host checks.
        let pos = |w: &str| s.find(w).unwrap_or_else(|| panic!("{w}"));
        let order = [
            "tsc init",
            "facet-guest: kernel",
            "facet-guest: nproc",
            "facet-guest: sha256",
            "before-sleep",
            "after-sleep",
            "facet-guest: filled",
            "isolation ok",
            "facet-guest: done",
        ];
        assert!(order.windows(2).all(|w| pos(w[0]) < pos(w[1])));
    }

    #[test]
    fn shell_script() {
        let s = script(Mode::Shell);
        assert!(s.starts_with("#!/bin/sh\n"));
        for line in [
            "mount -t proc proc /proc",
            "mount -t sysfs sysfs /sys",
            "mount -t devtmpfs devtmpfs /dev",
            "setsid cttyhack sh\n",
            "poweroff -f\n",
        ] {
            assert!(s.contains(line), "missing {line:?}");
        }
        assert!(s.find("setsid").unwrap() < s.find("poweroff").unwrap());
    }

    /// Every script parses (`sh -n`, the host's POSIX shell), and every command they run
    /// is an applet with a symlink.
    #[test]
    fn scripts_parse_and_use_only_linked_applets() {
        for mode in Mode::ALL {
            let s = script(mode);
            let out = Command::new("sh")
                .args(["-n", "-c", &s])
                .stdin(Stdio::null())
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{}: {}",
                mode.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            let cmds = commands(&s);
            for c in &cmds {
                assert!(
                    APPLETS.contains(&c.as_str())
                        || c == "facet-rdtsc"
                        || (c == "facet-exits" && mode == Mode::Bench),
                    "{}: `{c}` is not linked (commands: {cmds:?})",
                    mode.name()
                );
            }
        }
        let test = commands(&script(Mode::Test));
        for c in [
            "mount",
            "awk",
            "sha256sum",
            "sleep",
            "yes",
            "grep",
            "stat",
            "sed",
        ] {
            assert!(test.iter().any(|t| t == c), "{c} not found in {test:?}");
        }
        let shell = commands(&script(Mode::Shell));
        for c in ["setsid", "poweroff", "awk", "nproc"] {
            assert!(shell.iter().any(|t| t == c), "{c} not found in {shell:?}");
        }
    }

    #[test]
    fn command_extraction() {
        let s = "f() {\n\ta | b && c\n}\nx=$(d e) ; f\nif [ 1 ]; then g; fi\necho \"$(h) 'i'\" >/x\nwhile j; do k; done >/y\n";
        assert_eq!(
            commands(s),
            ["a", "b", "c", "d", "[", "g", "echo", "h", "j", "k"]
        );
    }

    #[test]
    fn archive_layout() {
        let fake = b"\x7fELF busybox";
        let a = initramfs(Mode::Test, fake).unwrap();
        assert_eq!(a, initramfs(Mode::Test, fake).unwrap(), "deterministic");
        assert_ne!(a, initramfs(Mode::Shell, fake).unwrap());
        let text = String::from_utf8_lossy(&a);
        for name in [
            "dev/console\0",
            "dev/ttyS0\0",
            "dev/null\0",
            "bin/busybox\0",
            "bin/sh\0",
            "bin/facet-rdtsc\0",
            "init\0",
            "TRAILER!!!\0",
        ] {
            assert!(text.contains(name), "{name}");
        }
        let Some(cpio) = crate::paths::find_program("cpio") else {
            eprintln!("skipped the cpio listing: no `cpio` on PATH (apt-get install cpio)");
            return;
        };
        let mut child = Command::new(cpio)
            .arg("-itv")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&a).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8_lossy(&out.stdout);
        let line = |n: &str| {
            listing
                .lines()
                .find(|l| l.ends_with(&format!(" {n}")) || l.contains(&format!(" {n} -> ")))
                .unwrap_or_else(|| panic!("{n} in\n{listing}"))
                .to_string()
        };
        assert!(line("init").starts_with("-rwxr-xr-x"));
        assert!(line("tmp").starts_with("drwxrwxrwt"));
        assert!(line("dev/console").starts_with("crw-------"));
        assert!(line("bin/sh").ends_with("bin/sh -> busybox"));
        // 6 directories, 3 nodes, busybox, facet-rdtsc, init and the links.
        assert_eq!(listing.lines().count(), 12 + APPLETS.len());
    }
}

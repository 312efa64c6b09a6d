//! W^X of the kernel's mappings, checked from outside through QEMU's human monitor.
//!
//! `info tlb` prints one line per present leaf mapping of the current CPU's page table
//! (QEMU's `target/i386/monitor.c`, `print_pte`):
//! `ffffffff80200000: 0000000000200000 --P-A---W` — the canonical virtual address, the
//! physical address, then nine flags: NX `X`, global `G`, page size `P`, dirty `D`,
//! accessed `A`, cache-disable `C`, write-through `T`, user `U`, writable `W` (`-` when
//! clear). The flags are the leaf entry's own, not combined with the upper levels, so
//! the kernel must keep W^X at the leaf level. Every mapping in the upper half
//! (>= 0xffff800000000000) that is writable must be NX. A check that parsed no kernel
//! mapping fails: it could not have found anything.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The lowest address of the kernel's half of the address space.
pub const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;

/// One line of `info tlb`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub virt: u64,
    pub phys: u64,
    pub nx: bool,
    pub writable: bool,
}

/// Parses one `info tlb` line; `None` for anything else (echo, prompt, messages).
pub fn parse_line(line: &str) -> Option<Mapping> {
    let mut words = line.split_whitespace();
    let virt = words.next()?.strip_suffix(':')?;
    let phys = words.next()?;
    let flags = words.next()?.as_bytes();
    if words.next().is_some() || flags.len() != 9 {
        return None;
    }
    if !flags.iter().all(|&c| c == b'-' || c.is_ascii_uppercase()) {
        return None;
    }
    let nx = match flags[0] {
        b'X' => true,
        b'-' => false,
        _ => return None,
    };
    let writable = match flags[8] {
        b'W' => true,
        b'-' => false,
        _ => return None,
    };
    Some(Mapping {
        virt: canonical(u64::from_str_radix(virt, 16).ok()?),
        phys: u64::from_str_radix(phys, 16).ok()?,
        nx,
        writable,
    })
}

/// Sign-extends bit 47 (older QEMUs printed upper-half addresses without it).
pub fn canonical(addr: u64) -> u64 {
    if addr & (1 << 47) != 0 {
        addr | 0xffff_0000_0000_0000
    } else {
        addr
    }
}

/// The result of the check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WxReport {
    /// Parsed mappings at or above [`KERNEL_BASE`].
    pub kernel_mappings: usize,
    /// All parsed mappings.
    pub mappings: usize,
    /// Kernel mappings that are writable and executable, as printed.
    pub violations: Vec<String>,
}

impl WxReport {
    /// What is wrong (empty: the check passed).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.kernel_mappings == 0 {
            p.push(format!(
                "W^X check: no kernel mappings (>= {KERNEL_BASE:#x}) in `info tlb` ({} mappings parsed)",
                self.mappings
            ));
        }
        if !self.violations.is_empty() {
            p.push(format!(
                "W^X check: {} of {} kernel mappings are writable and executable",
                self.violations.len(),
                self.kernel_mappings
            ));
        }
        p
    }

    /// One line for the summary.
    pub fn note(&self) -> String {
        format!(
            "W^X: {} kernel mappings, {} violations",
            self.kernel_mappings,
            self.violations.len()
        )
    }
}

/// Checks the output of `info tlb`.
pub fn check_wx(output: &str) -> WxReport {
    let mut r = WxReport::default();
    for line in output.lines() {
        let Some(m) = parse_line(line) else { continue };
        r.mappings += 1;
        if m.virt < KERNEL_BASE {
            continue;
        }
        r.kernel_mappings += 1;
        if m.writable && !m.nx {
            r.violations.push(line.trim().to_string());
        }
    }
    r
}

/// The prompt QEMU's human monitor prints when it is ready for a command.
const PROMPT: &[u8] = b"(qemu) ";

/// A connection to QEMU's human monitor on a Unix socket.
pub struct Monitor {
    stream: UnixStream,
}

impl Monitor {
    /// Connects (retrying while QEMU creates the socket) and reads the greeting up to
    /// the first prompt.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Monitor, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("monitor {}: {e}", path.display()))
                }
                Err(_) => sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| format!("monitor: {e}"))?;
        let mut m = Monitor { stream };
        m.read_to_prompt(deadline)?;
        Ok(m)
    }

    /// Sends `command` and returns everything QEMU printed up to the next prompt.
    pub fn command(&mut self, command: &str, timeout: Duration) -> Result<String, String> {
        self.stream
            .write_all(format!("{command}\n").as_bytes())
            .map_err(|e| format!("monitor: sending `{command}`: {e}"))?;
        let out = self.read_to_prompt(Instant::now() + timeout)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Sends `quit` (QEMU exits; there is no answer to wait for).
    pub fn quit(mut self) {
        let _ = self.stream.write_all(b"quit\n");
    }

    fn read_to_prompt(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            if buf.ends_with(PROMPT) {
                return Ok(buf);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "monitor: no prompt within the time limit (got {} bytes)",
                    buf.len()
                ));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("monitor: QEMU closed the connection".into()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("monitor: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from QEMU 10.0.2 (`info tlb` over a Unix-socket monitor), including the
    /// echo with its cursor-movement escapes and the closing prompt.
    const QEMU10: &str = "i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinf\x1b[K\x1b[D\x1b[D\x1b[Dinfo\x1b[K\x1b[D\x1b[D\x1b[D\x1b[Dinfo tlb\x1b[K\r\n\
        0000000000000000: 0000000000000000 --P-A---W\r\n\
        0000000000200000: 0000000000200000 --P-----W\r\n\
        ffffffff80000000: 0000000000000000 X-P-----W\r\n\
        ffffffff80200000: 0000000000200000 --P------\r\n\
        ffffffff80600000: 0000000000800000 X-------W\r\n\
        ffffffff80601000: 0000000000801000 ---------\r\n\
        ffffffff80602000: 0000000000802000 --------W\r\n\
        (qemu) ";

    #[test]
    fn parses_qemu_lines() {
        assert_eq!(
            parse_line("ffffffff80600000: 0000000000800000 X-------W\r"),
            Some(Mapping {
                virt: 0xffff_ffff_8060_0000,
                phys: 0x80_0000,
                nx: true,
                writable: true
            })
        );
        assert_eq!(
            parse_line("  ffff800000000000:   0000000000001000   XG-DA---W  "),
            Some(Mapping {
                virt: KERNEL_BASE,
                phys: 0x1000,
                nx: true,
                writable: true
            })
        );
        let user = parse_line("0000000000400000: 0000000001234000 X------UW").unwrap();
        assert!(user.nx && user.writable && user.virt == 0x40_0000);
    }

    #[test]
    fn ignores_other_lines() {
        for l in [
            "",
            "(qemu) ",
            "PG disabled",
            "info tlb\x1b[K",
            "QEMU 10.0.2 monitor - type 'help' for more information",
            "ffffffff80000000: 0000000000000000 X-P-----",
            "ffffffff80000000: 0000000000000000 X-P-----W extra",
            "ffffffff80000000 0000000000000000 X-P-----W",
            "zzzzffff80000000: 0000000000000000 X-P-----W",
            "ffffffff80000000: 0000000000000000 x-p-----w",
        ] {
            assert_eq!(parse_line(l), None, "{l:?}");
        }
    }

    #[test]
    fn non_canonical_upper_half_is_kernel() {
        let m = parse_line("0000ffff80000000: 0000000000000000 --P------").unwrap();
        assert_eq!(m.virt, 0xffff_ffff_8000_0000);
    }

    #[test]
    fn finds_the_violation_in_real_output() {
        let r = check_wx(QEMU10);
        assert_eq!(r.mappings, 7);
        assert_eq!(r.kernel_mappings, 5);
        assert_eq!(
            r.violations,
            ["ffffffff80602000: 0000000000802000 --------W"]
        );
        let p = r.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("1 of 5"));
    }

    #[test]
    fn clean_kernel_passes() {
        let out = "ffffffff80000000: 0000000000000000 X-P-----W\n\
                   ffffffff80200000: 0000000000200000 --P------\n\
                   0000000000400000: 0000000000400000 -------UW\n";
        let r = check_wx(out);
        assert_eq!((r.kernel_mappings, r.violations.len()), (2, 0));
        assert!(r.problems().is_empty());
        assert_eq!(r.note(), "W^X: 2 kernel mappings, 0 violations");
    }

    #[test]
    fn a_check_without_kernel_mappings_fails() {
        assert!(!check_wx("PG disabled\r\n(qemu) ").problems().is_empty());
        let user_only = "0000000000400000: 0000000000400000 -------UW\n";
        let r = check_wx(user_only);
        assert_eq!(r.mappings, 1);
        assert!(r.problems()[0].contains("no kernel mappings"));
    }

    #[test]
    fn talks_to_a_monitor_like_qemus() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("xtask-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mon.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"QEMU 10.0.2 monitor - type 'help' for more information\r\n(qemu) ")
                .unwrap();
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while !got.ends_with(b"\n") {
                s.read_exact(&mut byte).unwrap();
                got.push(byte[0]);
            }
            assert_eq!(got, b"info tlb\n");
            // The answer arrives in pieces; the prompt only at the very end.
            let (a, b) = QEMU10.as_bytes().split_at(150);
            s.write_all(a).unwrap();
            sleep(Duration::from_millis(300));
            s.write_all(b).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            rest
        });
        let mut m = Monitor::connect(&path, Duration::from_secs(10)).unwrap();
        let out = m.command("info tlb", Duration::from_secs(10)).unwrap();
        assert_eq!(out, QEMU10);
        m.quit();
        assert_eq!(server.join().unwrap(), b"quit\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_silent_monitor_times_out() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("xtask-monitor-silent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mon.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = Monitor::connect(&path, Duration::from_millis(500))
            .err()
            .unwrap();
        assert!(err.contains("no prompt"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

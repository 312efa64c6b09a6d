//! Running an emulator under supervision: its own process group, a log file polled
//! every 100 ms, a timeout, and a guaranteed end.
//!
//! Every emulator starts as the leader of a new process group. Ending it means
//! `kill -TERM -<pgid>`, a short wait, then `kill -KILL -<pgid>`, and reaping it. Because
//! the group is not the terminal's foreground group, a Ctrl-C on `cargo xtask` would not
//! reach it; so a small `sh` watchdog joins the group and kills it when xtask's own
//! process is gone. Nothing is ever killed by name.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How often the log is read and the process looked at.
pub const POLL: Duration = Duration::from_millis(100);

/// A running emulator and its process group.
pub struct Emulator {
    child: Child,
    watchdog: Option<Child>,
    stdin: Option<ChildStdin>,
    status: Option<ExitStatus>,
}

impl Emulator {
    /// Starts `cmd` in a new process group with stdout and stderr going to `output`;
    /// `stdin`, if given, is written to the emulator's standard input, which then stays
    /// open until the emulator ends.
    pub fn spawn(mut cmd: Command, output: &Path, stdin: Option<&[u8]>) -> io::Result<Emulator> {
        let out = File::create(output)?;
        cmd.stdout(out.try_clone()?)
            .stderr(out)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .process_group(0);
        let mut child = cmd.spawn()?;
        let mut pipe = child.stdin.take();
        if let (Some(p), Some(bytes)) = (pipe.as_mut(), stdin) {
            p.write_all(bytes)?;
            p.flush()?;
        }
        let watchdog = spawn_watchdog(std::process::id(), child.id());
        Ok(Emulator {
            child,
            watchdog,
            stdin: pipe,
            status: None,
        })
    }

    /// The exit status, if the emulator has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for the emulator to end by itself.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Ends the whole process group (TERM, then KILL) and reaps the emulator and the
    /// watchdog. Returns the emulator's exit status. Idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pgid = self.child.id();
        if self.try_wait().is_none() {
            signal_group("TERM", pgid);
            if self.wait_for(Duration::from_secs(2)).is_none() {
                signal_group("KILL", pgid);
                if self.wait_for(Duration::from_secs(5)).is_none() {
                    // `kill` itself failed: fall back to the direct child.
                    let _ = self.child.kill();
                    self.status = self.child.wait().ok();
                }
            }
        }
        // The watchdog (and anything else left in the group).
        if let Some(mut w) = self.watchdog.take() {
            signal_group("KILL", pgid);
            if !matches!(w.try_wait(), Ok(Some(_))) {
                let _ = w.kill();
            }
            let _ = w.wait();
        }
        self.stdin = None;
        self.status
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -<signal> -- -<pgid>`; errors (group already gone) are ignored.
fn signal_group(signal: &str, pgid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A shell in the emulator's group `pgid` that kills the group once process `owner`
/// (xtask) is gone. (`sh` may be dash, whose `kill` takes no `--`.)
fn spawn_watchdog(owner: u32, pgid: u32) -> Option<Child> {
    let script =
        r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -KILL "-$2" 2>/dev/null"#;
    Command::new("sh")
        .args(["-c", script, "xtask-watchdog"])
        .arg(owner.to_string())
        .arg(pgid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(pgid as i32)
        .spawn()
        .ok()
}

/// A growing log file, read incrementally.
pub struct Log {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Log {
    /// Deletes a stale log at `path` so that nothing of an earlier run is read.
    pub fn fresh(path: &Path) -> io::Result<Log> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Log {
            path: path.to_path_buf(),
            bytes: Vec::new(),
        })
    }

    /// Reads what was appended since the last call; true if anything was.
    pub fn refresh(&mut self) -> bool {
        let Ok(mut f) = OpenOptions::new().read(true).open(&self.path) else {
            return false;
        };
        let before = self.bytes.len();
        if f.seek(SeekFrom::Start(before as u64)).is_ok() {
            let _ = f.read_to_end(&mut self.bytes);
        }
        self.bytes.len() > before
    }

    /// The log so far (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// How a supervised run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The emulator exited by itself.
    Exited(ExitStatus),
    /// The `stop` predicate said the run is complete; the emulator is still running.
    Stopped,
    /// The time limit passed; the emulator is still running.
    TimedOut,
}

/// Polls `log` and the emulator until it exits, `stop` returns true for the log so far,
/// or `timeout` (measured from `started`) passes.
pub fn watch(
    emu: &mut Emulator,
    log: &mut Log,
    started: Instant,
    timeout: Duration,
    mut stop: impl FnMut(&str) -> bool,
) -> Ending {
    loop {
        // Look at the process first: output written before it exited is then read.
        let exited = emu.try_wait();
        log.refresh();
        if let Some(status) = exited {
            return Ending::Exited(status);
        }
        // Asked on every poll, new output or not: `stop` may hold time-based conditions.
        if stop(&log.text()) {
            return Ending::Stopped;
        }
        if started.elapsed() >= timeout {
            return Ending::TimedOut;
        }
        sleep(POLL);
    }
}

/// Describes a QEMU exit status. With isa-debug-exit, a guest write of `v` to port 0xf4
/// ends QEMU with `(v << 1) | 1`.
pub fn describe_qemu_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(1), _) => "QEMU exit status 1 (guest wrote 0 to port 0xf4: pass)".into(),
        (Some(0), _) => {
            "QEMU exit status 0 (QEMU quit or the guest reset/shut down; no verdict from the guest)"
                .into()
        }
        (Some(c), _) if c & 1 == 1 => format!(
            "QEMU exit status {c} (guest wrote {} to port 0xf4: failure)",
            c >> 1
        ),
        (Some(c), _) => format!("QEMU exit status {c} (QEMU error)"),
        (None, Some(sig)) => format!("QEMU killed by signal {sig}"),
        (None, None) => "QEMU ended without status".into(),
    }
}

/// Whether the host has hardware KVM that QEMU can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kvm {
    Hardware,
    /// `kvm_pvm`: a paravirtual KVM that cannot run standard x86 kernels.
    Pvm,
    /// `kvm_intel`/`kvm_amd` loaded but `/dev/kvm` cannot be opened.
    Unusable(String),
    Absent,
}

impl Kvm {
    pub fn probe() -> Kvm {
        let module = |m: &str| Path::new("/sys/module").join(m).exists();
        if module("kvm_intel") || module("kvm_amd") {
            match OpenOptions::new().read(true).write(true).open("/dev/kvm") {
                Ok(_) => Kvm::Hardware,
                Err(e) => Kvm::Unusable(format!("/dev/kvm: {e}")),
            }
        } else if module("kvm_pvm") {
            Kvm::Pvm
        } else {
            Kvm::Absent
        }
    }

    /// Why a tier that needs hardware KVM is skipped (`None`: it can run).
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            Kvm::Hardware => None,
            Kvm::Pvm => Some("no hardware KVM: /dev/kvm is PVM (kvm_pvm)".into()),
            Kvm::Unusable(why) => Some(format!("no hardware KVM: {why}")),
            Kvm::Absent => Some("no hardware KVM".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: i32) -> ExitStatus {
        ExitStatus::from_raw(raw)
    }

    #[test]
    fn qemu_exit_statuses() {
        assert!(describe_qemu_exit(status(1 << 8)).contains("pass"));
        assert!(describe_qemu_exit(status(3 << 8)).contains("wrote 1"));
        assert!(describe_qemu_exit(status(0)).contains("no verdict"));
        assert!(describe_qemu_exit(status(2 << 8)).contains("QEMU error"));
        assert!(describe_qemu_exit(status(9)).contains("signal 9"));
    }

    #[test]
    fn kvm_skip_reasons() {
        assert_eq!(Kvm::Hardware.skip_reason(), None);
        assert_eq!(
            Kvm::Pvm.skip_reason().unwrap(),
            "no hardware KVM: /dev/kvm is PVM (kvm_pvm)"
        );
        assert_eq!(Kvm::Absent.skip_reason().unwrap(), "no hardware KVM");
    }

    /// A scratch directory for one test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("xtask-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Whether `pid` is running (a zombie is not).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    /// Waits up to `secs` for `pid` to stop running.
    fn ends_within(pid: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while running(pid) && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
        }
        !running(pid)
    }

    #[test]
    fn a_process_that_writes_and_exits() {
        let dir = Scratch::new("exit");
        let log_path = dir.file("log");
        let mut log = Log::fresh(&log_path).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'a\\nb\\n' > \"$0\"; exit 3"])
            .arg(&log_path);
        let mut emu = Emulator::spawn(cmd, &dir.file("out"), None).unwrap();
        let end = watch(
            &mut emu,
            &mut log,
            Instant::now(),
            Duration::from_secs(20),
            |_| false,
        );
        assert_eq!(end, Ending::Exited(status(3 << 8)));
        assert_eq!(log.text(), "a\nb\n");
        assert_eq!(emu.stop(), Some(status(3 << 8)));
    }

    #[test]
    fn stop_predicate_then_group_kill() {
        let dir = Scratch::new("stop");
        let log_path = dir.file("log");
        let mut log = Log::fresh(&log_path).unwrap();
        // The child forks a grandchild in the same group; both must die.
        let pid_file = dir.file("pid");
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "sleep 300 & echo $! > \"$1\"; echo '1 passed, 0 failed' >> \"$0\"; while :; do read x; sleep 1; done",
        ])
        .arg(&log_path)
        .arg(&pid_file);
        let mut emu = Emulator::spawn(cmd, &dir.file("out"), Some(b"c\n")).unwrap();
        let end = watch(
            &mut emu,
            &mut log,
            Instant::now(),
            Duration::from_secs(20),
            crate::protocol::has_closing_line,
        );
        assert_eq!(end, Ending::Stopped);
        let status = emu.stop().expect("reaped");
        assert!(status.signal().is_some(), "{status:?}");
        let grandchild = std::fs::read_to_string(&pid_file).unwrap();
        assert!(
            ends_within(&grandchild, 5),
            "grandchild {grandchild} survived"
        );
    }

    #[test]
    fn timeout() {
        let dir = Scratch::new("timeout");
        let log_path = dir.file("log");
        let mut log = Log::fresh(&log_path).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("300");
        let mut emu = Emulator::spawn(cmd, &dir.file("out"), None).unwrap();
        let end = watch(
            &mut emu,
            &mut log,
            Instant::now(),
            Duration::from_millis(300),
            |_| false,
        );
        assert_eq!(end, Ending::TimedOut);
        drop(emu);
    }

    #[test]
    fn watchdog_ends_the_group_when_its_owner_is_gone() {
        let mut emu = Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut owner = Command::new("sleep").arg("0.2").spawn().unwrap();
        let mut dog = spawn_watchdog(owner.id(), emu.id()).expect("sh");
        owner.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = emu.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() >= deadline {
                let _ = emu.kill();
                let _ = emu.wait();
                break None;
            }
            sleep(Duration::from_millis(50));
        };
        let _ = dog.kill();
        let _ = dog.wait();
        assert_eq!(status.and_then(|s| s.signal()), Some(9));
    }
}

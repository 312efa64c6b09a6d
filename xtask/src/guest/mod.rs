//! Guest images for the user-mode VMM: a stock Debian kernel and busybox initramfs
//! images, built into `target/guest/` (never committed).
//!
//! - `debian.rs`: fetches the current `linux-image-cloud-amd64` kernel and
//!   `busybox-static` with apt and caches them (`target/guest/vmlinuz`, `busybox`,
//!   `fetch.stamp`).
//! - `cpio.rs`: a deterministic writer of "newc" cpio archives.
//! - `init.rs`: the initramfs and its `/init` for each [`Mode`]
//!   (`target/guest/initramfs-shell.cpio`, `initramfs-test.cpio`), the test data and the
//!   memory-isolation design.
//! - `tsc.rs`: `facet-rdtsc`, a tiny program that prints the TSC.
//! - `exits.rs`: `facet-exits`, a tiny program that times CPUID and port exits.
//! - `sha256.rs`: SHA-256 for the host's side of the data check.
//! - `check.rs`: `cargo xtask guest-check`, the images booted directly under QEMU TCG.

pub mod check;
pub mod cpio;
pub mod debian;
pub mod exits;
pub mod init;
pub mod sha256;
pub mod tsc;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub use check::run as check;
pub use init::Mode;

use crate::paths::Paths;

/// The kernel command line for the guests (each option is explained in
/// `docs/testing.md`, "Guest images").
pub const CMDLINE: &str = "console=ttyS0 quiet panic=-1 oops=panic nokaslr tsc=reliable \
                           no_timer_check 8250.nr_uarts=1 mitigations=off cryptomgr.notests";

/// The built images.
#[derive(Clone, Debug)]
pub struct Images {
    pub fetched: debian::Fetched,
    /// `initramfs-<mode>.cpio` for [`Mode::ALL`], in that order.
    pub initramfs: Vec<(Mode, PathBuf)>,
}

impl Images {
    pub fn initramfs(&self, mode: Mode) -> &PathBuf {
        &self
            .initramfs
            .iter()
            .find(|(m, _)| *m == mode)
            .expect("every mode is built")
            .1
    }
}

/// `target/guest`.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.target.join("guest")
}

/// Fetches (or finds cached) the kernel and busybox, and writes the initramfs images
/// (rewritten only when their content changes).
pub fn build(paths: &Paths) -> Result<Images, String> {
    let dir = dir(paths);
    let fetched = debian::fetch(&dir)?;
    let busybox =
        fs::read(&fetched.busybox).map_err(|e| format!("{}: {e}", fetched.busybox.display()))?;
    check_applets(&fetched.busybox)?;
    let mut initramfs = Vec::new();
    for mode in Mode::ALL {
        let bytes = init::initramfs(mode, &busybox)?;
        let path = dir.join(format!("initramfs-{}.cpio", mode.name()));
        if fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            debian::write_atomically(&path, &bytes)?;
        }
        initramfs.push((mode, path));
    }
    Ok(Images { fetched, initramfs })
}

/// Every applet the scripts link must be in this busybox (`busybox --list`, run on the
/// host when it can run there).
fn check_applets(busybox: &std::path::Path) -> Result<(), String> {
    let Ok(out) = Command::new(busybox)
        .arg("--list")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    let list = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = init::APPLETS
        .iter()
        .copied()
        .filter(|a| !list.lines().any(|l| l.trim() == *a))
        .collect();
    if out.status.success() && !missing.is_empty() {
        return Err(format!(
            "{} lacks the applets {}",
            busybox.display(),
            missing.join(" ")
        ));
    }
    Ok(())
}

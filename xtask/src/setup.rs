//! Set-up of a fresh machine: the Rust target and the Debian packages the tiers need.
//!
//! Idempotent and quiet when everything is present. Otherwise, as root on Debian, it
//! installs what is missing (QEMU from `bookworm-backports` on Debian 12, whose own
//! QEMU 7.2 has broken nested paging in software SVM) and prints one line saying so; as
//! another user it stops with the exact commands to run; off Debian it prints what is
//! needed and carries on (the tiers whose tools are missing are then reported skipped).
//! The decisions are pure functions of what was probed, so they are unit-tested.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::artifacts;
use crate::paths::{find_program, Paths, TARGET};

/// The oldest QEMU whose software SVM does nested paging right for real-mode guests.
pub const MIN_QEMU: (u32, u32, u32) = (9, 1, 2);

const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/backports.list";
const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";

/// Adds the Rust target if rustup lacks it (rustup-less toolchains are left alone).
pub fn rust_target(paths: &Paths) -> Result<(), String> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(&paths.root)
        .output()
    else {
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    println!("setup: installing the Rust target {TARGET} (rustup target add {TARGET})");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(&paths.root)
        .status()
        .map_err(|e| format!("rustup: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`rustup target add {TARGET}` failed ({status})"))
    }
}

/// What the machine has, as far as the tiers are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// `None`: no `qemu-system-x86_64`; `Some(None)`: present, version unreadable.
    pub qemu: Option<Option<(u32, u32, u32)>>,
    pub bochs: bool,
    pub grub: bool,
    /// GRUB's `x86_64-efi` modules and OVMF (the UEFI tiers).
    pub uefi: bool,
    pub xorriso: bool,
    pub mformat: bool,
    pub objcopy: bool,
}

impl Probe {
    /// Looks at this machine.
    pub fn machine() -> Probe {
        let qemu = find_program("qemu-system-x86_64").map(|q| {
            Command::new(q)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .ok()
                .and_then(|o| parse_qemu_version(&String::from_utf8_lossy(&o.stdout)))
        });
        Probe {
            qemu,
            bochs: find_program("bochs-bin").is_some()
                && Path::new("/usr/share/bochs/BIOS-bochs-latest").exists()
                && Path::new("/usr/share/bochs/VGABIOS-lgpl-latest").exists(),
            grub: find_program("grub-mkrescue").is_some()
                && Path::new(artifacts::GRUB_BIOS_DIR).is_dir(),
            uefi: Path::new(artifacts::GRUB_EFI_DIR).is_dir()
                && Path::new(artifacts::OVMF_CODE).is_file()
                && Path::new(artifacts::OVMF_VARS).is_file(),
            xorriso: find_program("xorriso").is_some(),
            mformat: find_program("mformat").is_some(),
            objcopy: find_program("objcopy").is_some(),
        }
    }
}

/// The version in the first line of `qemu-system-x86_64 --version`
/// ("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2...)").
pub fn parse_qemu_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = text.lines().next()?.split("version").nth(1)?;
    let word = rest.split_whitespace().next()?;
    let mut parts = word
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// What to install.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// QEMU is missing or older than [`MIN_QEMU`].
    pub qemu: bool,
    /// Other Debian packages, in install order.
    pub packages: Vec<&'static str>,
    /// Human-readable reasons, one per missing item.
    pub reasons: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        !self.qemu && self.packages.is_empty()
    }
}

/// Decides what is missing.
pub fn plan(probe: &Probe) -> Plan {
    let mut plan = Plan::default();
    match probe.qemu {
        None => {
            plan.qemu = true;
            plan.reasons.push("qemu-system-x86_64".into());
        }
        Some(Some(v)) if v >= MIN_QEMU => {}
        Some(v) => {
            plan.qemu = true;
            let have = v.map_or("unknown".to_string(), |(a, b, c)| format!("{a}.{b}.{c}"));
            let (a, b, c) = MIN_QEMU;
            plan.reasons
                .push(format!("QEMU >= {a}.{b}.{c} (have {have})"));
        }
    }
    let mut need = |present: bool, what: &str, pkgs: &[&'static str]| {
        if !present {
            plan.reasons.push(what.to_string());
            for p in pkgs {
                if !plan.packages.contains(p) {
                    plan.packages.push(p);
                }
            }
        }
    };
    need(probe.bochs, "bochs-bin", &["bochs", "bochsbios", "vgabios"]);
    need(
        probe.grub,
        "grub-mkrescue (i386-pc)",
        &["grub-pc-bin", "grub-common"],
    );
    need(
        probe.uefi,
        "GRUB for x86_64-efi and OVMF",
        &["ovmf", "grub-efi-amd64-bin"],
    );
    need(probe.xorriso, "xorriso", &["xorriso"]);
    need(probe.mformat, "mformat", &["mtools"]);
    need(probe.objcopy, "objcopy", &["binutils"]);
    plan
}

/// Appends `bookworm-backports` to the `Suites:` line of the deb822 stanza that carries
/// the `bookworm` suite. `None` when nothing needs changing (already there) or when no
/// such stanza exists (`Some` is the new file content).
pub fn add_backports_suite(sources: &str) -> Option<String> {
    let is_suites = |l: &str| l.trim_start().starts_with("Suites:");
    let words = |l: &str| -> Vec<String> {
        l.trim_start()["Suites:".len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    if sources
        .lines()
        .filter(|l| is_suites(l))
        .any(|l| words(l).iter().any(|w| w == "bookworm-backports"))
    {
        return None;
    }
    let mut changed = false;
    let mut out = String::with_capacity(sources.len() + 24);
    for piece in sources.split_inclusive('\n') {
        let (line, eol) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        if !changed && is_suites(line) && words(line).iter().any(|w| w == "bookworm") {
            out.push_str(line.trim_end());
            out.push_str(" bookworm-backports");
            changed = true;
        } else {
            out.push_str(line);
        }
        out.push_str(eol);
    }
    changed.then_some(out)
}

/// How QEMU gets installed on this Debian release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QemuSource {
    /// Debian 12: from `bookworm-backports`.
    Backports,
    /// Newer Debian: the release's own package is recent enough.
    Release,
}

/// The shell commands (for a human, with `sudo`) that carry out `plan`.
pub fn commands(plan: &Plan, qemu_source: QemuSource, sources: Option<&str>) -> Vec<String> {
    let mut cmds = Vec::new();
    if plan.qemu && qemu_source == QemuSource::Backports {
        match sources.map(add_backports_suite) {
            Some(Some(_)) => cmds.push(format!(
                "sudo sed -i -E '/^Suites:(.* )?bookworm( |$)/{{/bookworm-backports/!s/$/ bookworm-backports/}}' {DEBIAN_SOURCES}"
            )),
            Some(None) if sources.is_some_and(|s| s.contains("bookworm-backports")) => {}
            _ => cmds.push(format!("echo '{BACKPORTS_LINE}' | sudo tee {BACKPORTS_LIST}")),
        }
    }
    if !plan.is_empty() {
        cmds.push("sudo apt-get update -qq".into());
    }
    if plan.qemu {
        cmds.push(match qemu_source {
            QemuSource::Backports => "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-system-x86".into(),
            QemuSource::Release => "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86".into(),
        });
    }
    if !plan.packages.is_empty() {
        cmds.push(format!(
            "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
            plan.packages.join(" ")
        ));
    }
    cmds
}

/// Makes sure the Debian packages are there (see the module documentation).
pub fn packages() -> Result<(), String> {
    let plan = plan(&Probe::machine());
    if plan.is_empty() {
        return Ok(());
    }
    let missing = plan.reasons.join(", ");
    if !Path::new("/etc/debian_version").exists() {
        println!(
            "setup: missing {missing}; install QEMU >= 9.1.2, Bochs (with VMX), GRUB (grub-mkrescue for i386-pc and x86_64-efi), OVMF, xorriso, mtools and binutils; tiers that need a missing tool are skipped"
        );
        return Ok(());
    }
    let codename = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| os_release_codename(&s));
    let qemu_source = if codename.as_deref() == Some("bookworm") {
        QemuSource::Backports
    } else {
        QemuSource::Release
    };
    let sources = fs::read_to_string(DEBIAN_SOURCES).ok();
    if !is_root() {
        let cmds = commands(&plan, qemu_source, sources.as_deref());
        return Err(format!(
            "missing {missing}; run as root (or with sudo):\n    {}",
            cmds.join("\n    ")
        ));
    }

    let mut what: Vec<&str> = Vec::new();
    if plan.qemu {
        what.push(match qemu_source {
            QemuSource::Backports => "qemu-system-x86 (bookworm-backports)",
            QemuSource::Release => "qemu-system-x86",
        });
    }
    what.extend(plan.packages.iter().copied());
    println!("setup: missing {missing}; installing {}", what.join(" "));

    if plan.qemu && qemu_source == QemuSource::Backports {
        match sources.as_deref() {
            Some(text) => {
                if let Some(new) = add_backports_suite(text) {
                    fs::write(DEBIAN_SOURCES, new)
                        .map_err(|e| format!("writing {DEBIAN_SOURCES}: {e}"))?;
                } else if !text.contains("bookworm-backports") {
                    write_backports_list()?;
                }
            }
            None => write_backports_list()?,
        }
    }
    apt(&["update", "-qq"])?;
    if plan.qemu {
        let mut args = vec!["install", "-y", "-qq"];
        if qemu_source == QemuSource::Backports {
            args.extend(["-t", "bookworm-backports"]);
        }
        args.push("qemu-system-x86");
        apt(&args)?;
    }
    if !plan.packages.is_empty() {
        let mut args = vec!["install", "-y", "-qq"];
        args.extend(plan.packages.iter().copied());
        apt(&args)?;
    }
    let after = self::plan(&Probe::machine());
    if after.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "still missing after installing: {}",
            after.reasons.join(", ")
        ))
    }
}

fn write_backports_list() -> Result<(), String> {
    fs::write(BACKPORTS_LIST, format!("{BACKPORTS_LINE}\n"))
        .map_err(|e| format!("writing {BACKPORTS_LIST}: {e}"))
}

/// Runs apt-get quietly; its output is shown only if it fails.
fn apt(args: &[&str]) -> Result<(), String> {
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Err(format!(
        "`apt-get {}` failed ({})",
        args.join(" "),
        out.status
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `VERSION_CODENAME` from `/etc/os-release`.
pub fn os_release_codename(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";

    #[test]
    fn qemu_versions() {
        assert_eq!(
            parse_qemu_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025"),
            Some((10, 0, 2))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)"),
            Some((7, 2, 15))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 9.1.2"),
            Some((9, 1, 2))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 9.2"),
            Some((9, 2, 0))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 10.1.0-rc2"),
            Some((10, 1, 0))
        );
        assert_eq!(parse_qemu_version("garbage"), None);
        assert_eq!(parse_qemu_version(""), None);
        let with_qemu = |v| Probe {
            qemu: Some(v),
            bochs: true,
            grub: true,
            uefi: true,
            xorriso: true,
            mformat: true,
            objcopy: true,
        };
        assert!(!plan(&with_qemu(Some((9, 1, 2)))).qemu);
        assert!(!plan(&with_qemu(Some((10, 0, 0)))).qemu);
        assert!(plan(&with_qemu(Some((9, 1, 1)))).qemu);
        assert!(plan(&with_qemu(None)).qemu, "unreadable version");
    }

    #[test]
    fn backports_suite_is_appended_once_to_the_bookworm_stanza() {
        let new = add_backports_suite(SOURCES).expect("needs a change");
        assert!(new.contains("\nSuites: bookworm bookworm-updates bookworm-backports\n"));
        assert!(new.contains("\nSuites: bookworm-security\n"));
        assert_eq!(new.len(), SOURCES.len() + " bookworm-backports".len());
        assert_eq!(add_backports_suite(&new), None, "idempotent");
    }

    #[test]
    fn backports_suite_edge_cases() {
        // Only a security stanza: nothing to edit (the caller writes backports.list).
        assert_eq!(
            add_backports_suite("Types: deb\nSuites: bookworm-security\n"),
            None
        );
        // No final newline, trailing blanks.
        assert_eq!(
            add_backports_suite("Suites: bookworm  ").as_deref(),
            Some("Suites: bookworm bookworm-backports")
        );
        // Already present anywhere, e.g. in its own stanza.
        let own = format!("{SOURCES}\nTypes: deb\nSuites: bookworm-backports\n");
        assert_eq!(add_backports_suite(&own), None);
    }

    #[test]
    fn plan_is_empty_when_everything_is_there() {
        let all = Probe {
            qemu: Some(Some((10, 0, 2))),
            bochs: true,
            grub: true,
            uefi: true,
            xorriso: true,
            mformat: true,
            objcopy: true,
        };
        assert!(plan(&all).is_empty());
        assert!(commands(&plan(&all), QemuSource::Backports, Some(SOURCES)).is_empty());
    }

    #[test]
    fn plan_for_a_fresh_bookworm() {
        let p = plan(&Probe::default());
        assert!(p.qemu);
        assert_eq!(
            p.packages,
            [
                "bochs",
                "bochsbios",
                "vgabios",
                "grub-pc-bin",
                "grub-common",
                "ovmf",
                "grub-efi-amd64-bin",
                "xorriso",
                "mtools",
                "binutils"
            ]
        );
        let cmds = commands(&p, QemuSource::Backports, Some(SOURCES));
        assert_eq!(cmds.len(), 4);
        assert!(cmds[0].starts_with("sudo sed -i"));
        assert_eq!(cmds[1], "sudo apt-get update -qq");
        assert!(cmds[2].ends_with("-t bookworm-backports qemu-system-x86"));
        assert!(cmds[3].ends_with("apt-get install -y -qq bochs bochsbios vgabios grub-pc-bin grub-common ovmf grub-efi-amd64-bin xorriso mtools binutils"));
        // Without debian.sources: a backports.list.
        let cmds = commands(&p, QemuSource::Backports, None);
        assert!(cmds[0].contains(BACKPORTS_LIST));
    }

    #[test]
    fn old_qemu_is_replaced_and_nothing_else() {
        let p = plan(&Probe {
            qemu: Some(Some((7, 2, 15))),
            bochs: true,
            grub: true,
            uefi: true,
            xorriso: true,
            mformat: true,
            objcopy: true,
        });
        assert!(p.qemu);
        assert!(p.packages.is_empty());
        assert_eq!(p.reasons, ["QEMU >= 9.1.2 (have 7.2.15)"]);
        let with_bp = add_backports_suite(SOURCES).unwrap();
        let cmds = commands(&p, QemuSource::Backports, Some(&with_bp));
        assert_eq!(cmds.len(), 2, "{cmds:?}");
        let cmds = commands(&p, QemuSource::Release, None);
        assert_eq!(
            cmds[1],
            "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86"
        );
    }

    #[test]
    fn codename() {
        assert_eq!(
            os_release_codename("NAME=\"Debian GNU/Linux\"\nVERSION_CODENAME=bookworm\n")
                .as_deref(),
            Some("bookworm")
        );
        assert_eq!(os_release_codename("ID=arch\n"), None);
    }
}

//! The Debian packages behind the guest images: the current cloud kernel and a static
//! busybox, fetched with apt, unpacked with `dpkg-deb -x` and cached in `target/guest/`.
//!
//! Resolution: `apt-cache show --no-all-versions linux-image-cloud-amd64` prints the
//! candidate version of the metapackage (the one `apt-get install` would pick, so a
//! kernel in `bookworm-backports` at priority 100 is not chosen over bookworm's); its
//! `Depends` names the real image package and pins its version, e.g.
//! `linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)`. The same query gives busybox-static's
//! candidate version. Both are local queries of apt's lists: no network.
//!
//! Cache: `target/guest/fetch.stamp` records the metapackage, the image package, both
//! versions and the kernel release. When the stamp and the outputs exist and the stamp
//! matches what apt resolves now, nothing is fetched; when apt cannot be asked (no apt,
//! no lists), a complete cache is used as it is. Otherwise `apt-get download` fetches
//! exactly the resolved versions into a scratch directory, `dpkg-deb -x` unpacks them,
//! `boot/vmlinuz-<release>` becomes `target/guest/vmlinuz` and `bin/busybox`
//! `target/guest/busybox`, the stamp is written last, and the scratch is removed.
//!
//! `apt-get update` is run (as root, once) only when resolving or downloading fails, the
//! usual cause being missing or stale package lists; without root, or when apt is
//! missing, the error names the command to run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::paths::find_program;

/// The metapackage that follows the current cloud kernel.
pub const KERNEL_META: &str = "linux-image-cloud-amd64";
/// The statically linked busybox.
pub const BUSYBOX: &str = "busybox-static";

const STAMP: &str = "fetch.stamp";
const STAMP_MAGIC: &str = "facet-guest-fetch 1";

/// What the outputs came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The metapackage's candidate version.
    pub meta_version: String,
    /// The kernel image package, e.g. `linux-image-6.1.0-57-cloud-amd64`.
    pub kernel_package: String,
    pub kernel_version: String,
    pub busybox_version: String,
}

/// The fetched files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub source: Source,
    /// The kernel release (`uname -r`), from the name of `boot/vmlinuz-<release>`.
    pub release: String,
    pub vmlinuz: PathBuf,
    pub busybox: PathBuf,
}

/// One package stanza of `apt-cache show`: its name, version and `Depends`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza {
    pub package: String,
    pub version: String,
    pub depends: String,
}

/// The first stanza of `apt-cache show` output (with `--no-all-versions`, the
/// candidate). Continuation lines (starting with a blank) extend the field above.
pub fn parse_show(text: &str) -> Option<Stanza> {
    let mut s = Stanza::default();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !s.package.is_empty() {
                break;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if current == Some("Depends") {
                s.depends.push(' ');
                s.depends.push_str(line.trim());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        current = Some(match key {
            "Package" => {
                s.package = value;
                "Package"
            }
            "Version" => {
                s.version = value;
                "Version"
            }
            "Depends" => {
                s.depends = value;
                "Depends"
            }
            _ => "",
        });
    }
    (!s.package.is_empty() && !s.version.is_empty()).then_some(s)
}

/// The kernel image package in the metapackage's `Depends` and its pinned version (if
/// the relation is `(= VERSION)`): the first alternative named `linux-image-<digit>...`.
pub fn kernel_dependency(depends: &str) -> Option<(String, Option<String>)> {
    depends
        .split([',', '|'])
        .map(str::trim)
        .find_map(|relation| {
            let (name, rest) = match relation.find([' ', '(']) {
                Some(i) => (&relation[..i], relation[i..].trim()),
                None => (relation, ""),
            };
            let name = name.split(':').next().unwrap_or(name); // an `:any` qualifier
            let release = name.strip_prefix("linux-image-")?;
            if !release.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            let version = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.trim().strip_prefix('='))
                .filter(|v| !v.starts_with(['<', '>']))
                .map(|v| v.trim().to_string());
            Some((name.to_string(), version))
        })
}

/// The kernel release a package name implies: `linux-image-6.1.0-57-cloud-amd64` gives
/// `6.1.0-57-cloud-amd64` (an `-unsigned` suffix is dropped).
pub fn release_of_package(package: &str) -> Option<&str> {
    let r = package.strip_prefix("linux-image-")?;
    let r = r.strip_suffix("-unsigned").unwrap_or(r);
    r.starts_with(|c: char| c.is_ascii_digit()).then_some(r)
}

/// Builds [`Source`] from the two `apt-cache show` outputs.
pub fn resolve_from(meta_show: &str, busybox_show: &str) -> Result<Source, String> {
    let meta = parse_show(meta_show)
        .filter(|s| s.package == KERNEL_META)
        .ok_or(format!("no {KERNEL_META} stanza in `apt-cache show`"))?;
    let (kernel_package, pinned) = kernel_dependency(&meta.depends).ok_or(format!(
        "{KERNEL_META} {} depends on no linux-image-<release> package (Depends: {:?})",
        meta.version, meta.depends
    ))?;
    let busybox = parse_show(busybox_show)
        .filter(|s| s.package == BUSYBOX)
        .ok_or(format!("no {BUSYBOX} stanza in `apt-cache show`"))?;
    Ok(Source {
        // The Debian kernel metapackages pin the image at their own version.
        kernel_version: pinned.unwrap_or_else(|| meta.version.clone()),
        meta_version: meta.version,
        kernel_package,
        busybox_version: busybox.version,
    })
}

/// The stamp's text.
pub fn stamp_text(f: &Fetched) -> String {
    let s = &f.source;
    format!(
        "{STAMP_MAGIC}\nmeta {KERNEL_META} {}\nkernel {} {}\nbusybox {BUSYBOX} {}\nrelease {}\n",
        s.meta_version, s.kernel_package, s.kernel_version, s.busybox_version, f.release
    )
}

/// Reads a stamp written by [`stamp_text`] for the outputs in `dir`.
pub fn parse_stamp(text: &str, dir: &Path) -> Option<Fetched> {
    let mut lines = text.lines();
    if lines.next()? != STAMP_MAGIC {
        return None;
    }
    let mut field = |key: &str, n: usize| -> Option<Vec<String>> {
        let words: Vec<String> = lines
            .next()?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        (words.len() == n + 1 && words[0] == key).then(|| words[1..].to_vec())
    };
    let meta = field("meta", 2)?;
    let kernel = field("kernel", 2)?;
    let busybox = field("busybox", 2)?;
    let release = field("release", 1)?;
    if meta[0] != KERNEL_META || busybox[0] != BUSYBOX {
        return None;
    }
    Some(Fetched {
        source: Source {
            meta_version: meta[1].clone(),
            kernel_package: kernel[0].clone(),
            kernel_version: kernel[1].clone(),
            busybox_version: busybox[1].clone(),
        },
        release: release[0].clone(),
        vmlinuz: dir.join("vmlinuz"),
        busybox: dir.join("busybox"),
    })
}

/// The cached outputs in `dir`, if the stamp is readable and both files are there.
fn cached(dir: &Path) -> Option<Fetched> {
    let f = parse_stamp(&fs::read_to_string(dir.join(STAMP)).ok()?, dir)?;
    let nonempty = |p: &Path| p.metadata().map(|m| m.len() > 0).unwrap_or(false);
    (nonempty(&f.vmlinuz) && nonempty(&f.busybox)).then_some(f)
}

/// Makes sure `dir` holds the kernel and busybox of the current candidates.
pub fn fetch(dir: &Path) -> Result<Fetched, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let have = cached(dir);
    let tools = ["apt-get", "apt-cache", "dpkg-deb"];
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|t| find_program(t).is_none())
        .collect();
    if !missing.is_empty() {
        if let Some(c) = have {
            return Ok(c);
        }
        return Err(format!(
            "the guest images are built from Debian packages, but {} {} missing: run this on \
             Debian 12 (or newer), where `apt-get download {KERNEL_META} {BUSYBOX}` works",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    let want = match resolve() {
        Ok(s) => s,
        Err(e) => {
            if let Some(c) = have {
                eprintln!(
                    "guest: cannot ask apt ({e}); using the cached {} and busybox {}",
                    c.source.kernel_package, c.source.busybox_version
                );
                return Ok(c);
            }
            update_lists().map_err(|u| format!("{e}\n{u}"))?;
            resolve()?
        }
    };
    if let Some(c) = have.filter(|c| c.source == want) {
        return Ok(c);
    }
    println!(
        "==> fetching {}={} and {BUSYBOX}={} (apt-get download)",
        want.kernel_package, want.kernel_version, want.busybox_version
    );
    let scratch = dir.join("scratch");
    let result = download_and_unpack(dir, &scratch, &want);
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// The candidates, asked of apt's local lists.
fn resolve() -> Result<Source, String> {
    let meta = apt_cache_show(KERNEL_META)?;
    let busybox = apt_cache_show(BUSYBOX)?;
    resolve_from(&meta, &busybox)
}

fn apt_cache_show(package: &str) -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", package])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("apt-cache: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`apt-cache show --no-all-versions {package}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `apt-get update`, as root only; otherwise the error names the command.
fn update_lists() -> Result<(), String> {
    if !is_root() {
        return Err(
            "the package lists may be missing or stale; run `sudo apt-get update` and retry".into(),
        );
    }
    println!("==> apt-get update (package lists missing or stale)");
    run_apt("apt-get", &["update", "-qq"], None)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs an apt tool quietly; its output is shown only if it fails.
fn run_apt(program: &str, args: &[&str], dir: Option<&Path>) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Err(format!(
        "`{program} {}` failed ({})",
        args.join(" "),
        out.status
    ))
}

fn download_and_unpack(dir: &Path, scratch: &Path, want: &Source) -> Result<Fetched, String> {
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let kernel = format!("{}={}", want.kernel_package, want.kernel_version);
    let busybox = format!("{BUSYBOX}={}", want.busybox_version);
    let args = ["download", "-q", kernel.as_str(), busybox.as_str()];
    if let Err(first) = run_apt("apt-get", &args, Some(scratch)) {
        // Stale lists name versions the mirror no longer has: refresh once, and only
        // retry if the candidates did not move (else the caller's next run resolves
        // again).
        update_lists().map_err(|u| format!("{first}\n{u}"))?;
        if resolve()? != *want {
            return Err(format!(
                "{first}; after `apt-get update` the candidates changed: run the command again"
            ));
        }
        run_apt("apt-get", &args, Some(scratch)).map_err(|e| {
            format!("{e}; run `apt-get download {kernel} {busybox}` by hand to see why")
        })?;
    }
    let root = scratch.join("root");
    for deb in debs(scratch)? {
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("dpkg-deb: {e}"))?;
        if !status.success() {
            return Err(format!("`dpkg-deb -x {}` failed ({status})", deb.display()));
        }
    }
    let vmlinuz = single_vmlinuz(&root.join("boot"))?;
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .ok_or("unreadable vmlinuz name")?
        .to_string();
    if release_of_package(&want.kernel_package) != Some(release.as_str()) {
        eprintln!(
            "guest: note: {} holds vmlinuz-{release}",
            want.kernel_package
        );
    }
    let bb = root.join("bin/busybox");
    let elf = fs::read(&bb).map_err(|e| format!("{BUSYBOX} has no bin/busybox: {e}"))?;
    if !elf.starts_with(b"\x7fELF") {
        return Err(format!("{}: not an ELF file", bb.display()));
    }
    let fetched = Fetched {
        source: want.clone(),
        release,
        vmlinuz: dir.join("vmlinuz"),
        busybox: dir.join("busybox"),
    };
    let _ = fs::remove_file(dir.join(STAMP));
    install(&vmlinuz, &fetched.vmlinuz, 0o644)?;
    install(&bb, &fetched.busybox, 0o755)?;
    write_atomically(&dir.join(STAMP), stamp_text(&fetched).as_bytes())?;
    Ok(fetched)
}

/// The `.deb` files apt-get downloaded.
fn debs(scratch: &Path) -> Result<Vec<PathBuf>, String> {
    let mut debs: Vec<PathBuf> = fs::read_dir(scratch)
        .map_err(|e| format!("{}: {e}", scratch.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if debs.len() != 2 {
        return Err(format!(
            "expected 2 .deb files in {}, found {}",
            scratch.display(),
            debs.len()
        ));
    }
    Ok(debs)
}

fn single_vmlinuz(boot: &Path) -> Result<PathBuf, String> {
    let found: Vec<PathBuf> = fs::read_dir(boot)
        .map_err(|e| format!("the kernel package has no boot/: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one boot/vmlinuz-* in the kernel package, found {found:?}"
        )),
    }
}

/// Copies `from` to `to` through a temporary file and a rename.
fn install(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    let bytes = fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    write_atomically(to, &bytes)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apt-cache show --no-all-versions linux-image-cloud-amd64` on Debian 12, as
    /// recorded on a build machine (bookworm-security's candidate; bookworm-backports'
    /// 6.12 at priority 100 is not the candidate).
    const META_SHOW: &str = "\
Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192+3)
Version: 6.1.192-3
Installed-Size: 13
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Provides: linux-latest-modules-6.1.0-57-cloud-amd64, virtualbox-guest-modules, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)
Description: Linux for x86-64 cloud (meta-package)
Description-md5: 11b016f38b41530eec9d7e80035fed66
Homepage: https://www.kernel.org/
Built-Using: linux (= 6.1.192-3)
Section: kernel
Priority: optional
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-cloud-amd64_6.1.192-3_amd64.deb
Size: 1496
SHA256: fcd79a9aee28374b8d1f1b1c0bf3ab0d920ed1a3eca887c9e6cc57bb7bee6e5c

";

    /// The same for busybox-static (a continuation line in `Tag`).
    const BUSYBOX_SHOW: &str = "\
Package: busybox-static
Source: busybox (1:1.35.0-4+deb12u1)
Version: 1:1.35.0-4+deb12u1+b1
Installed-Size: 2024
Maintainer: Debian Install System Team <debian-boot@lists.debian.org>
Architecture: amd64
Replaces: busybox
Provides: busybox
Conflicts: busybox
Description: Standalone rescue shell with tons of builtin utilities
Homepage: http://www.busybox.net
Built-Using: glibc (= 2.36-9+deb12u14)
Tag: admin::recovery, interface::shell, role::program, scope::utility,
 use::login, works-with::file
Section: shells
Filename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb
Size: 928188

";

    fn source() -> Source {
        Source {
            meta_version: "6.1.192-3".into(),
            kernel_package: "linux-image-6.1.0-57-cloud-amd64".into(),
            kernel_version: "6.1.192-3".into(),
            busybox_version: "1:1.35.0-4+deb12u1+b1".into(),
        }
    }

    #[test]
    fn resolves_the_recorded_candidates() {
        assert_eq!(resolve_from(META_SHOW, BUSYBOX_SHOW).unwrap(), source());
    }

    #[test]
    fn only_the_first_stanza_counts() {
        // Without --no-all-versions apt-cache prints every version, newest first: the
        // parser takes the first stanza, so the caller must ask for the candidate only.
        let all = format!(
            "Package: linux-image-cloud-amd64\nVersion: 6.12.95-1~bpo12+1\nDepends: linux-image-6.12.95+deb12-cloud-amd64 (= 6.12.95-1~bpo12+1)\n\n{META_SHOW}"
        );
        let s = parse_show(&all).unwrap();
        assert_eq!(s.version, "6.12.95-1~bpo12+1");
        assert_eq!(
            kernel_dependency(&s.depends).unwrap().0,
            "linux-image-6.12.95+deb12-cloud-amd64"
        );
        assert_eq!(
            release_of_package("linux-image-6.12.95+deb12-cloud-amd64"),
            Some("6.12.95+deb12-cloud-amd64")
        );
    }

    #[test]
    fn dependency_forms() {
        let dep = |d: &str| kernel_dependency(d);
        assert_eq!(
            dep("linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)"),
            Some((
                "linux-image-6.1.0-57-cloud-amd64".into(),
                Some("6.1.192-3".into())
            ))
        );
        // Unversioned, alternatives, other packages first, an arch qualifier, a
        // continuation line folded into the field.
        assert_eq!(
            dep("linux-image-6.1.0-57-cloud-amd64"),
            Some(("linux-image-6.1.0-57-cloud-amd64".into(), None))
        );
        assert_eq!(
            dep("initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-9-cloud-amd64-unsigned (=6.1.27-1)"),
            Some((
                "linux-image-6.1.0-9-cloud-amd64-unsigned".into(),
                Some("6.1.27-1".into())
            ))
        );
        assert_eq!(
            dep("linux-image-6.1.0-9-cloud-amd64:amd64 (>= 6.1)"),
            Some(("linux-image-6.1.0-9-cloud-amd64".into(), None))
        );
        assert_eq!(dep("linux-image-cloud-amd64, kmod"), None);
        assert_eq!(dep(""), None);
        let folded = parse_show(
            "Package: linux-image-cloud-amd64\nVersion: 1\nDepends: kmod,\n linux-image-6.1.0-1-cloud-amd64 (= 1)\n",
        )
        .unwrap();
        assert_eq!(
            kernel_dependency(&folded.depends).unwrap().0,
            "linux-image-6.1.0-1-cloud-amd64"
        );
    }

    #[test]
    fn releases_of_package_names() {
        assert_eq!(
            release_of_package("linux-image-6.1.0-57-cloud-amd64"),
            Some("6.1.0-57-cloud-amd64")
        );
        assert_eq!(
            release_of_package("linux-image-6.1.0-9-cloud-amd64-unsigned"),
            Some("6.1.0-9-cloud-amd64")
        );
        assert_eq!(release_of_package("linux-image-cloud-amd64"), None);
        assert_eq!(release_of_package("busybox-static"), None);
    }

    #[test]
    fn bad_apt_output_is_an_error() {
        assert!(resolve_from("", BUSYBOX_SHOW).is_err());
        assert!(
            resolve_from(BUSYBOX_SHOW, BUSYBOX_SHOW).is_err(),
            "wrong package"
        );
        let no_dep = "Package: linux-image-cloud-amd64\nVersion: 1\nDepends: kmod\n";
        let e = resolve_from(no_dep, BUSYBOX_SHOW).unwrap_err();
        assert!(e.contains("depends on no linux-image"), "{e}");
        assert!(resolve_from(META_SHOW, "").is_err());
        assert_eq!(parse_show("E: No packages found\n"), None);
    }

    #[test]
    fn stamp_round_trip() {
        let dir = Path::new("/t/guest");
        let f = Fetched {
            source: source(),
            release: "6.1.0-57-cloud-amd64".into(),
            vmlinuz: dir.join("vmlinuz"),
            busybox: dir.join("busybox"),
        };
        let text = stamp_text(&f);
        assert_eq!(
            text,
            "facet-guest-fetch 1\nmeta linux-image-cloud-amd64 6.1.192-3\nkernel linux-image-6.1.0-57-cloud-amd64 6.1.192-3\nbusybox busybox-static 1:1.35.0-4+deb12u1+b1\nrelease 6.1.0-57-cloud-amd64\n"
        );
        assert_eq!(parse_stamp(&text, dir), Some(f));
        assert_eq!(parse_stamp("", dir), None);
        assert_eq!(parse_stamp(&text.replace("fetch 1", "fetch 2"), dir), None);
        assert_eq!(parse_stamp(&text.replace("release ", "rel "), dir), None);
        let truncated: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(parse_stamp(&truncated, dir), None);
    }
}

//! Building what the emulators boot: the kernel, the roottask, the console service, the
//! VMM and the edu driver (cargo, for the bare target with static relocation), the 32-bit
//! kernel copy (objcopy), the junk "roottask" of the `bad-roottask` tier, and GRUB rescue
//! ISOs (grub-mkrescue) for BIOS and for UEFI firmware.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::paths::{Paths, Profile, TARGET};
use crate::tiers::Tier;

/// Flags for the target artifacts: non-PIE static executables. With `--target`, cargo
/// applies them to the target crates only, not to build scripts.
pub const TARGET_RUSTFLAGS: &str = "-Crelocation-model=static";

/// The packages `cargo xtask build` builds.
pub const TARGET_PACKAGES: [&str; 5] = [
    "facet-kernel",
    "facet-roottask",
    "facet-console",
    "facet-vmm",
    "facet-edu",
];

/// The artifacts the emulators need.
#[derive(Clone, Debug)]
pub struct Built {
    /// The 32-bit copy of the kernel (`target/facet.elf32`).
    pub kernel_elf32: PathBuf,
    /// The roottask ELF.
    pub roottask: PathBuf,
    /// The 32-bit copy of the checked kernel (`target/facet-checked.elf32`), if built.
    pub checked_kernel_elf32: Option<PathBuf>,
}

impl Built {
    /// The artifacts of an earlier build (for `--no-build`); fails if they are missing.
    pub fn existing(paths: &Paths, profile: Profile) -> Result<Built, String> {
        let checked = paths.checked_kernel_elf32();
        let built = Built {
            kernel_elf32: paths.kernel_elf32(),
            roottask: paths.roottask(profile),
            checked_kernel_elf32: checked.is_file().then_some(checked),
        };
        for p in [&built.kernel_elf32, &built.roottask] {
            if !p.is_file() {
                return Err(format!(
                    "{} does not exist (run without --no-build)",
                    p.display()
                ));
            }
        }
        Ok(built)
    }

    /// The artifacts a tier boots: its kernel is the checked one if it asks for it.
    pub fn for_tier(&self, tier: &Tier) -> Result<Built, String> {
        if !tier.checked_kernel {
            return Ok(self.clone());
        }
        match &self.checked_kernel_elf32 {
            Some(k) => Ok(Built {
                kernel_elf32: k.clone(),
                ..self.clone()
            }),
            None => Err("the checked kernel was not built".into()),
        }
    }
}

/// A `cargo` command in the workspace root, using the cargo that runs xtask.
pub fn cargo(paths: &Paths) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&paths.root);
    cmd
}

/// A `cargo` command for the bare target: `--target` plus the static relocation model.
pub fn cargo_target(paths: &Paths, subcommand: &str, profile: Profile) -> Command {
    let mut cmd = cargo(paths);
    cmd.arg(subcommand);
    match profile {
        Profile::Release => {
            cmd.arg("--release");
        }
        Profile::Checked => {
            cmd.args(["--profile", "checked"]);
        }
        Profile::Debug => {}
    }
    cmd.args(["--target", TARGET]);
    cmd.env("CARGO_ENCODED_RUSTFLAGS", TARGET_RUSTFLAGS);
    cmd
}

/// Builds the kernel, the roottask, the console service, the VMM and the edu driver,
/// and the 32-bit kernel copy.
pub fn build(paths: &Paths, profile: Profile) -> Result<Built, String> {
    let mut cmd = cargo_target(paths, "build", profile);
    for p in TARGET_PACKAGES {
        cmd.args(["-p", p]);
    }
    run(
        &mut cmd,
        "cargo build (kernel, roottask, console, VMM and edu driver)",
    )?;

    let elf64 = paths.kernel_elf64(profile);
    crate::boot_only::check(&elf64)?;
    let elf32 = paths.kernel_elf32();
    let mut objcopy = Command::new("objcopy");
    objcopy.args(["-O", "elf32-i386"]).arg(&elf64).arg(&elf32);
    run(&mut objcopy, "objcopy -O elf32-i386")?;
    Ok(Built {
        kernel_elf32: elf32,
        roottask: paths.roottask(profile),
        checked_kernel_elf32: None,
    })
}

/// Builds the checked kernel (release with debug assertions, `[profile.checked]`) and
/// its 32-bit copy, for the tiers that boot it.
pub fn build_checked(paths: &Paths) -> Result<PathBuf, String> {
    let mut cmd = cargo_target(paths, "build", Profile::Checked);
    cmd.args(["-p", "facet-kernel"]);
    run(&mut cmd, "cargo build (checked kernel)")?;
    crate::boot_only::check(&paths.kernel_elf64(Profile::Checked))?;
    let elf32 = paths.checked_kernel_elf32();
    let mut objcopy = Command::new("objcopy");
    objcopy
        .args(["-O", "elf32-i386"])
        .arg(paths.kernel_elf64(Profile::Checked))
        .arg(&elf32);
    run(&mut objcopy, "objcopy -O elf32-i386 (checked kernel)")?;
    Ok(elf32)
}

/// Writes the non-ELF module of the `bad-roottask` tier: 4 KiB of 0x55.
pub fn junk_roottask(paths: &Paths) -> Result<PathBuf, String> {
    let path = paths.junk_roottask();
    fs::create_dir_all(&paths.target).map_err(|e| format!("{}: {e}", paths.target.display()))?;
    fs::write(&path, [0x55u8; 4096]).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The firmware an ISO is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// A PC BIOS (SeaBIOS, Bochs's BIOS): GRUB's `i386-pc` platform, El Torito boot.
    Bios,
    /// UEFI (OVMF): GRUB's `x86_64-efi` platform on the ISO's EFI system partition.
    Uefi,
}

impl Firmware {
    /// GRUB's platform directory, which `grub-mkrescue -d` is given.
    pub fn grub_dir(self) -> &'static str {
        match self {
            Firmware::Bios => GRUB_BIOS_DIR,
            Firmware::Uefi => GRUB_EFI_DIR,
        }
    }
}

/// GRUB's modules for BIOS machines (`grub-pc-bin`).
pub const GRUB_BIOS_DIR: &str = "/usr/lib/grub/i386-pc";
/// GRUB's modules for 64-bit UEFI (`grub-efi-amd64-bin`).
pub const GRUB_EFI_DIR: &str = "/usr/lib/grub/x86_64-efi";
/// OVMF's code (`ovmf`), mapped read-only as the first flash device.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// OVMF's variable store template; each run writes to a copy of its own.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Which multiboot protocol GRUB uses to load the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiboot {
    V1,
    V2,
}

/// The roottask's `grub.cfg` module line: its command line starts with the word
/// `roottask` (its argv\[0\]).
pub fn roottask_module(roottask_args: &str) -> String {
    join_words(&["/boot/roottask", "roottask", roottask_args])
}

/// The `grub.cfg` of an ISO: boot at once, GRUB's own output on the screen only (so the
/// serial log is the kernel's), the kernel with its command line and `modules`, each
/// `path name arguments` with paths on the ISO.
pub fn grub_cfg_modules(mb: Multiboot, kernel_args: &str, modules: &[String]) -> String {
    let (kernel_cmd, module_cmd) = match mb {
        Multiboot::V1 => ("multiboot", "module"),
        Multiboot::V2 => ("multiboot2", "module2"),
    };
    let kernel_line = join_words(&["/boot/facet.elf32", kernel_args]);
    let mut cfg = format!(
        "set timeout=0\n\
         set default=0\n\
         serial --unit=0 --speed=115200\n\
         terminal_output console\n\
         menuentry \"Facet\" {{\n    \
         {kernel_cmd} {kernel_line}\n"
    );
    for m in modules {
        cfg.push_str(&format!("    {module_cmd} {m}\n"));
    }
    cfg.push_str("    boot\n}\n");
    cfg
}

/// Joins the non-empty pieces with single spaces.
pub fn join_words(pieces: &[&str]) -> String {
    pieces
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds `target/facet-<name>.iso` from `target/iso-<name>/`, for `firmware`.
pub fn iso(
    paths: &Paths,
    built: &Built,
    name: &str,
    (mb, firmware): (Multiboot, Firmware),
    kernel_args: &str,
    roottask_args: &str,
) -> Result<PathBuf, String> {
    let modules = [roottask_module(roottask_args)];
    iso_with(
        paths,
        built,
        name,
        (mb, firmware),
        kernel_args,
        &[(built.roottask.as_path(), "roottask")],
        &modules,
    )
}

/// Builds `target/facet-<name>.iso` with the kernel and `files` (each copied to
/// `/boot/<name>`), booting `modules` (their `grub.cfg` lines, [`grub_cfg_modules`]).
pub fn iso_with(
    paths: &Paths,
    built: &Built,
    name: &str,
    (mb, firmware): (Multiboot, Firmware),
    kernel_args: &str,
    files: &[(&Path, &str)],
    modules: &[String],
) -> Result<PathBuf, String> {
    let dir = paths.iso_dir(name);
    let grub = dir.join("boot/grub");
    fs::create_dir_all(&grub).map_err(|e| format!("{}: {e}", grub.display()))?;
    copy(&built.kernel_elf32, &dir.join("boot/facet.elf32"))?;
    for (from, to) in files {
        copy(from, &dir.join("boot").join(to))?;
    }
    let cfg = grub.join("grub.cfg");
    fs::write(&cfg, grub_cfg_modules(mb, kernel_args, modules))
        .map_err(|e| format!("{}: {e}", cfg.display()))?;
    let out = paths.iso(name);
    let mut cmd = Command::new("grub-mkrescue");
    cmd.arg("-d")
        .arg(firmware.grub_dir())
        .arg("-o")
        .arg(&out)
        .arg(&dir);
    run_quiet(&mut cmd, "grub-mkrescue")?;
    Ok(out)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// Runs `cmd` with its output on the terminal.
pub fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| spawn_error(cmd, what, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Runs `cmd` with its output captured; shows the output only if it fails.
pub fn run_quiet(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(cmd, what, e))?;
    if out.status.success() {
        return Ok(());
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Err(format!("{what} failed ({})", out.status))
}

fn spawn_error(cmd: &Command, what: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!(
            "{what}: `{}` not found (cargo xtask run/test install what is missing on Debian)",
            cmd.get_program().to_string_lossy()
        )
    } else {
        format!("{what}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_multiboot1() {
        let cfg = grub_cfg_modules(Multiboot::V1, "serial iommu", &[roottask_module("test")]);
        assert_eq!(
            cfg,
            "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\nterminal_output console\n\
             menuentry \"Facet\" {\n    multiboot /boot/facet.elf32 serial iommu\n    \
             module /boot/roottask roottask test\n    boot\n}\n"
        );
    }

    #[test]
    fn grub_cfg_multiboot2_without_roottask_args() {
        let cfg = grub_cfg_modules(Multiboot::V2, "serial", &[roottask_module("")]);
        assert!(cfg.contains("\n    multiboot2 /boot/facet.elf32 serial\n"));
        assert!(cfg.contains("\n    module2 /boot/roottask roottask\n"));
    }

    #[test]
    fn words_are_joined_without_stray_spaces() {
        assert_eq!(join_words(&["a", "", " b ", "c d"]), "a b c d");
        assert_eq!(join_words(&["", ""]), "");
    }
}

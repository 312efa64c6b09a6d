//! Where things are: the workspace root, the target directory and every artifact, log
//! and ISO the other modules read or write, and a `which`-like search of `PATH`.
//!
//! All paths derive from the workspace root (the parent of this crate's manifest
//! directory). Emulators run with the workspace root as their working directory, so
//! paths passed on their command lines are made relative to it where possible (QEMU's
//! `-initrd` splits on spaces and commas; a short relative path avoids surprises).

use std::env;
use std::path::{Path, PathBuf};

/// The Rust target of the kernel and the user programs.
pub const TARGET: &str = "x86_64-unknown-none";

/// Build profile of the target artifacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
    /// Release with debug assertions (the kernel of the `checked` tiers).
    Checked,
}

impl Profile {
    /// The directory name cargo uses for this profile.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
            Profile::Checked => "checked",
        }
    }
}

/// The workspace layout.
#[derive(Clone, Debug)]
pub struct Paths {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Paths {
    /// Finds the workspace from this crate's manifest directory; honours
    /// `CARGO_TARGET_DIR` like cargo does.
    pub fn discover() -> Paths {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().unwrap_or(manifest).to_path_buf();
        let target = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        Paths { root, target }
    }

    /// The ELF64 kernel as cargo links it.
    pub fn kernel_elf64(&self, profile: Profile) -> PathBuf {
        self.target.join(TARGET).join(profile.dir()).join("facet")
    }

    /// The default roottask.
    pub fn roottask(&self, profile: Profile) -> PathBuf {
        self.program(profile, "roottask")
    }

    /// A user program built for the bare target (`roottask`, `console`, `vmm`).
    pub fn program(&self, profile: Profile, name: &str) -> PathBuf {
        self.target.join(TARGET).join(profile.dir()).join(name)
    }

    /// The 32-bit copy of the kernel that QEMU's `-kernel` and GRUB load.
    pub fn kernel_elf32(&self) -> PathBuf {
        self.target.join("facet.elf32")
    }

    /// The 32-bit copy of the checked kernel (release with debug assertions).
    pub fn checked_kernel_elf32(&self) -> PathBuf {
        self.target.join("facet-checked.elf32")
    }

    /// A file that is not an ELF, for the `bad-roottask` tier.
    pub fn junk_roottask(&self) -> PathBuf {
        self.target.join("junk-roottask")
    }

    /// Serial logs, monitor sockets, emulator output.
    pub fn logs(&self) -> PathBuf {
        self.target.join("logs")
    }

    /// The ISO staging directory for `name` (`target/iso-<name>`).
    pub fn iso_dir(&self, name: &str) -> PathBuf {
        self.target.join(format!("iso-{name}"))
    }

    /// The ISO image for `name` (`target/facet-<name>.iso`).
    pub fn iso(&self, name: &str) -> PathBuf {
        self.target.join(format!("facet-{name}.iso"))
    }

    /// `path` relative to the workspace root if it lies inside it, else unchanged; for
    /// command lines of processes that run in the workspace root.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }
}

/// The full path of `program` if an executable of that name is on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_follow_the_build_contract() {
        let p = Paths {
            root: PathBuf::from("/w"),
            target: PathBuf::from("/w/target"),
        };
        assert_eq!(
            p.kernel_elf64(Profile::Release),
            Path::new("/w/target/x86_64-unknown-none/release/facet")
        );
        assert_eq!(
            p.roottask(Profile::Debug),
            Path::new("/w/target/x86_64-unknown-none/debug/roottask")
        );
        assert_eq!(p.kernel_elf32(), Path::new("/w/target/facet.elf32"));
        assert_eq!(p.iso("grub-mb1"), Path::new("/w/target/facet-grub-mb1.iso"));
        assert_eq!(p.rel(&p.kernel_elf32()), "target/facet.elf32");
        assert_eq!(p.rel(Path::new("/elsewhere/x")), "/elsewhere/x");
    }

    #[test]
    fn finds_sh_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("surely-no-such-program-xyz").is_none());
    }
}

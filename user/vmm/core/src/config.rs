//! The VMM's command line (its multiboot module's, after the program's name):
//!
//! ```text
//! name=vm1 mem=256 cpus=0,1 [vcpus=N] [profile] [fault] kernel=linux initrd=initrd -- <guest command line>
//! ```
//!
//! The roottask reads `mem=` (MiB of guest RAM), `cpus=` (the CPUs the VMM may use),
//! `kernel=` and `initrd=` (the modules it maps) from the same line; the VMM reads
//! `name=` (how its messages and the guest's console lines are labelled), `vcpus=` (how
//! many vCPUs, default one per CPU it was given, spread over those CPUs in turn),
//! `profile` (report the TSC when the guest starts and, when the VM ends, what the
//! handlers of each kind of exit cost: `cargo xtask bench` uses it), `fault` (a test aid:
//! once its guest runs, the VMM reads an unmapped address, so that the `linux` tier sees
//! a crashing VMM take only its own VM down) and everything after `--`, the guest
//! kernel's command line. To that the VMM adds what
//! this machine needs ([`crate::platform::KERNEL_PARAMETERS`]) and a serial console
//! unless the line names a console already.

use crate::platform::{KERNEL_PARAMETERS, MAX_VCPUS};

#[cfg(test)]
mod tests;

/// Bytes of a VM name.
pub const MAX_NAME: usize = 16;
/// The console the guest gets unless its command line names one.
pub const DEFAULT_CONSOLE: &str = "console=ttyS0";

/// What the VMM takes from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmmArgs<'a> {
    pub name: &'a str,
    /// `vcpus=`, if given.
    pub vcpus: Option<u8>,
    /// `profile`: report the guest's start TSC and the handlers' costs.
    pub profile: bool,
    /// `fault`: fault on purpose once the guest runs.
    pub fault: bool,
    /// The guest's command line as given (after `--`).
    pub guest: &'a str,
}

/// Why the command line is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsError<'a> {
    /// A word before `--` that is no argument of the VMM or the roottask.
    UnknownWord(&'a str),
    /// `vcpus=` is not a number from 1 to [`MAX_VCPUS`].
    BadVcpuCount(&'a str),
    /// `name=` is empty, longer than [`MAX_NAME`] or not made of letters, digits, `-`
    /// and `_`.
    BadName(&'a str),
}

impl core::fmt::Display for ArgsError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownWord(w) => {
                write!(f, "unknown argument `{w}` (guest arguments go after `--`)")
            }
            Self::BadVcpuCount(w) => write!(f, "`vcpus={w}`: 1 to {MAX_VCPUS} vCPUs"),
            Self::BadName(w) => {
                write!(f, "`name={w}`: 1 to {MAX_NAME} letters, digits, `-` or `_`")
            }
        }
    }
}

/// The roottask's arguments, which the VMM accepts and leaves alone.
const ROOTTASK_KEYS: [&str; 4] = ["mem", "cpus", "kernel", "initrd"];

/// Parses the VMM's command line.
pub fn parse(line: &str) -> Result<VmmArgs<'_>, ArgsError<'_>> {
    // The guest's part starts after the first word that is exactly `--`.
    let (mut own, mut guest) = (line, "");
    let mut at = 0;
    for word in line.split(' ') {
        if word == "--" {
            (own, guest) = (&line[..at], line[at + 2..].trim());
            break;
        }
        at += word.len() + 1;
    }
    let mut args = VmmArgs {
        name: "vm",
        vcpus: None,
        profile: false,
        fault: false,
        guest,
    };
    for word in own.split(' ').filter(|w| !w.is_empty()) {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "name" => {
                let valid = (1..=MAX_NAME).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    return Err(ArgsError::BadName(value));
                }
                args.name = value;
            }
            "vcpus" => match value.parse::<u8>() {
                Ok(n @ 1..=MAX_VCPUS) => args.vcpus = Some(n),
                _ => return Err(ArgsError::BadVcpuCount(value)),
            },
            "profile" if !word.contains('=') => args.profile = true,
            "fault" if !word.contains('=') => args.fault = true,
            k if ROOTTASK_KEYS.contains(&k) && word.contains('=') => {}
            _ => return Err(ArgsError::UnknownWord(word)),
        }
    }
    Ok(args)
}

/// The CPUs in `mask`, lowest first, at most [`MAX_VCPUS`] of them.
pub fn cpus_of(mask: u64) -> ([u8; MAX_VCPUS as usize], usize) {
    let mut cpus = [0u8; MAX_VCPUS as usize];
    let mut n = 0;
    for cpu in (0..64u8).filter(|c| mask & (1 << c) != 0) {
        if n == cpus.len() {
            break;
        }
        cpus[n] = cpu;
        n += 1;
    }
    (cpus, n)
}

/// The CPU vCPU `vcpu` runs on: the CPUs of `mask` in turn. `None` for an empty mask.
pub fn cpu_of_vcpu(mask: u64, vcpu: u8) -> Option<u8> {
    let (cpus, n) = cpus_of(mask);
    (n > 0).then(|| cpus[vcpu as usize % n])
}

/// The guest kernel's command line: `guest`, then the parameters this machine needs
/// that it lacks, and a serial console unless it names a console. Written into `out`;
/// its length, or `None` if it does not fit.
pub fn guest_command_line(guest: &str, out: &mut [u8]) -> Option<usize> {
    let has = |word: &str| guest.split(' ').any(|w| w == word);
    let has_console = guest.split(' ').any(|w| w.starts_with("console="));
    let mut len = 0;
    let mut push = |word: &str| -> Option<()> {
        if word.is_empty() {
            return Some(());
        }
        let sep = usize::from(len != 0);
        let end = len + sep + word.len();
        let room = out.get_mut(len..end)?;
        if sep == 1 {
            room[0] = b' ';
        }
        room[sep..].copy_from_slice(word.as_bytes());
        len = end;
        Some(())
    };
    for word in guest.split(' ') {
        push(word)?;
    }
    for word in KERNEL_PARAMETERS.split(' ') {
        if !has(word) {
            push(word)?;
        }
    }
    if !has_console {
        push(DEFAULT_CONSOLE)?;
    }
    Some(len)
}

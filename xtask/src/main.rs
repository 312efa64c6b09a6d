//! `cargo xtask`: builds, runs and tests Facet.
//!
//! - `build [--debug]`: kernel and roottask for x86_64-unknown-none, and the 32-bit
//!   kernel copy `target/facet.elf32`.
//! - `run [--debug] [--no-build] [--cmdline ARGS] [--roottask-args ARGS] [-- QEMU ARGS]`:
//!   boots Facet in QEMU with the serial console on the terminal.
//! - `test [--tier NAME]... [--skip-host] [--no-build] [--list]`: host checks, then every
//!   on-target tier (see `tiers.rs`), then a summary; non-zero exit if anything failed.
//! - `bench [--debug] [--no-build] [--quick] [--vmx]`: the roottask's benchmarks with
//!   exact instruction counts (see `bench.rs`).
//! - `profile [--debug] [--no-build] [--only PREFIX]... [--by-symbol] [--boot-kernel
//!   ELF32]`: the instruction mix of each benchmark operation from QEMU's execution log
//!   (see `profile.rs`), of Facet or of another kernel that runs the same roottask.
//! - `iso [--debug]`: the GRUB ISOs (BIOS and UEFI), for debugging.

mod artifacts;
mod bench;
mod bench_linux;
mod boot_only;
mod emulator;
mod guest;
mod harness;
mod host;
mod launch;
mod linux;
mod linux_tier;
mod linux_vmx;
mod monitor;
mod paths;
mod profile;
mod protocol;
mod setup;
mod summary;
mod tiers;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod test_files;

use std::process::{Command, ExitCode};

use artifacts::{Built, Firmware, Multiboot};
use emulator::Kvm;
use paths::{Paths, Profile};
use tiers::{Tier, TIERS};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build [--debug]                  build kernel + roottask and target/facet.elf32
  run [--bare] [--kernel PATH] [--initrd PATH] [--append ARGS] [--vms N] [--vcpus N]
      [--mem MiB] [--debug] [--no-build] [--cmdline ARGS] [--roottask-args ARGS]
      [-- QEMU ARGS]
                                   boot Facet in QEMU, serial on this terminal: the
                                   console service and a VMM with a Debian Linux guest
                                   and a busybox shell (Ctrl-T n switches the input to
                                   VM n; Ctrl-A X quits QEMU); --bare: the roottask alone
  test [--tier NAME]... [--skip-host] [--no-build] [--list]
                                   host checks, then the on-target tiers, then a summary
  bench [--debug] [--no-build] [--quick] [--vmx]
                                   run the benchmarks (QEMU TCG with -icount: exact
                                   instruction counts; then TCG ticks or KVM cycles, the
                                   Linux guest and the VM-exit round trip on VMX under
                                   Bochs); --quick: the exact run only; --vmx: and Bochs
  profile [--debug] [--no-build] [--only PREFIX]... [--by-symbol] [--boot-kernel ELF32]
                                   each benchmark operation's instructions from QEMU's
                                   execution log: the total and the costly ones by kind
                                   (MSR, CR, XSAVE, TLB, locked, serialising, VM,
                                   segment); --by-symbol adds them by function;
                                   --boot-kernel: another multiboot kernel (the
                                   reference's) runs the same roottask instead
  iso [--debug]                    build the GRUB ISOs target/facet-mb1.iso,
                                   target/facet-mb2.iso (BIOS) and target/facet-efi.iso
                                   (UEFI), and one per GRUB tier
  guest-check [--icount] [--shell] [--append ARGS]
                                   build the Linux guest images (target/guest) and
                                   boot them directly under QEMU TCG
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode, String> {
    let paths = Paths::discover();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match cmd.as_str() {
        "build" => build(&paths, rest),
        "run" => run(&paths, rest),
        "test" => test(&paths, rest),
        "iso" => iso(&paths, rest),
        "guest-check" => guest::check(&paths, rest),
        "bench" => {
            let o = parse_options(rest, &["--debug", "--no-build", "--quick", "--vmx"])?;
            setup::packages()?;
            let built = prepare(&paths, &o)?;
            bench::run(&paths, &built, o.quick, o.vmx)?;
            Ok(ExitCode::SUCCESS)
        }
        "profile" => {
            let o = parse_options(
                rest,
                &[
                    "--debug",
                    "--no-build",
                    "--only",
                    "--by-symbol",
                    "--boot-kernel",
                ],
            )?;
            setup::packages()?;
            let mut built = prepare(&paths, &o)?;
            let mut kernel = paths.kernel_elf64(profile(&o));
            if let Some(other) = &o.boot_kernel {
                built.kernel_elf32 =
                    std::path::absolute(other).map_err(|e| format!("{other}: {e}"))?;
                kernel = profile::symbols_beside(&built.kernel_elf32);
            }
            profile::run(&paths, &built, &kernel, &o.only, o.by_symbol)?;
            Ok(ExitCode::SUCCESS)
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

/// Options shared by the commands.
#[derive(Debug, Default, PartialEq)]
struct Options {
    debug: bool,
    no_build: bool,
    skip_host: bool,
    list: bool,
    /// `bench --quick`: the exact run only.
    quick: bool,
    /// `bench --vmx`: the VM-exit round trip on VMX under Bochs, also with `--quick`.
    vmx: bool,
    /// `profile --only PREFIX`: the benchmarks whose names start with one of them.
    only: Vec<String>,
    /// `profile --by-symbol`: each operation's instructions by function.
    by_symbol: bool,
    /// `profile --boot-kernel ELF32`: another multiboot kernel in Facet's place (the
    /// reference's, for its instruction mix), its symbols from the ELF64 beside it.
    boot_kernel: Option<String>,
    tiers: Vec<String>,
    cmdline: Option<String>,
    roottask_args: Option<String>,
    /// Everything after `--`.
    passthrough: Vec<String>,
}

/// Parses `args`, accepting only the flags in `allowed`.
fn parse_options(args: &[String], allowed: &[&str]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
        if a != "--" && !allowed.contains(&flag) {
            return Err(format!("unexpected argument `{a}`\n{USAGE}"));
        }
        let mut value = |name: &str| -> Result<String, String> {
            match a.split_once('=') {
                Some((_, v)) => Ok(v.to_string()),
                None => it.next().cloned().ok_or(format!("{name} needs a value")),
            }
        };
        match flag {
            "--" => {
                o.passthrough = it.by_ref().cloned().collect();
                break;
            }
            "--debug" => o.debug = true,
            "--no-build" => o.no_build = true,
            "--skip-host" => o.skip_host = true,
            "--list" => o.list = true,
            "--quick" => o.quick = true,
            "--by-symbol" => o.by_symbol = true,
            "--vmx" => o.vmx = true,
            "--only" => o.only.push(value("--only")?),
            "--boot-kernel" => o.boot_kernel = Some(value("--boot-kernel")?),
            "--tier" => o.tiers.push(value("--tier")?),
            "--cmdline" => o.cmdline = Some(value("--cmdline")?),
            "--roottask-args" => o.roottask_args = Some(value("--roottask-args")?),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    Ok(o)
}

fn profile(o: &Options) -> Profile {
    if o.debug {
        Profile::Debug
    } else {
        Profile::Release
    }
}

fn build(paths: &Paths, args: &[String]) -> Result<ExitCode, String> {
    let o = parse_options(args, &["--debug"])?;
    setup::rust_target(paths)?;
    let built = artifacts::build(paths, profile(&o))?;
    println!(
        "built {} and {}",
        paths.rel(&built.kernel_elf32),
        paths.rel(&built.roottask)
    );
    Ok(ExitCode::SUCCESS)
}

fn prepare(paths: &Paths, o: &Options) -> Result<Built, String> {
    if o.no_build {
        return Built::existing(paths, profile(o));
    }
    setup::rust_target(paths)?;
    artifacts::build(paths, profile(o))
}

fn run(paths: &Paths, args: &[String]) -> Result<ExitCode, String> {
    // The Linux options first; the rest are the shared ones.
    let mut setup = linux::Setup::default();
    let (mut bare, mut kernel, mut initrd) = (false, None, None);
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match flag {
            "--" => {
                rest.push(a.clone());
                rest.extend(it.by_ref().cloned());
                break;
            }
            "--bare" | "--linux" => bare = flag == "--bare",
            "--kernel" => kernel = Some(value().ok_or("--kernel needs a path")?),
            "--initrd" => initrd = Some(value().ok_or("--initrd needs a path")?),
            "--append" | "--vms" | "--vcpus" | "--mem" => {
                let v = value().ok_or(format!("{flag} needs a value"))?;
                linux::apply(&mut setup, flag, &v)?;
            }
            _ => rest.push(a.clone()),
        }
    }
    let o = parse_options(
        &rest,
        &["--debug", "--no-build", "--cmdline", "--roottask-args"],
    )?;
    setup::packages()?;
    let built = prepare(paths, &o)?;
    let kvm = Kvm::probe() == Kvm::Hardware;
    let mut qemu_args = launch::run_args(
        &paths.rel(&built.kernel_elf32),
        &paths.rel(&built.roottask),
        o.cmdline.as_deref().unwrap_or("serial"),
        o.roottask_args.as_deref().unwrap_or(""),
        kvm,
        &o.passthrough,
    );
    if !bare {
        let images = guest::build(paths)?;
        let kernel = kernel.map_or_else(|| images.fetched.vmlinuz.clone(), Into::into);
        let initrd =
            initrd.map_or_else(|| images.initramfs(guest::Mode::Shell).clone(), Into::into);
        for p in [&kernel, &initrd] {
            if !p.is_file() {
                return Err(format!("{} does not exist", p.display()));
            }
        }
        let (console, vmm) = (
            paths.program(profile(&o), "console"),
            paths.program(profile(&o), "vmm"),
        );
        let modules = linux::modules(
            &linux::Files {
                roottask: &built.roottask,
                console: &console,
                vmm: &vmm,
                kernel: &kernel,
                initrd: &initrd,
            },
            &setup,
            o.roottask_args.as_deref().unwrap_or("exit-when-done"),
        );
        launch::replace_machine(
            &mut qemu_args,
            &linux::initrd_value(&modules),
            setup.cpus(),
            setup.machine_mem(),
        );
    }
    eprintln!("{}", launch::shell_line(launch::QEMU, &qemu_args));
    let status = Command::new(launch::QEMU)
        .args(&qemu_args)
        .current_dir(&paths.root)
        .status()
        .map_err(|e| format!("{}: {e}", launch::QEMU))?;
    eprintln!("xtask: {}", emulator::describe_qemu_exit(status));
    Ok(ExitCode::from(run_exit_code(status.code())))
}

/// xtask's exit code for QEMU's: 0 when QEMU quit or the guest wrote 0 (status 1),
/// 1 when the guest reported failure (status 3), QEMU's own code otherwise.
fn run_exit_code(qemu: Option<i32>) -> u8 {
    match qemu {
        Some(0) | Some(1) => 0,
        Some(3) => 1,
        Some(c) => u8::try_from(c).unwrap_or(1).max(1),
        None => 1,
    }
}

fn test(paths: &Paths, args: &[String]) -> Result<ExitCode, String> {
    let o = parse_options(args, &["--tier", "--skip-host", "--no-build", "--list"])?;
    if o.list {
        for t in TIERS {
            println!("{:<14} {:>4} s  {}", t.name, t.timeout_s, t.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let selected = select_tiers(&o.tiers)?;

    setup::rust_target(paths)?;
    setup::packages()?;

    let host = (!o.skip_host).then(|| host::run(paths));

    let built = if o.no_build {
        Built::existing(paths, Profile::Release)
    } else {
        println!("==> building kernel and roottask (release)");
        artifacts::build(paths, Profile::Release).and_then(|mut b| {
            if selected.iter().any(|t| t.checked_kernel) {
                println!("==> building the checked kernel (release with debug assertions)");
                b.checked_kernel_elf32 = Some(artifacts::build_checked(paths)?);
            }
            Ok(b)
        })
    };
    if let Err(e) = &built {
        eprintln!("xtask: {e}");
    }
    let built = built.and_then(|b| artifacts::junk_roottask(paths).map(|_| b));
    let ctx = harness::Context {
        paths,
        built,
        kvm: Kvm::probe(),
    };
    let outcomes: Vec<_> = selected.iter().map(|t| harness::run(&ctx, t)).collect();

    let (text, ok) = summary::render(host.as_ref(), &outcomes);
    print!("{text}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The tiers named by `--tier` (all when none), in table order.
fn select_tiers(names: &[String]) -> Result<Vec<&'static Tier>, String> {
    for n in names {
        if tiers::find(n).is_none() {
            return Err(format!(
                "unknown tier `{n}`; the tiers are: {}",
                tiers::names()
            ));
        }
    }
    Ok(TIERS
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
        .collect())
}

fn iso(paths: &Paths, args: &[String]) -> Result<ExitCode, String> {
    let o = parse_options(args, &["--debug"])?;
    setup::rust_target(paths)?;
    setup::packages()?;
    let built = artifacts::build(paths, profile(&o))?;
    let (bios, uefi) = (Firmware::Bios, Firmware::Uefi);
    let mut made = vec![
        artifacts::iso(paths, &built, "mb1", (Multiboot::V1, bios), "serial", "")?,
        artifacts::iso(paths, &built, "mb2", (Multiboot::V2, bios), "serial", "")?,
        artifacts::iso(paths, &built, "efi", (Multiboot::V2, uefi), "serial", "")?,
    ];
    for t in TIERS {
        if let Some(how) = t.boot.iso() {
            made.push(artifacts::iso(
                paths,
                &built,
                t.name,
                how,
                t.kernel_args,
                t.roottask_args,
            )?);
        }
    }
    for m in made {
        println!("{}", paths.rel(&m));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(
            &strings(&["--tier", "tcg-amd", "--tier=panic", "--skip-host"]),
            &["--tier", "--skip-host"],
        )
        .unwrap();
        assert_eq!(o.tiers, ["tcg-amd", "panic"]);
        assert!(o.skip_host && !o.debug);
        assert!(parse_options(&strings(&["--debug"]), &["--tier"]).is_err());
        assert!(parse_options(&strings(&["--tier"]), &["--tier"]).is_err());
        let o = parse_options(&strings(&["--debug", "--", "-s", "-S"]), &["--debug"]).unwrap();
        assert_eq!(o.passthrough, ["-s", "-S"]);
    }

    #[test]
    fn tier_selection() {
        assert_eq!(select_tiers(&[]).unwrap().len(), TIERS.len());
        let s = select_tiers(&strings(&["panic", "tcg-amd"])).unwrap();
        assert_eq!(
            s.iter().map(|t| t.name).collect::<Vec<_>>(),
            ["tcg-amd", "panic"]
        );
        let e = select_tiers(&strings(&["nope"])).unwrap_err();
        assert!(e.contains("tcg-amd"));
    }

    #[test]
    fn run_exit_codes() {
        assert_eq!(run_exit_code(Some(0)), 0);
        assert_eq!(run_exit_code(Some(1)), 0);
        assert_eq!(run_exit_code(Some(3)), 1);
        assert_eq!(run_exit_code(Some(5)), 5);
        assert_eq!(run_exit_code(None), 1);
    }
}

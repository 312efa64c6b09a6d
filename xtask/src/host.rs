//! The host checks, the first part of `cargo xtask test`: formatting, clippy for the
//! host crates and for the bare-target crates, and `cargo test` of the default members,
//! whose output is streamed while its `test result:` lines are summed.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::artifacts::{cargo, cargo_target};
use crate::paths::{Paths, Profile};
use crate::summary::HostOutcome;

/// The crates that only build for the bare target.
pub const TARGET_CRATES: [&str; 6] = [
    "facet-kernel",
    "facet-rt",
    "facet-roottask",
    "facet-console",
    "facet-vmm",
    "facet-edu",
];

/// Runs every host check (each one even if an earlier one failed).
pub fn run(paths: &Paths) -> HostOutcome {
    let mut outcome = HostOutcome::default();

    println!("==> cargo fmt --all -- --check");
    let mut fmt = cargo(paths);
    fmt.args(["fmt", "--all", "--", "--check"]);
    outcome
        .checks
        .push(("cargo fmt --check".into(), succeeds(fmt)));

    println!("==> cargo clippy (host crates)");
    let mut clippy = cargo(paths);
    clippy
        .args(["clippy", "--workspace"])
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for c in TARGET_CRATES {
        clippy.args(["--exclude", c]);
    }
    clippy.args(["--all-targets", "--", "-D", "warnings"]);
    outcome
        .checks
        .push(("cargo clippy (host crates)".into(), succeeds(clippy)));

    println!("==> cargo clippy (x86_64-unknown-none crates)");
    let mut clippy = cargo_target(paths, "clippy", Profile::Release);
    for c in TARGET_CRATES {
        clippy.args(["-p", c]);
    }
    clippy.args(["--", "-D", "warnings"]);
    outcome
        .checks
        .push(("cargo clippy (target crates)".into(), succeeds(clippy)));

    println!("==> cargo test");
    let mut test = cargo(paths);
    test.arg("test").env_remove("CARGO_ENCODED_RUSTFLAGS");
    let (ok, passed, failed) = stream_tests(test);
    outcome.checks.push(("cargo test".into(), ok));
    outcome.passed = passed;
    outcome.failed = failed;
    outcome
}

fn succeeds(mut cmd: std::process::Command) -> bool {
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("xtask: {e}");
            false
        }
    }
}

/// Runs `cargo test` with its standard output echoed line by line; returns success and
/// the summed passed/failed counts of its `test result:` lines.
fn stream_tests(mut cmd: std::process::Command) -> (bool, u64, u64) {
    cmd.stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: cargo test: {e}");
            return (false, 0, 0);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line);
            println!("{line}");
            if let Some((p, f)) = parse_test_result(&line) {
                passed += p;
                failed += f;
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    (ok, passed, failed)
}

/// Parses libtest's `test result: ok. 12 passed; 0 failed; 0 ignored; ...`.
pub fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_verdict, counts) = rest.split_once(". ")?;
    let mut passed = None;
    let mut failed = None;
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        match what {
            "passed" => passed = n.parse().ok(),
            "failed" => failed = n.parse().ok(),
            _ => {}
        }
    }
    Some((passed?, failed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_result_lines() {
        assert_eq!(
            parse_test_result("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"),
            Some((12, 0))
        );
        assert_eq!(
            parse_test_result("test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.20s\r"),
            Some((3, 2))
        );
        assert_eq!(parse_test_result("running 12 tests"), None);
        assert_eq!(parse_test_result("test foo ... ok"), None);
        assert_eq!(parse_test_result("test result: garbage"), None);
    }
}

//! The verdict of `cargo xtask test`: one line per host check and per tier, then the
//! three closing lines CI reads:
//!
//! ```text
//! host: test result: ok. <P> passed; <F> failed
//! on-target: <tiers passed> tiers passed, <tiers failed> failed, <skipped> skipped
//! <N> passed, <M> failed
//! ```
//!
//! The last line counts the on-target tests: the `test ... ok` and `test ... FAILED`
//! lines of every suite tier, plus one passed test per passing fatal tier, plus one
//! failed test per failing tier whose own test lines show no failure (no closing line,
//! a crash, a wrong exit status, a W^X violation): so `M` is 0 exactly when every tier
//! that ran passed.

use std::fmt::Write as _;

/// How a tier ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// The reasons.
    Failed(Vec<String>),
    /// Why it did not run.
    Skipped(String),
}

/// The kind of expectation, as far as counting goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Suite,
    Fatal,
}

/// One tier's result.
#[derive(Clone, Debug, PartialEq)]
pub struct TierOutcome {
    pub name: &'static str,
    pub kind: Kind,
    pub status: Status,
    /// `test ... ok` lines.
    pub ok_lines: u64,
    /// `test ... FAILED` lines.
    pub failed_lines: u64,
    pub seconds: f64,
    /// Extra information for the summary line (e.g. the W^X counts).
    pub note: Option<String>,
}

impl TierOutcome {
    pub fn skipped(name: &'static str, kind: Kind, why: impl Into<String>) -> TierOutcome {
        TierOutcome {
            name,
            kind,
            status: Status::Skipped(why.into()),
            ok_lines: 0,
            failed_lines: 0,
            seconds: 0.0,
            note: None,
        }
    }

    /// This tier's share of the last line: `(passed, failed)`.
    pub fn tests(&self) -> (u64, u64) {
        match (&self.status, self.kind) {
            (Status::Skipped(_), _) => (0, 0),
            (Status::Passed, Kind::Fatal) => (1, 0),
            (Status::Failed(_), Kind::Fatal) => (0, 1),
            (Status::Passed, Kind::Suite) => (self.ok_lines, self.failed_lines),
            (Status::Failed(_), Kind::Suite) => (
                self.ok_lines,
                self.failed_lines + u64::from(self.failed_lines == 0),
            ),
        }
    }
}

/// The host checks' results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostOutcome {
    /// `(name, ok)` for each check (fmt, clippy, cargo test).
    pub checks: Vec<(String, bool)>,
    /// Summed over the `test result:` lines of `cargo test`.
    pub passed: u64,
    pub failed: u64,
}

impl HostOutcome {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok) && self.failed == 0
    }
}

/// The summary text and whether everything passed.
pub fn render(host: Option<&HostOutcome>, tiers: &[TierOutcome]) -> (String, bool) {
    let mut s = String::new();
    let _ = writeln!(s, "\n======== summary ========");
    if let Some(h) = host {
        for (name, ok) in &h.checks {
            let _ = writeln!(s, "host  {name:<32} {}", if *ok { "ok" } else { "FAILED" });
        }
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let (mut tests_ok, mut tests_failed) = (0, 0);
    for t in tiers {
        let (p, f) = t.tests();
        tests_ok += p;
        tests_failed += f;
        let verdict = match &t.status {
            Status::Passed => {
                passed += 1;
                "ok".to_string()
            }
            Status::Failed(why) => {
                failed += 1;
                format!("FAILED: {}", why.join("; "))
            }
            Status::Skipped(why) => {
                skipped += 1;
                format!("SKIPPED ({why})")
            }
        };
        let mut line = format!("tier  {:<14} {verdict}", t.name);
        if !matches!(t.status, Status::Skipped(_)) {
            let _ = write!(line, " [{p} passed, {f} failed; {:.1} s]", t.seconds);
        }
        if let Some(note) = &t.note {
            let _ = write!(line, " [{note}]");
        }
        let _ = writeln!(s, "{line}");
    }
    let host_ok = host.is_none_or(HostOutcome::ok);
    match host {
        Some(h) => {
            let _ = writeln!(
                s,
                "host: test result: {}. {} passed; {} failed",
                if h.ok() { "ok" } else { "FAILED" },
                h.passed,
                h.failed
            );
        }
        None => {
            let _ = writeln!(s, "host: skipped (--skip-host)");
        }
    }
    let _ = writeln!(
        s,
        "on-target: {passed} tiers passed, {failed} failed, {skipped} skipped"
    );
    let _ = writeln!(s, "{tests_ok} passed, {tests_failed} failed");
    (s, host_ok && failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &'static str, kind: Kind, status: Status, ok: u64, bad: u64) -> TierOutcome {
        TierOutcome {
            name,
            kind,
            status,
            ok_lines: ok,
            failed_lines: bad,
            seconds: 1.0,
            note: None,
        }
    }

    #[test]
    fn counting_rules() {
        let f = |why: &str| Status::Failed(vec![why.to_string()]);
        assert_eq!(
            tier("a", Kind::Suite, Status::Passed, 40, 0).tests(),
            (40, 0)
        );
        assert_eq!(tier("a", Kind::Suite, f("x"), 39, 1).tests(), (39, 1));
        assert_eq!(
            tier("a", Kind::Suite, f("no closing line"), 5, 0).tests(),
            (5, 1)
        );
        assert_eq!(tier("a", Kind::Fatal, Status::Passed, 0, 0).tests(), (1, 0));
        assert_eq!(tier("a", Kind::Fatal, f("timeout"), 0, 0).tests(), (0, 1));
        assert_eq!(
            TierOutcome::skipped("kvm", Kind::Suite, "x").tests(),
            (0, 0)
        );
    }

    #[test]
    fn all_green() {
        let host = HostOutcome {
            checks: vec![("cargo fmt --check".into(), true)],
            passed: 120,
            failed: 0,
        };
        let tiers = [
            tier("tcg-amd", Kind::Suite, Status::Passed, 40, 0),
            TierOutcome::skipped("kvm", Kind::Suite, "no hardware KVM"),
            tier("panic", Kind::Fatal, Status::Passed, 0, 0),
        ];
        let (text, ok) = render(Some(&host), &tiers);
        assert!(ok);
        assert!(text.ends_with(
            "host: test result: ok. 120 passed; 0 failed\n\
             on-target: 2 tiers passed, 0 failed, 1 skipped\n\
             41 passed, 0 failed\n"
        ));
        assert!(text.contains("tier  kvm            SKIPPED (no hardware KVM)\n"));
    }

    #[test]
    fn any_failure_fails() {
        let host = HostOutcome {
            checks: vec![("clippy".into(), false)],
            passed: 3,
            failed: 0,
        };
        let (text, ok) = render(Some(&host), &[]);
        assert!(!ok);
        assert!(text.contains("host: test result: FAILED. 3 passed; 0 failed\n"));

        let tiers = [tier(
            "exception",
            Kind::Fatal,
            Status::Failed(vec!["timed out".into()]),
            0,
            0,
        )];
        let (text, ok) = render(None, &tiers);
        assert!(!ok);
        assert!(text.ends_with(
            "host: skipped (--skip-host)\non-target: 0 tiers passed, 1 failed, 0 skipped\n0 passed, 1 failed\n"
        ));
        assert!(text.contains("FAILED: timed out"));
    }
}

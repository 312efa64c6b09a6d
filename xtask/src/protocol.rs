//! The serial test protocol, read from a log: test lines `test NAME ... ok` and
//! `test NAME ... FAILED (why)`, the closing line `N passed, M failed`, and the lines
//! that mean the kernel gave up (`FACET PANIC`, `FACET EXCEPTION`).
//!
//! Everything here is a pure function of the log text, so the verdict logic is
//! unit-tested without an emulator. Lines may end in `\r\n`; bytes that are not UTF-8
//! were already replaced by the caller.

/// Markers of a dead kernel. They are searched anywhere in a line, not only at its
/// start, so that output interleaved from two CPUs cannot hide a panic.
pub const FATAL_MARKERS: [&str; 2] = ["FACET PANIC", "FACET EXCEPTION"];

/// Test lines the kernel prints about itself.
pub const KERNEL_TEST_PREFIX: &str = "test kernel::";

/// How long the harness lets a dying kernel finish its register dump before it stops
/// the emulator (milliseconds).
pub const FATAL_GRACE_MS: u64 = 1000;

/// What a serial log says about a suite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `(passed, failed)` of the last closing line, if any.
    pub closing: Option<(u64, u64)>,
    /// Number of `test ... ok` lines of the roottask's suite (the ones its closing line
    /// counts).
    pub ok: u64,
    /// Number of `test kernel::... ok` lines: the kernel's own checks at boot, printed
    /// before the roottask runs and so not in its closing line.
    pub kernel_ok: u64,
    /// `test ... FAILED` lines.
    pub failed_tests: Vec<String>,
    /// Every line containing `FAILED` (the test lines among them).
    pub failed_lines: Vec<String>,
    /// Lines containing a [`FATAL_MARKERS`] marker.
    pub fatal_lines: Vec<String>,
}

/// The lines of a log, without line terminators.
pub fn lines(log: &str) -> impl Iterator<Item = &str> {
    log.split('\n').map(|l| l.trim_end_matches('\r'))
}

/// Parses the closing line `N passed, M failed` (the whole line, nothing else).
pub fn closing_line(line: &str) -> Option<(u64, u64)> {
    let (n, rest) = line.trim().split_once(" passed, ")?;
    let m = rest.strip_suffix(" failed")?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some((number(n)?, number(m)?))
}

/// `test NAME ... ok`
pub fn is_ok_test(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("test ") && line.ends_with(" ... ok")
}

/// `test NAME ... FAILED...`
pub fn is_failed_test(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("test ") && line.contains(" ... FAILED")
}

/// Whether a line says the kernel panicked or took an exception.
pub fn is_fatal(line: &str) -> bool {
    FATAL_MARKERS.iter().any(|m| line.contains(m))
}

/// Reads a whole log.
pub fn parse(log: &str) -> Report {
    let mut r = Report::default();
    for line in lines(log) {
        if let Some(c) = closing_line(line) {
            r.closing = Some(c);
        }
        if is_ok_test(line) {
            if line.trim().starts_with(KERNEL_TEST_PREFIX) {
                r.kernel_ok += 1;
            } else {
                r.ok += 1;
            }
        }
        if is_failed_test(line) {
            r.failed_tests.push(line.to_string());
        }
        if line.contains("FAILED") {
            r.failed_lines.push(line.to_string());
        }
        if is_fatal(line) {
            r.fatal_lines.push(line.to_string());
        }
    }
    r
}

/// Whether the log has a closing line (cheap check for the polling loop).
pub fn has_closing_line(log: &str) -> bool {
    lines(log).any(|l| closing_line(l).is_some())
}

/// Whether the log shows a kernel panic or exception.
pub fn has_fatal(log: &str) -> bool {
    lines(log).any(is_fatal)
}

/// The substrings of `wanted` that the log lacks.
pub fn missing<'a>(log: &str, wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|w| !log.contains(w))
        .collect()
}

/// What is wrong with a suite run, judged by its log alone (empty: nothing).
pub fn suite_problems(report: &Report, log: &str, must_contain: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    match report.closing {
        None => problems.push("no closing line `N passed, M failed`".to_string()),
        Some((n, m)) => {
            if m != 0 {
                problems.push(format!("the suite reports {m} failed"));
            }
            if report.ok != n {
                problems.push(format!(
                    "the closing line says {n} passed but {} `test ... ok` lines were printed",
                    report.ok
                ));
            }
            if report.failed_tests.len() as u64 != m {
                problems.push(format!(
                    "the closing line says {m} failed but {} `test ... FAILED` lines were printed",
                    report.failed_tests.len()
                ));
            }
        }
    }
    if !report.failed_lines.is_empty() {
        problems.push(format!(
            "{} line(s) contain FAILED: {}",
            report.failed_lines.len(),
            excerpt(&report.failed_lines)
        ));
    }
    if !report.fatal_lines.is_empty() {
        problems.push(format!("the kernel died: {}", excerpt(&report.fatal_lines)));
    }
    let absent = missing(log, must_contain);
    if !absent.is_empty() {
        problems.push(format!("the log lacks {}", quoted(&absent)));
    }
    problems.extend(flood_problems(log));
    problems
}

/// The kernel's budget of messages of one kind per second (`BURST` in
/// `kernel/src/console/limited.rs`).
pub const MESSAGES_PER_SECOND: u64 = 10;

/// What is wrong with the flood test's part of a log (`flood.rs` of the roottask's
/// suite): between its lines `flood: N global ECs stop ...` and `flood: done in M ms`,
/// the kernel's `... has no usable start-up portal` messages and the counts of its
/// `FACET: K stopped-thread messages suppressed` reports must add up to N, and no more
/// may be printed than the budget allows in M ms (a window more for the one under way
/// at the start and one for the report). Empty when all is well or the test did not
/// run; a start without an end is the suite's failure to report, not this check's.
pub fn flood_problems(log: &str) -> Vec<String> {
    const START: &str = "flood: ";
    const STARTED: &str = " global ECs stop without a start-up portal";
    const DONE: &str = "flood: done in ";
    const STOPPED: &str = "has no usable start-up portal";
    const SUPPRESSED: &str = " stopped-thread messages suppressed";
    let Some((at, threads)) = lines(log).enumerate().find_map(|(i, l)| {
        let n = l.trim().strip_prefix(START)?.strip_suffix(STARTED)?;
        Some((i, n.parse::<u64>().ok()?))
    }) else {
        return Vec::new();
    };
    let (mut printed, mut suppressed, mut ms) = (0, 0, None);
    for line in lines(log).skip(at + 1) {
        if let Some(m) = line.trim().strip_prefix(DONE) {
            ms = m.strip_suffix(" ms").and_then(|m| m.parse::<u64>().ok());
            break;
        }
        printed += line.matches(STOPPED).count() as u64;
        // "FACET: K stopped-thread messages suppressed", anywhere in the line.
        for (end, _) in line.match_indices(SUPPRESSED) {
            let before = &line[..end];
            let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            suppressed += before[end - digits..].parse::<u64>().unwrap_or(0);
        }
    }
    let Some(ms) = ms else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if printed + suppressed != threads {
        problems.push(format!(
            "flood: {threads} threads stopped, but {printed} messages were printed and \
             {suppressed} reported suppressed"
        ));
    }
    let budget = MESSAGES_PER_SECOND * (ms / 1000 + 2);
    if printed > budget {
        problems.push(format!(
            "flood: {printed} messages printed in {ms} ms (at most {budget})"
        ));
    }
    problems
}

/// What is wrong with a fatal-expectation run (empty: the expected message is there).
pub fn fatal_problems(log: &str, must_contain: &[&str]) -> Vec<String> {
    let absent = missing(log, must_contain);
    if absent.is_empty() {
        Vec::new()
    } else {
        vec![format!("the log lacks {}", quoted(&absent))]
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn excerpt(lines: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = lines
        .iter()
        .take(SHOWN)
        .map(|l| format!("`{}`", l.trim()))
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > SHOWN {
        s.push_str(&format!("; and {} more", lines.len() - SHOWN));
    }
    s
}

/// The last `n` lines of `log`, and how many lines it has in all.
pub fn tail(log: &str, n: usize) -> (Vec<&str>, usize) {
    let all: Vec<&str> = lines(log.strip_suffix('\n').unwrap_or(log)).collect();
    let total = if log.is_empty() { 0 } else { all.len() };
    let start = total.saturating_sub(n);
    (all[start..total].to_vec(), total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_flood_is_bounded_and_counted() {
        let log = |lines: &[&str]| lines.join("\n");
        let stop = "FACET: global EC on CPU 0 has no usable start-up portal; stopped";
        let mut good = vec!["flood: 30 global ECs stop without a start-up portal"];
        good.extend([stop; 10]);
        good.push("FACET: 15 stopped-thread messages suppressed");
        good.push("FACET: 5 stopped-thread messages suppressedtest x ... ok");
        good.push("flood: done in 900 ms");
        assert_eq!(flood_problems(&log(&good)), Vec::<String>::new());
        // Not run, or cut short: nothing to say here.
        assert!(flood_problems("test a ... ok\n1 passed, 0 failed").is_empty());
        assert!(flood_problems(&log(&good[..5])).is_empty());
        // Messages lost.
        let mut lost = good.clone();
        lost.remove(11);
        assert_eq!(flood_problems(&log(&lost)).len(), 1);
        // Too many printed for the time: 30 in under a second.
        let mut many = vec!["flood: 30 global ECs stop without a start-up portal"];
        many.extend([stop; 30]);
        many.push("flood: done in 999 ms");
        let p = flood_problems(&log(&many));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("30 messages printed in 999 ms (at most 20)"));
        // The same in a longer run is within the budget.
        many.pop();
        many.push("flood: done in 1000 ms");
        assert!(flood_problems(&log(&many)).is_empty());
        // It counts in a suite's verdict.
        let report = parse(&log(&lost));
        assert!(suite_problems(&report, &log(&lost), &[])
            .iter()
            .any(|p| p.starts_with("flood:")));
    }

    use super::*;

    const PASSING: &str = "Facet 0.1.0 on 2 CPUs (AMD, SVM)\r\n\
        Hello from the Facet roottask on CPU 0\r\n\
        test ipc::call_reply_same_cpu ... ok\r\n\
        test cap::revoke_is_recursive ... ok\r\n\
        test mem::map_unmap ... ok\r\n\
        3 passed, 0 failed\r\n";

    #[test]
    fn closing_lines() {
        assert_eq!(closing_line("12 passed, 1 failed"), Some((12, 1)));
        assert_eq!(closing_line("0 passed, 0 failed\r"), Some((0, 0)));
        assert_eq!(closing_line("test x ... 1 passed, 0 failed"), None);
        assert_eq!(closing_line("12 passed, 1 failed!"), None);
        assert_eq!(closing_line("-1 passed, 0 failed"), None);
        assert_eq!(closing_line("+1 passed, 0 failed"), None);
        assert_eq!(closing_line(" passed, 0 failed"), None);
        assert_eq!(closing_line("12 passed; 1 failed"), None);
    }

    #[test]
    fn test_lines() {
        assert!(is_ok_test("test ipc::call ... ok"));
        assert!(is_ok_test("test ipc::call ... ok\r"));
        assert!(!is_ok_test("test ipc::call ... okay"));
        assert!(!is_ok_test("this test ... ok"));
        assert!(is_failed_test(
            "test a::b ... FAILED (expected BAD_CAP, got SUCCESS)"
        ));
        assert!(!is_failed_test("test a::b ... ok"));
    }

    #[test]
    fn a_passing_log() {
        let r = parse(PASSING);
        assert_eq!(r.closing, Some((3, 0)));
        assert_eq!(r.ok, 3);
        assert!(r.failed_lines.is_empty() && r.fatal_lines.is_empty());
        assert!(suite_problems(&r, PASSING, &[]).is_empty());
        assert!(suite_problems(&r, PASSING, &["SVM"]).is_empty());
        let p = suite_problems(&r, PASSING, &["VMX"]);
        assert_eq!(p, ["the log lacks \"VMX\""]);
        assert!(has_closing_line(PASSING));
        assert!(!has_fatal(PASSING));
    }

    #[test]
    fn a_failing_test() {
        let log = "test a ... ok\ntest b ... FAILED (expected BAD_CAP, got SUCCESS)\n1 passed, 1 failed\n";
        let r = parse(log);
        assert_eq!(r.closing, Some((1, 1)));
        assert_eq!(r.failed_tests.len(), 1);
        let p = suite_problems(&r, log, &[]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("1 failed"));
        assert!(p[1].contains("test b ... FAILED"));
    }

    #[test]
    fn failed_anywhere_fails() {
        let log = "test a ... ok\nsmp: CPU 1 FAILED to start\n1 passed, 0 failed\n";
        let p = suite_problems(&parse(log), log, &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("CPU 1 FAILED"));
    }

    #[test]
    fn miscounted_suite() {
        let log = "test a ... ok\n2 passed, 0 failed\n";
        let p = suite_problems(&parse(log), log, &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("says 2 passed but 1"));
    }

    #[test]
    fn missing_closing_line_and_panic() {
        let log =
            "test a ... ok\n\nFACET PANIC at kernel/src/x.rs:1:2: oops\n  rsp 0\nFACET: halted\n";
        let r = parse(log);
        assert_eq!(r.closing, None);
        assert_eq!(r.fatal_lines, ["FACET PANIC at kernel/src/x.rs:1:2: oops"]);
        let p = suite_problems(&r, log, &[]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("no closing line"));
        assert!(p[1].contains("FACET PANIC at kernel/src/x.rs:1:2: oops"));
        assert!(has_fatal(log));
    }

    #[test]
    fn interleaved_exception_is_seen() {
        let log = "test a ...FACET EXCEPTION #GP (vector 13) ok\n1 passed, 0 failed\n";
        assert!(!suite_problems(&parse(log), log, &[]).is_empty());
    }

    #[test]
    fn last_closing_line_counts() {
        let log = "0 passed, 0 failed\ntest a ... ok\n1 passed, 0 failed\n";
        assert_eq!(parse(log).closing, Some((1, 0)));
    }

    #[test]
    fn fatal_expectations() {
        let log = "\nFACET PANIC at kernel/src/main.rs:9:5: crash test\n";
        assert!(fatal_problems(log, &["FACET PANIC", "crash test"]).is_empty());
        let p = fatal_problems("FACET PANIC: other\n", &["FACET PANIC", "crash test"]);
        assert_eq!(p, ["the log lacks \"crash test\""]);
        let log = "FACET: roottask module 0 is not an ELF64 executable Facet can load\n";
        assert!(fatal_problems(log, &["roottask", "not an ELF"]).is_empty());
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), (vec!["b", "c"], 3));
        assert_eq!(tail("a\nb\nc", 5), (vec!["a", "b", "c"], 3));
        assert_eq!(tail("", 5), (vec![], 0));
    }
}

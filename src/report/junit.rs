//! `junit.xml`: the run's checks as JUnit test cases, for CI systems that show test results
//! (GitHub, GitLab, Jenkins all read this dialect).
//!
//! One `<testsuite name="gwsim.<scenario>">` holds one `<testcase>` per threshold (classname: the
//! metric; name: the check as a sentence, `Consult.settle p99 <= 500ms`). A failed threshold has a
//! `<failure>` with the observed value and the limit (for an error count or rate, also which
//! operations failed and with which kinds); a threshold with no data or one that does
//! not apply fails too, as its verdict does (see [`ThresholdOutcome`]). Ordering violations that
//! no `violations` threshold governs are a check of their own, the `ordering violations` case,
//! present whenever thresholds do not govern every kind (passing when none occurred), so the set
//! of test cases does not change from run to run. An interrupted run adds a failing
//! `run completed` case: partial results must not look green.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::faults::ratio;
use super::files::{JUNIT_FILE, write_atomic};
use super::thresholds::{self, limit_text, relation, show};
use super::{Report, ReportError, ScenarioView, ThresholdOutcome, ThresholdVerdict};
use crate::vocab::{Counter, Metric, OpMetric};

/// The classname of the checks that are not thresholds.
const RUN_CLASS: &str = "gwsim.run";

struct Case {
    classname: String,
    name: String,
    /// `(type, message, body)` of a failure.
    failure: Option<(&'static str, String, String)>,
}

/// Which operations failed and how, for an error threshold: `Accept status-2 7, Notifications
/// cometd-closed 5` (most first), so a failed `errors` check names what to look at. Errors
/// counted outside any operation (the customers' side) are named as such. `None` for other
/// metrics, or when nothing failed.
fn error_breakdown<S>(report: &Report<S>, metric: Metric) -> Option<String> {
    let only = match metric {
        Metric::Op(op, OpMetric::Errors) => Some(op),
        Metric::Counter(Counter::Errors) => None,
        _ => return None,
    };
    let mut parts: Vec<(u64, String)> = report
        .operations
        .iter()
        .filter(|o| only.is_none_or(|op| o.name == op))
        .flat_map(|o| {
            o.errors_by_kind.iter().map(move |(kind, n)| (*n, format!("{} {kind}", o.name)))
        })
        .filter(|(n, _)| *n > 0)
        .collect();
    if only.is_none() {
        let by_ops: u64 = report.operations.iter().map(|o| o.errors).sum();
        let rest = report.counts.errors.saturating_sub(by_ops);
        if rest > 0 {
            parts.push((rest, "customer side".to_owned()));
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Some(parts.iter().map(|(n, what)| format!("{what} {n}")).collect::<Vec<_>>().join(", "))
}

fn threshold_case<S>(report: &Report<S>, v: &ThresholdVerdict) -> Case {
    let check = format!("{} {} {} {}", v.metric, v.stat, relation(v), limit_text(v));
    let limit = show(v.unit, v.limit_value);
    let failure = match v.outcome {
        ThresholdOutcome::Pass => None,
        ThresholdOutcome::Fail => {
            let observed = v.observed.map_or_else(|| "nothing".to_owned(), |o| show(v.unit, o));
            let mut message = format!("observed {observed}, limit {} {limit}", relation(v));
            if let Some(which) = error_breakdown(report, v.metric) {
                message.push_str("; failed: ");
                message.push_str(&which);
            }
            Some(("threshold", message))
        }
        ThresholdOutcome::NoData => Some((
            "no-data",
            format!("no data: nothing was measured for {}, so the check cannot hold", v.metric),
        )),
        ThresholdOutcome::Inapplicable => Some((
            "inapplicable",
            format!("the limit {limit} does not apply to {} {}", v.metric, v.stat),
        )),
    };
    Case {
        classname: v.metric.to_string(),
        name: check.clone(),
        failure: failure.map(|(kind, message)| {
            let body = format!("{check}: {message}");
            (kind, message, body)
        }),
    }
}

fn cases<S>(report: &Report<S>) -> Vec<Case> {
    let mut out: Vec<Case> = report.thresholds.iter().map(|v| threshold_case(report, v)).collect();
    if !thresholds::violations_all_governed(report) {
        let failure = thresholds::ungoverned_violations(report).map(|message| {
            let body = report
                .violations
                .first
                .iter()
                .map(|x| {
                    format!(
                        "{} at {} ms: {} on {}: expected {}, got {}",
                        x.kind, x.at_ms, x.agent, x.interaction, x.expected, x.got
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            ("violations", message, body)
        });
        out.push(Case {
            classname: RUN_CLASS.to_owned(),
            name: "ordering violations".to_owned(),
            failure,
        });
    }
    out.extend(fault_cases(report));
    // Only a failing run has this case: a run that served something passes it silently, so
    // existing reports keep their cases.
    if let Some(message) = super::served::served_nothing(report) {
        out.push(Case {
            classname: RUN_CLASS.to_owned(),
            name: "agents served".to_owned(),
            failure: Some(("served-nothing", message.clone(), message)),
        });
    }
    if report.partial {
        let message = "the run was interrupted: results cover only part of it".to_owned();
        out.push(Case {
            classname: RUN_CLASS.to_owned(),
            name: "run completed".to_owned(),
            failure: Some(("interrupted", message.clone(), message)),
        });
    }
    out
}

/// One case per fault kind the ledger holds (classname `faults.<kind>`): for an ordering kind its
/// name is the kind's recall and precision, for a latency-only kind (the server's latencies and
/// errors, the fault proxy's kinds) how many were injected. These cases pass: what a run demands
/// of its checker is written as `faults.*` thresholds, whose own cases fail like any threshold,
/// so `junit.xml` and the exit code never disagree. Missed faults are in the terminal summary and
/// `summary.json`. Only a run with `[faults]` or `[proxy]` has them.
fn fault_cases<S>(report: &Report<S>) -> Vec<Case> {
    let Some(f) = &report.faults else { return Vec::new() };
    f.kinds
        .iter()
        .map(|k| Case {
            classname: format!("faults.{}", k.kind),
            name: if k.ordering {
                format!(
                    "{}: recall {} ({} of {} found), precision {} ({} violations unexplained)",
                    k.kind,
                    ratio(k.recall),
                    k.found,
                    k.records,
                    ratio(k.precision),
                    k.unexplained
                )
            } else {
                format!(
                    "{}: {} injected (no recall: it changes timing, not order)",
                    k.kind, k.records
                )
            },
            failure: None,
        })
        .collect()
}

/// The report's checks as a JUnit XML document, ending in a newline.
pub fn junit_xml<S: ScenarioView>(report: &Report<S>) -> String {
    let cases = cases(report);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let suite = format!("gwsim.{}", report.scenario.name());
    let seconds = format!("{:.3}", report.duration_ms as f64 / 1000.0);
    let mut o = String::new();
    // `write!` into a `String` cannot fail; the results are ignored for that reason.
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="gwsim" tests="{}" failures="{failures}" errors="0" time="{seconds}">"#,
        cases.len()
    );
    let _ = writeln!(
        o,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0" timestamp="{}" time="{seconds}">"#,
        escape(&suite),
        cases.len(),
        escape(&report.started),
    );
    let _ = writeln!(o, "    <properties>");
    for (name, value) in [
        ("seed", report.seed.to_string()),
        ("target", format!("{} {}", report.target.kind, report.target.base_url)),
        ("partial", report.partial.to_string()),
        ("exit", report.exit.code.to_string()),
        ("gwsim", report.versions.gwsim.clone()),
    ] {
        let _ =
            writeln!(o, r#"      <property name="{}" value="{}"/>"#, escape(name), escape(&value));
    }
    let _ = writeln!(o, "    </properties>");
    for c in &cases {
        let head = format!(
            r#"    <testcase classname="{}" name="{}" time="0""#,
            escape(&c.classname),
            escape(&c.name)
        );
        match &c.failure {
            None => {
                let _ = writeln!(o, "{head}/>");
            }
            Some((kind, message, body)) => {
                let _ = writeln!(o, "{head}>");
                let _ = writeln!(
                    o,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    escape(kind),
                    escape(message),
                    escape(body)
                );
                let _ = writeln!(o, "    </testcase>");
            }
        }
    }
    let _ = writeln!(o, "  </testsuite>");
    let _ = writeln!(o, "</testsuites>");
    o
}

/// Writes `junit.xml` into `dir` atomically and returns its path.
pub fn write_junit<S: ScenarioView>(
    dir: &Path,
    report: &Report<S>,
) -> Result<PathBuf, ReportError> {
    let path = dir.join(JUNIT_FILE);
    write_atomic(&path, junit_xml(report).as_bytes())?;
    Ok(path)
}

/// Text for an XML attribute or element: markup characters escaped, and the control characters
/// XML 1.0 cannot carry at all (a violation's `got` may quote a peer's bytes) replaced by U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Tab, newline and carriage return are legal; in attributes they would be normalised
            // to spaces by a parser, so they are written as references to survive.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_illegal_characters() {
        assert_eq!(escape(r#"a<b & "c" 'd'>"#), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
        assert_eq!(escape("x\u{1}y\nz"), "x\u{FFFD}y&#10;z");
        assert_eq!(escape("p99 <= 500ms"), "p99 &lt;= 500ms");
    }
}

//! The human summary printed at the end of a run: plain text tables, no colours, widths fitted to
//! the content, every line at most [`WIDTH`] columns (tables tighten their gaps to fit; prose
//! wraps). Missed starts and failed checks are stated at the top and again at the bottom, so
//! neither scrolls out of sight. Operations are listed in the order the run performs them (the
//! report's order: login, the flows' steps, logout), with their rate; a percentile with too few
//! samples to resolve it is marked thin (`~`) rather than shown as if it meant something.

use std::fmt::Write;

use crate::faults::FaultKind;
use crate::vocab::{CustomerMetric, OpName, Stat};

use super::throughput::Throughput;
use super::{
    ExitStatus, Percentiles, Report, ScenarioView, ThresholdOutcome, TimedReport, human_us,
    thresholds,
};

/// The widest line the summary prints: it must read in a 100-column terminal or CI log.
pub const WIDTH: usize = 100;

/// The latency columns of the tables (p90 and the mean are in `summary.json`: with the rate and
/// the settle column, a fifth statistic would not fit [`WIDTH`]).
const COLUMNS: [Stat; 4] = [Stat::P50, Stat::P99, Stat::P999, Stat::Max];

/// The mark of a thin percentile, and what it means.
const THIN: char = '~';
const THIN_LEGEND: &str =
    "  ~ thin: too few samples to resolve it (p99 needs 100, p99.9 needs 1000; see count)";

/// Violations printed in full; `summary.json` keeps more.
pub const VIOLATIONS_SHOWN: usize = 5;

/// Corrected and raw p99 differing by more than this share are listed as corrected for
/// coordinated omission (smaller gaps are histogram noise, not a stalled schedule).
const CORRECTION_NOTABLE: f64 = 0.10;

/// Renders the summary. Every line ends in `\n` and is at most [`WIDTH`] columns, but for a
/// single word longer than that (a long URL).
pub fn render<S: ScenarioView>(r: &Report<S>) -> String {
    fit(&render_unwrapped(r))
}

fn render_unwrapped<S: ScenarioView>(r: &Report<S>) -> String {
    let mut out = String::new();
    // `write!` into a `String` cannot fail; the results are ignored for that reason.
    let o = &mut out;
    let _ = writeln!(o, "gwsim run {}: {}", r.scenario.name(), status_line(r));
    let _ = writeln!(
        o,
        "target {} {} ({}, {})",
        r.target.kind,
        r.target.base_url,
        r.target.transport.as_str(),
        match r.target.media {
            crate::gws::model::Media::Chat => "chat",
            crate::gws::model::Media::Facebook => "facebook",
        },
    );
    let _ = writeln!(
        o,
        "seed {}, ran {:.1}s, started {}",
        r.seed,
        r.duration_ms as f64 / 1000.0,
        r.started
    );
    loud_warnings(o, r);

    throughput(o, r.throughput.as_ref());
    operations(o, r);
    customers(o, r);

    let c = &r.counts;
    let _ = writeln!(
        o,
        "\ncounts: operations {}, errors {}, violations {}, reconnects {}, missed starts {}",
        c.operations, c.errors, c.violations, c.reconnects, c.missed_starts
    );
    let _ = writeln!(
        o,
        "  flows completed {}, chats completed {}, customers abandoned {}",
        c.flows_completed, c.chats_completed, c.abandoned
    );

    if let Some(g) = &r.generator {
        let _ = writeln!(o, "{}", g.line());
    }

    violations(o, r);
    faults(o, r);
    threshold_table(o, r);

    let _ = writeln!(o, "\nresult: {}", status_line(r));
    for reason in &r.exit.reasons {
        let _ = writeln!(o, "  - {reason}");
    }
    loud_warnings(o, r);
    out
}

fn status_line<S>(r: &Report<S>) -> String {
    match r.exit.status {
        ExitStatus::Pass => format!("PASS (exit {})", r.exit.code),
        ExitStatus::ChecksFailed => format!("CHECKS FAILED (exit {})", r.exit.code),
        ExitStatus::Interrupted => format!("INTERRUPTED, partial results (exit {})", r.exit.code),
    }
}

fn loud_warnings<S>(o: &mut String, r: &Report<S>) {
    if let Some(w) = r.generator.as_ref().and_then(|g| g.warning()) {
        let _ = writeln!(o, "\n!! {w}");
    }
    if r.counts.missed_starts > 0 {
        let _ = writeln!(
            o,
            "\n!! MISSED STARTS: {} - the generator fell behind its schedule; the load offered was \
             lower than planned (latencies are still measured from the intended start)",
            r.counts.missed_starts
        );
    }
}

/// A right-aligned table: the first column left-aligned, the others right-aligned, each as wide
/// as its widest cell, two spaces apart; one space apart when that would pass [`WIDTH`] (a long
/// operation name with large counts).
fn table(o: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let wide = 2 * cols + widths.iter().sum::<usize>();
    let gap = if wide > WIDTH { " " } else { "  " };
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i == 0 {
                let _ = write!(line, "  {cell:<w$}");
            } else {
                let _ = write!(line, "{gap}{cell:>w$}");
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

/// Wraps every line longer than [`WIDTH`] at spaces; continuation lines are indented four
/// columns past the line's own indent. A word longer than the width is left whole.
fn fit(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.chars().count() <= WIDTH {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        let more = " ".repeat(indent + 4);
        let mut current = " ".repeat(indent);
        let mut empty = true;
        for word in body.split(' ') {
            let needed = current.chars().count() + usize::from(!empty) + word.chars().count();
            if !empty && needed > WIDTH {
                out.push_str(&current);
                out.push('\n');
                current = more.clone();
                empty = true;
            }
            if !empty {
                current.push(' ');
            }
            current.push_str(word);
            empty = false;
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}

fn us(v: u64) -> String {
    human_us(v as f64)
}

/// Whether `p` has too few samples to resolve `stat` ([`Stat::resolving_samples`]).
fn thin(p: &Percentiles, stat: Stat) -> bool {
    stat.resolving_samples().is_some_and(|n| p.count < n)
}

/// One statistic for the table: `-` when absent, marked [`THIN`] when thin.
fn cell(p: Option<&Percentiles>, stat: Stat) -> String {
    let Some(p) = p else { return "-".to_owned() };
    let Some(v) = p.us(stat) else { return "-".to_owned() };
    if thin(p, stat) { format!("{THIN}{}", us(v)) } else { us(v) }
}

fn percentile_cells(p: Option<&Percentiles>) -> Vec<String> {
    COLUMNS.iter().map(|s| cell(p, *s)).collect()
}

fn p99(p: &Percentiles) -> String {
    cell(Some(p), Stat::P99)
}

/// Whether any cell of the rows is marked thin (so the legend is due).
fn any_thin(rows: &[Vec<String>]) -> bool {
    rows.iter().skip(1).flatten().any(|c| c.starts_with(THIN))
}

/// Operations per second, to about three significant digits.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn gauge(g: super::throughput::GaugeFigures) -> String {
    format!("mean {:.2}, peak {}", g.mean, g.peak)
}

/// The throughput and concurrency block: what a capacity planner reads first.
fn throughput(o: &mut String, t: Option<&Throughput>) {
    let Some(t) = t else {
        let _ = writeln!(o, "\nthroughput: not measured (no interval after warmup)");
        return;
    };
    let _ = writeln!(
        o,
        "\nthroughput (over {:.1}s measured, after warmup until the load ended)",
        t.measured_s
    );
    let _ = writeln!(
        o,
        "  operations {}/s, flows completed {}/s, chats completed {}/s",
        rate(t.ops_per_s),
        rate(t.flows_per_s),
        rate(t.chats_per_s)
    );
    let _ = writeln!(
        o,
        "  active chats {}; customers waiting {}",
        gauge(t.active_chats),
        gauge(t.customers_waiting)
    );
    let _ = writeln!(
        o,
        "  agents logged in {}; busy {}; occupancy {:.1}%",
        gauge(t.agents_logged_in),
        gauge(t.agents_busy),
        t.occupancy.mean * 100.0
    );
}

fn op_rate(t: Option<&Throughput>, op: OpName) -> String {
    t.and_then(|t| t.per_operation.get(&op)).map_or_else(|| "-".to_owned(), |r| rate(*r))
}

fn corrected(t: Option<&TimedReport>) -> Option<&Percentiles> {
    t.and_then(|t| t.corrected.as_ref())
}

fn operations<S>(o: &mut String, r: &Report<S>) {
    let _ = writeln!(o, "\noperations in flow order (response latency from the intended start)");
    if r.operations.is_empty() {
        let _ = writeln!(o, "  none recorded");
        return;
    }
    let mut head: Vec<String> =
        ["operation", "count", "errors", "ops/s"].map(str::to_owned).to_vec();
    head.extend(COLUMNS.iter().map(|s| s.to_string()));
    head.push("settle p99".to_owned());
    let mut rows = vec![head];
    for op in &r.operations {
        let mut row = vec![
            op.name.to_string(),
            op.count.to_string(),
            op.errors.to_string(),
            op_rate(r.throughput.as_ref(), op.name),
        ];
        row.extend(percentile_cells(corrected(op.response.as_ref())));
        row.push(corrected(op.settle.as_ref()).map_or_else(|| "-".to_owned(), p99));
        rows.push(row);
    }
    table(o, &rows);
    if any_thin(&rows) {
        let _ = writeln!(o, "{THIN_LEGEND}");
    }

    for op in r.operations.iter().filter(|op| !op.errors_by_kind.is_empty()) {
        let kinds: Vec<String> =
            op.errors_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(o, "  errors of {}: {}", op.name, kinds.join(", "));
    }
    let (w_ok, w_err) = r
        .operations
        .iter()
        .fold((0u64, 0u64), |(a, b), op| (a + op.warmup.ok, b + op.warmup.errors));
    if w_ok + w_err > 0 {
        let _ = writeln!(o, "  warmup (not in the table): {w_ok} succeeded, {w_err} failed");
    }

    // Style point 17: say how much the correction for coordinated omission changed.
    let mut corrections = Vec::new();
    for op in &r.operations {
        for (what, t) in [("response", &op.response), ("settle", &op.settle)] {
            if let Some(line) = t.as_ref().and_then(understatement) {
                corrections.push(format!("{}.{what} {line}", op.name));
            }
        }
    }
    if !corrections.is_empty() {
        let _ = writeln!(o, "  corrected for coordinated omission (requests left late):");
        for c in corrections {
            let _ = writeln!(o, "    {c}");
        }
    }
}

/// How much raw latency understates `t`, when it does notably: the corrected p99 and max beside
/// the raw ones, and the p99's difference.
fn understatement(t: &TimedReport) -> Option<String> {
    let (c, raw) = (t.corrected.as_ref()?, t.raw.as_ref()?);
    let (cp, rp) = (c.stat(Stat::P99)?, raw.stat(Stat::P99)?);
    if cp <= rp * (1.0 + CORRECTION_NOTABLE) {
        return None;
    }
    let max = |p: &Percentiles| cell(Some(p), Stat::Max);
    Some(format!(
        "p99 {} (raw {}, {} understated); max {} (raw {})",
        p99(c),
        p99(raw),
        us((cp - rp) as u64),
        max(c),
        max(raw)
    ))
}

fn customers<S>(o: &mut String, r: &Report<S>) {
    let c = &r.customers;
    let metrics: Vec<(&str, Option<&TimedReport>)> =
        CustomerMetric::TIMED.iter().map(|m| (m.as_str(), c.timed(*m))).collect();
    if metrics.iter().all(|(_, t)| t.is_none()) && c.abandoned == 0 && c.abandoned_warmup == 0 {
        return;
    }
    let _ = writeln!(o, "\ncustomers");
    let mut head = vec!["metric".to_owned(), "count".to_owned()];
    head.extend(COLUMNS.iter().map(|s| s.to_string()));
    let mut rows = vec![head];
    let mut corrections = Vec::new();
    for (name, t) in metrics {
        let Some(t) = t else { continue };
        let mut row = vec![name.to_owned(), t.count.to_string()];
        row.extend(percentile_cells(t.corrected.as_ref()));
        rows.push(row);
        if let Some(line) = understatement(t) {
            corrections.push(format!("{name} {line}"));
        }
    }
    if rows.len() > 1 {
        table(o, &rows);
        if any_thin(&rows) {
            let _ = writeln!(o, "{THIN_LEGEND}");
        }
    }
    if !corrections.is_empty() {
        let _ = writeln!(o, "  corrected for coordinated omission (sent later than planned):");
        for c in corrections {
            let _ = writeln!(o, "    {c}");
        }
    }
    let _ = writeln!(o, "  abandoned: {}", c.abandoned);
}

/// Missed faults and unexplained violations printed in full; `summary.json` keeps more.
pub const FAULT_DETAILS_SHOWN: usize = 10;

/// The fault ledger joined with the violations: recall and precision per kind, then, loudly,
/// every fault the checker missed and every violation no fault explains (bounded).
fn faults<S>(o: &mut String, r: &Report<S>) {
    use super::faults::{missed_line, ratio};
    let Some(f) = &r.faults else { return };
    let _ = writeln!(
        o,
        "
faults: {} injected ({} in the ledger joined{}), clock offset {} ms",
        f.injected,
        f.records,
        if f.records_dropped > 0 {
            format!(", {} beyond the ledger's cap not joined", f.records_dropped)
        } else {
            String::new()
        },
        f.clock_offset_ms
    );
    let head = ["kind", "records", "found", "explained", "unexplained", "recall", "precision"];
    let rows: Vec<[String; 7]> = f
        .kinds
        .iter()
        .map(|k| {
            [
                k.kind.to_string(),
                k.records.to_string(),
                if k.ordering { k.found.to_string() } else { "-".into() },
                k.explained.to_string(),
                k.unexplained.to_string(),
                ratio(k.recall),
                ratio(k.precision),
            ]
        })
        .collect();
    let width =
        |i: usize| rows.iter().map(|r| r[i].len()).chain([head[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let line = |cells: &[&str]| {
        let mut l = format!("  {:<w$}", cells[0], w = widths[0]);
        for (c, w) in cells.iter().zip(&widths).skip(1) {
            l.push_str(&format!("  {c:>w$}"));
        }
        l
    };
    let _ = writeln!(o, "{}", line(&head));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(o, "{}", line(&cells));
    }
    for k in f.kinds.iter().filter(|k| k.unobservable > 0) {
        let why = match k.kind {
            FaultKind::Drop => "sent after a dropped invitation",
            _ => "nothing the protocol orders against it overtook the delayed notification",
        };
        let _ = writeln!(
            o,
            "  {}: {} of {} not observable ({why}), not in the recall",
            k.kind, k.unobservable, k.records
        );
    }
    let _ = writeln!(
        o,
        "  overall: recall {}, precision {} ({} violations joined{})",
        ratio(f.recall),
        ratio(f.precision),
        f.violations,
        if f.violations_dropped > 0 {
            format!(", {} beyond the join's cap not joined", f.violations_dropped)
        } else {
            String::new()
        }
    );
    if f.missed_total > 0 {
        let _ = writeln!(o, "\n!! {} FAULTS THE CHECKER MISSED:", f.missed_total);
        for m in f.missed.iter().take(FAULT_DETAILS_SHOWN) {
            let _ = writeln!(o, "  {}", missed_line(m));
        }
        let shown = f.missed.len().min(FAULT_DETAILS_SHOWN) as u64;
        if f.missed_total > shown {
            let _ = writeln!(
                o,
                "  ... {} more (the first {} are in summary.json)",
                f.missed_total - shown,
                f.missed.len()
            );
        }
    }
    if f.unexplained_total > 0 {
        let _ = writeln!(o, "\n!! {} VIOLATIONS NO FAULT EXPLAINS:", f.unexplained_total);
        for x in f.unexplained.iter().take(FAULT_DETAILS_SHOWN) {
            violation(o, x);
        }
        let shown = f.unexplained.len().min(FAULT_DETAILS_SHOWN) as u64;
        if f.unexplained_total > shown {
            let _ = writeln!(
                o,
                "  ... {} more (the first {} are in summary.json)",
                f.unexplained_total - shown,
                f.unexplained.len()
            );
        }
    }
}

/// One violation and the notifications around it, as both violation lists print it.
fn violation(o: &mut String, x: &super::ViolationReport) {
    let interaction =
        if x.interaction.is_empty() { "(unknown interaction)" } else { &x.interaction };
    let _ = writeln!(
        o,
        "  {} at {} ms: {} on {}: expected {}, got {}",
        x.kind, x.at_ms, x.agent, interaction, x.expected, x.got
    );
    if !x.context.is_empty() {
        let _ = writeln!(o, "    recent: {}", x.context.join(" | "));
    }
}

fn violations<S>(o: &mut String, r: &Report<S>) {
    let v = &r.violations;
    if v.total == 0 {
        let _ = writeln!(o, "\nviolations: none");
        return;
    }
    let kinds: Vec<String> =
        v.by_name().into_iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(o, "\nviolations: {} ({})", v.total, kinds.join(", "));
    for x in v.first.iter().take(VIOLATIONS_SHOWN) {
        violation(o, x);
    }
    let shown = v.first.len().min(VIOLATIONS_SHOWN) as u64;
    if v.total > shown {
        let _ = writeln!(
            o,
            "  ... {} more (the first {} are in summary.json)",
            v.total - shown,
            v.first.len()
        );
    }
}

fn threshold_table<S>(o: &mut String, r: &Report<S>) {
    if r.thresholds.is_empty() {
        let _ = writeln!(o, "\nthresholds: none set");
        return;
    }
    let _ = writeln!(o, "\nthresholds");
    let mut rows = Vec::new();
    for t in &r.thresholds {
        let verdict = match t.outcome {
            ThresholdOutcome::Pass => "PASS",
            ThresholdOutcome::Fail => "FAIL",
            ThresholdOutcome::NoData => "FAIL (no data)",
            ThresholdOutcome::Inapplicable => "FAIL (inapplicable)",
        };
        let check = format!(
            "{} {} {} {}",
            t.metric,
            t.stat,
            thresholds::relation(t),
            thresholds::limit_text(t)
        );
        let observed = t.observed.map_or_else(
            || "-".to_owned(),
            |v| format!("observed {}", thresholds::show(t.unit, v)),
        );
        rows.push(vec![verdict.to_owned(), check, observed]);
    }
    // Left-align the check column too: it reads as a sentence.
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    for row in rows {
        let line = format!("  {:<w0$}  {:<w1$}  {}", row[0], row[1], row[2]);
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

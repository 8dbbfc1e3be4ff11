//! `gwsim compare`'s table for people: one block of rows per metric, then the notes and the
//! result line. Informational rows (`max`, thin tails) say so in the verdict column, so nobody
//! reads a +130% maximum as the reason a build failed.

use std::fmt::Write as _;

use super::noise::min_samples;
use super::{Comparison, Estimate, Method, Row, Tail, Verdict};
use crate::report::human_us;
use crate::vocab::Stat;

fn verdict(row: &Row) -> String {
    match (row.verdict, row.informational) {
        (Verdict::Informational, Some(Tail::Max)) => "info (max)".into(),
        (Verdict::Informational, Some(Tail::Burst)) => "info (one burst)".into(),
        (Verdict::Informational, _) => "info (n too small)".into(),
        (v, _) => v.as_str().into(),
    }
}

fn show(row: &Row, v: f64) -> String {
    match row.stat.as_str() {
        "rate" => format!("{:.3}%", v * 100.0),
        "count" => format!("{v:.0}"),
        _ => human_us(v),
    }
}

fn show_delta(row: &Row) -> String {
    let Some(d) = row.delta else { return "-".into() };
    let sign = if d >= 0.0 { "+" } else { "-" };
    let abs = match row.stat.as_str() {
        "rate" => format!("{:.3}pp", d.abs() * 100.0),
        "count" => format!("{:.0}", d.abs()),
        _ => human_us(d.abs()),
    };
    match row.delta_ratio {
        Some(r) if row.stat != "rate" => format!("{sign}{abs} ({sign}{:.1}%)", (r * 100.0).abs()),
        _ => format!("{sign}{abs}"),
    }
}

/// The comparison as a table for people. Every line ends in `\n`.
pub fn render_comparison(c: &Comparison) -> String {
    let mut o = String::new();
    // `write!` into a `String` cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        o,
        "gwsim compare: baseline {} ({}, {}), current {} ({}, {})",
        c.baseline.path,
        c.baseline.scenario,
        c.baseline.started,
        c.current.path,
        c.current.scenario,
        c.current.started
    );
    let mut rows = vec![
        ["metric", "stat", "baseline", "current", "delta", "99% bands", "n", "method", "verdict"]
            .map(str::to_owned)
            .to_vec(),
    ];
    let mut previous: Option<&str> = None;
    for r in &c.rows {
        // The metric's name on its first row only: the table reads as one block per metric.
        let name =
            if previous == Some(r.metric.as_str()) { String::new() } else { r.metric.clone() };
        previous = Some(&r.metric);
        let band = |e: &Option<Estimate>| {
            e.map_or_else(
                || "-".to_owned(),
                |e| {
                    let high = e.high.map_or_else(|| "?".to_owned(), |h| show(r, h));
                    format!("{}..{high}", show(r, e.low))
                },
            )
        };
        let n = |e: &Option<Estimate>| e.map_or_else(|| "-".to_owned(), |e| e.n.to_string());
        let p = match r.p_value {
            Some(p) if p < 0.001 => " p<0.001".to_owned(),
            Some(p) => format!(" p={p:.3}"),
            None => String::new(),
        };
        let bands = if r.stat == "count" {
            format!("-{p}")
        } else {
            format!("{} / {}{p}", band(&r.baseline), band(&r.current))
        };
        rows.push(vec![
            name,
            r.stat.clone(),
            r.baseline.map_or_else(|| "-".to_owned(), |e| show(r, e.value)),
            r.current.map_or_else(|| "-".to_owned(), |e| show(r, e.value)),
            show_delta(r),
            bands,
            format!("{}/{}", n(&r.baseline), n(&r.current)),
            match r.method {
                Method::Histogram => "hlog",
                Method::Summary => "summary",
                Method::Counts => "counts",
            }
            .to_owned(),
            verdict(r),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let w = widths[i];
            if i <= 1 || i == r.len() - 1 {
                let _ = write!(line, "  {cell:<w$}");
            } else {
                let _ = write!(line, "  {cell:>w$}");
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    let unbounded =
        c.rows.iter().any(|r| [r.baseline, r.current].iter().flatten().any(|e| e.high.is_none()));
    if unbounded {
        let _ = writeln!(
            o,
            "a band ending in `?` has no upper bound: too few samples lie above that percentile"
        );
    }
    if c.informational > 0 {
        let needs: Vec<String> = [Stat::P50, Stat::P90, Stat::P99, Stat::P999, Stat::Mean]
            .into_iter()
            .filter_map(|s| min_samples(s).map(|n| format!("{s} n >= {n}")))
            .collect();
        // Three short lines rather than one long one: the table is read in 100-column logs.
        let _ = writeln!(
            o,
            "{} row(s) marked `info` are shown, not judged (--strict-tails judges them): max is \
             one sample,\na burst (login, logout) is one moment of the machine, and a statistic \
             needs enough samples:\n{}",
            c.informational,
            needs.join(", ")
        );
    }
    for n in &c.notes {
        let _ = writeln!(o, "note: {n}");
    }
    let noisy = c.rows.iter().filter(|r| r.verdict == Verdict::WithinNoise).count();
    if noisy > 0 {
        let _ = writeln!(
            o,
            "{noisy} difference(s) beyond the minimum effect are within run-to-run noise\n(99% \
             bands overlap, or p >= 0.01): more samples (a longer run) would tell"
        );
    }
    if c.regressions == 0 {
        let _ = writeln!(o, "result: no regression (exit 0)");
    } else {
        let _ = writeln!(o, "result: {} regression(s) (exit 1)", c.regressions);
        for r in c.rows.iter().filter(|r| r.verdict == Verdict::Regression) {
            let _ = writeln!(o, "  - {} {}: {}", r.metric, r.stat, show_delta(r));
        }
    }
    o
}

//! The static HTML of `report.html`, one function per section, in the order a capacity planner
//! reads: the headline (verdict, throughput, key latencies, errors, agents, duration), customer
//! wait, throughput and concurrency, per-operation latency, errors and violations, thresholds,
//! and the run's details. Charts are placeholders (`data-chart`) that `assets/draw.js` fills; a
//! chart with nothing to draw is never emitted, a sentence says why instead.

use std::fmt::Write as _;

use serde::Serialize;

use super::data::{ChartData, Headline, PhaseSpan};
use super::esc;
use crate::report::{ExitStatus, Percentiles, Report, ScenarioView, TimedReport, Unit, human_us};
use crate::vocab::CustomerMetric;

/// The sections and the navigation bar's labels, in page order.
pub(super) const SECTIONS: [(&str, &str); 7] = [
    ("headline", "Headline"),
    ("customers", "Customer wait"),
    ("throughput", "Throughput & concurrency"),
    ("latency", "Latency per operation"),
    ("errors", "Errors & violations"),
    ("thresholds", "Thresholds"),
    ("run", "Run & scenario"),
];

/// The navigation bar; with `faults`, a link to the Faults section after the errors.
pub(super) fn nav(h: &mut String, faults: bool) {
    h.push_str("<nav id=\"toc\">");
    for (id, text) in SECTIONS {
        let _ = write!(h, "<a href=\"#{id}\">{text}</a>");
        if faults && id == "errors" {
            let _ = write!(h, "<a href=\"#{}\">{}</a>", super::faults::ID, super::faults::LABEL);
        }
    }
    h.push_str("</nav>\n");
}

/// A JSON string value as text (`serde` names of enums: `websocket`, `chat`).
pub(super) fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// A rate for people, to about 3 significant digits: `1,234/s`, `12.3/s`, `0.98/s`.
pub(super) fn rate(x: f64) -> String {
    if x >= 1000.0 {
        let whole = format!("{x:.0}");
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn value_in(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Us => human_us(v),
        Unit::Count => format!("{v:.0}"),
        Unit::Fraction => format!("{:.3}%", v * 100.0),
    }
}

/// One headline figure: its value and unit, what it is, a line of context; `bad` marks it in red
/// (errors, violations).
fn tile(
    h: &mut String,
    figure: &str,
    (value, unit): (&str, &str),
    what: &str,
    sub: &str,
    bad: bool,
) {
    let _ = writeln!(
        h,
        "<div class=\"tile{}\" data-figure=\"{figure}\"><div class=\"v\">{value}\
         <span class=\"u\">{unit}</span></div><div class=\"k\">{what}</div>\
         <div class=\"s\">{sub}</div></div>",
        if bad { " bad" } else { "" }
    );
}

/// Seconds on the time axis: whole seconds without a decimal, else one decimal.
fn at_s(s: f64) -> String {
    if (s - s.round()).abs() < 0.05 { format!("{s:.0}") } else { format!("{s:.1}") }
}

/// The phase colour key shown above the time charts.
pub(super) fn phase_key(h: &mut String, spans: &[PhaseSpan]) {
    if spans.is_empty() {
        return;
    }
    h.push_str("<p class=\"phase-key\">Shaded on every time chart:");
    for s in spans {
        let name = label(&s.phase);
        let (from, to) = (at_s(s.from_s), at_s(s.to_s));
        let _ = write!(h, " <span class=\"sw {name}\"></span>{name} {from}–{to} s");
    }
    h.push_str(" (seconds since the load phase started)</p>\n");
}

/// The headline: verdict, failed checks, the figures, the key latencies.
pub(super) fn headline<S: ScenarioView>(
    h: &mut String,
    r: &Report<S>,
    hl: &Headline,
    data: &ChartData,
) {
    let (class, result) = match r.exit.status {
        ExitStatus::Pass => ("pass", "PASS"),
        ExitStatus::ChecksFailed => ("fail", "FAIL"),
        ExitStatus::Interrupted => ("partial", "INTERRUPTED"),
    };
    let _ = write!(
        h,
        "<header id=\"headline\">\n<h1>gwsim report: {name}</h1>\n\
         <p class=\"result {class}\" id=\"result\">{result} <span class=\"exit\">exit {code}</span></p>\n",
        name = esc(r.scenario.name()),
        code = r.exit.code
    );
    if !r.exit.reasons.is_empty() {
        h.push_str("<ul class=\"reasons\" id=\"failed\">\n");
        for reason in &r.exit.reasons {
            let _ = writeln!(h, "<li>{}</li>", esc(reason));
        }
        h.push_str("</ul>\n");
    }
    if !r.warnings.is_empty() {
        h.push_str("<ul class=\"warnings\">\n");
        for w in &r.warnings {
            let _ = writeln!(h, "<li>warning: {}</li>", esc(w));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<div class=\"tiles\" id=\"figures\">\n");
    let window = if hl.window_s > 0.0 {
        format!("over the {:.0} s measured load (after warmup)", hl.window_s)
    } else {
        "no time series".to_owned()
    };
    let none = "–".to_owned();
    let ops = hl.ops_per_s.map_or(none.clone(), rate);
    tile(h, "ops", (&ops, "ops/s"), "throughput", &window, false);
    let chats_sub = match hl.flows_per_s {
        Some(f) => format!("{} flows/s", rate(f)),
        None => "not in this run's time series".to_owned(),
    };
    let chats = hl.chats_per_s.map_or(none, rate);
    tile(h, "chats", (&chats, "chats/s"), "completed chats", &chats_sub, false);
    let c = &r.counts;
    let error_pct = if c.operations > 0 {
        format!(
            "{:.2}% of {} operations",
            c.errors as f64 * 100.0 / c.operations as f64,
            c.operations
        )
    } else {
        "no operation measured".to_owned()
    };
    tile(h, "errors", (&c.errors.to_string(), ""), "errors", &error_pct, c.errors > 0);
    let kinds: Vec<String> = r
        .violations
        .by_name()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect();
    let kinds = if kinds.is_empty() { "ordering held".to_owned() } else { kinds.join(", ") };
    let violations = c.violations.to_string();
    tile(h, "violations", (&violations, ""), "ordering violations", &esc(&kinds), c.violations > 0);
    let agents_sub = match hl.agents_logged_in {
        Some(n) => format!("{n} logged in at most"),
        None => "in the scenario".to_owned(),
    };
    tile(h, "agents", (&hl.agents.to_string(), ""), "agents", &agents_sub, false);
    let phases = match &r.phases {
        Some(p) => format!(
            "login {} · load {} · drain {} · logout {}",
            seconds(p.login_ms),
            seconds(p.drain_ms),
            seconds(p.logout_ms.saturating_sub(p.drain_ms)),
            seconds(p.end_ms.saturating_sub(p.logout_ms))
        ),
        None => "first login to last logout".to_owned(),
    };
    let duration = format!("{:.1}", r.duration_ms as f64 / 1000.0);
    tile(h, "duration", (&duration, "s"), "run", &phases, false);
    h.push_str("</div>\n");
    if hl.key.is_empty() {
        h.push_str("<p class=\"empty\">No flow operation was measured.</p>\n");
    } else {
        h.push_str(
            "<table id=\"key-latency\" class=\"key\">\n<thead><tr><th>Key operation</th>\
             <th>p50</th><th>p99</th><th>samples</th></tr></thead>\n<tbody>\n",
        );
        for k in &hl.key {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr>",
                esc(&k.metric),
                human_us(k.p50_us as f64),
                human_us(k.p99_us as f64),
                k.count
            );
        }
        h.push_str(
            "</tbody>\n</table>\n<p class=\"note\">Each flow operation's settle (until the last \
             notification it owes has arrived), or its response where it has no settle; \
             corrected for coordinated omission, warmup left out.</p>\n",
        );
    }
    phase_key(h, &data.phases);
    h.push_str("</header>\n");
}

fn figure(h: &mut String, caption: &str, chart: &str, index: Option<usize>, wide: bool) {
    let index = index.map(|i| format!(" data-index=\"{i}\"")).unwrap_or_default();
    let _ = writeln!(
        h,
        "<figure{}><figcaption>{}</figcaption><div class=\"chart\" data-chart=\"{chart}\"{index}>\
         </div></figure>",
        if wide { " class=\"wide\"" } else { "" },
        esc(caption)
    );
}

fn no_series(h: &mut String) {
    h.push_str("<p class=\"empty\">No time series: this run recorded no intervals.</p>\n");
}

fn latency_index(data: &ChartData, metric: &str) -> Option<usize> {
    data.timeline.latency.iter().position(|l| l.metric == metric)
}

/// A latency cell: corrected, with raw beneath in smaller text when it differs, and by how much
/// raw understates it when that is more than a tenth (wrk2's demonstration: a stall that raw
/// latency hides; smaller gaps are the schedule's jitter).
fn cell(c: Option<u64>, raw: Option<u64>) -> String {
    match (c, raw) {
        (None, _) => "<td class=\"num\">–</td>".to_owned(),
        (Some(c), Some(r)) if r.saturating_mul(11) < c.saturating_mul(10) => format!(
            "<td class=\"num\">{}<br><small class=\"raw\" title=\"raw understates it by {}\">\
             {} (−{})</small></td>",
            human_us(c as f64),
            human_us((c - r) as f64),
            human_us(r as f64),
            human_us((c - r) as f64)
        ),
        (Some(c), Some(r)) if r != c => format!(
            "<td class=\"num\">{}<br><small class=\"raw\">{}</small></td>",
            human_us(c as f64),
            human_us(r as f64)
        ),
        (Some(c), _) => format!("<td class=\"num\">{}</td>", human_us(c as f64)),
    }
}

fn latency_cells(t: Option<&TimedReport>) -> String {
    let c = t.and_then(|t| t.corrected);
    let raw = t.and_then(|t| t.raw);
    Percentiles::columns()
        .map(|s| cell(c.as_ref().and_then(|p| p.us(s)), raw.as_ref().and_then(|p| p.us(s))))
        .collect()
}

/// The header cells of the latency columns, one per [`Percentiles::columns`].
fn latency_head() -> String {
    Percentiles::columns().map(|s| format!("<th>{s}</th>")).collect()
}

/// Customer wait, the saturation signal: how long customers waited for an agent, and how many
/// were waiting.
pub(super) fn customers<S>(h: &mut String, r: &Report<S>, data: &ChartData) {
    let c = &r.customers;
    h.push_str("<section id=\"customers\">\n<h2>Customer wait</h2>\n");
    let t = &data.timeline;
    if t.t_s.is_empty() {
        no_series(h);
    } else {
        let wait = latency_index(data, "customer.wait");
        let waiting = t.has_gauges && t.customers_waiting.iter().any(|n| *n > 0);
        if wait.is_some() || waiting {
            h.push_str("<div class=\"grid two\">\n");
            if let Some(i) = wait {
                figure(h, "customer.wait p50 / p99 per interval", "latency", Some(i), false);
            }
            if waiting {
                figure(h, "customers waiting for an agent (interval end)", "waiting", None, false);
            }
            h.push_str("</div>\n");
        }
        if wait.is_none() {
            h.push_str("<p class=\"empty\">No customer waited for an agent in this run.</p>\n");
        }
        if t.has_gauges && !waiting {
            h.push_str(
                "<p class=\"empty\">No customer was left waiting at any interval's end.</p>\n",
            );
        }
    }
    h.push_str(
        "<p class=\"note\">Corrected from when the customer meant to act (its arrival, its \
         message's planned time); <small class=\"raw\">raw</small> (from when the request \
         left) beneath where it differs, and by how much it understates (−) where that is over a \
         tenth.</p>\n",
    );
    let _ = write!(
        h,
        "<table id=\"customer-table\">\n<thead><tr><th>Metric</th><th>Count</th>{}</tr></thead>\n\
         <tbody>\n",
        latency_head()
    );
    for m in CustomerMetric::TIMED {
        let t = c.timed(m);
        let count = t.map_or(0, |t| t.count);
        let _ = writeln!(
            h,
            "<tr><td>customer.{m}</td><td class=\"num\">{count}</td>{}</tr>",
            latency_cells(t)
        );
    }
    let _ = writeln!(
        h,
        "</tbody>\n</table>\n<p>{} customers abandoned ({} more during warmup, not counted).</p>\n\
         </section>",
        c.abandoned, c.abandoned_warmup
    );
}

/// Throughput (operations, chats and flows per second) and concurrency (active chats, agents,
/// occupancy).
pub(super) fn throughput(h: &mut String, data: &ChartData) {
    h.push_str("<section id=\"throughput\">\n<h2>Throughput &amp; concurrency</h2>\n");
    let t = &data.timeline;
    if t.t_s.is_empty() {
        no_series(h);
        h.push_str("</section>\n");
        return;
    }
    if let (Some(clip), Some(peak)) = (t.ops_clip, t.burst_peak) {
        let _ = writeln!(
            h,
            "<p class=\"note\" id=\"burst\">The y axis stops at {}/s, above the peak before logout: \
             the logout burst ({}/s, every agent logging out at once) is off the scale.</p>",
            rate(clip),
            rate(peak)
        );
    }
    h.push_str("<div class=\"grid two\">\n");
    figure(h, "throughput (per second)", "throughput", None, false);
    if t.has_gauges {
        figure(h, "concurrency (interval end)", "concurrency", None, false);
    }
    h.push_str("</div>\n");
    if !t.has_gauges {
        h.push_str(
            "<p class=\"empty\">This run's time series carries no chat counts or concurrency \
             gauges (active chats, agents busy, customers waiting).</p>\n",
        );
    }
    h.push_str("</section>\n");
}

/// Every operation's latency: the table, the per-interval p50/p99 and the percentile spectra.
pub(super) fn latency<S>(h: &mut String, r: &Report<S>, data: &ChartData) {
    h.push_str("<section id=\"latency\">\n<h2>Latency per operation</h2>\n");
    operations(h, r);
    h.push_str("<h3 id=\"over-time\">p50 and p99 per interval (corrected)</h3>\n");
    if data.timeline.t_s.is_empty() {
        no_series(h);
    } else {
        h.push_str("<div class=\"grid\">\n");
        for (i, series) in data.timeline.latency.iter().enumerate() {
            if series.metric == "customer.wait" {
                // Drawn under Customer wait already.
                continue;
            }
            figure(h, &series.metric, "latency", Some(i), false);
        }
        h.push_str("</div>\n");
    }
    h.push_str(
        "<h3 id=\"spectra\">Percentile spectra (the whole measured run)</h3>\n\
         <p class=\"note\">Latency by percentile, as HdrHistogram plots it: the percentile axis is \
         logarithmic in 1/(1 − percentile), so 90%, 99%, 99.9% are evenly spaced. Corrected \
         (from the intended start) against raw (from when the request left); where only one \
         line shows, they are identical.</p>\n",
    );
    if data.spectra.is_empty() {
        h.push_str("<p class=\"empty\">No latency was measured.</p>\n</section>\n");
        return;
    }
    h.push_str("<div class=\"grid\">\n");
    for (i, s) in data.spectra.iter().enumerate() {
        figure(h, &s.metric, "spectrum", Some(i), false);
    }
    h.push_str("</div>\n</section>\n");
}

fn operations<S>(h: &mut String, r: &Report<S>) {
    h.push_str("<div id=\"operations\">\n");
    if r.operations.is_empty() {
        h.push_str("<p class=\"empty\">No operation was measured.</p>\n</div>\n");
        return;
    }
    let _ = write!(
        h,
        "<p class=\"note\">Latencies are corrected for coordinated omission (from the intended \
         start); <small class=\"raw\">raw</small> (from when the request left) is shown beneath \
         where it differs, and by how much it understates (−) where that is over a tenth. \
         Operations in the order a run does them: login, the flow, logout.</p>\n<table>\n\
         <thead><tr><th>Operation</th><th>Metric</th><th>Count</th><th>Errors</th>{}</tr>\
         </thead>\n<tbody>\n",
        latency_head()
    );
    for op in &r.operations {
        let timed: Vec<(&str, &TimedReport)> =
            [("response", op.response.as_ref()), ("settle", op.settle.as_ref())]
                .into_iter()
                .filter_map(|(k, t)| t.map(|t| (k, t)))
                .collect();
        let span = timed.len().max(1);
        let lead = format!(
            "<td rowspan=\"{span}\" class=\"op\">{}<br><small>{}</small></td>",
            esc(op.name.as_str()),
            op.kind.as_str()
        );
        let tail = format!("<td rowspan=\"{span}\" class=\"num\">{}</td>", op.count);
        let errs = format!(
            "<td rowspan=\"{span}\" class=\"num{}\">{}</td>",
            if op.errors > 0 { " bad" } else { "" },
            op.errors
        );
        if timed.is_empty() {
            let _ = writeln!(h, "<tr>{lead}<td>–</td>{tail}{errs}{}</tr>", latency_cells(None));
        }
        for (i, (kind, t)) in timed.iter().enumerate() {
            let first = if i == 0 { lead.as_str() } else { "" };
            let mid = if i == 0 { format!("{tail}{errs}") } else { String::new() };
            let _ = writeln!(
                h,
                "<tr>{first}<td>{kind}<br><small>{} sample{}</small></td>{mid}{}</tr>",
                t.count,
                if t.count == 1 { "" } else { "s" },
                latency_cells(Some(t))
            );
        }
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
}

/// An error kind as the table shows it: what failed, and the GWS statusCode or HTTP status when
/// the kind carries one (`status-2` is statusCode 2, `http-503` HTTP 503).
pub(super) fn split_kind(kind: &str) -> (String, String) {
    if let Some(code) = kind.strip_prefix("status-") {
        ("GWS statusCode".to_owned(), code.to_owned())
    } else if let Some(code) = kind.strip_prefix("http-") {
        ("HTTP status".to_owned(), code.to_owned())
    } else {
        (kind.to_owned(), "–".to_owned())
    }
}

/// Errors by operation, kind and statusCode; the error rate and violations over time; the
/// violations by kind and the first few in full.
pub(super) fn errors<S>(h: &mut String, r: &Report<S>, data: &ChartData) {
    let _ = writeln!(
        h,
        "<section id=\"errors\">\n<h2>Errors &amp; violations</h2>\n<h3>Errors: {}</h3>",
        r.counts.errors
    );
    let rows: Vec<_> = r
        .operations
        .iter()
        .flat_map(|op| op.errors_by_kind.iter().map(move |(k, n)| (op, k, *n)))
        .filter(|(_, _, n)| *n > 0)
        .collect();
    if rows.is_empty() {
        h.push_str("<p class=\"empty\">No operation failed.</p>\n");
    } else {
        h.push_str(
            "<table id=\"error-table\">\n<thead><tr><th>Operation</th><th>Kind</th>\
             <th>statusCode</th><th>Count</th><th>of the operation's</th></tr></thead>\n<tbody>\n",
        );
        for (op, kind, n) in rows {
            let (what, code) = split_kind(kind);
            let share = if op.count > 0 {
                format!("{:.2}%", n as f64 * 100.0 / op.count as f64)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num bad\">{n}</td>\
                 <td class=\"num\">{share}</td></tr>",
                esc(op.name.as_str()),
                esc(&what),
                esc(&code)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    let t = &data.timeline;
    let any_errors = t.error_pct.iter().any(|e| e.is_some_and(|e| e > 0.0));
    let any_violations = t.violations.iter().chain(&t.missed_starts).any(|n| *n > 0);
    if any_errors || any_violations {
        h.push_str("<div class=\"grid two\">\n");
        if any_errors {
            figure(h, "error rate per interval", "errors", None, false);
        }
        if any_violations {
            figure(h, "violations and missed starts per interval", "violations", None, false);
        }
        h.push_str("</div>\n");
    }
    violations(h, r);
    h.push_str("</section>\n");
}

fn violations<S>(h: &mut String, r: &Report<S>) {
    let v = &r.violations;
    let _ = writeln!(h, "<h3 id=\"violations\">Ordering violations: {}</h3>", v.total);
    h.push_str("<table class=\"kinds\">\n<tr>");
    let by_name = v.by_name();
    for (k, _) in &by_name {
        let _ = write!(h, "<th>{k}</th>");
    }
    h.push_str("</tr>\n<tr>");
    for (_, n) in &by_name {
        let _ = write!(h, "<td class=\"num{}\">{n}</td>", if *n > 0 { " bad" } else { "" });
    }
    h.push_str("</tr>\n</table>\n");
    if v.first.is_empty() {
        h.push_str("<p class=\"empty\">No violation was recorded.</p>\n");
        return;
    }
    let _ = write!(
        h,
        "<h3>First {} violations</h3>\n<table id=\"first-violations\">\n<thead><tr><th>At</th>\
         <th>Kind</th><th>Agent</th><th>Interaction</th><th>Expected</th><th>Got</th>\
         <th>Context (events before, oldest first)</th></tr></thead>\n<tbody>\n",
        v.first.len()
    );
    for x in &v.first {
        let context: Vec<String> =
            x.context.iter().map(|c| format!("<li><code>{}</code></li>", esc(c))).collect();
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{:.3} s</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
             <td><code>{}</code></td><td><code>{}</code></td><td><ol class=\"context\">{}</ol></td></tr>",
            x.at_ms as f64 / 1000.0,
            x.kind,
            esc(&x.agent),
            esc(&x.interaction),
            esc(&x.expected),
            esc(&x.got),
            context.join("")
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

pub(super) fn thresholds<S>(h: &mut String, r: &Report<S>) {
    h.push_str("<section id=\"thresholds\">\n<h2>Thresholds</h2>\n");
    if r.thresholds.is_empty() {
        h.push_str("<p class=\"empty\">The scenario sets no thresholds.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table>\n<thead><tr><th>Metric</th><th>Stat</th><th>Limit</th><th>Observed</th>\
         <th>Verdict</th></tr></thead>\n<tbody>\n",
    );
    for t in &r.thresholds {
        let observed = t.observed.map_or_else(|| "no data".to_owned(), |v| value_in(t.unit, v));
        let cmp = if t.stat.as_str() == "min" { "≥" } else { "≤" };
        let outcome = label(&t.outcome);
        let _ = writeln!(
            h,
            "<tr class=\"{cls}\"><td>{}</td><td>{}</td><td>{cmp} {}</td><td>{}</td>\
             <td class=\"verdict\">{}</td></tr>",
            esc(&t.metric.to_string()),
            esc(t.stat.as_str()),
            esc(&value_in(t.unit, t.limit_value)),
            esc(&observed),
            esc(&outcome.to_uppercase()),
            cls = if t.passed { "pass" } else { "fail" },
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// Where and when the run went, its counts, and the resolved scenario.
pub(super) fn run<S: ScenarioView + Serialize>(h: &mut String, r: &Report<S>) {
    let t = &r.target;
    let c = &r.counts;
    let rows = [
        ("Scenario", esc(r.scenario.name())),
        ("Seed", r.seed.to_string()),
        ("Versions", format!("gwsim {}", esc(&r.versions.gwsim))),
        (
            "Target",
            format!(
                "{} {} ({}, {})",
                t.kind,
                esc(&t.base_url),
                esc(&label(&t.transport)),
                esc(&label(&t.media))
            ),
        ),
        ("Started", esc(&r.started)),
        ("Ended", esc(&r.ended)),
        ("Duration", seconds(r.duration_ms)),
        (
            "Counts",
            format!(
                "{} operations, {} errors, {} violations, {} reconnects, {} missed starts, \
                 {} abandoned",
                c.operations, c.errors, c.violations, c.reconnects, c.missed_starts, c.abandoned
            ),
        ),
    ];
    h.push_str("<section id=\"run\">\n<h2>Run &amp; scenario</h2>\n<table class=\"meta\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n");
    let text = serde_json::to_string_pretty(&r.scenario)
        .unwrap_or_else(|e| format!("(the scenario could not be shown: {e})"));
    let _ = write!(
        h,
        "<details id=\"scenario\"><summary>The resolved scenario (CLI overrides applied, as in \
         summary.json)</summary>\n<pre>{}</pre>\n</details>\n</section>\n",
        esc(&text)
    );
}

//! Tests of `report.html`: it parses, leads with the headline figures, carries the chart data of
//! the report it was built from (phases included), emits no empty chart, tables the errors,
//! loads nothing from the network, and escapes hostile input.

use std::collections::BTreeMap;

use scraper::{Html, Selector};

use super::{ChartData, DATA_ELEMENT_ID, PageHistograms, chart_data, embed_json, esc};
use crate::metrics::Recorder;
use crate::ordering::ViolationKind;
use crate::report::Phases;
use crate::report::tests::{info, recorded, scenario, violation};
use crate::report::timeline::{IntervalLatency, Point};
use crate::report::*;
use crate::vocab::Stat;

const HOSTILE: &str = "</script><script>alert(1)</script><!--<b onload=\"x\">&amp;'";

fn sel(s: &str) -> Selector {
    match Selector::parse(s) {
        Ok(sel) => sel,
        Err(e) => panic!("bad selector {s}: {e}"),
    }
}

/// The phases of the synthetic time series: warmup to 2 s, load to 16 s, drain to 19 s, logout
/// to the end at 19.5 s.
const PHASES: Phases =
    Phases { login_ms: 700, warmup_ms: 2_000, drain_ms: 16_000, logout_ms: 19_000, end_ms: 19_500 };

/// A synthetic time series: 20 one-second intervals, Accept in every one, Consult in the odd
/// ones, a burst of violations at 12 s, and a short last interval (logout) with a burst of 100
/// operations. Gauges: 3 agents logged in, 2 busy, 4 active chats, customers waiting `i % 4`; 2
/// chats and 3 flows completed in every interval.
fn timeline() -> Vec<Point> {
    (1..=20u64)
        .map(|i| {
            let mut latency = BTreeMap::new();
            latency.insert(
                "Accept.response".to_owned(),
                IntervalLatency { count: 5, p50_us: 2_000 + i * 10, p99_us: 9_000, max_us: 11_000 },
            );
            if i % 2 == 1 {
                latency.insert(
                    "Consult.settle".to_owned(),
                    IntervalLatency { count: 5, p50_us: 380_000, p99_us: 440_000, max_us: 449_000 },
                );
            }
            let t_ms = if i == 20 { 19_500 } else { i * 1000 };
            Point {
                start_ms: (i - 1) * 1000,
                warmup: i <= 2,
                t_ms,
                ops: if i == 20 { 100 } else { 10 },
                errors: u64::from(i == 5),
                violations: if i == 12 { 3 } else { 0 },
                missed_starts: u64::from(i == 3),
                latency,
                flows_completed: 3,
                chats_completed: 2,
                active_chats: 4,
                agents_logged_in: 3,
                agents_busy: 2,
                customers_waiting: i % 4,
            }
        })
        .collect()
}

/// The page's histograms of a run just finished.
fn hs(m: &Recorder) -> PageHistograms {
    PageHistograms::from_recorder(m)
}

fn report() -> (Report, Recorder) {
    let m = recorded();
    let s = scenario("[[thresholds]]\nmetric = \"Accept.response\"\np99 = \"50ms\"\n");
    let mut info = info(s, false);
    info.phases = Some(PHASES);
    (Report::build(info, &m), m)
}

/// The trimmed text of every element `s` selects.
fn texts(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s)).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

/// The embedded blob, parsed as the page's script parses it.
fn blob(doc: &Html) -> serde_json::Value {
    let scripts: Vec<_> = doc.select(&sel(&format!("script#{DATA_ELEMENT_ID}"))).collect();
    assert_eq!(scripts.len(), 1, "exactly one data blob");
    assert_eq!(scripts[0].value().attr("type"), Some("application/json"));
    let text: String = scripts[0].text().collect();
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("the blob is not JSON ({e}): {text}"),
    }
}

#[test]
fn the_page_parses_and_carries_the_report() {
    let (r, m) = report();
    let tl = timeline();
    let page = render_html(&r, &hs(&m), &tl);
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    assert!(page.starts_with("<!DOCTYPE html>"));

    // The blob is the chart data of this report, value for value.
    let v = blob(&doc);
    let expected = serde_json::to_value(chart_data(&r, &hs(&m), &tl)).unwrap();
    assert_eq!(v, expected);
    let spectra = v["spectra"].as_array().unwrap();
    let names: Vec<&str> = spectra.iter().map(|s| s["metric"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Accept.response",
            "Consult.response",
            "Consult.settle",
            "customer.wait",
            "customer.to_agent",
            "GetMe.response"
        ]
    );
    // Each spectrum ends at its metric's max, as the report gives it.
    for op in &r.operations {
        for (kind, t) in [("response", &op.response), ("settle", &op.settle)] {
            let Some(p) = t.as_ref().and_then(|t| t.corrected) else { continue };
            let metric = format!("{}.{kind}", op.name);
            let s = spectra.iter().find(|s| s["metric"] == metric.as_str()).unwrap();
            assert_eq!(
                s["corrected"]["us"].as_array().unwrap().last().unwrap(),
                p.us(Stat::Max).unwrap(),
                "{metric}"
            );
        }
    }
    // Consult left 300 ms late: corrected and raw differ, so raw is there; Accept kept its
    // schedule, so raw is omitted.
    let consult = &spectra[2];
    assert_eq!(
        consult["raw"]["us"].as_array().unwrap().last().unwrap(),
        r.operations
            .iter()
            .find(|o| o.name.as_str() == "Consult")
            .unwrap()
            .settle
            .as_ref()
            .unwrap()
            .raw
            .unwrap()
            .us(Stat::Max)
            .unwrap()
    );
    assert!(spectra[0]["raw"].is_null());
    assert_eq!(spectra[0]["has_raw"], true);
    // Customer metrics have a raw variant too (identical here: nothing left late).
    assert_eq!(spectra[3]["has_raw"], true);
    assert!(spectra[3]["raw"].is_null());

    // The time series: 20 points, throughput per second (the short last interval is scaled),
    // error rate in percent, latency with gaps where a metric had no sample.
    let t = &v["timeline"];
    assert_eq!(t["t_s"].as_array().unwrap().len(), 20);
    assert_eq!(t["t_s"][19], 19.5);
    assert_eq!(t["ops_per_s"][0], 10.0);
    assert_eq!(t["ops_per_s"][19], 200.0);
    assert_eq!(t["chats_per_s"][0], 2.0);
    assert_eq!(t["occupancy_pct"][0], 66.667);
    assert_eq!(t["customers_waiting"][3], 0);
    assert_eq!(t["error_pct"][4], 10.0);
    assert_eq!(t["violations"][11], 3);
    assert_eq!(t["latency"][0]["metric"], "Accept.response");
    assert_eq!(t["latency"][0]["p50_us"][0], 2_010);
    assert_eq!(t["latency"][1]["metric"], "Consult.settle");
    assert_eq!(t["latency"][1]["p99_us"][0], 440_000);
    assert!(t["latency"][1]["p99_us"][1].is_null());

    // The static tables say what the report says.
    let text = |s: &str| texts(&doc, s);
    assert_eq!(text("#result")[0], format!("FAIL exit {}", r.exit.code));
    let verdicts = text("#thresholds tbody tr");
    assert_eq!(verdicts.len(), 1);
    assert!(verdicts[0].starts_with("Accept.responsep99≤ 50.0ms"), "{}", verdicts[0]);
    assert!(verdicts[0].ends_with("PASS"), "{}", verdicts[0]);
    let ops = text("#operations td.op");
    assert_eq!(ops.len(), r.operations.len());
    assert!(ops[0].starts_with("GetMe"), "operations in flow order: login first");
    assert_eq!(doc.select(&sel("#first-violations tbody tr")).count(), r.violations.first.len());
    let first = text("#first-violations tbody tr");
    assert!(first[0].starts_with("12.034 sout-of-orderfrontline-1"), "{}", first[0]);
    assert!(first[0].contains("ParticipantsUpdated"));
    // One chart placeholder per spectrum and per timed metric, and one of each time chart this
    // series has data for.
    assert_eq!(doc.select(&sel("[data-chart=spectrum]")).count(), spectra.len());
    assert_eq!(doc.select(&sel("[data-chart=latency]")).count(), 2);
    for chart in ["throughput", "concurrency", "waiting", "errors", "violations"] {
        let n = doc.select(&sel(&format!("[data-chart={chart}]"))).count();
        assert_eq!(n, 1, "{chart}");
    }
    let scenario_text = text("#scenario pre");
    assert!(scenario_text[0].contains("\"name\": \"report-test\""));
}

#[test]
fn the_page_needs_no_network() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &timeline());
    let doc = Html::parse_document(&page);
    for el in doc.select(&sel("script, link, img, iframe, source, object, embed")) {
        for attr in ["src", "href", "data"] {
            if let Some(v) = el.value().attr(attr) {
                panic!("<{} {attr}=\"{v}\"> loads a resource", el.value().name());
            }
        }
    }
    // Nor from CSS.
    for style in doc.select(&sel("style")) {
        let css: String = style.text().collect();
        assert!(!css.contains("url(") && !css.contains("@import"), "CSS loads a resource");
    }
    // The library and the drawing script are inline.
    assert_eq!(doc.select(&sel("script")).count(), 3);
    assert!(page.contains("var uPlot="));
}

#[test]
fn an_empty_time_series_is_said_not_drawn() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &[]);
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let empties: Vec<String> =
        texts(&doc, ".empty").into_iter().filter(|t| t.contains("No time series")).collect();
    // Customer wait, throughput, per-interval latency.
    assert_eq!(empties.len(), 3, "{empties:?}");
    assert_eq!(doc.select(&sel("[data-chart]:not([data-chart=spectrum])")).count(), 0);
    assert_eq!(blob(&doc)["timeline"]["t_s"], serde_json::json!([]));
    assert_eq!(blob(&doc)["phases"], serde_json::json!([]));
    // The headline still stands, with what the summary alone knows.
    assert_eq!(texts(&doc, "[data-figure=ops] .v")[0], "–ops/s");
    assert_eq!(texts(&doc, "[data-figure=errors] .v")[0], r.counts.errors.to_string());
}

#[test]
fn an_empty_run_renders() {
    let s = scenario("");
    let r = Report::build(info(s, true), &Recorder::new());
    let page = render_html(&r, &hs(&Recorder::new()), &[]);
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let result: String = doc.select(&sel("#result")).flat_map(|e| e.text()).collect();
    assert_eq!(result, "INTERRUPTED exit 130");
    assert_eq!(blob(&doc)["spectra"], serde_json::json!([]));
    assert!(page.contains("No latency was measured."));
}

#[test]
fn hostile_input_is_escaped_everywhere() {
    let mut m = recorded();
    let mut v = violation(ViolationKind::Unexpected, 30_000);
    v.agent = HOSTILE.into();
    v.interaction = HOSTILE.into();
    v.expected = HOSTILE.into();
    v.got = HOSTILE.into();
    v.context = vec![HOSTILE.into()];
    m.violation(v);
    m.op_error(crate::vocab::OpName::Session(crate::vocab::SessionOp::Ready), HOSTILE, true);
    let mut s = scenario("");
    s.name = HOSTILE.into();
    let r = Report::build(info(s, false), &m);
    let mut tl = timeline();
    tl[0]
        .latency
        .insert(HOSTILE.into(), IntervalLatency { count: 1, p50_us: 1, p99_us: 1, max_us: 1 });
    let page = render_html(&r, &hs(&m), &tl);
    if let Ok(path) = std::env::var("GWSIM_SAMPLE_HOSTILE_REPORT") {
        std::fs::write(&path, &page).unwrap();
    }

    // The only scripts are ours; the hostile one never became an element.
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    assert_eq!(doc.select(&sel("script")).count(), 3);
    assert_eq!(doc.select(&sel("b")).count(), 0);
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<b onload"));
    // The text arrives intact where a person reads it...
    let title: String = doc.select(&sel("title")).flat_map(|e| e.text()).collect();
    assert_eq!(title, format!("gwsim report: {HOSTILE}"));
    let cells: Vec<String> =
        doc.select(&sel("#first-violations td code")).map(|e| e.text().collect()).collect();
    assert!(cells.iter().filter(|c| *c == HOSTILE).count() >= 4, "{cells:?}");
    // ...and in the blob, where `JSON.parse` gets the original string back.
    let v = blob(&doc);
    let metrics: Vec<&str> = v["timeline"]["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["metric"].as_str().unwrap())
        .collect();
    assert!(metrics.contains(&HOSTILE), "{metrics:?}");
}

#[test]
fn embedded_json_cannot_close_its_element() {
    let s = embed_json(&serde_json::json!({ "a": "</script><!-- & \u{2028}" })).unwrap();
    assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'), "{s}");
    assert!(!s.contains('\u{2028}'));
    let back: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back["a"], "</script><!-- & \u{2028}");
    assert_eq!(
        esc("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

#[test]
fn vendored_assets_cannot_end_their_elements_early() {
    // The library is inlined in <script> and <style>; a `</script` or `</style` inside would cut
    // it short, and a URL would mean it fetches something.
    for (name, text) in [
        ("uPlot.iife.min.js", include_str!("../assets/uPlot.iife.min.js")),
        ("draw.js", include_str!("../assets/draw.js")),
        ("uPlot.min.css", include_str!("../assets/uPlot.min.css")),
        ("page.css", include_str!("../assets/page.css")),
    ] {
        let lower = text.to_lowercase();
        assert!(!lower.contains("</script") && !lower.contains("</style"), "{name}");
        assert!(!lower.contains("<!--"), "{name}");
        assert!(!lower.contains("url("), "{name}");
    }
}

#[test]
fn write_html_writes_report_html_into_the_directory() {
    let dir = std::env::temp_dir().join(format!("gwsim-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (r, m) = report();
    let path = write_html(&dir, &r, &hs(&m), &timeline()).unwrap();
    assert_eq!(path, dir.join("report.html"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), render_html(&r, &hs(&m), &timeline()));
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["report.html"], "no temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A livelier series for looking at the page: 60 s of load after 5 s of warmup, a queue that
/// builds up and drains, 4 s of drain and a logout burst.
fn lively_timeline() -> Vec<Point> {
    (1..=70u64)
        .map(|i| {
            let wave = ((i as f64) / 6.0).sin();
            let busy = (24.0 + 5.0 * wave).round() as u64;
            let waiting = if (30..45).contains(&i) { (i - 29) * 2 } else { 0 };
            let mut latency = BTreeMap::new();
            let at = |p50: f64| IntervalLatency {
                count: 20,
                p50_us: p50 as u64,
                p99_us: (p50 * 3.5) as u64,
                max_us: (p50 * 4.0) as u64,
            };
            if i <= 64 {
                latency.insert("Accept.settle".to_owned(), at(4_000.0 + 800.0 * wave));
                latency.insert("Consult.settle".to_owned(), at(90_000.0 + 20_000.0 * wave));
                latency.insert(
                    "customer.wait".to_owned(),
                    at(2_000.0 + 400_000.0 * waiting as f64 / 30.0),
                );
            } else {
                latency.insert("EndContactCenterSession.response".to_owned(), at(40_000.0));
            }
            let load = i <= 65;
            let t_ms = if i == 70 { 69_400 } else { i * 1000 };
            Point {
                start_ms: (i - 1) * 1000,
                warmup: i <= 5,
                t_ms,
                ops: if i == 70 {
                    90
                } else if load {
                    (60.0 + 8.0 * wave) as u64
                } else {
                    8
                },
                errors: u64::from(i == 33 || i == 34),
                violations: u64::from(i == 40),
                missed_starts: 0,
                latency,
                flows_completed: if load { (7.0 + wave) as u64 } else { 2 },
                chats_completed: if load { (7.0 + wave) as u64 } else { 2 },
                active_chats: if load { busy + waiting } else { 69 - i.min(69) },
                agents_logged_in: if i == 70 { 0 } else { 30 },
                agents_busy: if load { busy } else { 3 },
                customers_waiting: waiting,
            }
        })
        .collect()
}

/// Writes a sample page for looking at it in a browser: set `GWSIM_SAMPLE_REPORT` to a path.
#[test]
fn sample_report_for_viewing() {
    let (mut r, m) = report();
    r.phases = Some(Phases {
        login_ms: 900,
        warmup_ms: 5_000,
        drain_ms: 65_000,
        logout_ms: 69_000,
        end_ms: 69_400,
    });
    let tl = lively_timeline();
    let page = render_html(&r, &hs(&m), &tl);
    let chart: ChartData = chart_data(&r, &hs(&m), &tl);
    assert!(!chart.spectra.is_empty());
    assert!(chart.timeline.ops_clip.is_some(), "the logout burst is clipped");
    if let Ok(path) = std::env::var("GWSIM_SAMPLE_REPORT") {
        std::fs::write(&path, page).unwrap();
    }
}

#[test]
fn the_headline_comes_first_with_the_runs_numbers() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &timeline());
    let doc = Html::parse_document(&page);
    // The headline is the first thing after the navigation, and its figures come before any
    // chart or table of the sections below.
    let ids: Vec<&str> =
        doc.select(&sel("body > header, body > section")).filter_map(|e| e.value().id()).collect();
    assert_eq!(
        ids,
        ["headline", "customers", "throughput", "latency", "errors", "thresholds", "run"]
    );
    let nav: Vec<String> = doc
        .select(&sel("nav#toc a"))
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(nav, ids.iter().map(|i| format!("#{i}")).collect::<Vec<_>>());
    let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{needle} not in the page"));
    assert!(at("data-figure=\"ops\"") < at("data-chart="));
    assert!(at("id=\"key-latency\"") < at("id=\"customers\""));

    // The verdict, and which thresholds failed.
    assert_eq!(texts(&doc, "#result")[0], "FAIL exit 1");
    assert_eq!(texts(&doc, "#failed li"), r.exit.reasons);
    assert!(!r.exit.reasons.is_empty());

    // Throughput over the measured load (2 s to 16 s: 14 intervals of 10 operations, 2 chats and
    // 3 flows each), not the warmup, drain or the logout burst.
    let figure = |name: &str| texts(&doc, &format!("[data-figure={name}] .v"))[0].clone();
    let sub = |name: &str| texts(&doc, &format!("[data-figure={name}] .s"))[0].clone();
    assert_eq!(figure("ops"), "10.0ops/s");
    assert_eq!(sub("ops"), "over the 14 s measured load (after warmup)");
    assert_eq!(figure("chats"), "2.00chats/s");
    assert_eq!(sub("chats"), "3.00 flows/s");
    let c = r.counts;
    assert_eq!(c.errors, 3);
    assert_eq!(figure("errors"), "3");
    let share = 300.0 / c.operations as f64;
    assert_eq!(sub("errors"), format!("{share:.2}% of {} operations", c.operations));
    assert_eq!(figure("violations"), "2");
    assert_eq!(sub("violations"), "1 missing, 1 out-of-order");
    assert_eq!(figure("agents"), "3");
    assert_eq!(sub("agents"), "3 logged in at most");
    assert_eq!(figure("duration"), "65.5s");
    assert_eq!(sub("duration"), "login 0.7 s · load 16.0 s · drain 3.0 s · logout 0.5 s");

    // The key latencies: each flow operation's settle, or its response without one, with the
    // report's own p50 and p99; an operation with no latency (Remove only failed) is left out.
    let rows = texts(&doc, "#key-latency tbody tr");
    let expect = |settle: bool, metric: &str| {
        let name = metric.split('.').next().unwrap_or_default();
        let op = r.operations.iter().find(|o| o.name.to_string() == name).unwrap();
        let t = if settle { &op.settle } else { &op.response };
        let p = t.as_ref().and_then(|t| t.corrected).unwrap();
        format!(
            "{metric}{}{}{}",
            human_us(p.us(Stat::P50).unwrap() as f64),
            human_us(p.us(Stat::P99).unwrap() as f64),
            p.count
        )
    };
    let squeeze = |s: &String| s.split_whitespace().collect::<String>();
    assert_eq!(
        rows.iter().map(squeeze).collect::<Vec<_>>(),
        [expect(false, "Accept.response"), expect(true, "Consult.settle")]
    );
}

/// `timeline()` without gauges, errors, violations, missed starts or customer waits: what an
/// old or quiet run's file holds.
fn bare_timeline() -> Vec<Point> {
    let mut tl = timeline();
    for p in &mut tl {
        (p.errors, p.violations, p.missed_starts) = (0, 0, 0);
        (p.flows_completed, p.chats_completed, p.active_chats) = (0, 0, 0);
        (p.agents_logged_in, p.agents_busy, p.customers_waiting) = (0, 0, 0);
    }
    tl
}

#[test]
fn no_chart_is_emitted_for_an_empty_series() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &bare_timeline());
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    for chart in ["concurrency", "waiting", "errors", "violations"] {
        let n = doc.select(&sel(&format!("[data-chart={chart}]"))).count();
        assert_eq!(n, 0, "a {chart} chart with nothing to draw");
    }
    // Each chart that is there has something in it.
    let v = blob(&doc);
    assert!(v["timeline"]["ops_per_s"].as_array().unwrap().iter().any(|x| x.as_f64() > Some(0.0)));
    assert_eq!(doc.select(&sel("[data-chart=throughput]")).count(), 1);
    for el in doc.select(&sel("[data-chart=latency]")) {
        let i: usize = el.value().attr("data-index").unwrap().parse().unwrap();
        let series = &v["timeline"]["latency"][i];
        assert!(series["p99_us"].as_array().unwrap().iter().any(|x| !x.is_null()), "{series}");
    }
    for el in doc.select(&sel("[data-chart=spectrum]")) {
        let i: usize = el.value().attr("data-index").unwrap().parse().unwrap();
        assert!(!v["spectra"][i]["corrected"]["us"].as_array().unwrap().is_empty());
    }
    // A sentence says why a chart is missing, and the headline does not invent chat figures.
    let notes = texts(&doc, ".empty").join(" | ");
    assert!(notes.contains("carries no chat counts or concurrency gauges"), "{notes}");
    assert!(notes.contains("No customer waited for an agent"), "{notes}");
    assert_eq!(v["timeline"]["has_gauges"], false);
    assert_eq!(texts(&doc, "[data-figure=chats] .v")[0], "–chats/s");
    assert_eq!(texts(&doc, "[data-figure=agents] .s")[0], "in the scenario");
}

#[test]
fn phases_are_in_the_data_and_the_logout_burst_is_clipped() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &timeline());
    let doc = Html::parse_document(&page);
    let v = blob(&doc);
    assert_eq!(
        v["phases"],
        serde_json::json!([
            { "phase": "warmup", "from_s": 0.0, "to_s": 2.0 },
            { "phase": "load", "from_s": 2.0, "to_s": 16.0 },
            { "phase": "drain", "from_s": 16.0, "to_s": 19.0 },
            { "phase": "logout", "from_s": 19.0, "to_s": 19.5 },
        ])
    );
    // The measured load, which the headline and the legends summarize: 2 s to 16 s.
    let measured: Vec<bool> = (1..=20).map(|i| (3..=16).contains(&i)).collect();
    assert_eq!(v["timeline"]["measured"], serde_json::json!(measured));
    // The throughput axis stops above the load's 10/s, and the page says where the burst went.
    assert_eq!(v["timeline"]["ops_clip"], 11.5);
    assert_eq!(v["timeline"]["burst_peak"], 200.0);
    let burst = texts(&doc, "#burst");
    assert!(burst[0].contains("stops at 11.5/s") && burst[0].contains("(200/s"), "{burst:?}");
    assert!(texts(&doc, ".phase-key")[0].contains("logout 19–19.5 s"));

    // A summary from before phases were recorded: warmup as the points flag it, the rest load,
    // and nothing clipped (the burst cannot be told from load).
    let mut old = r.clone();
    old.phases = None;
    let v = blob(&Html::parse_document(&render_html(&old, &hs(&m), &timeline())));
    assert_eq!(
        v["phases"],
        serde_json::json!([
            { "phase": "warmup", "from_s": 0.0, "to_s": 2.0 },
            { "phase": "load", "from_s": 2.0, "to_s": 19.5 },
        ])
    );
    assert!(v["timeline"]["ops_clip"].is_null());
}

#[test]
fn errors_are_tabled_by_operation_kind_and_status_code() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &timeline());
    let doc = Html::parse_document(&page);
    let rows: Vec<Vec<String>> = doc
        .select(&sel("#error-table tbody tr"))
        .map(|tr| tr.select(&sel("td")).map(|td| td.text().collect::<String>()).collect())
        .collect();
    // Consult: 100 ok and 2 failures; Remove: its one await timeout.
    assert_eq!(
        rows,
        [
            ["Consult", "GWS statusCode", "2", "1", "0.98%"],
            ["Consult", "timeout", "–", "1", "0.98%"],
            ["RemoveParticipantFromConference", "await-timeout:removed", "–", "1", "100.00%"],
        ]
    );
    assert_eq!(super::sections::split_kind("http-503"), ("HTTP status".into(), "503".into()));
}

/// The page `gwsim report` draws from a run's files is the page the run drew: the report read
/// back from its JSON, the histograms from `totals.hlog`'s bytes, the time series from its lines.
#[test]
fn a_page_read_back_from_the_runs_files_is_the_runs_page() {
    let (r, m) = report();
    let tl = timeline();
    let run_page = render_html(&r, &hs(&m), &tl);

    let json = crate::report::to_json(&r).unwrap();
    let stored =
        readback::parse_summary(std::path::Path::new("summary.json"), json.as_bytes()).unwrap();
    let bytes =
        totals::encode(&totals::histograms(&m), std::time::Duration::from_secs(65)).unwrap();
    let totals = readback::parse_hlog(std::path::Path::new("totals.hlog"), &bytes).unwrap();
    let lines: Vec<Point> = tl
        .iter()
        .map(|p| serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap())
        .collect();
    let histograms = PageHistograms::stored(Some(&totals), None);
    let read_page = render_html(&stored, &histograms, &lines);
    assert_eq!(read_page, run_page);
    // And that page has what the interval log alone lacked: raw latencies and login operations.
    let v = blob(&Html::parse_document(&read_page));
    let spectra = v["spectra"].as_array().unwrap();
    assert!(spectra.iter().any(|s| s["metric"] == "GetMe.response"));
    assert!(spectra.iter().any(|s| !s["raw"].is_null()));
}

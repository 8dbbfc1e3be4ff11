//! Tests of `report.html`: it parses, carries the chart data of the report it was built from,
//! loads nothing from the network, and escapes hostile input.

use std::collections::BTreeMap;

use scraper::{Html, Selector};

use super::{ChartData, DATA_ELEMENT_ID, PageHistograms, chart_data, embed_json, esc};
use crate::metrics::Recorder;
use crate::ordering::ViolationKind;
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

/// A synthetic time series: 20 one-second intervals, Accept in every one, Consult in the odd
/// ones, a burst of violations at 12 s, and a short last interval.
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
                ops: 10,
                errors: u64::from(i == 5),
                violations: if i == 12 { 3 } else { 0 },
                missed_starts: u64::from(i == 3),
                flows_completed: 0,
                chats_completed: 0,
                active_chats: 0,
                agents_logged_in: 0,
                agents_busy: 0,
                customers_waiting: 0,
                latency,
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
    (Report::build(info(s, false), &m), m)
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
            "GetMe.response",
            "Accept.response",
            "Consult.response",
            "Consult.settle",
            "customer.wait",
            "customer.to_agent"
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
    let consult = &spectra[3];
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
    assert!(spectra[1]["raw"].is_null());
    assert_eq!(spectra[1]["has_raw"], true);
    // Customer metrics have one variant only.
    assert_eq!(spectra[4]["has_raw"], false);

    // The time series: 20 points, throughput per second (the short last interval is scaled),
    // error rate in percent, latency with gaps where a metric had no sample.
    let t = &v["timeline"];
    assert_eq!(t["t_s"].as_array().unwrap().len(), 20);
    assert_eq!(t["t_s"][19], 19.5);
    assert_eq!(t["ops_per_s"][0], 10.0);
    assert_eq!(t["ops_per_s"][19], 20.0);
    assert_eq!(t["error_pct"][4], 10.0);
    assert_eq!(t["violations"][11], 3);
    assert_eq!(t["latency"][0]["metric"], "Accept.response");
    assert_eq!(t["latency"][0]["p50_us"][0], 2_010);
    assert_eq!(t["latency"][1]["metric"], "Consult.settle");
    assert_eq!(t["latency"][1]["p99_us"][0], 440_000);
    assert!(t["latency"][1]["p99_us"][1].is_null());

    // The static tables say what the report says.
    let text = |s: &str| -> Vec<String> {
        doc.select(&sel(s)).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
    };
    assert_eq!(text("#result")[0], format!("CHECKS FAILED exit {}", r.exit.code));
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
    // One chart placeholder per spectrum and per timed metric, plus throughput and violations.
    assert_eq!(doc.select(&sel("[data-chart=spectrum]")).count(), spectra.len());
    assert_eq!(doc.select(&sel("[data-chart=latency]")).count(), 2);
    assert_eq!(doc.select(&sel("[data-chart=throughput]")).count(), 1);
    assert_eq!(doc.select(&sel("[data-chart=violations]")).count(), 1);
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
    let empties: Vec<String> = doc
        .select(&sel("#over-time .empty, #violations .empty"))
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(empties.len(), 2, "{empties:?}");
    assert!(empties.iter().all(|t| t.contains("No time series")));
    assert_eq!(doc.select(&sel("[data-chart=throughput], [data-chart=latency]")).count(), 0);
    assert_eq!(blob(&doc)["timeline"]["t_s"], serde_json::json!([]));
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

/// Writes a sample page for looking at it in a browser: set `GWSIM_SAMPLE_REPORT` to a path.
#[test]
fn sample_report_for_viewing() {
    let (r, m) = report();
    let page = render_html(&r, &hs(&m), &timeline());
    let chart: ChartData = chart_data(&r, &hs(&m), &timeline());
    assert!(!chart.spectra.is_empty());
    if let Ok(path) = std::env::var("GWSIM_SAMPLE_REPORT") {
        std::fs::write(&path, page).unwrap();
    }
}

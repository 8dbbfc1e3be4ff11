//! `gwsim report DIR` draws the page the run drew: a real run through the binary, its
//! `report.html` set aside, the page drawn again from the results directory, and the two compared
//! byte for byte (issue 10: the re-rendered page had lost the login operations, raw latencies
//! and the warmup split).

use crate::binary::{gwsim, path, scratch, text};

/// A short run with a warmup, so every phase is in the time series.
const SCENARIO: &str = r#"
name = "report-page"
[target]
kind = "embedded"
transport = "websocket"
media = "chat"
[run]
duration = "3s"
warmup = "1s"
drain = "10s"
seed = 5
[[agents]]
name = "frontline"
count = 3
username = "frontline-{n}"
flow = "work"
[customers]
arrival = { rate = "4/s" }
[flows.work]
steps = [ { op = "Accept" }, { op = "SendMessage", text = "Hello" }, { op = "Leave" }, { op = "Complete" } ]
"#;

/// The chart data embedded in a page.
fn blob(html: &str) -> serde_json::Value {
    let open = format!(r#"id="{}">"#, gwsim::report::html::DATA_ELEMENT_ID);
    let blob =
        html.split_once(&open).and_then(|(_, rest)| rest.split_once("</script>")).map(|(b, _)| b);
    serde_json::from_str(blob.expect("embedded chart data")).expect("the chart data is JSON")
}

#[test]
fn gwsim_report_draws_the_page_the_run_drew() {
    let tmp = scratch();
    let dir = tmp.path();
    let scenario = dir.join("report-page.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let run_dir = dir.join("run");
    let run = gwsim(&["run", path(&scenario), "--out", path(&run_dir), "--quiet"]);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", text(&run.stdout), text(&run.stderr));
    let run_page = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    std::fs::remove_file(run_dir.join("report.html")).unwrap();

    let report = gwsim(&["report", path(&run_dir)]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    let read_page = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    if read_page != run_page {
        let (a, b) = (blob(&run_page), blob(&read_page));
        panic!("the pages differ; chart data equal: {}", a == b);
    }

    // Not two equally poor pages: the login operations, raw latencies and the phases are there.
    let data = blob(&read_page);
    let spectra = data["spectra"].as_array().expect("spectra");
    for metric in ["Accept.settle", "GetMe.response", "StartContactCenterSession.response"] {
        assert!(spectra.iter().any(|s| s["metric"] == metric), "no {metric} spectrum");
    }
    assert!(spectra.iter().all(|s| s["has_raw"] == true
        || s["metric"].as_str().is_some_and(|m| m.starts_with("customer."))));
    let phases: Vec<&str> =
        data["phases"].as_array().unwrap().iter().filter_map(|p| p["phase"].as_str()).collect();
    assert_eq!(phases.first(), Some(&"warmup"), "{phases:?}");
    assert!(phases.contains(&"load") && phases.contains(&"logout"), "{phases:?}");
}

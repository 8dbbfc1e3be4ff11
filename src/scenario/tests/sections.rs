//! The `[faults]` and `[capacity]` sections and the thresholds that need them: read, checked, and
//! every problem reported where it is.

use std::time::Duration;

use super::*;

#[test]
fn faults_section_reads_the_plan_format_with_the_scenario_seed_and_populations() {
    use crate::faults::{AgentPattern, FaultKind};
    // No section: no plan, so the embedded server injects nothing.
    assert!(parse("t.toml", &with("")).expect("valid").faults.is_none());
    let text = with(
        "[[agents]]\nname = \"b\"\ncount = 3\nusername = \"bee-{n}\"\nflow = \"f\"\n\
         [faults]\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\nagents = [\"agents:b\", \"x*\"]\n",
    )
    .replace("[run]\n", "[run]\nseed = 42\n");
    let s = parse("t.toml", &text).expect("valid");
    let plan = s.faults.expect("a plan");
    assert_eq!(plan.seed, 42, "the plan's seed defaults to the scenario's");
    assert_eq!(plan.rules.len(), 1);
    assert_eq!(plan.rules[0].kind(), FaultKind::Drop);
    let agents = plan.rules[0].select.agents.clone().expect("agents");
    assert_eq!(agents, vec![AgentPattern::Glob("bee-*".into()), AgentPattern::Glob("x*".into())]);
    assert!(plan.populations().is_empty(), "every population is resolved");
    // A glob that would also select another population's agents becomes the usernames.
    let text = with(
        "[[agents]]\nname = \"b\"\ncount = 2\nusername = \"a-{n}\"\nfirst = 10\nflow = \"f\"\n\
         [faults]\nseed = 3\n[[faults.rule]]\nkind = \"swap\"\nrate = 0.5\nagents = [\"agents:a\"]\n",
    );
    let plan = parse("t.toml", &text).expect("valid").faults.expect("a plan");
    assert_eq!(plan.seed, 3, "an explicit seed wins");
    let agents = plan.rules[0].select.agents.clone().expect("agents");
    assert_eq!(agents, vec![AgentPattern::Glob("a-1".into()), AgentPattern::Glob("a-2".into())]);
}

#[test]
fn faults_section_problems_are_diagnostics_with_positions() {
    // Errors of the plan format come with file:line:col, next to the other sections' problems.
    check(
        &with("[faults]\n[[faults.rule]]\nkind = \"dorp\"\nrate = 2.0\n"),
        &[(12, 8, "`dorp` is not a kind of fault"), (13, 8, "outside 0..1")],
    );
    check(
        &with(
            "[faults]\nsede = 1\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\nagents = [\"agents:nobody\"]\n",
        ),
        &[(11, 1, "unknown key `sede`")],
    );
    check(
        &with(
            "[faults]\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\nagents = [\"agents:nobody\"]\n",
        ),
        &[(10, 2, "no population has that name")],
    );
    // A remote server cannot be told to misbehave.
    let remote = with("[faults]\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\n")
        .replace(
            "[run]",
            "[target]\nkind = \"remote\"\nbase_url = \"http://127.0.0.1:8080\"\n[run]",
        )
        .replace("flow = \"f\"", "flow = \"f\"\npassword = { env = \"GWS_PASSWORD\" }");
    check(&remote, &[(14, 2, "cannot be told to misbehave")]);
}

#[test]
fn fault_thresholds_take_a_min_fraction_and_need_a_faults_section() {
    let faults = "[faults]\n[[faults.rule]]\nkind = \"drop\"\nrate = 1.0\n";
    let t = |limits: &str| {
        with(&format!(
            "{faults}[[thresholds]]\nmetric = \"faults.recall\"\n{limits}\n\
             [[thresholds]]\nmetric = \"faults.drop.precision\"\nmin = 1\n"
        ))
    };
    let s = parse("t.toml", &t("min = 0.95")).expect("valid");
    assert_eq!(s.thresholds[0].metric, Metric::Faults(None, FaultRatio::Recall));
    assert_eq!(s.thresholds[0].limit, Limit::Fraction(0.95));
    assert_eq!(
        s.thresholds[1].metric,
        Metric::Faults(Some(OrderingFault::Drop), FaultRatio::Precision)
    );
    assert_eq!(s.thresholds[1].metric.to_string(), "faults.drop.precision");
    check(&t("max = 0.5"), &[(16, 7, "takes only `min`, not `max`")]);
    check(&t("min = 1.5"), &[(16, 7, "must be a number from 0 to 1")]);
    check(
        &with("[[thresholds]]\nmetric = \"faults.latency.recall\"\nmin = 1\n"),
        &[(11, 10, "`latency` in `faults.latency.recall` is not a fault kind")],
    );
    check(
        &with("[[thresholds]]\nmetric = \"faults.recal\"\nmin = 1\n"),
        &[(11, 10, "`recal` in `faults.recal` is not a fault measure")],
    );
    // Without [faults] there is nothing to judge.
    check(
        &with("[[thresholds]]\nmetric = \"faults.recall\"\nmin = 1\n"),
        &[(12, 7, "no [faults] section")],
    );
}

#[test]
fn capacity_rules() {
    use crate::scenario::{Capacity, CapacityOverrides, Growth, Rate};
    let rate = |r: f64| Rate::from_per_second(r).unwrap();
    // No section and no flag: nothing (the search uses the defaults).
    assert_eq!(
        crate::scenario::parse("t.toml", &with(""), &Overrides::default()).unwrap().capacity,
        None
    );
    let s = crate::scenario::parse(
        "t.toml",
        &with("[capacity]\nstart = \"2/s\"\nfactor = 1.5\nmax = \"30/s\"\nhold = \"10s\"\nmin = \"4/s\"\n"),
        &Overrides::default(),
    )
    .unwrap();
    let c = s.capacity.unwrap();
    assert_eq!(
        (c.start, c.growth, c.max, c.min),
        (rate(2.0), Growth::Factor(1.5), rate(30.0), Some(rate(4.0)))
    );
    assert_eq!(c.hold, Duration::from_secs(10));
    assert_eq!(c.resolution, Capacity::default().resolution);
    // Every problem at once, where it is.
    check(
        &with(
            "[capacity]\nstart = \"0/s\"\nstep = \"1/s\"\nfactor = 2\nmax_cpu = 1.5\nhold = \"0s\"\nmin = \"50/s\"\nmax = \"20/s\"\n",
        ),
        &[
            (11, 9, "`start` is 0/s"),
            (12, 8, "has both `step` and `factor`"),
            (14, 11, "`max_cpu` is 1.5"),
            (15, 8, "`hold` is zero"),
            (16, 7, "`min` (50/s) is above `max` (20/s)"),
        ],
    );
    check(
        &with("[capacity]\nfactor = 1\nspeed = 2\n"),
        &[(11, 10, "`factor` is 1"), (12, 1, "unknown key `speed`")],
    );
    // Flags replace the file's keys and are judged by the same rules, named.
    let o = Overrides {
        capacity: CapacityOverrides {
            step: Some(rate(0.5)),
            max: Some(rate(3.0)),
            ..CapacityOverrides::default()
        },
        ..Overrides::default()
    };
    let c = crate::scenario::parse("t.toml", &with("[capacity]\nfactor = 2\nmin = \"2/s\"\n"), &o)
        .unwrap()
        .capacity
        .unwrap();
    assert_eq!((c.growth, c.max), (Growth::Step(rate(0.5)), rate(3.0)));
    let o = Overrides {
        capacity: CapacityOverrides {
            max: Some(rate(1.0)),
            start: Some(rate(2.0)),
            ..CapacityOverrides::default()
        },
        ..Overrides::default()
    };
    assert_diagnostics(
        crate::scenario::parse("t.toml", &with(""), &o),
        &[(0, 0, "--max 1/s: `max` (1/s) is below `start` (2/s)")],
    );
    // Without a section, a flag that clashes with a default is what the problem names.
    let o = Overrides {
        capacity: CapacityOverrides { start: Some(rate(200.0)), ..CapacityOverrides::default() },
        ..Overrides::default()
    };
    assert_diagnostics(
        crate::scenario::parse("t.toml", &with(""), &o),
        &[(0, 0, "--start 200/s: `max` (100/s) is below `start` (200/s)")],
    );
    // A step's rate replaces the arrival shape and keeps its spacing.
    let text = with(
        "[customers]\narrival = { from = \"1/s\", to = \"9/s\", over = \"5s\", spacing = \"constant\" }\n",
    );
    let s = crate::scenario::parse(
        "t.toml",
        &text,
        &Overrides { rate: Some(rate(4.0)), ..Overrides::default() },
    )
    .unwrap();
    assert_eq!(
        s.customers.unwrap().arrival,
        crate::scenario::Arrival::Steady {
            rate: rate(4.0),
            spacing: crate::scenario::Spacing::Constant
        }
    );
}

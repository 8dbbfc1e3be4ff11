//! Diagnostics across sections: plain type errors, a broken key hiding nothing else, and every
//! message ending its last line.

use super::*;

#[test]
fn type_errors_are_plain_and_do_not_hide_other_sections() {
    let text = with(
        r#"[[thresholds]]
metric = "Accept.response"
p99.9 = "1s"
[flows.x]
steps = [ { op = 5 }, { think = 1 } ]
[flows.y]
steps = "Accept"
[flows.z]
stepz = []
[target]
media = "sms"
tls = { accept_invalid_certs = "yes" }
"#,
    );
    check(
        &text,
        &[
            (12, 1, "TOML reads an unquoted p99.9 as a table `p99` holding a key `9`"),
            (14, 18, "wrong type: expected a string here, found integer `5`"),
            (14, 33, "wrong type: expected a string here, found integer `1`"),
            (16, 9, "`steps` must be a list of steps"),
            (18, 1, "unknown key `stepz`"),
            (20, 9, "`sms` is not a valid media"),
            (21, 32, "wrong type: expected true or false here, found string \"yes\""),
        ],
    );
    check(
        "name = \"x\"\nagents = 5\nflows = 3\nthresholds = { a = 1 }\nrun = []\n[target]\nmedia = \"sms\"\n",
        &[
            (2, 1, "`agents` must be a list of populations"),
            (3, 1, "`flows` must be a table of named flows"),
            (4, 1, "`thresholds` must be a list"),
            (5, 7, "wrong type: expected a table here, found a list"),
            (7, 9, "`sms` is not a valid media"),
        ],
    );
}

/// Found with a corpus of broken files: a type error in an entry hid every other problem in it.
#[test]
fn a_broken_key_does_not_hide_the_rest_of_its_entry() {
    check(
        &with("").replace("count = 2", "count = 0\nreadiness = 5\nchannels = \"chat\""),
        &[
            (6, 9, "`count` is 0, but it must be at least 1"),
            (7, 13, "wrong type: expected a string or a table here, found integer `5`"),
            (8, 12, "wrong type: expected a list here"),
        ],
    );
    // A broken key is not reported again as missing, and the population's name still counts.
    check(
        &with("").replace("flow = \"f\"", "flow = 5\ncount = 0").replace("count = 2\n", ""),
        &[(6, 8, "wrong type: expected a string here"), (7, 9, "`count` is 0")],
    );
    check(
        &with("").replace("duration = \"10s\"", "duration = \"0s\"\nseed = \"x\""),
        &[(3, 12, "`duration` is zero"), (4, 8, "wrong type: expected a whole number here")],
    );
}

/// Found with a corpus of broken files: `min` above `max` was accepted, and load applied for a
/// verdict known in advance.
#[test]
fn a_min_above_a_max_of_the_same_metric_is_refused() {
    check(
        &with("[[thresholds]]\nmetric = \"errors\"\nmin = 5\nmax = 1\n"),
        &[(12, 7, "`min` of `errors` is 5, above its `max` of 1 (line 13, column 7)")],
    );
    check(
        &with(
            "[[thresholds]]\nmetric = \"Accept.count\"\nmax = 2\n[[thresholds]]\nmetric = \"errors\"\nmin = 9\n[[thresholds]]\nmetric = \"Accept.count\"\nmin = 3\n",
        ),
        &[(18, 7, "`min` of `Accept.count` is 3, above its `max` of 2 (line 12, column 7)")],
    );
    assert!(
        parse("t.toml", &with("[[thresholds]]\nmetric = \"errors\"\nmin = 1\nmax = 1\n")).is_ok()
    );
}

/// Found with a corpus of broken files: the last `help:` line ran into "N problem(s) found".
#[test]
fn diagnostics_end_their_last_line() {
    let a = parse("a.toml", BAD).unwrap_err();
    let b = parse("b.toml", "name = \"x\"\n").unwrap_err();
    // What `gwsim validate a.toml b.toml` prints.
    let printed = format!("{a}{b}{} problem(s) found\n", a.len() + b.len());
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.last().copied(), Some("13 problem(s) found"), "{printed}");
    for line in &lines[..lines.len() - 1] {
        assert!(
            line.starts_with("a.toml:")
                || line.starts_with("b.toml:")
                || line.starts_with("    help: "),
            "{line:?} in\n{printed}"
        );
    }
}

/// Every section checks its other keys when one is of the wrong type: a broken key in [target],
/// [customers] or a threshold once hid every other problem of its section.
#[test]
fn a_broken_key_hides_nothing_in_any_section() {
    check(
        &with("[target]\nmedia = \"sms\"\ncsrf = \"yes\"\n"),
        &[(11, 9, "sms"), (12, 8, "wrong type")],
    );
    check(
        &with("[customers]\narrival = { rate = \"1/s\" }\nmax_active = 0\nqueue = 5\n"),
        &[(12, 14, "max_active"), (13, 9, "wrong type")],
    );
    check(
        &with("[[thresholds]]\nmetric = \"Acept.response\"\np99 = 5\ncolour = 1\n"),
        &[(11, 10, "Acept"), (13, 1, "unknown")],
    );
}

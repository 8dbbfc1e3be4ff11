//! The "Faults" section of `report.html`, present only when the run injected faults (a
//! scenario's `[faults]` on the embedded server): recall and precision per fault kind, the faults
//! the checkers missed and the violations no fault explains (docs/faults.md, "Joining violations
//! to records").

use std::fmt::Write as _;

use super::esc;
use crate::report::Report;

/// The section's id and the navigation bar's label.
pub(super) const ID: &str = "faults";
pub(super) const LABEL: &str = "Faults";

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |x| format!("{x:.3}"))
}

/// A ratio below 1 is worth the reader's eye.
fn class(x: Option<f64>) -> &'static str {
    if x.is_some_and(|x| x < 1.0) { "num bad" } else { "num" }
}

pub(super) fn faults<S>(h: &mut String, r: &Report<S>) {
    let Some(f) = &r.faults else { return };
    let _ = writeln!(h, "<section id=\"{ID}\">\n<h2>{LABEL}</h2>");
    let _ = writeln!(
        h,
        "<p>{} faults injected, {} ledger records joined with {} violations; overall recall \
         <strong>{}</strong>, precision <strong>{}</strong>.</p>",
        f.injected,
        f.records,
        f.violations,
        ratio(f.recall),
        ratio(f.precision)
    );
    h.push_str(
        "<table id=\"fault-kinds\">\n<thead><tr><th>Kind</th><th>Records</th><th>Unobservable</th>\
         <th>Found</th><th>Explained</th><th>Unexplained</th><th>Recall</th><th>Precision</th>\
         </tr></thead>\n<tbody>\n",
    );
    for k in &f.kinds {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
            k.kind,
            k.records,
            k.unobservable,
            k.found,
            k.explained,
            k.unexplained,
            class(k.recall),
            ratio(k.recall),
            class(k.precision),
            ratio(k.precision)
        );
    }
    h.push_str("</tbody>\n</table>\n");
    let _ = writeln!(h, "<h3>Faults the checkers missed: {}</h3>", f.missed_total);
    if f.missed.is_empty() {
        h.push_str("<p class=\"empty\">Every observable fault was found.</p>\n");
    } else {
        h.push_str(
            "<table id=\"missed-faults\">\n<thead><tr><th>#</th><th>At</th><th>Kind</th>\
             <th>Agent</th><th>Interaction</th><th>By</th><th>Notification</th><th>What</th>\
             </tr></thead>\n<tbody>\n",
        );
        for m in &f.missed {
            let by = m.operation.as_deref().or(m.cause.as_deref()).unwrap_or("");
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{:.3} s</td><td>{}</td>\
                 <td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td>\
                 <td>{}</td></tr>",
                m.seq,
                m.at_ms as f64 / 1000.0,
                m.kind,
                esc(m.agent.as_deref().unwrap_or("")),
                esc(m.interaction.as_deref().unwrap_or("")),
                esc(by),
                esc(m.notification.as_deref().unwrap_or("")),
                esc(&m.detail)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    let _ = writeln!(h, "<h3>Violations no fault explains: {}</h3>", f.unexplained_total);
    if f.unexplained.is_empty() {
        h.push_str("<p class=\"empty\">Every violation is explained by an injected fault.</p>\n");
    } else {
        h.push_str(
            "<table id=\"unexplained-violations\">\n<thead><tr><th>At</th><th>Kind</th>\
             <th>Agent</th><th>Interaction</th><th>Expected</th><th>Got</th></tr></thead>\n<tbody>\n",
        );
        for v in &f.unexplained {
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{:.3} s</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
                 <td><code>{}</code></td><td><code>{}</code></td></tr>",
                v.at_ms as f64 / 1000.0,
                v.kind,
                esc(&v.agent),
                esc(&v.interaction),
                esc(&v.expected),
                esc(&v.got)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

//! The compile context [`Cx`]: the diagnostic sink and pending references, serde-error
//! rewriting, and the small readers every section uses (choices, units, counts, names).

use std::path::Path;
use std::time::Duration;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml_edit::{Item, Table, Value};

use super::*;
use crate::gws::states::Capability;
use crate::scenario::Overrides;
use crate::scenario::diagnostic::did_you_mean;
use crate::scenario::units::{Distribution, Rate, UnitError, parse_duration};

/// The span of a key in a table (where "unknown key" and "missing key" point).
pub(super) fn key_span(t: &Table, key: &str) -> Span {
    t.key(key).and_then(|k| k.span()).unwrap_or(0..0)
}

/// The entries of a list of tables written either as `[[x]]` sections or as an inline array.
pub(super) fn elements(item: &Item, fallback: &Span) -> Option<Vec<(Value, Span)>> {
    match item {
        Item::ArrayOfTables(a) => Some(
            a.iter()
                .map(|t| {
                    let span = t.span().unwrap_or_else(|| fallback.clone());
                    (Value::InlineTable(t.clone().into_inline_table()), span)
                })
                .collect(),
        ),
        Item::Value(Value::Array(a)) => Some(
            a.iter().map(|v| (v.clone(), v.span().unwrap_or_else(|| fallback.clone()))).collect(),
        ),
        _ => None,
    }
}

/// A string key of a table-like value, read without deserializing the rest.
pub(super) fn peek_str(value: &Value, key: &str) -> Option<String> {
    value.as_inline_table()?.get(key)?.as_str().map(str::to_owned)
}

/// A reference from a flow step to something outside the flow, checked once all is known.
pub(super) struct TargetUse {
    pub(super) op: Capability,
    pub(super) target: TargetRef,
    pub(super) span: Span,
}

pub(super) struct Cx<'a> {
    pub(super) s: Sink<'a>,
    /// What the command line replaces; folded in before the rules run.
    pub(super) o: &'a Overrides,
    /// The scenario file's directory, which relative password files are taken from; `None` when
    /// the text did not come from a file.
    pub(super) base_dir: Option<&'a Path>,
    /// References from populations to flows, recorded even when the population is otherwise
    /// broken, so that every dangling name is reported in the same pass.
    pub(super) flow_refs: Vec<FlowRef>,
    /// References from flow steps to populations and users, likewise recorded for broken flows.
    pub(super) target_uses: Vec<TargetUse>,
    /// Count limits, compared once every threshold is read.
    pub(super) count_bounds: Vec<super::thresholds::CountBound>,
    /// Where `faults.*` thresholds are, to refuse them in a scenario without `[faults]`.
    pub(super) fault_thresholds: Vec<Span>,
}

pub(super) struct FlowRef {
    pub(super) key: &'static str,
    pub(super) flow: String,
    pub(super) span: Span,
}

/// Where a value came from, so that a rule about it points at the right place: a span of the
/// file, or a command-line flag spelt with its value (`--duration 0s`).
#[derive(Debug, Clone)]
pub(super) enum At {
    File(Span),
    Flag(String),
}

impl At {
    pub(super) fn flag(name: &str, value: impl std::fmt::Display) -> At {
        At::Flag(format!("{name} {value}"))
    }

    pub(super) fn is_flag(&self) -> bool {
        matches!(self, At::Flag(_))
    }
}

impl Cx<'_> {
    /// Reports a problem where its value came from: at file:line:col, or naming the flag.
    pub(super) fn error_at(&mut self, at: &At, message: impl Into<String>, help: Option<String>) {
        match at {
            At::File(span) => self.s.push(span.clone(), message.into(), help),
            At::Flag(flag) => self.s.push_whole(format!("{flag}: {}", message.into()), help),
        }
    }

    /// Deserializes a whole item, reporting a type or unknown-key error at its position.
    pub(super) fn de<T: DeserializeOwned>(&mut self, item: &Item, fallback: &Span) -> Option<T> {
        match item.clone().into_value() {
            Ok(v) => self.de_value(v, fallback),
            Err(_) => None,
        }
    }

    /// Deserializes a table; when a key is at fault (a wrong type, an unknown key), reports it,
    /// drops that key and tries again, so that the table's other keys are still checked and every
    /// problem comes at once. Returns the value and the keys dropped: a caller checks the rest
    /// with [`Cx::forget_missing`] and then discards the result, since it is not what was written.
    pub(super) fn de_lenient<T: DeserializeOwned>(
        &mut self,
        value: Value,
        fallback: &Span,
    ) -> Option<(T, Vec<String>)> {
        let Value::InlineTable(mut table) = value else {
            return self.de_value(value, fallback).map(|t| (t, Vec::new()));
        };
        let mut dropped = Vec::new();
        // Each round drops a key, so this ends.
        loop {
            match T::deserialize(Value::InlineTable(table.clone()).into_deserializer()) {
                Ok(t) => return Some((t, dropped)),
                Err(e) => {
                    let span = e.span().unwrap_or_else(|| fallback.clone());
                    self.serde_error(span.clone(), e.message());
                    let within = |s: Option<Span>| s.is_some_and(|s| s.contains(&span.start));
                    let culprit = table
                        .iter()
                        .find(|(k, v)| {
                            within(table.key(k).and_then(|k| k.span())) || within(v.span())
                        })
                        .map(|(k, _)| k.to_owned());
                    let key = culprit?;
                    table.remove(&key);
                    dropped.push(key);
                }
            }
        }
    }

    /// Deserializes `value` leniently ([`Cx::de_lenient`]) and checks it with `check`: the keys
    /// that were dropped were reported already, so their "missing" problems are forgotten, and
    /// the result is discarded (it is not what was written) while every other problem stands.
    pub(super) fn checked<T: DeserializeOwned, R>(
        &mut self,
        value: Value,
        span: &Span,
        check: impl FnOnce(&mut Self, T) -> Option<R>,
    ) -> Option<R> {
        let (raw, dropped) = self.de_lenient::<T>(value, span)?;
        let mark = self.s.mark();
        let out = check(self, raw);
        self.forget_missing(mark, &dropped);
        out.filter(|_| dropped.is_empty())
    }

    /// Forgets the "missing `key`" problems found since `mark` for keys that were present but
    /// dropped by [`Cx::de_lenient`] (a wrong type), or misspelt (an unknown key close to the
    /// missing one): they were reported already, as what they are.
    pub(super) fn forget_missing(&mut self, mark: usize, dropped: &[String]) {
        if dropped.is_empty() {
            return;
        }
        let reported = |message: &str| {
            let Some(key) = message.strip_prefix("missing `").and_then(|m| m.strip_suffix('`'))
            else {
                return false;
            };
            dropped.iter().any(|d| d == key || did_you_mean(d, [key]).is_some())
        };
        self.s.retain_since(mark, |d| !reported(&d.message));
    }

    pub(super) fn de_value<T: DeserializeOwned>(
        &mut self,
        value: Value,
        fallback: &Span,
    ) -> Option<T> {
        match T::deserialize(value.into_deserializer()) {
            Ok(t) => Some(t),
            Err(e) => {
                let span = e.span().unwrap_or_else(|| fallback.clone());
                self.serde_error(span, e.message());
                None
            }
        }
    }

    /// Rewrites serde's messages into plain sentences, keeping the original when unrecognised.
    pub(super) fn serde_error(&mut self, span: Span, message: &str) {
        let message = message.trim().trim_end_matches('.');
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let allowed: Vec<&str> = expected
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            let help = match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? keys allowed here: {}", allowed.join(", ")),
                None if allowed.is_empty() => "no keys are allowed here".to_owned(),
                None => format!("keys allowed here: {}", allowed.join(", ")),
            };
            self.s.error_help(span, format!("unknown key `{key}`"), help);
        } else if message.starts_with("invalid length") && message.contains("expected struct") {
            self.s.error(span, "wrong type: expected a table here, found a list");
        } else if message.contains("a borrowed string") || message.contains("expected a spanned") {
            // A single value was expected but a table came (often an unquoted dotted key).
            self.s.error(span, "wrong type: expected a single value here, found a table");
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            match rest.split_once(", expected ") {
                Some((found, expected)) => {
                    let expected = match expected {
                        "i64" | "u64" | "u32" => "a whole number",
                        "f64" => "a number",
                        "a boolean" => "true or false",
                        "a sequence" => "a list",
                        "a map" => "a table",
                        // Serde names the raw struct; the user only needs to know it is a table.
                        other if other.starts_with("struct ") => "a table",
                        other => other,
                    };
                    self.s
                        .error(span, format!("wrong type: expected {expected} here, found {found}"))
                }
                None => self.s.error(span, format!("wrong type: {rest}")),
            }
        } else {
            self.s.error(span, message.to_owned());
        }
    }

    pub(super) fn unknown_key(&mut self, span: Span, key: &str, where_: &str, allowed: &[&str]) {
        let help = match did_you_mean(key, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? keys allowed {where_}: {}", allowed.join(", ")),
            None => format!("keys allowed {where_}: {}", allowed.join(", ")),
        };
        self.s.error_help(span, format!("unknown key `{key}` {where_}"), help);
    }

    pub(super) fn missing(&mut self, span: Span, what: &str, help: &str) {
        self.s.error_help(span, format!("missing `{what}`"), help);
    }

    /// Names are used in references (`agents:<name>`) and result paths: keep them plain.
    pub(super) fn check_name(&mut self, n: &Spanned<String>, what: &str) -> bool {
        let ok = !n.get_ref().is_empty()
            && n.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.s.error_help(
                n.span(),
                format!("`{}` is not a valid {what}", n.get_ref()),
                "use letters, digits, `-`, `_` and `.` only",
            );
        }
        ok
    }

    pub(super) fn unit<T>(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        parse: impl Fn(&str) -> Result<T, UnitError>,
    ) -> Option<T> {
        match parse(v.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.s.error(v.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    pub(super) fn duration(&mut self, v: &Spanned<String>, what: &str) -> Option<Duration> {
        self.unit(v, what, parse_duration)
    }

    pub(super) fn distribution(&mut self, v: &Spanned<String>, what: &str) -> Option<Distribution> {
        self.unit(v, what, Distribution::parse)
    }

    pub(super) fn rate(&mut self, v: &Spanned<String>, what: &str) -> Option<Rate> {
        self.unit(v, what, Rate::parse)
    }

    pub(super) fn choice<T>(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let got = parse(v.get_ref());
        if got.is_none() {
            let list = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
            let help = match did_you_mean(v.get_ref(), names.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"? the choices are {list}"),
                None => format!("the choices are {list}"),
            };
            self.s.error_help(v.span(), format!("`{}` is not a valid {what}", v.get_ref()), help);
        }
        got
    }

    pub(super) fn count(
        &mut self,
        v: &Spanned<i64>,
        what: &str,
        min: i64,
        max: i64,
    ) -> Option<u32> {
        let n = *v.get_ref();
        if n < min {
            let msg = if min == 1 {
                format!("{what} is {n}, but it must be at least 1")
            } else {
                format!("{what} is {n}, but it must be at least {min}")
            };
            self.s.error(v.span(), msg);
            None
        } else if n > max {
            self.s.error(v.span(), format!("{what} is {n}, more than the {max} gwsim accepts"));
            None
        } else {
            u32::try_from(n).ok()
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        v: &Spanned<String>,
        what: &str,
    ) -> Option<Duration> {
        let d = self.duration(v, what)?;
        if d.is_zero() {
            self.s.error(v.span(), format!("{what} is zero"));
            return None;
        }
        Some(d)
    }
}

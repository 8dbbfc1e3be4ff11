//! Reading back the report's closed-vocabulary strings (`&'static str` in the model, so the run
//! that builds a report never allocates them): each is matched against the names this version
//! writes, and an unknown one is a clear error rather than a silently different report.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::SCHEMA;
use crate::ordering::ViolationKind;

/// The `'static` spelling of `s` among `names`, or an error naming what was expected.
fn one_of<E: serde::de::Error>(
    s: &str,
    what: &str,
    names: &[&'static str],
) -> Result<&'static str, E> {
    names.iter().copied().find(|n| *n == s).ok_or_else(|| {
        E::custom(format!("unknown {what} `{s}` (this gwsim knows {})", names.join(", ")))
    })
}

pub(super) fn schema<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    if s == SCHEMA {
        Ok(SCHEMA)
    } else {
        Err(D::Error::custom(format!(
            "unsupported summary schema `{s}` (this gwsim reads {SCHEMA})"
        )))
    }
}

pub(super) fn latency_unit<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    one_of(&String::deserialize(d)?, "latency unit", &["us"])
}

pub(super) fn target_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    one_of(&String::deserialize(d)?, "target kind", &["embedded", "remote"])
}

pub(super) fn op_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    one_of(&String::deserialize(d)?, "operation kind", &["flow", "session"])
}

fn violation_names() -> Vec<&'static str> {
    ViolationKind::ALL.iter().map(|k| k.as_str()).collect()
}

pub(super) fn violation_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    one_of(&String::deserialize(d)?, "violation kind", &violation_names())
}

pub(super) fn violation_kinds<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, u64>, D::Error> {
    let names = violation_names();
    BTreeMap::<String, u64>::deserialize(d)?
        .into_iter()
        .map(|(k, n)| Ok((one_of(&k, "violation kind", &names)?, n)))
        .collect()
}

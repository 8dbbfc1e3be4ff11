//! Serde mirror of a scenario file: the shapes and types TOML must have, and nothing more.
//!
//! Every struct denies unknown keys, every leaf keeps its span (so [`super::compile`] can point at
//! a line and column for a semantic error), and almost every key is optional here: a missing key
//! is reported by `compile` in plain words, together with every other problem, instead of by serde
//! one at a time. Integers are read as `i64` for the same reason (a negative `count` gets a
//! sentence about counts, not serde's "expected u32"). No logic lives here.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// `[target]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub kind: Option<Spanned<String>>,
    pub transport: Option<Spanned<String>>,
    pub media: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub allow_remote: Option<Spanned<bool>>,
    pub tls: Option<Tls>,
    pub csrf: Option<Spanned<bool>>,
    pub contact_center_id: Option<Spanned<String>>,
    pub customer_api: Option<Spanned<bool>>,
}

/// `[target.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    pub accept_invalid_certs: Option<Spanned<bool>>,
}

/// `[run]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Run {
    pub duration: Option<Spanned<String>>,
    pub warmup: Option<Spanned<String>>,
    pub drain: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
}

/// One `[[agents]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Agents {
    pub name: Option<Spanned<String>>,
    pub count: Option<Spanned<i64>>,
    pub username: Option<Spanned<String>>,
    pub first: Option<Spanned<i64>>,
    pub password: Option<Spanned<StrOrTable<Password>>>,
    pub flow: Option<Spanned<String>>,
    pub consult_flow: Option<Spanned<String>>,
    pub readiness: Option<Spanned<StrOrTable<Readiness>>>,
    pub channels: Option<Vec<Spanned<String>>>,
}

/// `password = { env = "NAME" }` or `{ file = "path" }`; a bare string is kept so that `compile`
/// can explain why literal passwords are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Password {
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

/// `readiness = { ready = "exp(5m)", not_ready = "30s..2m" }` (or a mode name as a string).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Readiness {
    pub ready: Option<Spanned<String>>,
    pub not_ready: Option<Spanned<String>>,
}

/// `[customers]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Customers {
    pub arrival: Option<Arrival>,
    pub max_active: Option<Spanned<i64>>,
    pub nickname: Option<Spanned<String>>,
    pub queue: Option<Spanned<String>>,
    pub messages: Option<Messages>,
    pub abandon: Option<Abandon>,
}

/// `arrival = { ... }`: exactly one shape, told apart by its keys in `compile`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Arrival {
    pub rate: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub over: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<Stage>>>,
    pub concurrency: Option<Spanned<i64>>,
    pub spacing: Option<Spanned<String>>,
}

/// One entry of `stages = [...]`: `{ rate, for }` holds, `{ to, over }` ramps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stage {
    pub rate: Option<Spanned<String>>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub over: Option<Spanned<String>>,
}

/// `messages = { count = "1..4", think = "exp(1s)", text = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Messages {
    pub count: Option<Spanned<IntOrStr>>,
    pub think: Option<Spanned<String>>,
    pub text: Option<Spanned<String>>,
}

/// `abandon = { probability = 0.05, after = "10s..60s" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Abandon {
    pub probability: Option<Spanned<f64>>,
    pub after: Option<Spanned<String>>,
}

/// `[flows.<name>]` without its steps, which are read one by one so that one bad step does not
/// hide the problems of the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlowHeader {
    pub description: Option<Spanned<String>>,
    #[allow(dead_code)] // Only present so that `steps` counts as a known key; read separately.
    pub steps: Option<IgnoredAny>,
}

/// One step of a flow: exactly one of `op`, `think`, `await`, plus that kind's parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    pub op: Option<Spanned<String>>,
    pub think: Option<Spanned<String>>,
    #[serde(rename = "await")]
    pub await_: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    pub text: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub notice: Option<Spanned<String>>,
    pub nickname: Option<Spanned<String>>,
    pub disposition: Option<Spanned<String>>,
    pub disposition_key: Option<Spanned<String>>,
    pub queue: Option<Spanned<String>>,
    pub comment: Option<Spanned<String>>,
    pub user_data: Option<BTreeMap<String, String>>,
    pub keys: Option<Vec<String>>,
}

/// `[capacity]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Capacity {
    pub start: Option<Spanned<String>>,
    pub step: Option<Spanned<String>>,
    pub factor: Option<Spanned<Scalar>>,
    pub max: Option<Spanned<String>>,
    pub hold: Option<Spanned<String>>,
    pub warmup: Option<Spanned<String>>,
    pub min_samples: Option<Spanned<i64>>,
    pub resolution: Option<Spanned<String>>,
    pub min: Option<Spanned<String>>,
    pub max_cpu: Option<Spanned<Scalar>>,
    pub max_lag: Option<Spanned<String>>,
    pub max_missed: Option<Spanned<Scalar>>,
}

/// One `[[thresholds]]` entry: a metric and one or more limits on it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    pub metric: Option<Spanned<String>>,
    pub p50: Option<Spanned<Scalar>>,
    pub p90: Option<Spanned<Scalar>>,
    pub p99: Option<Spanned<Scalar>>,
    #[serde(rename = "p99.9", alias = "p999")]
    pub p999: Option<Spanned<Scalar>>,
    pub max: Option<Spanned<Scalar>>,
    pub mean: Option<Spanned<Scalar>>,
    pub min: Option<Spanned<Scalar>>,
    pub rate: Option<Spanned<Scalar>>,
}

/// A value that is a string in one place and a table in another (`password`, `readiness`).
#[derive(Debug)]
pub(crate) enum StrOrTable<T> {
    Str(String),
    Table(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for StrOrTable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = StrOrTable<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrTable::Str(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(StrOrTable::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A whole number or a string (`count = 3` or `count = "1..4"`).
#[derive(Debug)]
pub(crate) enum IntOrStr {
    Int(i64),
    Str(String),
}

impl<'de> Deserialize<'de> for IntOrStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or a range such as \"1..4\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(IntOrStr::Int(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(IntOrStr::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A threshold limit: a duration string for latencies, a number for counts and rates.
#[derive(Debug)]
pub(crate) enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\" or a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

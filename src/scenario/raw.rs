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

use schemars::JsonSchema;
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// `[target]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub transport: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub media: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Spanned<String>>,
    #[schemars(with = "Option<bool>")]
    pub allow_remote: Option<Spanned<bool>>,
    pub tls: Option<Tls>,
    #[schemars(with = "Option<bool>")]
    pub csrf: Option<Spanned<bool>>,
    #[schemars(with = "Option<String>")]
    pub contact_center_id: Option<Spanned<String>>,
    #[schemars(with = "Option<bool>")]
    pub customer_api: Option<Spanned<bool>>,
}

/// `[target.tls]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    #[schemars(with = "Option<bool>")]
    pub accept_invalid_certs: Option<Spanned<bool>>,
}

/// `[run]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Run {
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub warmup: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub drain: Option<Spanned<String>>,
    #[schemars(with = "Option<i64>")]
    pub seed: Option<Spanned<i64>>,
}

/// One `[[agents]]` entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Agents {
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    #[schemars(with = "Option<i64>")]
    pub count: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    #[schemars(with = "Option<i64>")]
    pub first: Option<Spanned<i64>>,
    #[schemars(with = "Option<StrOrTable<Password>>")]
    pub password: Option<Spanned<StrOrTable<Password>>>,
    #[schemars(with = "Option<String>")]
    pub flow: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub consult_flow: Option<Spanned<String>>,
    #[schemars(with = "Option<StrOrTable<Readiness>>")]
    pub readiness: Option<Spanned<StrOrTable<Readiness>>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub channels: Option<Vec<Spanned<String>>>,
}

/// `password = { env = "NAME" }` or `{ file = "path" }`; a bare string is kept so that `compile`
/// can explain why literal passwords are refused.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Password {
    #[schemars(with = "Option<String>")]
    pub env: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
}

/// `readiness = { ready = "exp(5m)", not_ready = "30s..2m" }` (or a mode name as a string).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Readiness {
    #[schemars(with = "Option<String>")]
    pub ready: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub not_ready: Option<Spanned<String>>,
}

/// `[customers]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Customers {
    pub arrival: Option<Arrival>,
    #[schemars(with = "Option<i64>")]
    pub max_active: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub nickname: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub queue: Option<Spanned<String>>,
    pub messages: Option<Messages>,
    pub abandon: Option<Abandon>,
    #[schemars(with = "Option<bool>")]
    pub offer_check: Option<Spanned<bool>>,
}

/// `arrival = { ... }`: exactly one shape, told apart by its keys in `compile`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Arrival {
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub to: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub over: Option<Spanned<String>>,
    #[schemars(with = "Option<Vec<Stage>>")]
    pub stages: Option<Spanned<Vec<Stage>>>,
    #[schemars(with = "Option<i64>")]
    pub concurrency: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub spacing: Option<Spanned<String>>,
}

/// One entry of `stages = [...]`: `{ rate, for }` holds, `{ to, over }` ramps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stage {
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
    #[serde(rename = "for")]
    #[schemars(with = "Option<String>")]
    pub for_: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub to: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub over: Option<Spanned<String>>,
}

/// `messages = { count = "1..4", think = "exp(1s)", text = "...", pace = "open" }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Messages {
    #[schemars(with = "Option<IntOrStr>")]
    pub count: Option<Spanned<IntOrStr>>,
    #[schemars(with = "Option<String>")]
    pub think: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub text: Option<Spanned<String>>,
    /// `closed` (the default: the next message `think` after the previous one's answer) or
    /// `open` (`think` after the previous one was meant to go, as wrk2 paces requests).
    #[schemars(with = "Option<String>")]
    pub pace: Option<Spanned<String>>,
}

/// `abandon = { probability = 0.05, after = "10s..60s" }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Abandon {
    #[schemars(with = "Option<f64>")]
    pub probability: Option<Spanned<f64>>,
    #[schemars(with = "Option<String>")]
    pub after: Option<Spanned<String>>,
}

/// `[flows.<name>]` without its steps, which are read one by one so that one bad step does not
/// hide the problems of the others.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlowHeader {
    #[schemars(with = "Option<String>")]
    pub description: Option<Spanned<String>>,
    #[allow(dead_code)] // Only present so that `steps` counts as a known key; read separately.
    #[schemars(with = "Option<Vec<Step>>")]
    pub steps: Option<IgnoredAny>,
}

/// One step of a flow: exactly one of `op`, `think`, `await`, plus that kind's parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    #[schemars(with = "Option<String>")]
    pub op: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub think: Option<Spanned<String>>,
    #[serde(rename = "await")]
    #[schemars(with = "Option<String>")]
    pub await_: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub text: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub notice: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub nickname: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub disposition: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub disposition_key: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub queue: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub comment: Option<Spanned<String>>,
    pub user_data: Option<BTreeMap<String, String>>,
    pub keys: Option<Vec<String>>,
}

/// `[capacity]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Capacity {
    #[schemars(with = "Option<String>")]
    pub start: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub step: Option<Spanned<String>>,
    #[schemars(with = "Option<Scalar>")]
    pub factor: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<String>")]
    pub max: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub hold: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub warmup: Option<Spanned<String>>,
    #[schemars(with = "Option<i64>")]
    pub min_samples: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub resolution: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub min: Option<Spanned<String>>,
    #[schemars(with = "Option<Scalar>")]
    pub max_cpu: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<String>")]
    pub max_lag: Option<Spanned<String>>,
    #[schemars(with = "Option<Scalar>")]
    pub max_missed: Option<Spanned<Scalar>>,
}

/// `[chaos]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Chaos {
    #[schemars(with = "Option<String>")]
    pub invite_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub rule: Vec<ChaosRule>,
}

/// One `[[chaos.rule]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChaosRule {
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    #[schemars(with = "Option<f64>")]
    pub share: Option<Spanned<f64>>,
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub every: Option<Spanned<String>>,
    pub populations: Option<Vec<String>>,
    /// crash: how long the agent is gone (a distribution), or "never".
    #[schemars(with = "Option<String>")]
    pub down: Option<Spanned<String>>,
    /// slow-consumer: how long the agent stops reading.
    #[schemars(with = "Option<String>")]
    pub pause: Option<Spanned<String>>,
}

/// One `[[thresholds]]` entry: a metric and one or more limits on it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    #[schemars(with = "Option<String>")]
    pub metric: Option<Spanned<String>>,
    #[schemars(with = "Option<Scalar>")]
    pub p50: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub p90: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub p99: Option<Spanned<Scalar>>,
    #[serde(rename = "p99.9", alias = "p999")]
    #[schemars(with = "Option<Scalar>")]
    pub p999: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub max: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub mean: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub min: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
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

impl<T: JsonSchema> JsonSchema for StrOrTable<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("StringOr{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "anyOf": [{ "type": "string" }, generator.subschema_for::<T>()] })
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

impl JsonSchema for IntOrStr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntegerOrRange".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a whole number, or a range such as \"1..4\"",
            "type": ["integer", "string"]
        })
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

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration such as \"250ms\" for latencies, a number for counts and rates",
            "type": ["number", "string"]
        })
    }
}

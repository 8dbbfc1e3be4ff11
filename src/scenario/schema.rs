//! The scenario file format as a JSON Schema (`schema/scenario.schema.json`), generated from the
//! serde types of `scenario::raw` with `schemars`, so editors (taplo, VS Code's Even Better TOML)
//! validate and complete scenario files by the same shapes gwsim reads.
//!
//! The schema checks shapes (keys, types, nesting), not gwsim's rules (a flow that does not exist,
//! a rate that is not a rate): `gwsim validate` judges those. `[faults]` is read by its own parser
//! (`faults::spec::parse`) and is described here as a table only. A test keeps the committed file
//! equal to what this generates (`UPDATE_EXPECT=1 cargo test scenario_schema` rewrites it).

use std::collections::BTreeMap;

use schemars::JsonSchema;

use super::raw;

/// A gwsim scenario file (TOML): where to send load, for how long, who works, who arrives, what
/// each agent does with an interaction, and what counts as a pass. Reference: scenarios/README.md.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only its schema is used; scenario files are read by `compile`.
struct Scenario {
    /// The scenario's name: letters, digits, `-`, `_`, `.` (results are stored under it).
    name: String,
    description: Option<String>,
    /// Where the load goes; default: the embedded server, websocket, chat.
    target: Option<raw::Target>,
    /// How long the run lasts and its seed.
    run: Option<raw::Run>,
    /// The agent populations.
    agents: Option<Vec<raw::Agents>>,
    /// The simulated customers and how they arrive.
    customers: Option<raw::Customers>,
    /// Flows by name: what an agent does with an interaction.
    flows: Option<BTreeMap<String, raw::FlowHeader>>,
    /// Limits the run must keep to pass.
    thresholds: Option<Vec<raw::Threshold>>,
    /// How `gwsim capacity` raises the load and judges each step (README, Capacity planning).
    capacity: Option<raw::Capacity>,
    /// Client-side chaos: agents that crash and come back, reconnect storms, slow consumers
    /// (scenarios/README.md, Chaos).
    chaos: Option<raw::Chaos>,
    /// Fault injection on the embedded server (`[faults]` and `[[faults.rule]]`; see
    /// scenarios/README.md, Faults). Checked by `gwsim validate`, not by this schema.
    faults: Option<serde_json::Map<String, serde_json::Value>>,
    /// A fault-injecting TCP proxy in front of the target (`[proxy]`, `listen`, and
    /// `[[proxy.rule]]`; see docs/faults.md, The fault proxy). Checked by `gwsim validate`, not
    /// by this schema.
    proxy: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The scenario format's JSON Schema (draft 7), pretty-printed, ending in a newline.
pub fn json_schema() -> String {
    // Draft 7: what editors' TOML tooling (taplo, so Even Better TOML) reads most widely.
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<Scenario>();
    schema.insert("title".into(), "gwsim scenario".into());
    let mut value = schema.to_value();
    without_null(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Takes `null` out of a schema: TOML has no null, so an optional key is one that may be left
/// out, not one that may be null (schemars writes `Option<T>` as "T or null").
fn without_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    let is_null = |s: &Value| s.get("type").is_some_and(|t| t == "null");
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| !is_null(s));
                if let [only] = any.as_slice() {
                    let only = only.clone();
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> serde_json::Value {
        serde_json::from_str(&json_schema()).expect("the schema is JSON")
    }

    /// The committed file is what the types generate (`UPDATE_EXPECT=1` rewrites it).
    #[test]
    fn scenario_schema_is_current() {
        expect_test::expect_file!["../../schema/scenario.schema.json"].assert_eq(&json_schema());
    }

    /// The schema's top-level keys are the ones `compile` accepts, no more, no fewer.
    #[test]
    fn scenario_schema_has_the_top_level_keys_compile_reads() {
        let s = schema();
        let mut keys: Vec<&str> =
            s["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        let mut known = super::super::compile::TOP_KEYS.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
        assert_eq!(s["additionalProperties"], false);
        assert!(!json_schema().contains("null"), "TOML has no null");
    }

    /// Every shipped scenario validates against the schema; a misspelt key and a wrong type do
    /// not.
    #[test]
    fn shipped_scenarios_validate_against_the_schema() {
        let validator = jsonschema::draft7::new(&schema()).expect("a valid schema");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(dir.join("scenarios"))
            .expect("scenarios/")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.extend(
            ["deploy/k8s/base/scenario.toml", "deploy/k8s/overlays/example/scenario.toml"]
                .map(|f| dir.join(f)),
        );
        assert!(files.len() >= 6, "{files:?}");
        let as_json = |text: &str| -> serde_json::Value {
            let value: toml::Value = toml::from_str(text).expect("TOML");
            serde_json::to_value(value).expect("TOML as JSON")
        };
        for file in &files {
            let text = std::fs::read_to_string(file).expect("readable");
            let errors: Vec<String> =
                validator.iter_errors(&as_json(&text)).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        }
        let bad = as_json(
            "name = \"x\"\n[run]\nduraton = \"1s\"\n[[agents]]\nname = \"a\"\ncount = \"many\"\n",
        );
        let errors: Vec<String> = validator.iter_errors(&bad).map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("duraton")), "{errors:#?}");
    }
}

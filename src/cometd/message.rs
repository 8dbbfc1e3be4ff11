//! The Bayeux message envelope (protocol.md §3.2, §16).
//!
//! `id` is kept as a raw JSON value because standard clients compare the echoed id with `===`:
//! a reply must carry the id with the same value and the same JSON type it arrived with.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<u64>,
}

/// One Bayeux message; every field but `channel` is optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<Advice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_connection_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    /// A channel name, or (as some clients send) an array of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<Value>,
}

impl Message {
    /// A reply on the same channel that echoes the request's id.
    pub fn reply_to(request: &Message) -> Message {
        Message { channel: request.channel.clone(), id: request.id.clone(), ..Message::default() }
    }

    pub fn is_meta(&self) -> bool {
        self.channel.starts_with("/meta/")
    }
}

/// Parses a request body or websocket frame: a JSON array of messages, or (leniently) one object.
pub fn parse_batch(text: &str) -> Result<Vec<Message>, serde_json::Error> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str::<Message>(trimmed).map(|m| vec![m])
    } else {
        serde_json::from_str(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_echoes_id_with_its_json_type() {
        let req: Message =
            serde_json::from_str(r#"{"channel":"/meta/connect","id":"7"}"#).expect("parses");
        let reply = Message::reply_to(&req);
        assert_eq!(
            serde_json::to_string(&reply).expect("serializes"),
            r#"{"channel":"/meta/connect","id":"7"}"#
        );
        let req: Message =
            serde_json::from_str(r#"{"channel":"/meta/connect","id":7}"#).expect("parses");
        assert_eq!(Message::reply_to(&req).id, Some(Value::from(7)));
    }

    #[test]
    fn batches_are_arrays_or_single_objects() {
        assert_eq!(parse_batch(r#"[{"channel":"/a"},{"channel":"/b"}]"#).expect("array").len(), 2);
        assert_eq!(parse_batch(r#" {"channel":"/a"}"#).expect("object").len(), 1);
        assert!(parse_batch("[1]").is_err());
        assert!(parse_batch("").is_err());
    }
}

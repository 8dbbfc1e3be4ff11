//! The replies the hub sends (handshake, connect, failures) and the rendering of a reply batch,
//! which mixes serialized meta replies with data messages rendered once per publish.

use std::sync::Arc;
use std::time::Duration;

use crate::cometd::{Advice, Message};

use super::session::Rendered;

/// Error of an unknown, expired or foreign clientId (protocol.md §3.2, §16).
pub(super) const UNKNOWN_CLIENT: &str = "402::Unknown client";
pub(super) const PUBLISH_DENIED: &str = "403::Publish denied";
pub(super) const CONNECTION_TYPES: [&str; 2] = ["long-polling", "websocket"];

/// One element of a reply array.
#[derive(Debug)]
pub(super) enum Part {
    Reply(Box<Message>),
    Data(Rendered),
}

/// The advice every successful handshake and connect carries: reconnect at once, hold up to
/// `timeout`. `interval` stays 0 (§16).
pub(super) fn retry_advice(timeout: Duration) -> Advice {
    Advice {
        reconnect: Some("retry".to_owned()),
        interval: Some(0),
        timeout: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        max_interval: None,
    }
}

fn reconnect(how: &str) -> Advice {
    Advice { reconnect: Some(how.to_owned()), ..Advice::default() }
}

pub(super) fn handshake(request: &Message, client_id: &str, timeout: Duration) -> Message {
    Message {
        successful: Some(true),
        client_id: Some(client_id.to_owned()),
        version: Some("1.0".to_owned()),
        supported_connection_types: Some(
            CONNECTION_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        ),
        advice: Some(retry_advice(timeout)),
        ..Message::reply_to(request)
    }
}

/// How a `/meta/connect` ends, which decides its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnectEnd {
    /// Data arrived, the hold timed out, or a newer connect superseded this one.
    Normal,
    /// The client disconnected, or the server is shutting down: stop cleanly.
    Stop,
    /// The session is gone: handshake again.
    Unknown,
    /// Fault injection dropped the connection (long-polling): retry.
    Dropped,
}

pub(super) fn connect(
    request: &Message,
    client_id: &str,
    end: ConnectEnd,
    timeout: Duration,
) -> Message {
    match end {
        ConnectEnd::Normal => Message {
            successful: Some(true),
            client_id: Some(client_id.to_owned()),
            advice: Some(retry_advice(timeout)),
            ..Message::reply_to(request)
        },
        ConnectEnd::Stop => Message {
            successful: Some(true),
            client_id: Some(client_id.to_owned()),
            advice: Some(reconnect("none")),
            ..Message::reply_to(request)
        },
        ConnectEnd::Unknown => unknown_client(request),
        ConnectEnd::Dropped => Message {
            successful: Some(false),
            client_id: Some(client_id.to_owned()),
            error: Some("408::connection dropped".to_owned()),
            advice: Some(Advice { interval: Some(0), ..reconnect("retry") }),
            ..Message::reply_to(request)
        },
    }
}

/// The reply to any message naming a clientId the user does not own: it never says whether the
/// session exists for someone else.
pub(super) fn unknown_client(request: &Message) -> Message {
    Message {
        successful: Some(false),
        error: Some(UNKNOWN_CLIENT.to_owned()),
        advice: Some(Advice { interval: Some(0), ..reconnect("handshake") }),
        ..Message::reply_to(request)
    }
}

pub(super) fn failure(request: &Message, error: &str) -> Message {
    Message { successful: Some(false), error: Some(error.to_owned()), ..Message::reply_to(request) }
}

/// Renders a data message once per publish. `data_json` is trusted, already-serialized JSON.
pub(super) fn data(channel: &str, data_json: &str) -> Rendered {
    let channel = serde_json::Value::from(channel).to_string();
    let mut out = String::with_capacity(channel.len() + data_json.len() + 22);
    out.push_str("{\"channel\":");
    out.push_str(&channel);
    out.push_str(",\"data\":");
    out.push_str(data_json);
    out.push('}');
    Arc::from(out)
}

/// Renders a reply array.
pub(super) fn render(parts: &[Part]) -> String {
    let mut out = String::from("[");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match part {
            Part::Data(rendered) => out.push_str(rendered),
            Part::Reply(message) => match serde_json::to_string(message) {
                Ok(json) => out.push_str(&json),
                // Unreachable with these types (no maps with non-string keys); keep the array
                // well-formed rather than panic.
                Err(err) => {
                    tracing::error!(%err, "cannot serialize a bayeux reply");
                    out.push_str(r#"{"channel":"/meta/unknown","successful":false}"#);
                }
            },
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn data_messages_escape_the_channel_and_keep_data_verbatim() {
        let rendered = data("/v2/me/\"x", r#"{"a":1}"#);
        let v: Value = serde_json::from_str(&rendered).expect("valid json");
        assert_eq!(v, json!({"channel": "/v2/me/\"x", "data": {"a": 1}}));
    }

    #[test]
    fn render_mixes_replies_and_data_in_order() {
        let req: Message =
            serde_json::from_str(r#"{"channel":"/meta/connect","id":"5"}"#).expect("parses");
        let parts = vec![
            Part::Data(data("/a", "1")),
            Part::Reply(Box::new(connect(&req, "c1", ConnectEnd::Normal, Duration::from_secs(30)))),
        ];
        let v: Value = serde_json::from_str(&render(&parts)).expect("valid json");
        assert_eq!(
            v,
            json!([
                {"channel": "/a", "data": 1},
                {"channel": "/meta/connect", "id": "5", "successful": true, "clientId": "c1",
                 "advice": {"reconnect": "retry", "interval": 0, "timeout": 30000}}
            ])
        );
    }

    #[test]
    fn unknown_client_asks_for_a_handshake() {
        let req: Message =
            serde_json::from_str(r#"{"channel":"/meta/connect","id":7,"clientId":"x"}"#)
                .expect("parses");
        let v = serde_json::to_value(unknown_client(&req)).expect("serializes");
        assert_eq!(
            v,
            json!({"channel": "/meta/connect", "id": 7, "successful": false,
                   "error": "402::Unknown client", "advice": {"reconnect": "handshake", "interval": 0}})
        );
    }
}

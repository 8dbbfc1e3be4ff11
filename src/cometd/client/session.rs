//! The Bayeux client protocol as a pure state machine: it builds the messages a standard CometD
//! client sends (protocol.md §3.2, §16) and turns each message the server sends into one
//! [`Reply`], without any IO, so every decision (402 handling, advice, id matching) is testable
//! by feeding it replies.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::incoming::{self, Payload};
use crate::cometd::channel;
use crate::cometd::error::CometdError;
use crate::cometd::message::{Advice, Message};

/// The CometD default hold time, used until the server advises its own.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Upper bounds on what a server may advise, so a broken or hostile server cannot park an agent
/// for hours (loops stay bounded in time).
pub(crate) const MAX_ADVISED_TIMEOUT_MS: u64 = 300_000;
pub(crate) const MAX_ADVISED_INTERVAL_MS: u64 = 60_000;
/// What the standard JavaScript client advertises in its handshake; servers must not adopt it.
const CLIENT_HANDSHAKE_TIMEOUT_MS: u64 = 60_000;

/// One message from the server, parsed leniently: only `channel` is required, and fields whose
/// JSON type varies between servers are kept as values. `data` is kept as it arrived, and decoded
/// as a notification in the same pass when the batch takes the fast route (`incoming::batch`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Incoming {
    /// Inline up to 24 bytes, as GWS's channels are (`/v2/me/chats`, `/meta/connect`): no
    /// allocation per message.
    pub(crate) channel: compact_str::CompactString,
    #[serde(default)]
    pub(crate) id: Option<Value>,
    #[serde(default)]
    pub(crate) client_id: Option<Value>,
    #[serde(default)]
    pub(crate) successful: Option<Value>,
    #[serde(default)]
    pub(crate) error: Option<Value>,
    #[serde(default)]
    /// Boxed: it comes with meta replies only, and inline it would make every message of a
    /// batch larger.
    pub(crate) advice: Option<Box<IncomingAdvice>>,
    #[serde(default)]
    pub(crate) supported_connection_types: Option<Value>,
    #[serde(default)]
    pub(crate) data: Option<Payload>,
}

/// The fields of a server's `advice` this client reads, each kept as a value (its JSON type
/// varies between servers); the others are skipped. Anything but an object is no advice, as
/// before. Every long-poll reply carries advice: decoding it into a `serde_json::Value` object
/// built a map and a string per key (callgrind: about 30K instructions per flow on long-polling).
#[derive(Debug, Default)]
pub(crate) struct IncomingAdvice {
    object: bool,
    timeout: Option<Value>,
    interval: Option<Value>,
    reconnect: Option<Value>,
}

impl<'de> Deserialize<'de> for IncomingAdvice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct AdviceVisitor;
        impl<'de> Visitor<'de> for AdviceVisitor {
            type Value = IncomingAdvice;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IncomingAdvice, A::Error> {
                let mut advice = IncomingAdvice { object: true, ..IncomingAdvice::default() };
                // Bounded by the message, which is bounded in bytes. A repeated key keeps its
                // last value, as a `Value` object does.
                while let Some(key) = map.next_key::<AdviceKey>()? {
                    let slot = match key {
                        AdviceKey::Timeout => &mut advice.timeout,
                        AdviceKey::Interval => &mut advice.interval,
                        AdviceKey::Reconnect => &mut advice.reconnect,
                        AdviceKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(advice)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IncomingAdvice, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IncomingAdvice::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
            fn visit_unit<E>(self) -> Result<IncomingAdvice, E> {
                Ok(IncomingAdvice::default())
            }
        }
        d.deserialize_any(AdviceVisitor)
    }
}

/// An advice key, matched where it lies in the text (no string per key).
enum AdviceKey {
    Timeout,
    Interval,
    Reconnect,
    Other,
}

impl<'de> Deserialize<'de> for AdviceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = AdviceKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an advice key")
            }
            fn visit_str<E>(self, v: &str) -> Result<AdviceKey, E> {
                Ok(match v {
                    "timeout" => AdviceKey::Timeout,
                    "interval" => AdviceKey::Interval,
                    "reconnect" => AdviceKey::Reconnect,
                    _ => AdviceKey::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Parses a response body or websocket frame. A body that is not JSON (garbage, truncated) is
/// [`CometdError::NotJson`]; JSON that is not an array of messages, or an array none of whose
/// elements is one, is [`CometdError::WrongShape`]. Single elements that are not Bayeux messages
/// are dropped and counted in the second value, so one bad message cannot hide the good ones
/// next to it.
pub(crate) fn parse_incoming(text: &str) -> Result<(Vec<Incoming>, usize), CometdError> {
    if let Some(batch) = incoming::batch(text) {
        return Ok((batch, 0));
    }
    let trimmed = text.trim_start();
    if let Ok(batch) = serde_json::from_str::<Vec<Incoming>>(trimmed) {
        return Ok((batch, 0));
    }
    let value: &RawValue =
        serde_json::from_str(trimmed).map_err(|e| CometdError::NotJson(e.to_string()))?;
    let json = value.get();
    if json.starts_with('{') {
        // Standard clients send arrays, but a lenient client accepts a bare message.
        return match serde_json::from_str::<Incoming>(json) {
            Ok(message) => Ok((vec![message], 0)),
            Err(e) => Err(CometdError::WrongShape(format!("object is not a bayeux message: {e}"))),
        };
    }
    let items: Vec<&RawValue> = serde_json::from_str(json)
        .map_err(|_| CometdError::WrongShape("not an array of messages".into()))?;
    let total = items.len();
    let batch: Vec<Incoming> =
        items.iter().filter_map(|item| serde_json::from_str(item.get()).ok()).collect();
    if batch.is_empty() && total > 0 {
        return Err(CometdError::WrongShape(format!(
            "none of {total} elements is a bayeux message"
        )));
    }
    let dropped = total - batch.len();
    Ok((batch, dropped))
}

/// The connection types of Bayeux that this client speaks (one vocabulary for the whole crate).
pub use crate::vocab::Transport;

/// What a request waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    Handshake,
    Subscribe(String),
    Connect,
    Disconnect,
}

impl Pending {
    fn channel(&self) -> &'static str {
        match self {
            Pending::Handshake => channel::HANDSHAKE,
            Pending::Subscribe(_) => channel::SUBSCRIBE,
            Pending::Connect => channel::CONNECT,
            Pending::Disconnect => channel::DISCONNECT,
        }
    }
}

/// What the server told us to do after a `/meta/connect` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectOutcome {
    /// Connected: send the next connect after the advised interval.
    Continue,
    /// The session is gone (`402::Unknown client` or `reconnect: handshake`): handshake again.
    Rehandshake,
    /// A failed connect the server wants retried (`reconnect: retry`): back off and reconnect.
    Retry(String),
    /// `reconnect: none`: the server ends the session; stop.
    Stop,
    /// `successful` is missing or not a boolean: a reply of the wrong shape, retried like a
    /// refused connect but counted as what it is.
    Mistyped,
}

/// The meaning of one message from the server.
#[derive(Debug)]
pub(crate) enum Reply {
    Data {
        channel: compact_str::CompactString,
        data: Payload,
    },
    Handshake(Result<(), CometdError>),
    Subscribe {
        subscription: String,
        result: Result<(), String>,
    },
    Connect(ConnectOutcome),
    Disconnect,
    /// Not for us, stale, or malformed; the reason is a static string for counting and logs.
    Ignored(&'static str),
}

/// The `reconnect` advice value, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    Retry,
    Handshake,
    None,
}

/// The decision table for a `/meta/connect` reply (Bayeux 1.0 §5.3, protocol.md §15.6, §16).
/// Advice wins; without advice, a `402` error means the server forgot this client.
pub(crate) fn connect_outcome(
    successful: bool,
    reconnect: Option<Reconnect>,
    error: Option<&str>,
) -> ConnectOutcome {
    match (successful, reconnect) {
        (_, Some(Reconnect::None)) => ConnectOutcome::Stop,
        (_, Some(Reconnect::Handshake)) => ConnectOutcome::Rehandshake,
        (true, _) => ConnectOutcome::Continue,
        (false, Some(Reconnect::Retry)) => {
            ConnectOutcome::Retry(error.unwrap_or("connect failed").to_owned())
        }
        (false, None) => match error {
            Some(e) if e.starts_with("402") => ConnectOutcome::Rehandshake,
            Some(e) => ConnectOutcome::Retry(e.to_owned()),
            None => ConnectOutcome::Retry("connect failed".to_owned()),
        },
    }
}

/// One Bayeux client session across re-handshakes: ids, clientId, outstanding requests and the
/// server's advice.
#[derive(Debug)]
pub(crate) struct Session {
    transport: Transport,
    subscriptions: Vec<String>,
    client_id: Option<String>,
    /// Ids increase for the life of the session object, across re-handshakes, as the JavaScript
    /// client's do; a reply to an old id can then never be mistaken for a new one.
    next_id: u64,
    /// Few at a time (a handshake, a connect, a handful of subscribes), so a Vec beats a map.
    pending: Vec<(String, Pending)>,
    timeout_ms: u64,
    interval_ms: u64,
    /// The next connect is the first one after a handshake or a failure: it carries
    /// `advice: {timeout: 0}` so the server answers at once (§16).
    fresh: bool,
}

impl Session {
    pub(crate) fn new(transport: Transport, subscriptions: Vec<String>) -> Self {
        Session {
            transport,
            subscriptions,
            client_id: None,
            next_id: 0,
            pending: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            interval_ms: 0,
            fresh: true,
        }
    }

    pub(crate) fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The advised hold time of `/meta/connect`.
    pub(crate) fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    /// The advised pause between a connect reply and the next connect.
    pub(crate) fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn next_id(&mut self, pending: Pending) -> String {
        self.next_id += 1;
        let id = self.next_id.to_string();
        self.pending.push((id.clone(), pending));
        id
    }

    fn meta(&mut self, channel: &str, pending: Pending) -> Message {
        let id = self.next_id(pending);
        Message {
            channel: channel.to_owned(),
            id: Some(Value::String(id)),
            client_id: self.client_id.clone(),
            ..Message::default()
        }
    }

    /// Starts a new session: forgets the old clientId and everything outstanding.
    pub(crate) fn handshake(&mut self) -> Message {
        self.client_id = None;
        self.pending.clear();
        self.fresh = true;
        let mut message = self.meta(channel::HANDSHAKE, Pending::Handshake);
        message.version = Some("1.0".to_owned());
        message.minimum_version = Some("1.0".to_owned());
        message.supported_connection_types =
            Some(vec![self.transport.connection_type().to_owned()]);
        message.advice = Some(Advice {
            timeout: Some(CLIENT_HANDSHAKE_TIMEOUT_MS),
            interval: Some(0),
            ..Advice::default()
        });
        message
    }

    /// One `/meta/subscribe` per configured channel, to be sent together in one batch.
    pub(crate) fn subscribe_all(&mut self) -> Vec<Message> {
        let subscriptions = self.subscriptions.clone();
        subscriptions
            .into_iter()
            .map(|sub| {
                let mut message = self.meta(channel::SUBSCRIBE, Pending::Subscribe(sub.clone()));
                message.subscription = Some(Value::String(sub));
                message
            })
            .collect()
    }

    pub(crate) fn connect(&mut self) -> Message {
        let mut message = self.meta(channel::CONNECT, Pending::Connect);
        message.connection_type = Some(self.transport.connection_type().to_owned());
        if self.fresh {
            message.advice = Some(Advice { timeout: Some(0), ..Advice::default() });
            self.fresh = false;
        }
        message
    }

    pub(crate) fn disconnect(&mut self) -> Message {
        self.meta(channel::DISCONNECT, Pending::Disconnect)
    }

    /// The request with this id failed or timed out: stop waiting for it, and make the next
    /// connect a fresh one.
    pub(crate) fn abandon(&mut self, ids: &[String]) {
        self.pending.retain(|(id, _)| !ids.contains(id));
        self.fresh = true;
    }

    /// The transport was lost (socket closed, request failed): nothing outstanding will be
    /// answered any more, but the clientId may still be valid on the server.
    pub(crate) fn connection_lost(&mut self) {
        self.pending.clear();
        self.fresh = true;
    }

    /// Drops the clientId so the next turn handshakes again (e.g. after a refused subscribe).
    pub(crate) fn forget_client(&mut self) {
        self.client_id = None;
    }

    /// Whether the message with this id has been answered (or abandoned).
    pub(crate) fn is_answered(&self, id: &str) -> bool {
        !self.pending.iter().any(|(p, _)| p == id)
    }

    /// Interprets one message from the server.
    pub(crate) fn on_message(&mut self, message: Incoming) -> Reply {
        if !message.channel.starts_with("/meta/") {
            return match message.data {
                Some(data) => Reply::Data { channel: message.channel, data },
                // A publish acknowledgement, or junk: this client never publishes.
                None => Reply::Ignored("non-meta message without data"),
            };
        }
        let Some(id) = message.id.as_ref().and_then(id_text) else {
            return Reply::Ignored("meta message without id");
        };
        let Some(position) =
            self.pending.iter().position(|(p, kind)| *p == id && kind.channel() == message.channel)
        else {
            return Reply::Ignored("reply to no outstanding request");
        };
        let (_, kind) = self.pending.swap_remove(position);
        let typed = message.successful.as_ref().is_some_and(Value::is_boolean);
        let successful = message.successful.as_ref().and_then(Value::as_bool).unwrap_or(false);
        let error = message.error.as_ref().map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let reconnect = self.absorb_advice(message.advice.as_deref());
        match kind {
            Pending::Handshake => Reply::Handshake(self.on_handshake(&message, successful, error)),
            Pending::Subscribe(subscription) => Reply::Subscribe {
                subscription,
                result: if successful {
                    Ok(())
                } else {
                    Err(error.unwrap_or_else(|| "subscribe refused".to_owned()))
                },
            },
            Pending::Connect => {
                let outcome = match connect_outcome(successful, reconnect, error.as_deref()) {
                    ConnectOutcome::Retry(_) if !typed => ConnectOutcome::Mistyped,
                    outcome => outcome,
                };
                if outcome == ConnectOutcome::Rehandshake {
                    self.client_id = None;
                }
                Reply::Connect(outcome)
            }
            Pending::Disconnect => Reply::Disconnect,
        }
    }

    fn on_handshake(
        &mut self,
        message: &Incoming,
        successful: bool,
        error: Option<String>,
    ) -> Result<(), CometdError> {
        if !successful {
            return Err(CometdError::Handshake(error.unwrap_or_else(|| "refused".to_owned())));
        }
        let client_id = match &message.client_id {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(CometdError::Protocol("handshake reply without clientId".into())),
        };
        if let Some(Value::Array(types)) = &message.supported_connection_types {
            let ours = self.transport.connection_type();
            if !types.iter().any(|t| t.as_str() == Some(ours)) {
                return Err(CometdError::Handshake(format!("server does not offer {ours}")));
            }
        }
        self.client_id = Some(client_id);
        self.fresh = true;
        Ok(())
    }

    /// Keeps the server's timeout and interval (clamped) and returns its reconnect advice.
    fn absorb_advice(&mut self, advice: Option<&IncomingAdvice>) -> Option<Reconnect> {
        let advice = advice.filter(|a| a.object)?;
        let number = |v: &Option<Value>| {
            v.as_ref().and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
        };
        if let Some(timeout) = number(&advice.timeout) {
            self.timeout_ms = timeout.min(MAX_ADVISED_TIMEOUT_MS);
        }
        if let Some(interval) = number(&advice.interval) {
            self.interval_ms = interval.min(MAX_ADVISED_INTERVAL_MS);
        }
        match advice.reconnect.as_ref().and_then(Value::as_str) {
            Some("retry") => Some(Reconnect::Retry),
            Some("handshake") => Some(Reconnect::Handshake),
            Some("none") => Some(Reconnect::None),
            _ => None,
        }
    }
}

/// Reply ids compare as text: this client sends strings, and a server that echoes a number
/// still means the same request.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Serializes a batch for the wire; `Message` holds only strings, numbers and JSON values, so
/// this cannot fail in practice, but a failure is still an error rather than a panic.
pub(crate) fn encode_batch(batch: &[Message]) -> Result<String, CometdError> {
    serde_json::to_string(batch).map_err(|e| CometdError::Protocol(format!("cannot encode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(session: &mut Session, text: &str) -> Vec<Reply> {
        let (batch, _) = parse_incoming(text).expect("valid batch");
        batch.into_iter().map(|m| session.on_message(m)).collect()
    }

    fn handshaken(transport: Transport) -> Session {
        let mut s = Session::new(transport, vec!["/v2/me/*".into()]);
        let hs = s.handshake();
        let id = hs.id.clone().and_then(|v| v.as_str().map(str::to_owned)).expect("id");
        let replies = feed(
            &mut s,
            &format!(
                r#"[{{"channel":"/meta/handshake","successful":true,"clientId":"c1","id":"{id}",
                "supportedConnectionTypes":["long-polling","websocket"],
                "advice":{{"reconnect":"retry","interval":0,"timeout":30000}}}}]"#
            ),
        );
        assert!(matches!(replies[..], [Reply::Handshake(Ok(()))]), "{replies:?}");
        s
    }

    #[test]
    fn handshake_message_is_standard() {
        let mut s = Session::new(Transport::LongPolling, vec![]);
        let json = serde_json::to_value(s.handshake()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"channel":"/meta/handshake","id":"1","version":"1.0",
                "minimumVersion":"1.0","supportedConnectionTypes":["long-polling"],
                "advice":{"timeout":60000,"interval":0}})
        );
        let mut s = Session::new(Transport::Websocket, vec![]);
        let json = serde_json::to_value(s.handshake()).expect("json");
        assert_eq!(json["supportedConnectionTypes"], serde_json::json!(["websocket"]));
    }

    #[test]
    fn ids_are_increasing_strings_and_first_connect_has_timeout_zero() {
        let mut s = handshaken(Transport::LongPolling);
        assert_eq!(s.client_id(), Some("c1"));
        let subs = s.subscribe_all();
        assert_eq!(
            serde_json::to_value(&subs).expect("json"),
            serde_json::json!([{"channel":"/meta/subscribe","id":"2","clientId":"c1",
                "subscription":"/v2/me/*"}])
        );
        let first = serde_json::to_value(s.connect()).expect("json");
        assert_eq!(
            first,
            serde_json::json!({"channel":"/meta/connect","id":"3","clientId":"c1",
                "connectionType":"long-polling","advice":{"timeout":0}})
        );
        let second = serde_json::to_value(s.connect()).expect("json");
        assert_eq!(second["id"], "4");
        assert!(second.get("advice").is_none(), "{second}");
        // After a failure the next connect is fresh again.
        s.abandon(&["4".to_owned()]);
        assert_eq!(serde_json::to_value(s.connect()).expect("json")["advice"]["timeout"], 0);
    }

    #[test]
    fn data_and_connect_reply_in_one_batch_keep_delivery_order() {
        let mut s = handshaken(Transport::LongPolling);
        let _ = s.connect();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/v2/me/chats","data":{"messageType":"A"},"id":"9"},
                {"channel":"/v2/me/channels","data":{"messageType":"B"}},
                {"channel":"/meta/connect","successful":true,"id":"2","advice":{"timeout":25000}}]"#,
        );
        let summary: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Data { channel, data } => format!("{channel} {}", data.get()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                r#"/v2/me/chats {"messageType":"A"}"#.to_owned(),
                r#"/v2/me/channels {"messageType":"B"}"#.to_owned(),
                "Connect(Continue)".to_owned(),
            ]
        );
        assert_eq!(s.timeout_ms(), 25_000);
        assert_eq!(s.pending_len(), 0);
    }

    #[test]
    fn unknown_client_leads_to_rehandshake() {
        let mut s = handshaken(Transport::LongPolling);
        let _ = s.connect();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/connect","successful":false,"error":"402::Unknown client",
                "advice":{"reconnect":"handshake","interval":0},"id":"2"}]"#,
        );
        assert!(matches!(replies[..], [Reply::Connect(ConnectOutcome::Rehandshake)]));
        assert_eq!(s.client_id(), None);
        // The same without advice.
        let mut s = handshaken(Transport::Websocket);
        let _ = s.connect();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/connect","successful":false,"error":"402::Unknown client","id":"2"}]"#,
        );
        assert!(matches!(replies[..], [Reply::Connect(ConnectOutcome::Rehandshake)]));
        // The re-handshake starts over with new ids and forgets the old ones.
        let hs = s.handshake();
        assert_eq!(hs.id, Some(Value::from("3")));
        assert_eq!(hs.client_id, None);
    }

    #[test]
    fn connect_decision_table() {
        use ConnectOutcome::*;
        assert_eq!(connect_outcome(true, None, None), Continue);
        assert_eq!(connect_outcome(true, Some(Reconnect::Retry), None), Continue);
        assert_eq!(connect_outcome(true, Some(Reconnect::None), None), Stop);
        assert_eq!(connect_outcome(true, Some(Reconnect::Handshake), None), Rehandshake);
        assert_eq!(connect_outcome(false, Some(Reconnect::Handshake), Some("x")), Rehandshake);
        assert_eq!(connect_outcome(false, Some(Reconnect::None), Some("x")), Stop);
        assert_eq!(connect_outcome(false, Some(Reconnect::Retry), Some("x")), Retry("x".into()));
        assert_eq!(
            connect_outcome(false, Some(Reconnect::Retry), Some("402::Unknown client")),
            Retry("402::Unknown client".into())
        );
        assert_eq!(connect_outcome(false, None, Some("402::Unknown client")), Rehandshake);
        assert_eq!(connect_outcome(false, None, Some("500::oops")), Retry("500::oops".into()));
        assert_eq!(connect_outcome(false, None, None), Retry("connect failed".into()));
    }

    #[test]
    fn server_stop_advice() {
        let mut s = handshaken(Transport::LongPolling);
        let _ = s.connect();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/connect","successful":true,"advice":{"reconnect":"none"},"id":"2"}]"#,
        );
        assert!(matches!(replies[..], [Reply::Connect(ConnectOutcome::Stop)]));
    }

    #[test]
    fn handshake_failures() {
        let mut s = Session::new(Transport::Websocket, vec![]);
        let _ = s.handshake();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/handshake","successful":false,"error":"403::denied","id":"1"}]"#,
        );
        assert!(
            matches!(&replies[..], [Reply::Handshake(Err(CometdError::Handshake(e)))] if e == "403::denied")
        );
        let _ = s.handshake();
        let replies = feed(&mut s, r#"[{"channel":"/meta/handshake","successful":true,"id":"2"}]"#);
        assert!(matches!(replies[..], [Reply::Handshake(Err(CometdError::Protocol(_)))]));
        let _ = s.handshake();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/handshake","successful":true,"clientId":"c","id":"3",
                "supportedConnectionTypes":["long-polling"]}]"#,
        );
        assert!(matches!(replies[..], [Reply::Handshake(Err(CometdError::Handshake(_)))]));
        assert_eq!(s.client_id(), None);
    }

    #[test]
    fn subscribe_replies_are_matched_by_id() {
        let mut s = Session::new(Transport::LongPolling, vec!["/v2/me/*".into(), "/x".into()]);
        let _ = s.handshake();
        s.pending.clear();
        s.client_id = Some("c".into());
        let subs = s.subscribe_all();
        assert_eq!(subs.len(), 2);
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/subscribe","successful":false,"error":"403::no","id":"3","subscription":"/x"},
                {"channel":"/meta/subscribe","successful":true,"id":2,"subscription":"/v2/me/*"}]"#,
        );
        assert!(matches!(&replies[0], Reply::Subscribe { subscription, result: Err(e) }
            if subscription == "/x" && e == "403::no"));
        assert!(matches!(&replies[1], Reply::Subscribe { subscription, result: Ok(()) }
            if subscription == "/v2/me/*"));
        assert!(s.is_answered("2") && s.is_answered("3"));
    }

    #[test]
    fn stale_and_malformed_messages_are_ignored_not_fatal() {
        let mut s = handshaken(Transport::LongPolling);
        let _ = s.connect();
        let replies = feed(
            &mut s,
            r#"[{"channel":"/meta/connect","successful":true,"id":"77"},
                {"channel":"/meta/subscribe","successful":true,"id":"2"},
                {"channel":"/meta/connect","successful":true},
                {"channel":"/v2/me/chats"},
                {"channel":"/meta/connect","successful":"yes","id":"2"}]"#,
        );
        assert!(matches!(replies[0], Reply::Ignored(_)));
        assert!(matches!(replies[1], Reply::Ignored(_)), "wrong channel for id 2");
        assert!(matches!(replies[2], Reply::Ignored(_)));
        assert!(matches!(replies[3], Reply::Ignored(_)));
        // `successful` that is not a bool counts as a failure of the wrong shape, retried.
        assert!(matches!(replies[4], Reply::Connect(ConnectOutcome::Mistyped)));
    }

    #[test]
    fn lenient_batch_parsing() {
        let (batch, dropped) = parse_incoming(
            r#"[{"channel":"/a","data":1}, 5, {"nochannel":true}, {"channel":"/b","data":[1]}]"#,
        )
        .expect("array");
        assert_eq!((batch.len(), dropped), (2, 2));
        let (batch, dropped) = parse_incoming(r#"{"channel":"/a","data":{}}"#).expect("object");
        assert_eq!((batch.len(), dropped), (1, 0));
        for garbage in ["", "<html>", r#"[{"channel":"/meta/connect","succ"#] {
            assert!(matches!(parse_incoming(garbage), Err(CometdError::NotJson(_))), "{garbage}");
        }
        for shape in ["42", r#""text""#, r#"{"successful":true}"#, "[1,2]", r#"{"a":[]}"#] {
            assert!(matches!(parse_incoming(shape), Err(CometdError::WrongShape(_))), "{shape}");
        }
        assert_eq!(parse_incoming("[]").expect("empty").0.len(), 0);
        let (batch, _) = parse_incoming(r#"[{"channel":"/a","data":null}]"#).expect("null");
        assert!(batch[0].data.is_none());
    }

    /// Any JSON value of a few shapes, including the wrong types for every field.
    fn any_field() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u64..5).prop_map(Value::from),
            (-3i64..3).prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(vec![
                "1",
                "2",
                "3",
                "402::Unknown client",
                "retry",
                "handshake",
                "none",
                "c1",
                ""
            ])
            .prop_map(Value::from),
            Just(serde_json::json!({"reconnect":"handshake","timeout":0,"interval":5})),
            Just(serde_json::json!([1, "websocket", "long-polling"])),
        ]
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_server_messages_never_panic(
            messages in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["/meta/handshake", "/meta/connect", "/meta/subscribe",
                        "/meta/disconnect", "/meta/unknown", "/v2/me/chats", "", "/"]),
                    proptest::collection::vec(
                        (proptest::sample::select(vec!["id", "clientId", "successful", "error", "advice",
                            "data", "supportedConnectionTypes", "subscription", "ext"]), any_field()),
                        0..8,
                    ),
                ),
                0..12,
            ),
            raw in ".{0,40}",
        ) {
            let mut s = Session::new(Transport::Websocket, vec!["/v2/me/*".into()]);
            let _ = s.handshake();
            let _ = s.subscribe_all();
            let batch: Vec<Value> = messages
                .into_iter()
                .map(|(channel, fields)| {
                    let mut object = serde_json::Map::new();
                    object.insert("channel".into(), Value::from(channel));
                    object.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
                    Value::Object(object)
                })
                .collect();
            let text = serde_json::to_string(&batch).expect("serializes");
            for input in [text.as_str(), raw.as_str()] {
                if let Ok((parsed, _)) = parse_incoming(input) {
                    for message in parsed {
                        let _ = s.on_message(message);
                        let _ = s.connect();
                    }
                }
            }
            proptest::prop_assert!(s.timeout_ms() <= MAX_ADVISED_TIMEOUT_MS);
            proptest::prop_assert!(s.interval_ms() <= MAX_ADVISED_INTERVAL_MS);
        }
    }

    #[test]
    fn advice_is_clamped_and_tolerant() {
        let mut s = handshaken(Transport::LongPolling);
        let _ = s.connect();
        feed(
            &mut s,
            r#"[{"channel":"/meta/connect","successful":true,"id":"2",
                "advice":{"timeout":1e12,"interval":-5,"reconnect":7}}]"#,
        );
        assert_eq!(s.timeout_ms(), MAX_ADVISED_TIMEOUT_MS);
        assert_eq!(s.interval_ms(), 0);
    }

    /// Advice that is not an object is no advice; in an object, a repeated key keeps its last
    /// value, escaped keys are read decoded, and other keys (any value) are skipped.
    #[test]
    fn advice_reads_like_a_json_object() {
        let advised = |advice: &str| {
            let mut s = handshaken(Transport::LongPolling);
            let _ = s.connect();
            feed(
                &mut s,
                &format!(
                    r#"[{{"channel":"/meta/connect","successful":true,"id":"2","advice":{advice}}}]"#
                ),
            );
            (s.timeout_ms(), s.interval_ms())
        };
        let (timeout, interval) = advised("null");
        for not_object in [r#""x""#, "[1,{}]", "7", "-1.5", "true"] {
            assert_eq!(advised(not_object), (timeout, interval), "{not_object}");
        }
        let last = r#"{"timeout":1000,"x":{"timeout":5},"timeout":2000,"inter\u0076al":30}"#;
        assert_eq!(advised(last), (2000, 30));
    }
}

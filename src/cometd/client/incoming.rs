//! One pass over a batch of Bayeux messages: the envelope of each message is walked by hand and
//! its `data`, when it is a GWS notification, is decoded into a [`Notification`] where it lies,
//! its bytes kept as they arrived.
//!
//! Decoding `data` as a raw value first and into a notification afterwards scanned every byte
//! of every notification twice (callgrind of the consult-remove-leave flow: the raw scan and its
//! copy were about 7K instructions per notification, a third of decoding it). serde_json tells
//! where a value ended only through `StreamDeserializer::byte_offset`, so each value of the
//! envelope is read by one short-lived stream deserializer and the punctuation between values
//! is checked here. Anything this walk does not expect (a bare object, a duplicate field, an
//! element that is not a message, trailing bytes) returns `None`, and the caller decodes the
//! text the general way, which classifies what is wrong: this walk is only ever a faster route
//! to the same messages.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::session::{Incoming, IncomingAdvice};
use crate::gws::Notification;

/// The `data` of one data message: its JSON as it arrived (what the ordering checker fingerprints
/// and keeps for context) and, when it decoded as a GWS notification in the same pass, that
/// notification.
pub struct Payload {
    raw: Box<str>,
    notification: Option<Box<Notification>>,
}

impl Payload {
    /// The JSON text of `data`, as the server sent it.
    pub fn get(&self) -> &str {
        &self.raw
    }

    /// The notification decoded with the message, once; `None` when `data` was not decoded as
    /// one (the batch took the general route, or `data` is not a notification) or it was taken
    /// already.
    pub fn take_notification(&mut self) -> Option<Notification> {
        self.notification.take().map(|n| *n)
    }

    /// The notification `data` is: the one decoded with the message, or else decoded from the
    /// text now (which says why it is not one).
    pub fn notification(&mut self) -> Result<Notification, serde_json::Error> {
        match self.take_notification() {
            Some(n) => Ok(n),
            None => serde_json::from_str(&self.raw),
        }
    }

    /// What it holds against a session's byte budget: the text, and as much again for a decoded
    /// notification (its strings are at most the text they came from; the rest is the structs'
    /// own size).
    pub(crate) fn held_bytes(&self) -> usize {
        match self.notification {
            Some(_) => 2 * self.raw.len() + size_of::<Notification>(),
            None => self.raw.len(),
        }
    }
}

impl From<Payload> for Box<str> {
    fn from(payload: Payload) -> Box<str> {
        payload.raw
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("raw", &self.get())
            .field("decoded", &self.notification.is_some())
            .finish()
    }
}

/// Through the general decoder (`serde_json::from_str::<Vec<Incoming>>`): raw only.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(d)?;
        Ok(Payload { raw: raw.into(), notification: None })
    }
}

/// The messages of `text` when it is a well-formed array of Bayeux messages, each `data` object
/// decoded as a notification where it is one; `None` for anything else.
pub(crate) fn batch(text: &str) -> Option<Vec<Incoming>> {
    let bytes = text.as_bytes();
    let mut at = expect(bytes, skip_ws(bytes, 0), b'[')?;
    // A websocket frame mostly carries one message: room for one, not the four a first push
    // would reserve (a message is a few hundred bytes).
    let mut batch = Vec::with_capacity(1);
    at = skip_ws(bytes, at);
    if bytes.get(at) == Some(&b']') {
        return only_ws(bytes, at + 1).then_some(batch);
    }
    // Bounded by the text: every turn consumes at least one message.
    loop {
        let (message, next) = message(text, at)?;
        batch.push(message);
        at = skip_ws(bytes, next);
        match bytes.get(at)? {
            b',' => at = skip_ws(bytes, at + 1),
            b']' => return only_ws(bytes, at + 1).then_some(batch),
            _ => return None,
        }
    }
}

/// One message object starting at `at`, and the offset past it.
fn message(text: &str, at: usize) -> Option<(Incoming, usize)> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, expect(bytes, at, b'{')?);
    let mut m = Fields::default();
    if bytes.get(at) == Some(&b'}') {
        return None;
    }
    // Bounded by the text: every turn consumes at least one key and value.
    loop {
        let (key, next) = value_at::<Key>(text, at)?;
        at = skip_ws(bytes, expect(bytes, skip_ws(bytes, next), b':')?);
        at = match key {
            Key::Channel => set(&mut m.channel, value_at(text, at)?)?,
            Key::Id => set(&mut m.id, value_at(text, at)?)?,
            Key::ClientId => set(&mut m.client_id, value_at(text, at)?)?,
            Key::Successful => set(&mut m.successful, value_at(text, at)?)?,
            Key::Error => set(&mut m.error, value_at(text, at)?)?,
            Key::Advice => set(&mut m.advice, value_at(text, at)?)?,
            Key::SupportedConnectionTypes => {
                set(&mut m.supported_connection_types, value_at(text, at)?)?
            }
            Key::Data => set(&mut m.data, data(text, at)?)?,
            Key::Other => value_at::<IgnoredAny>(text, at)?.1,
        };
        at = skip_ws(bytes, at);
        match bytes.get(at)? {
            b',' => at = skip_ws(bytes, at + 1),
            b'}' => break,
            _ => return None,
        }
    }
    let message = Incoming {
        channel: m.channel?,
        id: m.id.flatten(),
        client_id: m.client_id.flatten(),
        successful: m.successful.flatten(),
        error: m.error.flatten(),
        advice: m.advice.flatten(),
        supported_connection_types: m.supported_connection_types.flatten(),
        data: m.data.flatten(),
    };
    Some((message, at + 1))
}

/// The fields seen so far (the outer `Option`: seen; a field seen twice is the general
/// decoder's "duplicate field", left to it).
#[derive(Default)]
struct Fields {
    channel: Option<compact_str::CompactString>,
    id: Option<Option<Value>>,
    client_id: Option<Option<Value>>,
    successful: Option<Option<Value>>,
    error: Option<Option<Value>>,
    advice: Option<Option<Box<IncomingAdvice>>>,
    supported_connection_types: Option<Option<Value>>,
    data: Option<Option<Payload>>,
}

fn set<T>(slot: &mut Option<T>, (value, next): (T, usize)) -> Option<usize> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(next)
}

/// `data` at `at`: an object is decoded as a notification and its bytes kept; anything else,
/// or an object that is not a notification, is kept raw as the general decoder keeps it.
fn data(text: &str, at: usize) -> Option<(Option<Payload>, usize)> {
    if text.as_bytes().get(at) == Some(&b'{')
        && let Some((n, end)) = value_at::<Notification>(text, at)
    {
        let raw = text.get(at..end)?.into();
        return Some((Some(Payload { raw, notification: Some(Box::new(n)) }), end));
    }
    value_at::<Option<Payload>>(text, at)
}

/// One JSON value decoded as `T` from `text[at..]`, and the offset just past it.
fn value_at<'a, T: Deserialize<'a>>(text: &'a str, at: usize) -> Option<(T, usize)> {
    let mut stream = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<T>();
    let value = stream.next()?.ok()?;
    Some((value, at + stream.byte_offset()))
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

fn only_ws(bytes: &[u8], at: usize) -> bool {
    skip_ws(bytes, at) == bytes.len()
}

/// The offset past `byte` when it is at `at`.
fn expect(bytes: &[u8], at: usize, byte: u8) -> Option<usize> {
    (bytes.get(at) == Some(&byte)).then_some(at + 1)
}

/// A message key, matched where it lies in the text (after unescaping, as the general decoder
/// matches field names).
enum Key {
    Channel,
    Id,
    ClientId,
    Successful,
    Error,
    Advice,
    SupportedConnectionTypes,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "channel" => Key::Channel,
                    "id" => Key::Id,
                    "clientId" => Key::ClientId,
                    "successful" => Key::Successful,
                    "error" => Key::Error,
                    "advice" => Key::Advice,
                    "supportedConnectionTypes" => Key::SupportedConnectionTypes,
                    "data" => Key::Data,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the general decoder makes of `text`, as text, to compare with the walk.
    fn general(text: &str) -> Option<Vec<String>> {
        let batch: Vec<Incoming> = serde_json::from_str(text).ok()?;
        Some(batch.iter().map(summary).collect())
    }

    fn summary(m: &Incoming) -> String {
        format!(
            "{} id={:?} client={:?} ok={:?} err={:?} advice={:?} types={:?} data={:?}",
            m.channel,
            m.id,
            m.client_id,
            m.successful,
            m.error,
            m.advice,
            m.supported_connection_types,
            m.data.as_ref().map(Payload::get),
        )
    }

    const NOTE: &str = r#"{"messageType":"MessageLogUpdated","notificationType":"NewMessages","chatPath":"/chats/c1","messages":[]}"#;

    #[test]
    fn the_walk_finds_what_the_general_decoder_finds() {
        for text in [
            format!(r#"[{{"channel":"/v2/me/chats","data":{NOTE}}}]"#),
            format!(" \n[ {{ \"data\" : {NOTE} , \"channel\" : \"/v2/me/chats\" }} ] \r\n"),
            r#"[{"channel":"/meta/connect","successful":true,"id":"2","advice":{"timeout":25000,"x":[1]}},
               {"channel":"/v2/me/chats","data":{"messageType":"A"},"id":9,"ext":{"a":null}}]"#
                .to_owned(),
            r#"[{"channel":"/meta/handshake","clientId":"c","supportedConnectionTypes":["websocket"],
               "successful":false,"error":"402::x","advice":null,"data":null,"id":null}]"#
                .to_owned(),
            r#"[{"channel":"/a","data":[1,"two",{"3":true}]},{"channel":"/b","data":-1.5e3}]"#
                .to_owned(),
            r#"[{"ch\u0061nnel":"/a","data":"text"}]"#.to_owned(),
            "[]".to_owned(),
            " [ ] ".to_owned(),
        ] {
            let walked = batch(&text).unwrap_or_else(|| panic!("walks: {text}"));
            let walked: Vec<String> = walked.iter().map(summary).collect();
            assert_eq!(Some(walked), general(&text), "{text}");
        }
    }

    #[test]
    fn notifications_are_decoded_in_place_and_keep_their_bytes() {
        let text = format!(
            r#"[{{"channel":"/v2/me/chats","data": {NOTE} }},{{"channel":"/x","data":{{"messageType":7}}}}]"#
        );
        let mut batch = batch(&text).expect("walks");
        let mut first = batch.remove(0).data.expect("data");
        assert_eq!(first.get(), NOTE);
        let n = first.take_notification().expect("decoded");
        assert_eq!(n, serde_json::from_str::<Notification>(NOTE).expect("parses"));
        assert_eq!(n.interaction_id(), Some("c1"));
        assert!(first.take_notification().is_none(), "taken once");
        assert_eq!(Box::<str>::from(first).as_ref(), NOTE);
        // Not a notification: kept raw, for the caller to find out why.
        let mut second = batch.remove(0).data.expect("data");
        assert_eq!(second.get(), r#"{"messageType":7}"#);
        assert!(second.take_notification().is_none());
        assert_eq!(second.held_bytes(), second.get().len());
    }

    #[test]
    fn anything_unexpected_is_left_to_the_general_decoder() {
        for text in [
            "",
            "{}",
            r#"{"channel":"/a","data":{}}"#,
            "[{}]",
            r#"[{"channel":"/a"} x]"#,
            r#"[{"channel":"/a"}] x"#,
            r#"[{"channel":"/a","channel":"/b"}]"#,
            r#"[{"channel":"/a","data":1,"data":2}]"#,
            r#"[{"data":{}}]"#,
            r#"[{"channel":7}]"#,
            r#"[{"channel":"/a",}]"#,
            r#"[{"channel":"/a"},]"#,
            r#"[{"channel":"/a"},1]"#,
            r#"[{"channel":"/a","data":{"messageType":"A"}"#,
            r#"[{"channel":"/a","data":tru}]"#,
            r#"[{"channel":"/a" "data":1}]"#,
        ] {
            assert!(batch(text).is_none(), "{text}");
        }
    }
}

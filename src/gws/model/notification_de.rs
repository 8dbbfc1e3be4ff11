//! Decoding a [`Notification`] without serde's buffering of internally tagged enums.
//!
//! serde's derive for `#[serde(tag = "messageType")]` first copies the whole object into an
//! owned tree (every key and string allocated), then decodes the variant from that tree. Every
//! notification an agent receives goes through here, and in a callgrind profile of the
//! consult-remove-leave flow that buffering was most of the client's decoding cost. GWS and
//! `gwsim serve` write `messageType` first, so the variant is known before any other field and
//! the rest of the object streams straight into the variant's struct. Any other order still
//! decodes, through a `serde_json::Value` object (the old cost, only for that case).

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{ChannelStateChange, MessageLog, Notification, StateChange};
use crate::gws::json_str::JsonStr;

const TAG: &str = "messageType";

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NotificationVisitor)
    }
}

/// The variant named `tag`, decoded from `d` (an object whose other keys are the variant's
/// fields; a `messageType` key among them is ignored like any unknown key). Unknown tags are
/// [`Notification::Unknown`], their content skipped.
fn variant<'de, D: Deserializer<'de>>(tag: &str, d: D) -> Result<Notification, D::Error> {
    Ok(match tag {
        "ChatStateChangeMessage" => {
            Notification::ChatStateChangeMessage(StateChange::deserialize(d)?)
        }
        "FacebooksessionStateChangeMessage" => {
            Notification::FacebooksessionStateChangeMessage(StateChange::deserialize(d)?)
        }
        "MessageLogUpdated" => Notification::MessageLogUpdated(MessageLog::deserialize(d)?),
        "ChannelStateChangeMessageV2" => {
            Notification::ChannelStateChangeMessageV2(ChannelStateChange::deserialize(d)?)
        }
        _ => {
            IgnoredAny::deserialize(d)?;
            Notification::Unknown
        }
    })
}

struct NotificationVisitor;

impl<'de> Visitor<'de> for NotificationVisitor {
    type Value = Notification;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GWS notification object with a messageType")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification, A::Error> {
        let first = match map.next_key::<FirstKey>()? {
            None => return Err(de::Error::missing_field(TAG)),
            Some(FirstKey::Tag) => {
                let JsonStr(tag) = map.next_value()?;
                return variant(&tag, MapAccessDeserializer::new(map));
            }
            Some(FirstKey::Other(key)) => key,
        };
        let mut object = Map::new();
        object.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            object.insert(key, value);
        }
        let tag = match object.remove(TAG) {
            Some(Value::String(tag)) => tag,
            Some(other) => {
                return Err(de::Error::invalid_type(unexpected(&other), &"a messageType string"));
            }
            None => return Err(de::Error::missing_field(TAG)),
        };
        variant(&tag, Value::Object(object)).map_err(de::Error::custom)
    }
}

/// The first key of a notification: `messageType` is recognised where it lies in the text, any
/// other key is kept for the buffered path (the common case allocates nothing).
enum FirstKey {
    Tag,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FirstKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FirstKey, E> {
                Ok(if v == TAG { FirstKey::Tag } else { FirstKey::Other(v.to_owned()) })
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<FirstKey, E> {
                Ok(if v == TAG { FirstKey::Tag } else { FirstKey::Other(v) })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gws::model::NotificationType;

    const STATE: &str = r#""notificationType":"StatusChange","chat":{"id":"c1","uri":"u","state":"Invited","capabilities":["Accept"],"participants":[{"participantId":"p","type":"Customer","nickname":"Ann"}],"userData":{"gwsimCustomer":7, "Subject":"Billing"}}"#;

    fn parse(json: &str) -> Result<Notification, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn tag_first_and_tag_last_decode_alike() {
        let first = parse(&format!(r#"{{"messageType":"ChatStateChangeMessage",{STATE}}}"#))
            .expect("tag first");
        let last = parse(&format!(r#"{{{STATE},"messageType":"ChatStateChangeMessage"}}"#))
            .expect("tag last");
        assert_eq!(first, last);
        // userData is kept as text on either path (the buffered one goes through a `Value`).
        for n in [&first, &last] {
            let Notification::ChatStateChangeMessage(sc) = n else { panic!("{n:?}") };
            let user_data = &sc.resource().expect("a chat").user_data;
            assert_eq!(user_data.get("gwsimCustomer"), Some(serde_json::json!(7)));
            assert_eq!(user_data.get("Subject"), Some(serde_json::json!("Billing")));
            assert_eq!(user_data.get("absent"), None);
        }
        assert!(first.is_invitation());
        assert_eq!(first.interaction_id(), Some("c1"));
        // What we serialize reads back as itself.
        let again = parse(&serde_json::to_string(&first).expect("serializes")).expect("parses");
        assert_eq!(again, first);
    }

    #[test]
    fn every_variant_reads_back() {
        for json in [
            r#"{"messageType":"FacebooksessionStateChangeMessage","notificationType":"StatusChange","facebooksession":{"id":"f","uri":"u","state":"Chatting","capabilities":[],"participants":[]}}"#.to_owned(),
            r#"{"messageType":"MessageLogUpdated","notificationType":"NewMessages","messages":[],"chatUri":"u/c2"}"#.to_owned(),
            r#"{"messageType":"ChannelStateChangeMessageV2","channels":[]}"#.to_owned(),
        ] {
            let n = parse(&json).expect("parses");
            assert_ne!(n, Notification::Unknown, "{json}");
            assert_eq!(parse(&serde_json::to_string(&n).expect("serializes")).expect("parses"), n);
        }
    }

    #[test]
    fn unknown_tags_are_unknown_in_any_position() {
        let n = parse(r#"{"messageType":"CallStateChangeMessage","call":{"a":[1,{"b":null}]}}"#);
        assert_eq!(n.expect("parses"), Notification::Unknown);
        let n = parse(r#"{"call":{},"messageType":"CallStateChangeMessage"}"#);
        assert_eq!(n.expect("parses"), Notification::Unknown);
    }

    #[test]
    fn malformed_notifications_are_errors() {
        for bad in [
            "{}",
            r#"{"notificationType":"StatusChange"}"#,
            r#"{"x":1,"messageType":7}"#,
            r#"{"messageType":7}"#,
            r#"{"x":1,"x":2,"messageType":"ChatStateChangeMessage"}"#,
            r#"{"messageType":"MessageLogUpdated","notificationType":"NewMessages"}"#,
            r#"{"messageType":"ChatStateChangeMessage","notificationType":"StatusChange","#,
            "[]",
            "null",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // A field of the wrong type fails whichever position the tag is in.
        let wrong = r#""notificationType":"StatusChange","referenceId":"seven""#;
        assert!(parse(&format!(r#"{{"messageType":"ChatStateChangeMessage",{wrong}}}"#)).is_err());
        assert!(parse(&format!(r#"{{{wrong},"messageType":"ChatStateChangeMessage"}}"#)).is_err());
        let ok = parse(
            r#"{"messageType":"ChatStateChangeMessage","notificationType":"PropertiesUpdated"}"#,
        );
        let Ok(Notification::ChatStateChangeMessage(sc)) = ok else { panic!("{ok:?}") };
        assert_eq!(sc.notification_type, NotificationType::PropertiesUpdated);
    }
}

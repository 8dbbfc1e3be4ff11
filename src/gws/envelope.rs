//! The status envelope of every GWS reply (`statusCode`, `statusMessage`, `referenceId`): whether
//! a reply says success, and a reply's body decoded together with its envelope in one pass.
//!
//! Judging the envelope of a body first and decoding the body afterwards scanned every body that
//! is decoded twice: a customer's polls and its chat, the agent's login. [`decode_checked`] reads
//! the envelope's keys as it goes and hands every other key to the body's own decoder.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::error::GwsError;
use super::json_str::JsonStr;

/// How much of a non-JSON error body goes into [`GwsError::Status`]'s message.
const MAX_ERROR_TEXT: usize = 200;

/// The part of every GWS response body that says whether it worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) status_code: u32,
    pub(crate) reference_id: Option<u64>,
}

/// The envelope's keys as they came, any JSON type (judged in [`Raw::judge`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    status_code: Option<Value>,
    #[serde(default)]
    status_message: Option<Value>,
    #[serde(default)]
    reference_id: Option<Value>,
}

impl Raw {
    /// The rules of [`check_status`] for a JSON object body.
    fn judge(self, http: u16) -> Result<Envelope, GwsError> {
        let success = (200..300).contains(&http);
        let status_code = match self.status_code.as_ref() {
            None | Some(Value::Null) => None,
            Some(code) => match code.as_u64() {
                Some(code) => Some(clamp_u32(code)),
                // A statusCode that is not a count cannot say "success".
                None if success => {
                    return Err(GwsError::Decode(format!("statusCode is not a number: {code}")));
                }
                None => None,
            },
        };
        let message = match self.status_message {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let reference_id = self.reference_id.as_ref().and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        match (success, status_code) {
            (true, None | Some(0) | Some(7)) => {
                Ok(Envelope { status_code: status_code.unwrap_or(0), reference_id })
            }
            (_, code) => Err(GwsError::Status { http, status_code: code.unwrap_or(0), message }),
        }
    }
}

/// Turns an HTTP status and body into success or [`GwsError::Status`].
///
/// - 2xx with `statusCode` 0 or 7 (partial success), or with no `statusCode`, or with an empty
///   body (the documented "empty HTTP 200" of Reject) is success.
/// - 2xx with any other `statusCode` is an error: a server may be configured to answer
///   everything with 200 (§15.4).
/// - Non-2xx is an error; its `statusCode` and `statusMessage` are taken from a JSON body when
///   there is one, and a text body (the CSRF 403) becomes the message.
pub(crate) fn check_status(http: u16, body: &[u8]) -> Result<Envelope, GwsError> {
    let success = (200..300).contains(&http);
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return if success {
            Ok(Envelope { status_code: 0, reference_id: None })
        } else {
            Err(GwsError::Status { http, status_code: 0, message: String::new() })
        };
    }
    let parsed = if trimmed.first() == Some(&b'{') {
        json_text(trimmed).ok().and_then(|text| serde_json::from_str::<Raw>(text).ok())
    } else {
        None
    };
    match parsed {
        Some(raw) => raw.judge(http),
        None if success => {
            Err(GwsError::Decode(format!("not a json object: {}", excerpt(trimmed))))
        }
        None => Err(GwsError::Status { http, status_code: 0, message: excerpt(trimmed) }),
    }
}

/// A reply's body as `T`, once [`check_status`] would have passed it: the same errors, in one
/// pass over the body where it decodes. A body that does not decode as `T` is judged by
/// [`check_status`] first, so a refusal (a 4xx, a `statusCode` of 2 in a 200) is reported as
/// what it is rather than as a body of the wrong shape.
pub(crate) fn decode_checked<T: DeserializeOwned>(http: u16, body: &[u8]) -> Result<T, GwsError> {
    let one_pass = (200..300).contains(&http).then(|| {
        json_text(body).ok().and_then(|text| serde_json::from_str::<Enveloped<T>>(text).ok())
    });
    match one_pass.flatten() {
        Some(Enveloped { raw, body }) => raw.judge(http).map(|_| body),
        None => {
            check_status(http, body)?;
            decode(body)
        }
    }
}

/// Parses a successful body into `T`, reporting a mismatch as [`GwsError::Decode`].
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, GwsError> {
    serde_json::from_str(json_text(body)?).map_err(|e| GwsError::Decode(e.to_string()))
}

/// A body as text, its UTF-8 checked once for the whole of it: decoding from bytes checks each
/// string on its own, a call per key and value (callgrind: about 1.5% of the client's
/// instructions per flow, the customer's polls and every REST reply).
fn json_text(body: &[u8]) -> Result<&str, GwsError> {
    std::str::from_utf8(body).map_err(|e| GwsError::Decode(format!("body is not UTF-8: {e}")))
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The first [`MAX_ERROR_TEXT`] bytes of a body, lossily decoded, cut on a char boundary.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]);
    text.trim().to_owned()
}

/// A JSON object read as `T` and, from the same keys, its envelope.
struct Enveloped<T> {
    raw: Raw,
    body: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Enveloped<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopedVisitor(PhantomData))
    }
}

struct EnvelopedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvelopedVisitor<T> {
    type Value = Enveloped<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GWS reply object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Enveloped<T>, A::Error> {
        let mut raw = Raw::default();
        let body = T::deserialize(MapAccessDeserializer::new(Unenveloped { map, raw: &mut raw }))?;
        Ok(Enveloped { raw, body })
    }
}

/// The entries of a reply object without the envelope's, which it keeps in `raw`. A key the
/// body's type also has (`T` may read `statusCode` itself) goes to the envelope only: none of
/// the bodies decoded this way has one.
struct Unenveloped<'r, A> {
    map: A,
    raw: &'r mut Raw,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Unenveloped<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // Bounded by the object: every turn consumes one entry.
        while let Some(JsonStr(key)) = self.map.next_key()? {
            let slot = match &*key {
                "statusCode" => &mut self.raw.status_code,
                "statusMessage" => &mut self.raw.status_message,
                "referenceId" => &mut self.raw.reference_id,
                other => {
                    return seed.deserialize(StrDeserializer::<A::Error>::new(other)).map(Some);
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            *slot = self.map.next_value()?;
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_interpretation() {
        assert_eq!(
            check_status(200, br#"{"statusCode":0,"referenceId":35}"#),
            Ok(Envelope { status_code: 0, reference_id: Some(35) })
        );
        assert_eq!(check_status(200, b""), Ok(Envelope { status_code: 0, reference_id: None }));
        assert_eq!(check_status(200, br#"{"statusCode":7}"#).map(|e| e.status_code), Ok(7));
        assert_eq!(check_status(200, br#"{"id":"x"}"#).map(|e| e.status_code), Ok(0));
        assert_eq!(
            check_status(200, br#"{"statusCode":2,"statusMessage":"bad state"}"#),
            Err(GwsError::Status { http: 200, status_code: 2, message: "bad state".into() })
        );
        assert_eq!(
            check_status(404, br#"{"statusCode":6,"statusMessage":"Not found"}"#),
            Err(GwsError::Status { http: 404, status_code: 6, message: "Not found".into() })
        );
        assert_eq!(
            check_status(403, b"Missing or invalid Csrf token"),
            Err(GwsError::Status {
                http: 403,
                status_code: 0,
                message: "Missing or invalid Csrf token".into()
            })
        );
        assert_eq!(
            check_status(
                403,
                br#"{"statusCode":3,"statusMessage":"Missing or invalid Csrf token"}"#
            )
            .map_err(|e| e.kind().to_string()),
            Err("status-3".into())
        );
        assert_eq!(
            check_status(500, b"").map_err(|e| e.kind().to_string()),
            Err("http-500".into())
        );
        assert!(matches!(check_status(200, b"<html>"), Err(GwsError::Decode(_))));
        assert!(matches!(check_status(200, b"[1,2]"), Err(GwsError::Decode(_))));
        // Wrong types are tolerated where the meaning is clear, and never panic.
        assert_eq!(
            check_status(200, br#"{"statusCode":0,"referenceId":"12"}"#).map(|e| e.reference_id),
            Ok(Some(12))
        );
        assert!(check_status(400, br#"{"statusCode":"x","statusMessage":5}"#).is_err());
        assert!(matches!(check_status(200, br#"{"statusCode":-1}"#), Err(GwsError::Decode(_))));
        assert_eq!(check_status(200, br#"{"statusCode":null}"#).map(|e| e.status_code), Ok(0));
        let long = vec![b'x'; 10_000];
        let Err(GwsError::Status { message, .. }) = check_status(502, &long) else {
            panic!("expected status error")
        };
        assert_eq!(message.len(), MAX_ERROR_TEXT);
    }

    /// What the one pass must equal: the envelope judged, then the body decoded.
    fn two_passes<T: DeserializeOwned>(http: u16, body: &[u8]) -> Result<T, GwsError> {
        check_status(http, body)?;
        decode(body)
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Messages {
        #[serde(default)]
        messages: Vec<u64>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Id {
        id: String,
    }

    #[test]
    fn one_pass_equals_judging_then_decoding() {
        let bodies: [(u16, &[u8]); 14] = [
            (200, br#"{"statusCode":0,"messages":[1,2]}"#),
            (200, br#"{"messages":[1],"statusCode":0,"referenceId":4}"#),
            (200, br#"{"statusCode":7,"messages":[]}"#),
            (200, br#"{"statusCode":2,"statusMessage":"bad state"}"#),
            (200, br#"{"statusCode":2,"statusMessage":"bad state","messages":[3]}"#),
            (200, br#"{"statusCode":"x","messages":[3]}"#),
            (200, br#"{"statusCode":0,"statusCode":0}"#),
            (200, br#"{"messages":"not a list"}"#),
            (200, br#"{"mess\u0061ges":[5],"st\u0061tusCode":2}"#),
            (200, b""),
            (200, b"<html>"),
            (404, br#"{"statusCode":6,"statusMessage":"Not found","messages":[]}"#),
            (403, b"Missing or invalid Csrf token"),
            (200, b"\xff{}"),
        ];
        for (http, body) in bodies {
            assert_eq!(
                decode_checked::<Messages>(http, body),
                two_passes::<Messages>(http, body),
                "{http} {}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            decode_checked::<Id>(200, br#"{"id":"c1","statusCode":0,"path":"/chats/c1"}"#),
            Ok(Id { id: "c1".into() })
        );
        assert_eq!(
            decode_checked::<Id>(200, br#"{"statusCode":2,"statusMessage":"no"}"#),
            Err(GwsError::Status { http: 200, status_code: 2, message: "no".into() })
        );
    }

    proptest::proptest! {
        #[test]
        fn one_pass_equals_two_on_arbitrary_replies(http in 100u16..600,
            body in "\\{(\"statusCode\":(-1|0|2|7|\"x\"|null),?)?(\"messages\":(\\[\\]|\\[1\\]|1|\"s\"),?)?(\"referenceId\":(1|\"7\"),?)?(\"statusMessage\":\"m\")?\\}") {
            let body = body.as_bytes();
            proptest::prop_assert_eq!(
                decode_checked::<Messages>(http, body),
                two_passes::<Messages>(http, body)
            );
        }
    }
}

//! HTTP mechanics shared by the agent and customer clients: sending a request with a bounded
//! body, reading the GWS status envelope, decoding bodies and encoding path segments. Both
//! clients import this module; it imports neither, so the two stay free of each other.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::error::GwsError;

/// The largest response body read before giving up: far above any real GWS answer, low enough
/// that a misbehaving server cannot make an agent task allocate without bound.
const MAX_BODY_BYTES: usize = 8 << 20;

/// How much of a non-JSON error body goes into [`GwsError::Status`]'s message.
const MAX_ERROR_TEXT: usize = 200;

/// A bound on the REST requests in flight through one or more pools, shared by cloning.
///
/// A reqwest pool opens a connection for every request that finds none idle, without limit, so
/// 15,000 agents logging out at once would open 15,000 sockets on top of their 15,000 CometD
/// ones and run out of file descriptors. Holding a permit from before the request is sent until
/// its body is read bounds the REST connections in use by `size`.
#[derive(Debug, Clone)]
pub struct RequestGate {
    permits: Arc<Semaphore>,
    size: usize,
}

impl RequestGate {
    /// At most `size` requests (at least 1) in flight at once.
    pub fn new(size: usize) -> RequestGate {
        let size = size.max(1);
        RequestGate { permits: Arc::new(Semaphore::new(size)), size }
    }

    /// How many requests may be in flight at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// Sends a request, within `gate` when there is one, and reads the body up to
/// [`MAX_BODY_BYTES`]. Waiting for the gate counts in the request's latency: it is time the
/// request really waited.
pub(crate) async fn execute(
    gate: Option<&RequestGate>,
    req: RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Bytes), GwsError> {
    // The semaphore is never closed, so acquiring fails never; without a permit the request
    // still goes (unbounded) rather than failing for a reason of gwsim's own.
    let _permit = match gate {
        Some(g) => g.permits.acquire().await.ok(),
        None => None,
    };
    let mut response = req.send().await.map_err(GwsError::from_reqwest)?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    // Bounded by MAX_BODY_BYTES in size and by the request timeout in time.
    while let Some(chunk) = response.chunk().await.map_err(GwsError::from_reqwest)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(GwsError::Decode(format!("response body over {MAX_BODY_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, Bytes::from(body)))
}

/// The part of every GWS response body that says whether it worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) status_code: u32,
    pub(crate) reference_id: Option<u64>,
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
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        #[serde(default)]
        status_code: Option<Value>,
        #[serde(default)]
        status_message: Option<Value>,
        #[serde(default)]
        reference_id: Option<Value>,
    }
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
        serde_json::from_slice::<Raw>(trimmed).ok()
    } else {
        None
    };
    let Some(raw) = parsed else {
        return if success {
            Err(GwsError::Decode(format!("not a json object: {}", excerpt(trimmed))))
        } else {
            Err(GwsError::Status { http, status_code: 0, message: excerpt(trimmed) })
        };
    };
    let status_code = match raw.status_code.as_ref() {
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
    let message = match raw.status_message {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let reference_id = raw.reference_id.as_ref().and_then(|v| match v {
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

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The first [`MAX_ERROR_TEXT`] bytes of a body, lossily decoded, cut on a char boundary.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]);
    text.trim().to_owned()
}

/// Parses a successful body into `T`, reporting a mismatch as [`GwsError::Decode`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GwsError> {
    serde_json::from_slice(body).map_err(|e| GwsError::Decode(e.to_string()))
}

/// Percent-encodes one path segment, so an id a server made up cannot escape its path.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    // "." and ".." are path navigation even when every byte is unreserved.
    match out.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => out,
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

    proptest::proptest! {
        #[test]
        fn arbitrary_responses_never_panic(http in 100u16..600, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            json_body in "\\{\"statusCode\":(-1|0|2|7|1e3|\"x\"|null)(,\"referenceId\":(1|-1|\"7\"|\\[\\]))?\\}") {
            let _ = check_status(http, &body);
            let _ = check_status(http, json_body.as_bytes());
            if let Ok(text) = std::str::from_utf8(&body) {
                let _ = encode_segment(text);
            }
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("0000Na9B26EF002X"), "0000Na9B26EF002X");
        assert_eq!(encode_segment("652492d9-c2d9"), "652492d9-c2d9");
        assert_eq!(encode_segment("../x"), "..%2Fx");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a b?c"), "a%20b%3Fc");
    }
}

//! Typed operation requests of the GWS agent API, defined once for the simulator (which sends
//! them), the reference server (which decodes and applies them) and scenario validation (which
//! reads their parameter table): [`Operation`] (`POST /api/v2/me/{chats|facebooksessions}/{id}`),
//! [`MeOperation`] (`POST /api/v2/me`), [`ChannelOperation`] (`POST /api/v2/me/channels/{c}`),
//! and the bodies of the answers, [`StatusBody`] and [`Me`].
//!
//! # One definition, two readings
//!
//! Each request enum is written once, in an `operations!` invocation below. The macro produces
//! both the serde enum (tagged by `operationName`, parameters under their wire names, unknown keys
//! ignored) and a parameter table, so the two cannot disagree:
//!
//! - `Operation::params(Capability::Consult)` lists the [`Param`]s of Consult: each has its wire
//!   `name` (`"targetUri"`), its [`ParamKind`] (a string, an object, a list of strings) and its
//!   [`Presence`]. The kind and whether it is optional come from the field's Rust type
//!   (`String` is mandatory, `Option<String>` optional); a field marked `[one_of]` belongs to the
//!   operation's one group of alternatives, of which at least one must be given.
//! - [`Operation::decode`] reads a request body: serde checks presence and types, then the rules
//!   serde cannot say are checked against the same table: a mandatory string must not be empty,
//!   and a one-of group needs one member. Every failure is a [`ParamError`] (statusCode 1).
//!
//! Deserializing an enum directly (`serde_json::from_value`) skips those two rules; use `decode`.
//!
//! The parameters are the ones protocol.md §5 and §7 name and that the reference server reads
//! today; an optional parameter the server does not honour (`saveLAR`) is left out, so a
//! request carrying it is accepted as it always was (unknown keys are ignored).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::states::Capability;

/// What a parameter holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A JSON string. A mandatory one must also be non-empty.
    String,
    /// A JSON object of any keys and values (`userData`).
    Object,
    /// A JSON array of strings (`keys`, `channels`).
    StringList,
}

/// Whether a request must carry a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    Mandatory,
    Optional,
    /// One of the operation's alternatives (`targetUri`, `targetPath`, and for Transfer
    /// `queueName`): each is optional, but at least one of the group must be given.
    OneOf,
}

/// One parameter of an operation, as the table returned by `params` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    /// The key in the JSON body (`"noticeText"`).
    pub name: &'static str,
    pub kind: ParamKind,
    pub presence: Presence,
}

/// A request body that names no known operation or whose parameters are missing or of the
/// wrong type. GWS answers all of these with statusCode 1 (protocol.md §15.4, §15.18).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("operationName is mandatory")]
    NoOperationName,
    #[error("unknown operationName '{0}'")]
    UnknownOperation(String),
    #[error("parameter '{0}' is mandatory")]
    Missing(&'static str),
    /// None of the one-of group was given; holds the group's names.
    #[error("parameter {} is mandatory", quoted_alternatives(.0))]
    MissingOneOf(Vec<&'static str>),
    /// A type mismatch or missing field, as serde words it.
    #[error("{0}")]
    Invalid(String),
}

fn quoted_alternatives(names: &[&str]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(" or ")
}

/// The `operationName` of a request body, without looking at anything else (the server needs
/// the name before it may report anything about the parameters, §15.18).
pub fn operation_name(body: &Value) -> Result<&str, ParamError> {
    let Value::Object(map) = body else { return Err(ParamError::NotAnObject) };
    match map.get("operationName") {
        Some(Value::String(name)) => Ok(name),
        _ => Err(ParamError::NoOperationName),
    }
}

/// How a field's Rust type reads as a parameter: its kind, whether it may be left out, and
/// whether a given value counts as given (an empty mandatory string does not).
trait ParamValue {
    const KIND: ParamKind;
    const OPTIONAL: bool;
    fn is_given(&self) -> bool;
    /// Left out when serializing.
    fn skip(&self) -> bool {
        false
    }
}

impl ParamValue for String {
    const KIND: ParamKind = ParamKind::String;
    const OPTIONAL: bool = false;
    fn is_given(&self) -> bool {
        !self.is_empty()
    }
}

impl ParamValue for Option<String> {
    const KIND: ParamKind = ParamKind::String;
    const OPTIONAL: bool = true;
    fn is_given(&self) -> bool {
        self.is_some()
    }
    fn skip(&self) -> bool {
        self.is_none()
    }
}

impl ParamValue for Map<String, Value> {
    const KIND: ParamKind = ParamKind::Object;
    const OPTIONAL: bool = false;
    fn is_given(&self) -> bool {
        true
    }
}

impl ParamValue for Vec<String> {
    const KIND: ParamKind = ParamKind::StringList;
    const OPTIONAL: bool = false;
    fn is_given(&self) -> bool {
        true
    }
}

const fn presence(optional: bool, one_of: bool) -> Presence {
    match (optional, one_of) {
        (_, true) => Presence::OneOf,
        (true, false) => Presence::Optional,
        (false, false) => Presence::Mandatory,
    }
}

/// The rules serde cannot express, checked against the table: non-empty mandatory strings, and
/// one member of a one-of group. `given[i]` says whether `params[i]` was given.
fn check_given(params: &'static [Param], given: &[bool]) -> Result<(), ParamError> {
    let mut group = Vec::new();
    let mut group_given = false;
    for (p, &g) in params.iter().zip(given) {
        match p.presence {
            Presence::Mandatory if !g => return Err(ParamError::Missing(p.name)),
            Presence::OneOf => {
                group.push(p.name);
                group_given |= g;
            }
            _ => {}
        }
    }
    if group.is_empty() || group_given { Ok(()) } else { Err(ParamError::MissingOneOf(group)) }
}

fn decode_tagged<T: DeserializeOwned>(body: &Value, names: &[&str]) -> Result<T, ParamError> {
    let name = operation_name(body)?;
    if !names.contains(&name) {
        return Err(ParamError::UnknownOperation(name.to_owned()));
    }
    T::deserialize(body).map_err(|e| ParamError::Invalid(e.to_string()))
}

macro_rules! is_one_of {
    () => {
        false
    };
    (one_of) => {
        true
    };
}

/// Declares a request enum and its parameter table from one list (see the module doc).
///
/// `pub enum E named N { Variant { field: Type = "wireName" [one_of]?, ... }, ... }`: `N` is an
/// existing enum with exactly the same variant names (for [`Operation`], [`Capability`]), so
/// `E::name` and `E::params` are exhaustive matches the compiler checks.
macro_rules! operations {
    (
        $(#[$meta:meta])*
        pub enum $Enum:ident named $Name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident {
                    $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $wire:literal $([$one_of:ident])? ),*
                    $(,)?
                }
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "operationName")]
        pub enum $Enum {
            $(
                $(#[$vmeta])*
                $variant {
                    $(
                        $(#[$fmeta])*
                        #[serde(rename = $wire, skip_serializing_if = "ParamValue::skip")]
                        $field: $ty,
                    )*
                },
            )*
        }

        impl $Enum {
            /// Every `operationName` this enum knows, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),*];

            /// The operation's name.
            pub fn name(&self) -> $Name {
                match self {
                    $( Self::$variant { .. } => $Name::$variant, )*
                }
            }

            /// The operation's name as it goes in `operationName`.
            pub fn operation_name(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } => stringify!($variant), )*
                }
            }

            /// The parameters of an operation, in declaration order.
            pub fn params(name: $Name) -> &'static [Param] {
                match name {
                    $(
                        $Name::$variant => {
                            const PARAMS: &[Param] = &[$(
                                Param {
                                    name: $wire,
                                    kind: <$ty as ParamValue>::KIND,
                                    presence: presence(
                                        <$ty as ParamValue>::OPTIONAL,
                                        is_one_of!($($one_of)?),
                                    ),
                                },
                            )*];
                            PARAMS
                        }
                    )*
                }
            }

            /// Reads a request body: `operationName` must be one of [`Self::NAMES`], and the
            /// parameters must satisfy [`Self::params`].
            pub fn decode(body: &Value) -> Result<Self, ParamError> {
                let op: Self = decode_tagged(body, Self::NAMES)?;
                op.check()?;
                Ok(op)
            }

            fn check(&self) -> Result<(), ParamError> {
                match self {
                    $(
                        Self::$variant { $($field),* } => {
                            let given: &[bool] = &[$(ParamValue::is_given($field)),*];
                            check_given(Self::params($Name::$variant), given)
                        }
                    )*
                }
            }
        }
    };
}

operations! {
    /// An agent operation on a chat or Facebook session (protocol.md §5, §7, §15):
    /// `POST /api/v2/me/chats/{id}` or `/api/v2/me/facebooksessions/{id}`.
    ///
    /// A mandatory string must be non-empty. Text-carrying operations take the optional
    /// `messageType` (echoed in the log entry when the server is configured to) and `treatAs`
    /// (checked, otherwise ignored) where the reference server reads them.
    pub enum Operation named Capability {
        /// Joins the interaction; `nickname` is the name the customer sees.
        Accept { nickname: String = "nickname" },
        Reject {},
        /// Hands the interaction to a user (`targetUri`/`targetPath`) or a queue (`queueName`).
        Transfer {
            target_uri: Option<String> = "targetUri" [one_of],
            target_path: Option<String> = "targetPath" [one_of],
            queue_name: Option<String> = "queueName" [one_of],
            text: Option<String> = "text",
        },
        Leave {
            text: Option<String> = "text",
            message_type: Option<String> = "messageType",
            treat_as: Option<String> = "treatAs",
        },
        /// Conference: the invitee joins with visibility All.
        Invite {
            target_uri: Option<String> = "targetUri" [one_of],
            target_path: Option<String> = "targetPath" [one_of],
        },
        /// Consultation: the consultant joins with visibility Agents; a target may be a queue.
        Consult {
            target_uri: Option<String> = "targetUri" [one_of],
            target_path: Option<String> = "targetPath" [one_of],
        },
        CancelConsult {},
        SetInFocus {},
        SetDisposition {
            disposition: String = "disposition",
            /// The user-data key; the server's default is `DispositionCode`.
            disposition_key: Option<String> = "dispositionKey",
        },
        AttachUserData { user_data: Map<String, Value> = "userData" },
        DeleteUserData { keys: Vec<String> = "keys" },
        UpdateUserData { user_data: Map<String, Value> = "userData" },
        SendToAgents {
            text: String = "text",
            message_type: Option<String> = "messageType",
            treat_as: Option<String> = "treatAs",
        },
        SendStartTypingToAgentsNotification { text: Option<String> = "text" },
        SendStopTypingToAgentsNotification { text: Option<String> = "text" },
        SendCustomNoticeToAgents { notice_text: String = "noticeText" },
        Complete {
            /// Checked, not acted upon: the reference server does not requeue.
            queue_name: Option<String> = "queueName",
            text: Option<String> = "text",
            message_type: Option<String> = "messageType",
            treat_as: Option<String> = "treatAs",
        },
        SendMessage {
            text: String = "text",
            message_type: Option<String> = "messageType",
            treat_as: Option<String> = "treatAs",
        },
        SendUrl { url: String = "url", text: Option<String> = "text" },
        SendStartTypingNotification { text: Option<String> = "text" },
        SendStopTypingNotification { text: Option<String> = "text" },
        SendCustomNotice { notice_text: String = "noticeText" },
        /// Only an agent with visibility All may remove; the target must be a user.
        RemoveParticipantFromConference {
            target_uri: Option<String> = "targetUri" [one_of],
            target_path: Option<String> = "targetPath" [one_of],
            text: Option<String> = "text",
        },
        /// Facebook only.
        AddComment { comment: String = "comment" },
    }
}

impl Operation {
    /// An operation without parameters, or with all of them left out; `None` for an operation
    /// that has a mandatory parameter or a one-of group.
    pub fn bare(name: Capability) -> Option<Operation> {
        if Self::params(name).iter().any(|p| p.presence != Presence::Optional) {
            return None;
        }
        let body = serde_json::json!({ "operationName": name.as_str() });
        Self::decode(&body).ok()
    }

    /// The target an operation names: `targetUri` if given, else `targetPath`.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Transfer { target_uri, target_path, .. }
            | Self::Invite { target_uri, target_path }
            | Self::Consult { target_uri, target_path }
            | Self::RemoveParticipantFromConference { target_uri, target_path, .. } => {
                target_uri.as_deref().or(target_path.as_deref())
            }
            _ => None,
        }
    }
}

/// The names of the `POST /api/v2/me` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeOperationName {
    StartContactCenterSession,
    EndContactCenterSession,
    Ready,
    NotReady,
}

operations! {
    /// `POST /api/v2/me`: the contact-center session and readiness on all its channels
    /// (protocol.md §4, §15.24).
    pub enum MeOperation named MeOperationName {
        /// Opens the session on `channels` (`chat`, `facebook`), all NotReady.
        StartContactCenterSession {
            channels: Vec<String> = "channels",
            place: Option<String> = "place",
            login_code: Option<String> = "loginCode",
            queue: Option<String> = "queue",
            device_path: Option<String> = "devicePath",
        },
        EndContactCenterSession {},
        Ready {},
        NotReady {},
    }
}

impl MeOperation {
    /// StartContactCenterSession on `channels`, with no optional parameter.
    pub fn start_session<S: Into<String>>(channels: impl IntoIterator<Item = S>) -> MeOperation {
        MeOperation::StartContactCenterSession {
            channels: channels.into_iter().map(Into::into).collect(),
            place: None,
            login_code: None,
            queue: None,
            device_path: None,
        }
    }
}

/// The names of the `POST /api/v2/me/channels/{channel}` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelOperationName {
    Ready,
    NotReady,
}

operations! {
    /// `POST /api/v2/me/channels/{channel}`: readiness on one channel.
    pub enum ChannelOperation named ChannelOperationName {
        Ready {},
        NotReady {},
    }
}

/// Success and error bodies: `{"statusCode":0,...}` or `{"statusCode":N,"statusMessage":"..."}`
/// (protocol.md §1.3). An error body has nothing else (§15.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    pub status_code: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<u64>,
}

impl StatusBody {
    pub fn ok() -> StatusBody {
        StatusBody { status_code: 0, status_message: None, reference_id: None }
    }

    pub fn error(status_code: u32, message: impl Into<String>) -> StatusBody {
        StatusBody { status_code, status_message: Some(message.into()), reference_id: None }
    }
}

/// The user returned by `GET /api/v2/me` (protocol.md §4, §15.24), under the key `user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: String,
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Consult and transfer targets are built from this (§15.24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Every other attribute: with `?subresources=*`, the [`MeSubresources`] (`channels`,
    /// `chats`, ...), kept as JSON so a real server's variations never fail a login.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What `GET /api/v2/me?subresources=*` adds to [`Me`], as the reference server renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeSubresources {
    pub channels: Vec<super::model::ChannelState>,
    pub chats: Vec<super::model::InteractionResource>,
    pub facebooksessions: Vec<super::model::InteractionResource>,
    pub devices: Vec<Value>,
    pub settings: Map<String, Value>,
}

/// The `user` of `GET /api/v2/me`: [`Me`], plus the subresources when asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeView {
    #[serde(flatten)]
    pub me: Me,
    #[serde(flatten)]
    pub subresources: Option<MeSubresources>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A body holding every parameter of `params`, each with a valid value.
    fn full_body(name: &str, params: &[Param]) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("operationName".into(), json!(name));
        for p in params {
            body.insert(p.name.into(), sample(p.kind));
        }
        body
    }

    fn sample(kind: ParamKind) -> Value {
        match kind {
            ParamKind::String => json!("x"),
            ParamKind::Object => json!({"k": "v"}),
            ParamKind::StringList => json!(["a"]),
        }
    }

    fn wrong(kind: ParamKind) -> Value {
        match kind {
            ParamKind::String | ParamKind::StringList => json!({"not": "this"}),
            ParamKind::Object => json!("not an object"),
        }
    }

    /// The table and serde agree, for one enum: a full body decodes and round-trips; leaving
    /// out a mandatory parameter, emptying a mandatory string, mistyping any parameter or
    /// leaving out the whole one-of group fails; leaving out any optional parameter (or all
    /// of them) does not; unknown keys are ignored.
    fn table_and_serde_agree<T: DeserializeOwned + Serialize + std::fmt::Debug + PartialEq>(
        names: &[&str],
        params: impl Fn(&str) -> &'static [Param],
        decode: impl Fn(&Value) -> Result<T, ParamError>,
    ) {
        for &name in names {
            let params = params(name);
            let full = full_body(name, params);
            let op = decode(&Value::Object(full.clone()))
                .unwrap_or_else(|e| panic!("{name} with every parameter: {e}"));
            let round: Value = serde_json::to_value(&op).expect("serializes");
            assert_eq!(round, Value::Object(full.clone()), "{name} round trip");
            let mut extra = full.clone();
            extra.insert("someUnknownKey".into(), json!(42));
            assert_eq!(decode(&Value::Object(extra)).as_ref(), Ok(&op), "{name}: unknown key");
            let mut minimal = full.clone();
            for p in params.iter().filter(|p| p.presence == Presence::Optional) {
                let mut body = full.clone();
                body.remove(p.name);
                assert!(decode(&Value::Object(body)).is_ok(), "{name} without {}", p.name);
                minimal.remove(p.name);
            }
            assert!(decode(&Value::Object(minimal)).is_ok(), "{name} without optionals");
            for p in params {
                let mut body = full.clone();
                body.insert(p.name.into(), wrong(p.kind));
                assert!(decode(&Value::Object(body)).is_err(), "{name} with mistyped {}", p.name);
                let mut body = full.clone();
                body.insert(p.name.into(), Value::Null);
                let null_ok = decode(&Value::Object(body)).is_ok();
                assert_eq!(null_ok, p.presence != Presence::Mandatory, "{name} {} null", p.name);
            }
            for p in params.iter().filter(|p| p.presence == Presence::Mandatory) {
                let mut body = full.clone();
                body.remove(p.name);
                assert!(decode(&Value::Object(body)).is_err(), "{name} without {}", p.name);
                if p.kind == ParamKind::String {
                    let mut body = full.clone();
                    body.insert(p.name.into(), json!(""));
                    assert_eq!(
                        decode(&Value::Object(body)),
                        Err(ParamError::Missing(p.name)),
                        "{name} with empty {}",
                        p.name
                    );
                }
            }
            let group: Vec<_> = params.iter().filter(|p| p.presence == Presence::OneOf).collect();
            if !group.is_empty() {
                let mut body = full.clone();
                for p in &group {
                    body.remove(p.name);
                }
                assert!(
                    matches!(decode(&Value::Object(body)), Err(ParamError::MissingOneOf(_))),
                    "{name} without its one-of group"
                );
                for keep in &group {
                    let mut body = full.clone();
                    for p in group.iter().filter(|p| p.name != keep.name) {
                        body.remove(p.name);
                    }
                    assert!(decode(&Value::Object(body)).is_ok(), "{name} with {} only", keep.name);
                }
            }
        }
    }

    #[test]
    fn operation_table_and_serde_agree() {
        let params = |name: &str| Operation::params(Capability::parse(name).expect("a capability"));
        table_and_serde_agree(Operation::NAMES, params, Operation::decode);
    }

    #[test]
    fn me_and_channel_tables_and_serde_agree() {
        let me = |name: &str| {
            let n = match name {
                "StartContactCenterSession" => MeOperationName::StartContactCenterSession,
                "EndContactCenterSession" => MeOperationName::EndContactCenterSession,
                "Ready" => MeOperationName::Ready,
                _ => MeOperationName::NotReady,
            };
            MeOperation::params(n)
        };
        table_and_serde_agree(MeOperation::NAMES, me, MeOperation::decode);
        let channel = |name: &str| {
            ChannelOperation::params(if name == "Ready" {
                ChannelOperationName::Ready
            } else {
                ChannelOperationName::NotReady
            })
        };
        table_and_serde_agree(ChannelOperation::NAMES, channel, ChannelOperation::decode);
    }

    #[test]
    fn every_capability_is_an_operation() {
        assert_eq!(Operation::NAMES.len(), Capability::ALL.len());
        for c in Capability::ALL {
            assert!(Operation::NAMES.contains(&c.as_str()), "{c}");
        }
        let op = Operation::decode(&json!({"operationName": "Consult", "targetPath": "/users/1"}))
            .expect("consult");
        assert_eq!(op.name(), Capability::Consult);
        assert_eq!(op.operation_name(), "Consult");
        assert_eq!(op.target(), Some("/users/1"));
    }

    #[test]
    fn the_table_reads_as_documented() {
        use ParamKind as K;
        use Presence as P;
        let p = |name, kind, presence| Param { name, kind, presence };
        assert_eq!(Operation::params(Capability::Accept), [p("nickname", K::String, P::Mandatory)]);
        assert_eq!(Operation::params(Capability::Reject), []);
        assert_eq!(
            Operation::params(Capability::Transfer),
            [
                p("targetUri", K::String, P::OneOf),
                p("targetPath", K::String, P::OneOf),
                p("queueName", K::String, P::OneOf),
                p("text", K::String, P::Optional),
            ]
        );
        assert_eq!(
            Operation::params(Capability::DeleteUserData),
            [p("keys", K::StringList, P::Mandatory)]
        );
        assert_eq!(
            Operation::params(Capability::UpdateUserData),
            [p("userData", K::Object, P::Mandatory)]
        );
    }

    #[test]
    fn decoding_errors_name_the_problem() {
        assert_eq!(Operation::decode(&json!([1])), Err(ParamError::NotAnObject));
        assert_eq!(Operation::decode(&json!({"text": "x"})), Err(ParamError::NoOperationName));
        assert_eq!(
            Operation::decode(&json!({"operationName": "Dance"})),
            Err(ParamError::UnknownOperation("Dance".into()))
        );
        assert_eq!(
            MeOperation::decode(&json!({"operationName": "Accept"})),
            Err(ParamError::UnknownOperation("Accept".into()))
        );
        let e = Operation::decode(&json!({"operationName": "Consult"})).expect_err("no target");
        assert_eq!(e.to_string(), "parameter 'targetUri' or 'targetPath' is mandatory");
        let e = Operation::decode(&json!({"operationName": "Accept"})).expect_err("no nickname");
        assert!(e.to_string().contains("nickname"), "{e}");
    }

    #[test]
    fn bare_operations_and_typed_bodies() {
        assert_eq!(Operation::bare(Capability::Reject), Some(Operation::Reject {}));
        assert!(Operation::bare(Capability::Accept).is_none());
        assert!(Operation::bare(Capability::Consult).is_none());
        assert!(matches!(Operation::bare(Capability::Leave), Some(Operation::Leave { .. })));
        assert_eq!(
            serde_json::to_value(MeOperation::start_session(["chat"])).expect("json"),
            json!({"operationName": "StartContactCenterSession", "channels": ["chat"]})
        );
        assert_eq!(
            serde_json::to_value(ChannelOperation::NotReady {}).expect("json"),
            json!({"operationName": "NotReady"})
        );
    }

    #[test]
    fn status_bodies() {
        let e = StatusBody::error(2, "bad state");
        assert_eq!(
            serde_json::to_value(&e).expect("json"),
            json!({"statusCode": 2, "statusMessage": "bad state"})
        );
        assert_eq!(serde_json::to_value(StatusBody::ok()).expect("json"), json!({"statusCode": 0}));
    }

    #[test]
    fn me_parses_with_extra_fields_and_renders_subresources() {
        let me: Me = serde_json::from_str(
            r#"{"id":"9141","userName":"ann","uri":"http://h/api/v2/users/9141",
                "path":"/users/9141","chats":[],"roles":["ROLE_AGENT"]}"#,
        )
        .expect("parses");
        assert_eq!(me.user_name, "ann");
        assert_eq!(me.path.as_deref(), Some("/users/9141"));
        assert_eq!(me.roles, ["ROLE_AGENT"]);
        assert!(me.other.contains_key("chats"));
        let view = MeView {
            me: Me { other: Map::new(), ..me.clone() },
            subresources: Some(MeSubresources {
                channels: Vec::new(),
                chats: Vec::new(),
                facebooksessions: Vec::new(),
                devices: Vec::new(),
                settings: Map::new(),
            }),
        };
        let back: Me = serde_json::from_value(serde_json::to_value(&view).expect("json"))
            .expect("a client reads what the server writes");
        assert_eq!(back.id, me.id);
        assert!(back.other.contains_key("facebooksessions"));
        let bare = MeView { me: Me { other: Map::new(), ..me }, subresources: None };
        assert!(
            !serde_json::to_value(&bare)
                .expect("json")
                .as_object()
                .expect("obj")
                .contains_key("chats")
        );
    }
}

//! GWS v2 payloads: interaction resources, participants, message-log entries, notifications and
//! response bodies, with the field names of the documentation (protocol.md §2, §3.5, §9).
//!
//! The Facebook variants differ from chat only in key names (`facebooksession`,
//! `facebooksessionUri`, ...), so one struct carries both spellings as optional fields and
//! [`Media`] says which one is in use.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

// Re-exported so existing `gws::model::Media` paths keep working; the type lives in `media`.
pub use super::media::Media;
use super::states::{Capability, InteractionState};

/// The wire's short strings: ids (16 characters in GWS and `gwsim serve`), nicknames, message
/// texts. Up to 24 bytes are kept inline, so decoding one allocates
/// nothing: a notification carries a dozen of them, and they were about a third of the
/// client's allocations per flow. Longer ones (URIs, paths, long texts) go to the heap as a
/// `String` would.
pub type ShortStr = compact_str::CompactString;

mod notification_de;

/// Documented CometD topics (protocol.md §3.4, §15.6).
pub mod topics {
    pub const CHATS: &str = "/v2/me/chats";
    /// Singular, as documented; the server makes it configurable.
    pub const FACEBOOK: &str = "/v2/me/facebooksession";
    pub const CHANNELS: &str = "/v2/me/channels";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Visibility {
    All,
    Agents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ParticipantType {
    Agent,
    Customer,
}

/// A participant as listed in `participants` and in a log entry's `from` (protocol.md §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub participant_id: ShortStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ShortStr>,
    #[serde(rename = "type")]
    pub kind: ParticipantType,
    pub nickname: ShortStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Message-log entry types (protocol.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryType {
    Text,
    Notice,
    ParticipantJoined,
    ParticipantLeft,
    TypingStarted,
    TypingStopped,
    PushUrl,
    CustomNotice,
    /// Anything a newer server sends that this build does not know.
    #[serde(other)]
    Other,
}

/// One entry of an interaction's message log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub index: u64,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub from: Participant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<ShortStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_text: Option<ShortStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<ShortStr>,
    /// Absent on the customer side, which only ever sees `All` entries (§15.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    pub timestamp: String,
    /// Epoch milliseconds, despite the name (a documented misnomer, kept).
    pub timestamp_seconds: i64,
}

/// A chat or Facebook session as an agent sees it (protocol.md §2.1, §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionResource {
    pub id: ShortStr,
    pub uri: String,
    pub state: InteractionState,
    #[serde(deserialize_with = "lenient_capabilities")]
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub participants: Vec<Participant>,
    #[serde(default)]
    pub user_data: UserData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebooksession_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_queue_uris: Option<Vec<String>>,
    /// Misspelled exactly as the documentation spells it.
    #[serde(
        default,
        rename = "revelantResponseTemplateGroups",
        skip_serializing_if = "Option::is_none"
    )]
    pub relevant_response_template_groups: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Unknown capability names from a newer server are skipped rather than failing the message.
///
/// Each name is matched where it lies in the text (no `String` per name): a resource lists a
/// dozen or more capabilities and comes with nearly every notification an agent receives.
fn lenient_capabilities<'de, D>(d: D) -> Result<Vec<Capability>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    /// One name, known (`Some`) or not.
    struct Name(Option<Capability>);

    impl<'de> Deserialize<'de> for Name {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct NameVisitor;
            impl serde::de::Visitor<'_> for NameVisitor {
                type Value = Name;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a capability name")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                    Ok(Name(Capability::parse(v)))
                }
            }
            d.deserialize_str(NameVisitor)
        }
    }

    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<Capability>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of capability names")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            // serde_json gives no size hint; a resource lists up to about 20 capabilities, so
            // one allocation replaces the 4, 8, 16, 32 regrowth.
            let mut known =
                Vec::with_capacity(seq.size_hint().unwrap_or(CAPABILITIES_GUESS).min(64));
            while let Some(Name(name)) = seq.next_element()? {
                known.extend(name);
            }
            Ok(known)
        }
    }
    d.deserialize_seq(Names)
}

/// How many capabilities a resource is assumed to list when the decoder cannot tell.
const CAPABILITIES_GUESS: usize = 24;

/// `userData` as it came: the object's JSON text, read only when asked ([`UserData::get`]).
///
/// Every state-change notification carries it, and the simulator reads one key of it once per
/// invitation; decoded into a map it was an allocation per key and per string value and the map's
/// own two, on every notification. Kept as text it is one, and the server, which holds the map,
/// writes it once per resource instead of cloning the map. Decoding still checks that it is
/// well-formed JSON and an object.
#[derive(Debug, Clone)]
pub struct UserData(Box<RawValue>);

impl UserData {
    /// `{}`.
    pub fn empty() -> Self {
        UserData::from_map(&Map::new())
    }

    /// The object written from `map`.
    pub fn from_map(map: &Map<String, Value>) -> Self {
        // A map of JSON values always serializes, and its text is a valid raw value.
        let raw = serde_json::value::to_raw_value(map)
            .unwrap_or_else(|_| unreachable!("a JSON map serializes"));
        UserData(raw)
    }

    /// The value of `key`, if the object has it (the last one of a repeated key).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    /// The whole object, decoded.
    pub fn to_map(&self) -> Map<String, Value> {
        // Checked to be an object when decoded or written, so this parse cannot fail.
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    /// The object's JSON text, as received.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl Default for UserData {
    fn default() -> Self {
        UserData::empty()
    }
}

/// Equal when they hold the same keys and values, however each was spelled.
impl PartialEq for UserData {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json() || self.to_map() == other.to_map()
    }
}

impl Serialize for UserData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for UserData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        // A raw value is valid JSON with no surrounding whitespace: an object starts with `{`.
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(raw.get()),
                &"a userData object",
            ));
        }
        Ok(UserData(raw))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationType {
    StatusChange,
    ParticipantsUpdated,
    PropertiesUpdated,
    Error,
    AttachedDataChanged,
    NewMessages,
    #[serde(other)]
    Other,
}

/// `ChatStateChangeMessage` / `FacebooksessionStateChangeMessage` (protocol.md §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    pub notification_type: NotificationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<InteractionResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebooksession: Option<InteractionResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl StateChange {
    pub fn resource(&self) -> Option<&InteractionResource> {
        self.chat.as_ref().or(self.facebooksession.as_ref())
    }
}

/// `MessageLogUpdated` / `NewMessages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageLog {
    pub notification_type: NotificationType,
    pub messages: Vec<LogEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebooksession_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebooksession_path: Option<String>,
}

impl MessageLog {
    /// The interaction id, taken from the path (`/chats/{id}` or `/facebooksessions/{id}`).
    pub fn interaction_id(&self) -> Option<&str> {
        let path = self.chat_path.as_deref().or(self.facebooksession_path.as_deref())?;
        path.rsplit('/').next()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserState {
    pub id: String,
    pub state: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    pub channel: String,
    pub user_state: UserState,
}

/// `ChannelStateChangeMessageV2` on `/v2/me/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStateChange {
    pub channels: Vec<ChannelState>,
}

/// The `data` object of every GWS CometD notification, keyed by `messageType`.
///
/// Serialized with serde's internal tagging (`messageType` first); deserialized by
/// `model::notification_de`, which reads the same shape without buffering the object when
/// `messageType` comes first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "messageType")]
pub enum Notification {
    ChatStateChangeMessage(StateChange),
    FacebooksessionStateChangeMessage(StateChange),
    MessageLogUpdated(MessageLog),
    ChannelStateChangeMessageV2(ChannelStateChange),
    /// Other media (calls, emails, ...) that gwsim does not model.
    Unknown,
}

impl Notification {
    /// Whether this is an agent's invitation: `StatusChange` to `Invited`.
    pub fn is_invitation(&self) -> bool {
        match self {
            Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc) => {
                sc.notification_type == NotificationType::StatusChange
                    && sc.resource().is_some_and(|r| r.state == InteractionState::Invited)
            }
            _ => false,
        }
    }

    pub fn state_change(media: Media, sc: StateChange) -> Self {
        match media {
            Media::Chat => Notification::ChatStateChangeMessage(sc),
            Media::Facebook => Notification::FacebooksessionStateChangeMessage(sc),
        }
    }

    /// The interaction this notification is about, if any.
    pub fn interaction_id(&self) -> Option<&str> {
        match self {
            Notification::ChatStateChangeMessage(sc)
            | Notification::FacebooksessionStateChangeMessage(sc) => {
                sc.resource().map(|r| r.id.as_str())
            }
            Notification::MessageLogUpdated(ml) => ml.interaction_id(),
            _ => None,
        }
    }
}

/// GWS statusCode values used by gwsim (protocol.md §1.3).
pub mod status {
    pub const OK: u32 = 0;
    pub const MISSING_PARAMETER: u32 = 1;
    pub const INVALID_STATE: u32 = 2;
    pub const FORBIDDEN: u32 = 3;
    pub const INTERNAL: u32 = 4;
    pub const NOT_FOUND: u32 = 6;
    pub const PARTIAL: u32 = 7;
    pub const VALIDATION: u32 = 10;
    pub const NOT_AUTHENTICATED: u32 = 20;

    /// HTTP status for a statusCode, per the table of protocol.md §1.3.
    pub fn http_status(code: u32) -> u16 {
        match code {
            0 | 7 => 200,
            1 | 2 | 10 | 11 => 400,
            3 | 5 => 403,
            6 => 404,
            20 => 401,
            _ => 500,
        }
    }
}

/// Customer-side chat states (protocol.md §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomerChatState {
    WaitingForAgent,
    Chatting,
    Idle,
}

/// `GET /api/v2/chats/{id}` on the customer API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerChat {
    pub id: String,
    pub state: CustomerChatState,
    pub capabilities: Vec<String>,
    pub participants: Vec<Participant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_is_keyed_by_message_type() {
        let raw = r#"{"messageType":"MessageLogUpdated","notificationType":"NewMessages",
            "chatPath":"/chats/0000Na9B26EF002X","messages":[{"index":7,"type":"ParticipantLeft",
            "from":{"participantId":"00AF52FCF0C10030","type":"Agent","nickname":"Bob","visibility":"All"},
            "visibility":"All","timestamp":"2014-02-13 08:20:59.000-0800","timestampSeconds":1392308459000}]}"#;
        let n: Notification = serde_json::from_str(raw).expect("valid notification");
        assert_eq!(n.interaction_id(), Some("0000Na9B26EF002X"));
        let Notification::MessageLogUpdated(ml) = &n else { panic!("wrong variant: {n:?}") };
        assert_eq!(ml.messages[0].kind, EntryType::ParticipantLeft);
    }

    #[test]
    fn unknown_message_types_and_capabilities_are_tolerated() {
        let n: Notification =
            serde_json::from_str(r#"{"messageType":"CallStateChangeMessage","call":{}}"#)
                .expect("parses");
        assert_eq!(n, Notification::Unknown);
        let sc: StateChange = serde_json::from_str(
            r#"{"notificationType":"StatusChange","chat":{"id":"x","uri":"u","state":"Chatting",
                "capabilities":["InFocus","Complete"]}}"#,
        )
        .expect("parses");
        assert_eq!(sc.resource().map(|r| r.capabilities.clone()), Some(vec![Capability::Complete]));
        // Escaped names are decoded before matching; a list that is not one of strings fails
        // as it did when the names were decoded into `Vec<String>`.
        let caps = |list: &str| {
            serde_json::from_str::<InteractionResource>(&format!(
                r#"{{"id":"x","uri":"u","state":"Chatting","capabilities":{list}}}"#
            ))
            .map(|r| r.capabilities)
        };
        assert_eq!(
            caps(r#"["Le\u0061ve","Accept","Leave"]"#).expect("parses"),
            vec![Capability::Leave, Capability::Accept, Capability::Leave]
        );
        assert_eq!(caps("[]").expect("parses"), vec![]);
        assert!(caps("[1]").is_err());
        assert!(caps(r#""Leave""#).is_err());
        assert!(caps("null").is_err());
    }

    #[test]
    fn user_data_keeps_order_and_the_last_of_a_repeated_key() {
        let decode = |user_data: &str| {
            serde_json::from_str::<InteractionResource>(&format!(
                r#"{{"id":"x","uri":"u","state":"Chatting","capabilities":[],"userData":{user_data}}}"#
            ))
            .map(|r| r.user_data.to_map())
        };
        let map = decode(r#"{"z":1,"a":{"b":[2]},"m":"s","z":3}"#).expect("parses");
        assert_eq!(map.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
        assert_eq!(map["z"], 3);
        assert_eq!(map["a"]["b"][0], 2);
        assert!(decode("{}").expect("empty").is_empty());
        for bad in ["null", "[]", "1", r#""s""#, r#"{"a":}"#] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn facebook_resource_keeps_the_documented_misspelling() {
        let sc = StateChange {
            notification_type: NotificationType::StatusChange,
            reference_id: None,
            chat: None,
            facebooksession: Some(InteractionResource {
                id: "1".into(),
                uri: "u".into(),
                state: InteractionState::LeftChat,
                capabilities: vec![],
                participants: vec![],
                user_data: UserData::empty(),
                facebooksession_type: Some("Inbound".into()),
                received_date: None,
                suggested_queue_uris: Some(vec![]),
                relevant_response_template_groups: Some(vec![]),
                comment: None,
            }),
            error_message: None,
        };
        let json = serde_json::to_string(&Notification::state_change(Media::Facebook, sc))
            .expect("serializes");
        assert!(json.contains(r#""messageType":"FacebooksessionStateChangeMessage""#), "{json}");
        assert!(json.contains(r#""revelantResponseTemplateGroups":[]"#), "{json}");
    }
}

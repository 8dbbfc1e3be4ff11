//! The two multimedia APIs gwsim covers, and the names each one uses on the wire. A leaf module:
//! `model` and `states` both need it, and neither needs the other for it.

use serde::{Deserialize, Serialize};

/// The two multimedia APIs gwsim covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Chat,
    Facebook,
}

impl Media {
    /// Path segment of the agent API (`/api/v2/me/<segment>/{id}`) and of resource URIs.
    pub fn path_segment(self) -> &'static str {
        match self {
            Media::Chat => "chats",
            Media::Facebook => "facebooksessions",
        }
    }

    /// `messageType` of state-change notifications.
    pub fn state_change_message_type(self) -> &'static str {
        match self {
            Media::Chat => "ChatStateChangeMessage",
            Media::Facebook => "FacebooksessionStateChangeMessage",
        }
    }

    /// The channel name as it appears in StartContactCenterSession and channel-state messages.
    pub fn channel_name(self) -> &'static str {
        match self {
            Media::Chat => "chat",
            Media::Facebook => "facebook",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.channel_name()
    }
}

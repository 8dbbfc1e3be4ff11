//! Interaction states and the capability (operation) names of the GWS chat and Facebook APIs.
//!
//! The capability lists per situation follow protocol.md §2.6 and §15.21; they are shared by the
//! reference server (which enforces them) and the simulator (which reads them from notifications).

use serde::{Deserialize, Serialize};

use super::media::Media;

/// An agent's view of an interaction (protocol.md §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InteractionState {
    Invited,
    Chatting,
    LeftChat,
    Completed,
    Revoked,
}

impl InteractionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "Invited",
            Self::Chatting => "Chatting",
            Self::LeftChat => "LeftChat",
            Self::Completed => "Completed",
            Self::Revoked => "Revoked",
        }
    }

    /// Completed and Revoked end an agent's part in an interaction.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Revoked)
    }
}

macro_rules! capabilities {
    ($($name:ident),* $(,)?) => {
        /// An operation name, as it appears in `operationName` and in `capabilities` arrays.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Capability { $($name),* }

        impl Capability {
            pub const ALL: &'static [Capability] = &[$(Capability::$name),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Capability::$name => stringify!($name)),* }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $(stringify!($name) => Some(Capability::$name),)* _ => None }
            }
        }
    };
}

capabilities!(
    Accept,
    Reject,
    Transfer,
    Leave,
    Invite,
    Consult,
    CancelConsult,
    SetInFocus,
    SetDisposition,
    AttachUserData,
    DeleteUserData,
    UpdateUserData,
    SendToAgents,
    SendStartTypingToAgentsNotification,
    SendStopTypingToAgentsNotification,
    SendCustomNoticeToAgents,
    Complete,
    SendMessage,
    SendUrl,
    SendStartTypingNotification,
    SendStopTypingNotification,
    SendCustomNotice,
    RemoveParticipantFromConference,
    AddComment,
);

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

use Capability as C;

/// What an agent may do with an interaction, given its part in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// Offered, not yet answered.
    Invited,
    /// Joined with visibility All; `others` says whether another agent is joined too;
    /// `pending_consult` whether a consult invitation this agent sent is still unanswered.
    Owner { others: bool, pending_consult: bool },
    /// Joined with visibility Agents (a consultant, §15.21).
    Consultant,
    /// Left, still in wrap-up.
    LeftChat,
    /// Completed or Revoked.
    Done,
}

/// The capabilities array for a situation, in the order the 8.5.2 samples print them.
pub fn capabilities(media: Media, situation: Situation) -> Vec<Capability> {
    let mut caps: Vec<Capability> = match situation {
        Situation::Invited => vec![C::Accept, C::Reject],
        Situation::Owner { others, pending_consult } => {
            let mut v = vec![
                C::Transfer,
                C::Leave,
                C::Invite,
                C::Consult,
                C::SetInFocus,
                C::SetDisposition,
                C::AttachUserData,
                C::DeleteUserData,
                C::UpdateUserData,
            ];
            if others {
                v.extend([
                    C::SendToAgents,
                    C::SendStartTypingToAgentsNotification,
                    C::SendStopTypingToAgentsNotification,
                    C::SendCustomNoticeToAgents,
                ]);
            }
            v.extend([
                C::Complete,
                C::SendMessage,
                C::SendUrl,
                C::SendStartTypingNotification,
                C::SendStopTypingNotification,
                C::SendCustomNotice,
            ]);
            if others {
                v.push(C::RemoveParticipantFromConference);
            }
            if pending_consult {
                v.push(C::CancelConsult);
            }
            v
        }
        Situation::Consultant => vec![
            C::Leave,
            C::SetInFocus,
            C::SetDisposition,
            C::AttachUserData,
            C::DeleteUserData,
            C::UpdateUserData,
            C::SendToAgents,
            C::SendStartTypingToAgentsNotification,
            C::SendStopTypingToAgentsNotification,
            C::Complete,
            C::SendMessage,
            C::SendStartTypingNotification,
            C::SendStopTypingNotification,
        ],
        Situation::LeftChat => vec![
            C::SetInFocus,
            C::Complete,
            C::SetDisposition,
            C::AttachUserData,
            C::DeleteUserData,
            C::UpdateUserData,
        ],
        Situation::Done => vec![],
    };
    if media == Media::Facebook && matches!(situation, Situation::Owner { .. }) {
        caps.push(C::AddComment);
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(*c));
        }
        assert_eq!(Capability::parse("InFocus"), None);
    }

    #[test]
    fn sole_owner_matches_the_seed_list_plus_documented_additions() {
        let caps =
            capabilities(Media::Chat, Situation::Owner { others: false, pending_consult: false });
        let names: Vec<_> = caps.iter().map(|c| c.as_str()).collect();
        // Seed list (chat RemoveParticipant, Agent1) plus SendUrl (§2.6) and SendCustomNotice.
        for seed in [
            "Transfer",
            "Leave",
            "Invite",
            "Consult",
            "SetInFocus",
            "SetDisposition",
            "AttachUserData",
            "DeleteUserData",
            "UpdateUserData",
            "Complete",
            "SendMessage",
            "SendStartTypingNotification",
            "SendStopTypingNotification",
        ] {
            assert!(names.contains(&seed), "{seed} missing");
        }
        assert!(!names.contains(&"SendToAgents"));
        assert!(!names.contains(&"RemoveParticipantFromConference"));
    }

    #[test]
    fn consultant_cannot_transfer_consult_or_remove() {
        let caps = capabilities(Media::Facebook, Situation::Consultant);
        for c in
            [C::Transfer, C::Invite, C::Consult, C::SendUrl, C::RemoveParticipantFromConference]
        {
            assert!(!caps.contains(&c));
        }
        assert!(caps.contains(&C::SendToAgents));
    }

    #[test]
    fn left_chat_matches_the_seed_list() {
        let caps = capabilities(Media::Chat, Situation::LeftChat);
        let names: Vec<_> = caps.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "SetInFocus",
                "Complete",
                "SetDisposition",
                "AttachUserData",
                "DeleteUserData",
                "UpdateUserData"
            ]
        );
    }
}

//! The customer side: the GWS customer chat API (protocol.md §11.1, §15.19) and the simulator-only
//! Facebook injector (§15.17, §15.20). Customers poll; nothing is pushed to them.

use serde_json::{Map, Value, json};

use super::view::{EntryBody, append, customer_entry, opt_str, req_str};
use super::{Center, CustomerSide, Delivery, Interaction, OfferKind, OpError, OpOk, QueueIdx};
use crate::gws::model::ShortStr;
use crate::gws::time::format_timestamp;
use crate::gws::{
    EntryType, InteractionState, LogEntry, Media, Participant, ParticipantType, Visibility, status,
};

/// Which customer API a request came through; decides how its id is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerApi {
    /// `/api/v2/chats/{id}`: the id is the customer API's own UUID.
    Chat,
    /// `/sim/v1/facebook/{id}`: the id is the interaction id.
    Facebook,
}

impl CustomerApi {
    /// The media of the interactions this API reaches.
    pub fn media(self) -> Media {
        match self {
            CustomerApi::Chat => Media::Chat,
            CustomerApi::Facebook => Media::Facebook,
        }
    }
}

const CUSTOMER_CAPABILITIES: [&str; 4] =
    ["SendMessage", "SendStartTypingNotification", "SendStopTypingNotification", "Complete"];

impl Center {
    /// `RequestChat`: a new chat, queued for routing.
    pub fn request_chat(
        &mut self,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let nickname = req_str(params, "nickname")?;
        let subject = opt_str(params, "subject")?;
        let endpoint = opt_str(params, "endpoint")?;
        let queue = self.named_queue(endpoint.as_deref(), "endpoint")?.unwrap_or_default();
        let mut user_data = user_data_param(params)?;
        if let Some(subject) = subject {
            user_data.insert("Subject".into(), Value::String(subject));
        }
        let external = self.new_customer_chat_id();
        let id = self.open_interaction(
            Media::Chat,
            nickname.into(),
            user_data,
            queue,
            external.clone(),
            now_ms,
        );
        self.customer_ids.insert(external.clone(), id.clone());
        self.enqueue_offer(&id, OfferKind::Route, None, queue, None);
        self.dispatch(now_ms, out);
        let mut body = Map::new();
        body.insert("id".into(), Value::String(external.clone()));
        body.insert("path".into(), Value::String(format!("/api/v2/chats/{external}")));
        Ok(OpOk { body, ..OpOk::default() })
    }

    /// `POST /sim/v1/facebook/inbound`: a new Facebook session from a private message, or (with
    /// `id`) one more message from the customer of an existing session.
    pub fn facebook_inbound(
        &mut self,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let nickname = req_str(params, "nickname")?;
        let text = opt_str(params, "text")?;
        if let Some(id) = opt_str(params, "id")? {
            let text =
                text.ok_or_else(|| OpError::missing("parameter 'text' is mandatory with 'id'"))?;
            let ixn_id = self.customer_interaction(CustomerApi::Facebook, &id)?;
            self.customer_post(&ixn_id, EntryType::Text, Some(text), now_ms, out)?;
            return Ok(self.injected(&ixn_id));
        }
        let queue = opt_str(params, "queue")?;
        let queue = self.named_queue(queue.as_deref(), "queue")?.unwrap_or_default();
        let mut user_data = user_data_param(params)?;
        let subject = opt_str(params, "subject")?.or_else(|| text.clone()).unwrap_or_default();
        user_data.insert("Subject".into(), Value::String(subject));
        user_data.insert("FromAddress".into(), Value::String(nickname.clone()));
        user_data.insert("_facebookActorName".into(), Value::String(nickname.clone()));
        if let Some(t) = &text {
            user_data.insert("_facebookMessageText".into(), Value::String(t.clone()));
        }
        let id = self.new_facebook_id();
        let ixn_id = self.open_interaction_with_id(
            id.clone(),
            Media::Facebook,
            nickname.into(),
            user_data,
            queue,
            id.clone(),
            now_ms,
        );
        if let Some(t) = text {
            self.customer_post(&ixn_id, EntryType::Text, Some(t), now_ms, out)?;
        }
        self.enqueue_offer(&ixn_id, OfferKind::Route, None, queue, None);
        self.dispatch(now_ms, out);
        Ok(self.injected(&ixn_id))
    }

    fn injected(&self, ixn_id: &str) -> OpOk {
        let mut body = Map::new();
        body.insert("id".into(), Value::String(ixn_id.to_string()));
        body.insert("path".into(), Value::String(format!("/facebooksessions/{ixn_id}")));
        body.insert("uri".into(), Value::String(self.interaction_uri(Media::Facebook, ixn_id)));
        OpOk { body, ..OpOk::default() }
    }

    fn open_interaction(
        &mut self,
        media: Media,
        nickname: ShortStr,
        user_data: Map<String, Value>,
        queue: QueueIdx,
        external: String,
        now_ms: i64,
    ) -> String {
        let id = self.new_interaction_id();
        self.open_interaction_with_id(id, media, nickname, user_data, queue, external, now_ms)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_interaction_with_id(
        &mut self,
        id: String,
        media: Media,
        nickname: ShortStr,
        user_data: Map<String, Value>,
        queue: QueueIdx,
        external: String,
        now_ms: i64,
    ) -> String {
        let pid = self.new_participant_id();
        let participant = Participant {
            participant_id: pid.clone(),
            id: Some(pid),
            kind: ParticipantType::Customer,
            nickname,
            visibility: Some(Visibility::All),
            uri: None,
            path: None,
        };
        let mut ixn = Interaction {
            id: id.clone(),
            media,
            queue,
            customer: CustomerSide {
                participant: participant.clone(),
                present: true,
                ended: false,
                cursor: 1,
                external_id: external,
            },
            parts: Vec::new(),
            offers: Vec::new(),
            log: Vec::new(),
            user_data,
            comment: None,
            received_date: format_timestamp(now_ms),
            closed_at: None,
        };
        append(
            &mut ixn,
            EntryType::ParticipantJoined,
            participant,
            Visibility::All,
            EntryBody::default(),
            now_ms,
        );
        self.ixns.insert(id.clone(), ixn);
        id
    }

    /// Finds the interaction behind a customer-side id.
    fn customer_interaction(&self, api: CustomerApi, id: &str) -> Result<String, OpError> {
        let not_found = || OpError::not_found(format!("chat {id} not found"));
        let ixn_id = match api {
            CustomerApi::Chat => self.customer_ids.get(id).cloned().ok_or_else(not_found)?,
            CustomerApi::Facebook => id.to_string(),
        };
        let media = match api {
            CustomerApi::Chat => Media::Chat,
            CustomerApi::Facebook => Media::Facebook,
        };
        match self.ixns.get(&ixn_id) {
            Some(ixn) if ixn.media == media => Ok(ixn_id),
            _ => Err(not_found()),
        }
    }

    /// `GET /api/v2/chats/{id}` (or the Facebook equivalent): the chat as the customer sees it.
    pub fn customer_chat(&self, api: CustomerApi, id: &str) -> Result<Value, OpError> {
        let ixn_id = self.customer_interaction(api, id)?;
        let ixn = &self.ixns[&ixn_id];
        let (state, caps): (&str, &[&str]) = if ixn.customer.ended {
            ("Idle", &[])
        } else if ixn.joined().any(|p| p.visibility == Visibility::All) {
            ("Chatting", &CUSTOMER_CAPABILITIES)
        } else {
            ("WaitingForAgent", &CUSTOMER_CAPABILITIES)
        };
        let mut participants = Vec::new();
        if ixn.customer.present {
            participants.push(brief(&ixn.customer.participant));
        }
        for p in ixn.joined().filter(|p| p.visibility == Visibility::All) {
            participants
                .push(json!({"nickname": p.nickname, "participantId": p.pid, "type": "Agent"}));
        }
        Ok(json!({
            "chat": {"id": id, "state": state, "capabilities": caps, "participants": participants},
        }))
    }

    /// `GET .../messages[?index=N]`: entries visible to the customer with index ≥ N, or (without
    /// N) those not returned before.
    pub fn customer_messages(
        &mut self,
        api: CustomerApi,
        id: &str,
        index: Option<u64>,
    ) -> Result<Vec<LogEntry>, OpError> {
        self.customer_messages_leaky(api, id, index, &mut |_, _, _| false)
    }

    /// [`Center::customer_messages`] for a fault injector: `leak(interaction, entry, author)`
    /// is asked about each `Agents`-only entry not returned to this customer before (so each is
    /// considered once), and the entries it says yes to are shown to the customer like the
    /// others. `author` is the username of the agent who wrote the entry.
    pub fn customer_messages_leaky(
        &mut self,
        api: CustomerApi,
        id: &str,
        index: Option<u64>,
        leak: &mut dyn FnMut(&str, &LogEntry, Option<&str>) -> bool,
    ) -> Result<Vec<LogEntry>, OpError> {
        let ixn_id = self.customer_interaction(api, id)?;
        let dir = &self.dir;
        let Some(ixn) = self.ixns.get_mut(&ixn_id) else {
            return Err(OpError::not_found(format!("chat {id} not found")));
        };
        let from = index.unwrap_or(ixn.customer.cursor);
        let start = ixn.log.partition_point(|e| e.index < from);
        let cursor = ixn.customer.cursor;
        let entries: Vec<LogEntry> = ixn.log[start..]
            .iter()
            .filter(|e| {
                e.visibility == Some(Visibility::All)
                    || (e.index >= cursor && {
                        let author = e
                            .from
                            .path
                            .as_deref()
                            .and_then(|p| p.strip_prefix("/users/"))
                            .and_then(|uid| dir.user_by_id(uid))
                            .map(|u| dir.user(u).username.as_str());
                        leak(&ixn.id, e, author)
                    })
            })
            .map(customer_entry)
            .collect();
        if let Some(last) = ixn.log.last() {
            ixn.customer.cursor = ixn.customer.cursor.max(last.index + 1);
        }
        Ok(entries)
    }

    /// `POST /api/v2/chats/{id}` (or the Facebook equivalent): SendMessage, typing, Complete.
    pub fn customer_operation(
        &mut self,
        api: CustomerApi,
        id: &str,
        operation: &str,
        params: &Map<String, Value>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<OpOk, OpError> {
        let kind = match operation {
            "SendMessage" => Some(EntryType::Text),
            "SendStartTypingNotification" => Some(EntryType::TypingStarted),
            "SendStopTypingNotification" => Some(EntryType::TypingStopped),
            "Complete" => None,
            other => return Err(OpError::missing(format!("unknown operationName '{other}'"))),
        };
        let ixn_id = self.customer_interaction(api, id)?;
        match kind {
            Some(kind) => {
                let text = match kind {
                    EntryType::Text => Some(req_str(params, "text")?),
                    _ => opt_str(params, "text")?,
                };
                self.customer_post(&ixn_id, kind, text, now_ms, out)?;
            }
            None => self.customer_leaves(&ixn_id, now_ms, out),
        }
        Ok(OpOk::default())
    }

    fn customer_post(
        &mut self,
        ixn_id: &str,
        kind: EntryType,
        text: Option<String>,
        now_ms: i64,
        out: &mut Vec<Delivery>,
    ) -> Result<(), OpError> {
        let ixn = &self.ixns[ixn_id];
        if ixn.customer.ended || !ixn.customer.present {
            return Err(OpError::new(status::INVALID_STATE, "the chat has ended"));
        }
        let from = ixn.customer.participant.clone();
        let body = EntryBody { text: text.map(Into::into), ..EntryBody::default() };
        self.post_entry(ixn_id, from, kind, Visibility::All, body, now_ms, out);
        Ok(())
    }

    /// The customer completes: agents see it leave (§15.15); a chat still waiting for an agent
    /// is abandoned.
    fn customer_leaves(&mut self, ixn_id: &str, now_ms: i64, out: &mut Vec<Delivery>) {
        let Some(ixn) = self.ixns.get_mut(ixn_id) else { return };
        if !ixn.customer.present {
            return;
        }
        ixn.customer.present = false;
        ixn.customer.ended = true;
        let from = ixn.customer.participant.clone();
        let entry = append(
            ixn,
            EntryType::ParticipantLeft,
            from,
            Visibility::All,
            EntryBody::default(),
            now_ms,
        );
        let ixn = &self.ixns[ixn_id];
        self.roster_change(ixn, &entry, None, out);
        let nobody = !ixn.parts.iter().any(|p| p.state != InteractionState::Invited);
        if nobody {
            self.withdraw_all(ixn_id, now_ms, out);
        }
        self.close_if_done(ixn_id, now_ms);
    }
}

fn brief(p: &Participant) -> Value {
    json!({"nickname": p.nickname, "participantId": p.participant_id, "type": "Customer"})
}

fn user_data_param(params: &Map<String, Value>) -> Result<Map<String, Value>, OpError> {
    match params.get("userData") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(OpError::missing("parameter 'userData' must be an object")),
    }
}

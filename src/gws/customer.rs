//! The simulator's customer side: the GWS Customer Chat API (protocol.md §11.1, §15.19), which
//! authenticates with a `ContactCenterId` header instead of credentials, and gwsim's
//! simulator-only Facebook injector (§15.20), which plays the Facebook user.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::GwsClient;
use super::envelope::{check_status, decode_checked};
use super::error::GwsError;
use super::http::{Method, Reply, encode_segment, is_header_value};
use super::model::{CustomerChat, LogEntry};

/// The header that identifies the contact center to the customer API.
pub const CONTACT_CENTER_ID_HEADER: &str = "contactcenterid";

/// A customer-side client: shares the [`GwsClient`]'s pool, sends `ContactCenterId` and never an
/// `Authorization` header. Cloning is cheap; one value can serve many customers, because the
/// customer API keeps no per-client cookie.
#[derive(Clone)]
pub struct CustomerClient {
    client: GwsClient,
    /// Checked to be a header value once, here.
    contact_center_id: Box<str>,
}

impl fmt::Debug for CustomerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerClient").field("base", &self.client.base_url()).finish()
    }
}

/// A customer-side operation's body, serialized straight into the request (no JSON tree).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationBody<'a> {
    operation_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

/// RequestChat's body (protocol.md §11.1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestChatBody<'a> {
    operation_name: &'static str,
    nickname: &'a str,
    subject: &'a str,
    user_data: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
}

/// The Facebook injector's body (§15.20).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboundBody<'a> {
    nickname: &'a str,
    text: &'a str,
    subject: &'a str,
    user_data: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

#[derive(Deserialize)]
struct ChatBody {
    chat: CustomerChat,
}

#[derive(Deserialize)]
struct MessagesBody {
    #[serde(default)]
    messages: Vec<LogEntry>,
}

impl CustomerClient {
    /// A customer of the contact center `contact_center_id` (protocol.md §11.1, §15.17), sharing
    /// `client`'s connection pool.
    pub fn new(client: &GwsClient, contact_center_id: &str) -> Result<Self, GwsError> {
        if !is_header_value(contact_center_id) {
            return Err(GwsError::Config("contact center id is not a valid header value".into()));
        }
        Ok(CustomerClient { client: client.clone(), contact_center_id: contact_center_id.into() })
    }

    /// `POST /api/v2/chats` RequestChat; returns the customer API's chat id (a UUID, distinct
    /// from the agent-side interaction id, §15.19). `user_data` is copied into the interaction,
    /// so a correlation key put there shows up on the agent side.
    pub async fn request_chat(
        &self,
        nickname: &str,
        subject: &str,
        user_data: Map<String, Value>,
    ) -> Result<String, GwsError> {
        self.request_chat_at(nickname, subject, None, user_data).await
    }

    /// RequestChat to a named `endpoint` (the queue the chat is routed through).
    pub async fn request_chat_at(
        &self,
        nickname: &str,
        subject: &str,
        endpoint: Option<&str>,
        user_data: Map<String, Value>,
    ) -> Result<String, GwsError> {
        let body = RequestChatBody {
            operation_name: "RequestChat",
            nickname,
            subject,
            user_data: &user_data,
            endpoint,
        };
        Ok(self.fetch::<IdBody>(Method::Post, "/api/v2/chats", Some(&body)).await?.id)
    }

    /// `GET /api/v2/chats/{id}`.
    pub async fn get_chat(&self, id: &str) -> Result<CustomerChat, GwsError> {
        Ok(self.fetch::<ChatBody>(Method::Get, &chat_path(id), None::<&()>).await?.chat)
    }

    /// `GET /api/v2/chats/{id}/messages[?index=N]`: with `index`, the entries from N on;
    /// without, those not yet returned to this customer.
    pub async fn get_messages(
        &self,
        id: &str,
        index: Option<u64>,
    ) -> Result<Vec<LogEntry>, GwsError> {
        let path = with_index(format!("{}/messages", chat_path(id)), index);
        Ok(self.fetch::<MessagesBody>(Method::Get, &path, None::<&()>).await?.messages)
    }

    pub async fn send_message(&self, id: &str, text: &str) -> Result<(), GwsError> {
        self.chat_operation(id, "SendMessage", Some(text)).await
    }

    pub async fn start_typing(&self, id: &str) -> Result<(), GwsError> {
        self.chat_operation(id, "SendStartTypingNotification", None).await
    }

    pub async fn stop_typing(&self, id: &str) -> Result<(), GwsError> {
        self.chat_operation(id, "SendStopTypingNotification", None).await
    }

    /// Ends the chat for the customer; no further requests should follow.
    pub async fn complete(&self, id: &str) -> Result<(), GwsError> {
        self.chat_operation(id, "Complete", None).await
    }

    /// `POST /sim/v1/facebook/inbound`: a Facebook user writes to the page. With `existing_id`
    /// the message is added to that session; without, a new session starts. Returns its id.
    pub async fn facebook_inbound(
        &self,
        nickname: &str,
        text: &str,
        subject: &str,
        user_data: Map<String, Value>,
        existing_id: Option<&str>,
    ) -> Result<String, GwsError> {
        let body = InboundBody { nickname, text, subject, user_data: &user_data, id: existing_id };
        Ok(self.fetch::<IdBody>(Method::Post, "/sim/v1/facebook/inbound", Some(&body)).await?.id)
    }

    /// `GET /sim/v1/facebook/{id}/messages[?index=N]`: what the Facebook user sees.
    pub async fn facebook_messages(
        &self,
        id: &str,
        index: Option<u64>,
    ) -> Result<Vec<LogEntry>, GwsError> {
        let path = with_index(format!("{}/messages", facebook_path(id)), index);
        Ok(self.fetch::<MessagesBody>(Method::Get, &path, None::<&()>).await?.messages)
    }

    pub async fn facebook_send(&self, id: &str, text: &str) -> Result<(), GwsError> {
        let body = OperationBody { operation_name: "SendMessage", text: Some(text) };
        self.call(Method::Post, &facebook_path(id), Some(&body)).await
    }

    pub async fn facebook_complete(&self, id: &str) -> Result<(), GwsError> {
        let body = OperationBody { operation_name: "Complete", text: None };
        self.call(Method::Post, &facebook_path(id), Some(&body)).await
    }

    async fn chat_operation(
        &self,
        id: &str,
        operation_name: &'static str,
        text: Option<&str>,
    ) -> Result<(), GwsError> {
        let body = OperationBody { operation_name, text };
        self.call(Method::Post, &chat_path(id), Some(&body)).await
    }

    /// A request whose reply says only whether it worked.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(), GwsError> {
        let reply = self.send(method, path, body).await?;
        check_status(reply.status, &reply.body).map(drop)
    }

    /// A request whose reply's body is `T` (and its status envelope, judged in the same pass).
    async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, GwsError> {
        let reply = self.send(method, path, body).await?;
        decode_checked(reply.status, &reply.body)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Reply, GwsError> {
        let mut req = self.client.request(method, path);
        req.header(CONTACT_CENTER_ID_HEADER, &self.contact_center_id);
        let req = match body {
            Some(body) => req.json(body)?,
            None => req.empty(),
        };
        self.client.execute(req, &[]).await
    }
}

fn chat_path(id: &str) -> String {
    format!("/api/v2/chats/{}", encode_segment(id))
}

fn facebook_path(id: &str) -> String {
    format!("/sim/v1/facebook/{}", encode_segment(id))
}

fn with_index(mut path: String, index: Option<u64>) -> String {
    if let Some(index) = index {
        path.push_str(&format!("?index={index}"));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            with_index(format!("{}/messages", chat_path("abc")), None),
            "/api/v2/chats/abc/messages"
        );
        assert_eq!(
            with_index(format!("{}/messages", facebook_path("f1")), Some(0)),
            "/sim/v1/facebook/f1/messages?index=0"
        );
        assert_eq!(chat_path("a/b"), "/api/v2/chats/a%2Fb");
    }

    #[test]
    fn bodies_parse_as_documented() {
        let id: IdBody = serde_json::from_str(
            r#"{"id":"652492d9-c2d9-44c9-b9ad-0ab7984114bb","statusCode":0,"path":"/api/v2/chats/652492d9"}"#,
        )
        .expect("request chat");
        assert_eq!(id.id, "652492d9-c2d9-44c9-b9ad-0ab7984114bb");
        let chat: ChatBody = serde_json::from_str(
            r#"{"chat":{"id":"c1","state":"WaitingForAgent","capabilities":["SendMessage","Complete"],
                "participants":[{"nickname":"Chris","participantId":"1","type":"Customer"}]},"statusCode":0}"#,
        )
        .expect("chat");
        assert_eq!(chat.chat.participants.len(), 1);
        let messages: MessagesBody = serde_json::from_str(
            r#"{"messages":[{"from":{"nickname":"Chris","participantId":"1","type":"Customer"},
                "index":1,"type":"ParticipantJoined","timestamp":"2014-01-02 14:23:18.000-0800",
                "timestampSeconds":1388701398000}],"statusCode":0}"#,
        )
        .expect("messages");
        assert_eq!(messages.messages[0].index, 1);
        let empty: MessagesBody = serde_json::from_str(r#"{"statusCode":0}"#).expect("no messages");
        assert!(empty.messages.is_empty());
    }

    #[test]
    fn contact_center_id_must_be_a_header_value() {
        let client = GwsClient::builder().base_url("http://127.0.0.1:1").build().expect("client");
        assert!(CustomerClient::new(&client, "a\nb").is_err());
        assert!(CustomerClient::new(&client, "4f1c-uuid").is_ok());
    }
}

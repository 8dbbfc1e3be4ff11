//! The GWS v2 HTTP API as data: wire types shared by the simulator and the reference server.
//!
//! Only this module and [`crate::cometd`] know wire formats. The server imports these types and
//! never defines its own copies, so the two halves cannot drift apart silently.

pub mod client;
pub mod customer;
mod envelope;
pub mod error;
mod http;
mod json_str;
pub mod media;
pub mod model;
pub mod ops;
#[cfg(test)]
mod pool_tests;
pub mod states;
#[cfg(test)]
mod tests;
pub mod time;

pub use client::{AgentHttp, Credentials, GwsClient, GwsClientBuilder, OpResponse};
pub use customer::CustomerClient;
pub use error::{GwsError, GwsErrorKind};
pub use http::RequestGate;
pub use media::Media;
pub use model::*;
pub use ops::{
    ChannelOperation, Me, MeOperation, MeSubresources, MeView, Operation, Param, ParamError,
    ParamKind, Presence, StatusBody,
};
pub use states::{Capability, InteractionState};

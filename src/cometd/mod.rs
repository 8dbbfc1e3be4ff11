//! Bayeux 1.0 (CometD) as data: the message envelope and channel-name matching, shared by the
//! simulator's clients and the reference server's endpoint.

pub mod channel;
pub mod client;
pub mod error;
pub mod message;

pub use client::{CloseReason, CometdConfig, CometdHandle, CometdStats, Event, Events, Transport};
pub use error::CometdError;
pub use message::{Advice, Message};

//! Bayeux 1.0 (CometD) as data: the message envelope and channel-name matching, shared by the
//! simulator's clients and the reference server's endpoint.

pub mod channel;
pub mod message;

pub use message::{Advice, Message};

//! The embedded GWS reference server: a pure contact-center state machine ([`state`]) with thin
//! HTTP ([`http`]) and CometD ([`bayeux`]) shells around it.

pub mod bayeux;
pub mod faults;

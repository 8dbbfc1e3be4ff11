//! CometD (Bayeux 1.0) endpoint of the reference server: sessions, subscriptions, per-session
//! queues, long-polling and websocket transports.

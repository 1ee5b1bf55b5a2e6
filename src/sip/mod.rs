//! The SIP stack (RFC 3261): messages on rsip behind our own parser, transactions as sans-IO
//! state machines, a tokio endpoint that owns the sockets, dialogs and digest authentication.
//! The engine (user agent) and the embedded server (proxy/registrar) both sit on this one stack.

pub mod deadlines;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod headers;
pub mod locate;
pub mod message;
pub mod parse;
pub mod transaction;
pub mod transport;

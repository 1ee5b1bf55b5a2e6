//! Parley: a desktop SIP communicator. The library holds everything but the window:
//! the SIP stack, SDP, the embedded server, the store and the engine the GUI and CLI drive.

pub mod sip;
pub mod sdp;
pub mod server;
pub mod store;
pub mod engine;
pub mod cli;

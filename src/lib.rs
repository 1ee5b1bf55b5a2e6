//! Parley: a desktop SIP communicator. The library holds everything but the window:
//! the SIP stack, SDP, the embedded server, the store and the engine the GUI and CLI drive.

pub mod bench;
pub mod cli;
pub mod engine;
pub mod gui;
pub mod media;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod store;
pub mod vcard;

//! Parley: a desktop SIP communicator. The library holds all of it: the SIP stack, SDP, the
//! embedded server, the store, the engine the window and the CLI drive, and the window itself
//! (`gui`, the only module that knows iced). `main.rs` only parses arguments and launches.

pub mod accept;
pub mod bench;
pub mod cli;
pub mod engine;
#[cfg(feature = "gui")]
pub mod gui;
pub mod media;
pub mod memory;
pub mod msrp;
pub mod nat;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod stop;
pub mod store;
pub mod tls;
pub mod vcard;

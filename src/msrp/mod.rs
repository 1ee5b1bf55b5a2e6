//! MSRP (RFC 4975): chat and file transfer over TCP. Written here: no maintained crate exists.
//! `frame` holds the streaming decoder and the writer (pure functions over bytes, never holding
//! a whole message: bodies pass through in pieces); `range` the Byte-Range header.

pub mod frame;
pub mod names;
pub mod range;
pub mod session;

pub use frame::{Continuation, Decoder, Head, Item, Kind, MsrpError};
pub use range::ByteRange;

//! MSRP (RFC 4975): chat and file transfer over TCP. Written here: no maintained crate exists.
//! `frame` holds the streaming decoder and the writer (pure functions over bytes, never holding
//! a whole message: bodies pass through in pieces); `range` the Byte-Range header.

pub mod budget;
pub mod cpim;
pub mod digest;
pub mod frame;
mod hasher;
mod inbox;
pub mod mime;
pub mod names;
mod outbox;
mod pace;
pub mod range;
pub mod relay;
pub mod session;
mod temp;

/// An MSRP connection: TCP, or TLS over it (`msrps:`, RFC 4975 14).
pub trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync> Conn for T {}
pub type Stream = Box<dyn Conn>;

/// A new Message-ID (and temporary-file id).
fn new_id() -> String {
    crate::sip::message::random_token(16)
}

pub use frame::{Continuation, Decoder, Head, Item, Kind, MsrpError};
pub use range::ByteRange;

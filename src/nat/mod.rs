//! Reaching through NATs: STUN messages for keepalives and public addresses (RFC 8489), and
//! the SIP outbound flow's keepalive schedule (RFC 5626 4.4).

pub mod ice;
pub mod keepalive;
pub mod netwatch;
mod nomination;
pub mod reflexive;
pub mod stun;
pub mod turn;

//! The closed sets stored rows draw on: which way a call, message or file went, and where a
//! message or file stands. Kept as text in the database (readable, and the same words as
//! before), as enums everywhere else, so a typo is a compile error rather than a row no screen
//! recognises.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Generates the text form, the parse and the SQLite conversions of a unit enum.
macro_rules! stored_words {
    ($t:ident { $($v:ident = $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(&self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }

            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some($t::$v),)+ _ => None }
            }
        }

        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<$t> {
                let s = v.as_str()?;
                $t::parse(s).ok_or_else(|| FromSqlError::Other(
                    format!("“{s}” is no {}", stringify!($t)).into(),
                ))
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outgoing,
    Incoming,
}

stored_words!(Direction {
    Outgoing = "outgoing",
    Incoming = "incoming",
});

/// Where a chat message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Ours, on its way: no answer yet.
    Sending,
    /// Ours, taken by the line (a call's chat session, which reports no delivery of its own).
    Sent,
    /// Ours, and the other side said it has it.
    Delivered,
    /// Ours, and it could not be delivered: the user may try again.
    Failed,
    /// Theirs.
    Received,
}

stored_words!(MessageState {
    Sending = "sending",
    Sent = "sent",
    Delivered = "delivered",
    Failed = "failed",
    Received = "received",
});

/// Where a file transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Sending,
    Receiving,
    /// Ours, confirmed whole by the other side.
    Delivered,
    /// Ours, every byte taken but the confirmation never came.
    Sent,
    /// Theirs, checked and stored.
    Received,
    Cancelled,
    Failed,
}

stored_words!(TransferState {
    Sending = "sending",
    Receiving = "receiving",
    Delivered = "delivered",
    Sent = "sent",
    Received = "received",
    Cancelled = "cancelled",
    Failed = "failed",
});

impl TransferState {
    /// Whether the file got where it was going.
    pub fn arrived(&self) -> bool {
        matches!(self, TransferState::Received | TransferState::Delivered)
    }
}

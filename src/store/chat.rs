//! Chat messages and file transfers, each with its state (sending, sent, delivered, failed,
//! received, cancelled), so the conversation's history survives a restart and a transfer a
//! killed run left open is marked failed instead of "in progress" forever.

use super::{now_unix, Direction, MessageState, Store, StoreError, TransferState};
use rusqlite::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage<'a> {
    pub account: &'a str,
    pub peer: &'a str,
    pub direction: Direction,
    pub content_type: &'a str,
    pub body: &'a str,
    pub state: MessageState,
    /// Whether the server vouched for the peer (ours are to whom we chose).
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageRecord {
    pub id: i64,
    pub peer_uri: String,
    pub direction: Direction,
    pub content_type: String,
    pub body: String,
    pub at: i64,
    pub state: MessageState,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer<'a> {
    pub account: &'a str,
    pub peer: &'a str,
    pub direction: Direction,
    pub name: &'a str,
    pub size: u64,
    pub state: TransferState,
    pub path: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TransferRecord {
    pub id: i64,
    pub peer_uri: String,
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub path: Option<String>,
    pub state: TransferState,
    pub started_at: i64,
    pub verified: bool,
}

const MESSAGE_COLUMNS: &str =
    "SELECT id, peer_uri, direction, content_type, body, at, state, verified FROM messages";

fn message_row(r: &rusqlite::Row) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.get(0)?,
        peer_uri: r.get(1)?,
        direction: r.get(2)?,
        content_type: r.get(3)?,
        body: r.get(4)?,
        at: r.get(5)?,
        state: r.get(6)?,
        verified: r.get(7)?,
    })
}

impl Store {
    /// Whether the user knows `peer`: a saved contact's address, or someone they wrote to.
    pub fn knows(&self, peer: &str) -> Result<bool, StoreError> {
        let bare = peer.trim_start_matches("sip:").to_ascii_lowercase();
        let full = format!("sip:{bare}");
        let c = self.conn.lock().unwrap();
        let known = c.query_row(
            "SELECT EXISTS(SELECT 1 FROM contact_uris WHERE lower(uri) IN (?1, ?2))
                 OR EXISTS(SELECT 1 FROM messages
                           WHERE lower(peer_uri) IN (?1, ?2) AND direction = 'outgoing')",
            params![bare, full],
            |r| r.get::<_, bool>(0),
        )?;
        Ok(known)
    }

    pub fn add_message(&self, m: &NewMessage<'_>) -> Result<i64, StoreError> {
        let c = self.conn.lock().unwrap();
        c.execute(
            "INSERT INTO messages(account, peer_uri, direction, content_type, body, at, state,
                 verified)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                m.account,
                m.peer,
                m.direction,
                m.content_type,
                m.body,
                now_unix(),
                m.state,
                m.verified
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn set_message_state(&self, id: i64, state: MessageState) -> Result<(), StoreError> {
        self.conn.lock().unwrap().execute(
            "UPDATE messages SET state = ?2 WHERE id = ?1",
            params![id, state],
        )?;
        Ok(())
    }

    pub fn messages(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(&format!("{MESSAGE_COLUMNS} ORDER BY at, id"))?;
        let rows = st.query_map([], message_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One message, as `messages` gives it.
    pub fn message(&self, id: i64) -> Result<Option<MessageRecord>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(&format!("{MESSAGE_COLUMNS} WHERE id = ?1"))?;
        let found = st.query_map([id], message_row)?.next().transpose()?;
        Ok(found)
    }

    pub fn add_transfer(&self, t: &NewTransfer<'_>) -> Result<i64, StoreError> {
        let c = self.conn.lock().unwrap();
        let done = t.state.arrived();
        c.execute(
            "INSERT INTO transfers(account, peer_uri, direction, name, size, sha256, path, bytes_done,
                 state, started_at, ended_at, verified)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                t.account,
                t.peer,
                t.direction,
                t.name,
                t.size as i64,
                t.sha256,
                t.path,
                if done { t.size as i64 } else { 0 },
                t.state,
                now_unix(),
                done.then(now_unix),
                t.verified,
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// The oldest outgoing transfer of `name` to `peer` still sending takes `state`.
    pub fn outgoing_transfer_ended(
        &self,
        peer: &str,
        name: &str,
        state: TransferState,
    ) -> Result<(), StoreError> {
        self.conn.lock().unwrap().execute(
            "UPDATE transfers SET state = ?3, ended_at = ?4,
                 bytes_done = CASE WHEN ?3 = 'delivered' THEN size ELSE bytes_done END
             WHERE id = (SELECT id FROM transfers WHERE peer_uri = ?1 AND name = ?2
                         AND direction = 'outgoing' AND state = 'sending' ORDER BY id LIMIT 1)",
            params![peer, name, state, now_unix()],
        )?;
        Ok(())
    }

    pub fn transfers(&self) -> Result<Vec<TransferRecord>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(
            "SELECT id, peer_uri, direction, name, size, sha256, path, state, started_at, verified
             FROM transfers ORDER BY started_at, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(TransferRecord {
                id: r.get(0)?,
                peer_uri: r.get(1)?,
                direction: r.get(2)?,
                name: r.get(3)?,
                size: r.get::<_, i64>(4)? as u64,
                sha256: r.get(5)?,
                path: r.get(6)?,
                state: r.get(7)?,
                started_at: r.get(8)?,
                verified: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Transfers a previous run left under way did not finish: they are failed.
    pub fn close_interrupted_transfers(&self) -> Result<usize, StoreError> {
        Ok(self.conn.lock().unwrap().execute(
            "UPDATE transfers SET state = 'failed', ended_at = started_at
             WHERE state IN ('sending', 'receiving')",
            [],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_transfers_keep_their_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("p.db")).unwrap();
        let m = NewMessage {
            account: "sip:a@x",
            peer: "sip:b@x",
            direction: Direction::Outgoing,
            content_type: "text/plain",
            body: "hi",
            state: MessageState::Sent,
            verified: true,
        };
        let id = s.add_message(&m).unwrap();
        assert_eq!(s.messages().unwrap()[0].body, "hi");
        s.set_message_state(id, MessageState::Failed).unwrap();
        assert_eq!(s.message(id).unwrap().unwrap().state, MessageState::Failed);
        let t = NewTransfer {
            account: "sip:a@x",
            peer: "sip:b@x",
            direction: Direction::Outgoing,
            name: "f.txt",
            size: 500,
            state: TransferState::Sending,
            path: None,
            sha256: None,
            verified: true,
        };
        s.add_transfer(&t).unwrap();
        s.add_transfer(&NewTransfer {
            name: "g.txt",
            ..t.clone()
        })
        .unwrap();
        s.outgoing_transfer_ended("sip:b@x", "f.txt", TransferState::Delivered)
            .unwrap();
        let states: Vec<_> = s
            .transfers()
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.state))
            .collect();
        assert_eq!(
            states,
            [
                ("f.txt".into(), TransferState::Delivered),
                ("g.txt".into(), TransferState::Sending)
            ]
        );
        assert_eq!(s.close_interrupted_transfers().unwrap(), 1);
        assert_eq!(s.transfers().unwrap()[1].state, TransferState::Failed);
    }
}

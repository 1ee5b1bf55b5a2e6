//! SQLite storage: accounts, contacts and call history, one file per profile (rusqlite, WAL,
//! `PRAGMA user_version` migrations, each applied in one transaction so a kill leaves the old or
//! the new schema, never half). Profile files are readable by their owner alone.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot use profile folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no home folder to keep data in; pass --profile DIR")]
    NoHome,
}

mod chat;
mod kinds;
pub use chat::{MessageRecord, NewMessage, NewTransfer, TransferRecord};
pub use kinds::{Direction, MessageState, TransferState};

const MIGRATIONS: &[&str] = &[
    // 1: accounts, contacts, calls
    "CREATE TABLE accounts(
        id INTEGER PRIMARY KEY, aor TEXT NOT NULL UNIQUE, display_name TEXT, auth_user TEXT,
        password TEXT, server TEXT, transport TEXT NOT NULL DEFAULT 'udp', enabled INTEGER NOT NULL DEFAULT 1);
     CREATE TABLE contacts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
     CREATE TABLE contact_uris(contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        uri TEXT NOT NULL, label TEXT NOT NULL DEFAULT '');
     CREATE TABLE calls(
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, sip_call_id TEXT NOT NULL, direction TEXT NOT NULL,
        peer_uri TEXT NOT NULL, started_at INTEGER NOT NULL, answered_at INTEGER, ended_at INTEGER,
        status INTEGER, reason TEXT);
     CREATE INDEX calls_started ON calls(started_at);",
    // 2: user preferences (theme, ringtone, audio devices) as key/value text
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 3: chat messages and file transfers
    "CREATE TABLE messages(
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, peer_uri TEXT NOT NULL, direction TEXT NOT NULL,
        content_type TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL, state TEXT NOT NULL);
     CREATE INDEX messages_peer ON messages(peer_uri, at);
     CREATE TABLE transfers(
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, peer_uri TEXT NOT NULL, direction TEXT NOT NULL,
        name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT, path TEXT,
        bytes_done INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
        started_at INTEGER NOT NULL, ended_at INTEGER);
     CREATE INDEX transfers_peer ON transfers(peer_uri, started_at);",
    // 4: an account's way through NATs: a STUN server, a TURN server and its credentials
    "ALTER TABLE accounts ADD COLUMN stun TEXT;
     ALTER TABLE accounts ADD COLUMN turn TEXT;
     ALTER TABLE accounts ADD COLUMN turn_user TEXT;
     ALTER TABLE accounts ADD COLUMN turn_password TEXT;",
    // 5: an account's MSRP relay (RFC 4976), for chat and files from behind a NAT
    "ALTER TABLE accounts ADD COLUMN msrp_relay TEXT;",
    // 6: an account's encryption: whom its TLS trusts beyond the system (a CA file, a pinned
    // certificate) and its SRTP policy
    "ALTER TABLE accounts ADD COLUMN ca_file TEXT;
     ALTER TABLE accounts ADD COLUMN tls_fingerprint TEXT;
     ALTER TABLE accounts ADD COLUMN srtp TEXT;",
    // 7: trust: whether the server vouched for whoever called, wrote or sent a file (rows
    // from before were all taken as vouched for), and accounts reachable without a server
    "ALTER TABLE calls ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE transfers ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE accounts ADD COLUMN direct INTEGER NOT NULL DEFAULT 0;",
];

/// Where a profile keeps its files.
#[derive(Debug, Clone)]
pub struct Profile {
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    pub cache_dir: PathBuf,
}

impl Profile {
    /// `--profile DIR` puts everything under DIR; otherwise the platform's usual folders.
    pub fn new(dir: Option<&Path>) -> Result<Profile, StoreError> {
        let p = match dir {
            Some(d) => Profile {
                data_dir: d.to_path_buf(),
                config_dir: d.to_path_buf(),
                cache_dir: d.join("cache"),
            },
            None => {
                let pd = directories::ProjectDirs::from("org", "Parley", "parley")
                    .ok_or(StoreError::NoHome)?;
                Profile {
                    data_dir: pd.data_dir().to_path_buf(),
                    config_dir: pd.config_dir().to_path_buf(),
                    cache_dir: pd.cache_dir().to_path_buf(),
                }
            }
        };
        for d in [&p.data_dir, &p.config_dir, &p.cache_dir] {
            create_private_dir(d)?;
        }
        Ok(p)
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("parley.db")
    }

    /// Where received files are kept (created on first use).
    pub fn files(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    /// Where the profile's own TLS certificate and key are kept.
    pub fn tls_dir(&self) -> PathBuf {
        self.config_dir.clone()
    }

    /// Where arriving files wait until whole (private, created on first use).
    pub fn partial(&self) -> PathBuf {
        self.data_dir.join("partial")
    }
}

fn create_private_dir(d: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: d.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(d).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallRecord {
    pub id: i64,
    pub account: String,
    pub sip_call_id: String,
    pub direction: Direction,
    pub peer_uri: String,
    /// Unix seconds.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// Whether the account's server vouched for the peer (always, for calls we made).
    pub verified: bool,
}

const CALL_COLUMNS: &str = "SELECT id, account, sip_call_id, direction, peer_uri, started_at, \
    answered_at, ended_at, status, reason, verified FROM calls";

fn call_row(r: &rusqlite::Row) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        id: r.get(0)?,
        account: r.get(1)?,
        sip_call_id: r.get(2)?,
        direction: r.get(3)?,
        peer_uri: r.get(4)?,
        started_at: r.get(5)?,
        answered_at: r.get(6)?,
        ended_at: r.get(7)?,
        status: r.get(8)?,
        reason: r.get(9)?,
        verified: r.get(10)?,
    })
}

impl CallRecord {
    /// Seconds from answer to end; 0 for calls never answered.
    pub fn duration(&self) -> i64 {
        match (self.answered_at, self.ended_at) {
            (Some(a), Some(e)) => (e - a).max(0),
            _ => 0,
        }
    }
}

/// An address-book entry: a name, one or more SIP addresses, a note.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    /// 0 for a contact not saved yet.
    pub id: i64,
    pub name: String,
    pub note: String,
    pub uris: Vec<String>,
}

/// An account as saved, to sign in again at the next start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAccount {
    pub aor: String,
    pub password: String,
    pub server: Option<String>,
    pub transport: String,
    /// The digest user name, when the provider gives one apart from the address.
    pub auth_user: Option<String>,
    pub stun: Option<String>,
    /// TURN server, user, password.
    pub turn: Option<(String, String, String)>,
    pub msrp_relay: Option<String>,
    /// A CA file (PEM) trusted for this account's TLS, beside the system's roots.
    pub ca_file: Option<String>,
    /// The SHA-256 fingerprint of a server certificate trusted as it is.
    pub tls_fingerprint: Option<String>,
    /// off, optional or mandatory; `None`: by the transport.
    pub srtp: Option<String>,
    /// Takes requests from anyone, not only through its server.
    pub direct: bool,
}

pub struct Store {
    conn: Mutex<Connection>,
}

type Job = Box<dyn FnOnce(&Store) + Send>;

/// The store's own thread (DESIGN.md: one thread owns the writing connection, fed by a channel).
/// Jobs run there one at a time, in the order sent, so a read sent after a write sees it; the
/// engine awaits replies instead of blocking its task on SQLite.
#[derive(Clone)]
pub struct Db {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Db {
    pub fn spawn(store: std::sync::Arc<Store>) -> Db {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&store);
                }
            })
            .expect("store thread");
        Db { jobs }
    }

    /// Runs `f` on the store's thread and waits for its answer (None if the thread is gone).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .ok()?;
        rx.await.ok()
    }

    /// Queues a write and does not wait; a failure is logged.
    pub fn post(
        &self,
        what: &'static str,
        f: impl FnOnce(&Store) -> Result<(), StoreError> + Send + 'static,
    ) {
        let _ = self.jobs.send(Box::new(move |s| {
            if let Err(e) = f(s) {
                tracing::warn!("could not {what}: {e}");
            }
        }));
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .lock()
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn save_account(&self, a: &SavedAccount) -> Result<i64, StoreError> {
        let c = self.conn.lock().unwrap();
        let aor = &a.aor;
        c.execute(
            "INSERT INTO accounts(aor, password, server, transport, auth_user, stun, turn,
                turn_user, turn_password, msrp_relay, ca_file, tls_fingerprint, srtp, direct)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(aor) DO UPDATE SET password = ?2, server = ?3, transport = ?4,
             auth_user = ?5, stun = ?6, turn = ?7, turn_user = ?8, turn_password = ?9,
             msrp_relay = ?10, ca_file = ?11, tls_fingerprint = ?12, srtp = ?13, direct = ?14",
            params![
                aor,
                a.password,
                a.server,
                a.transport,
                a.auth_user,
                a.stun,
                a.turn.as_ref().map(|t| &t.0),
                a.turn.as_ref().map(|t| &t.1),
                a.turn.as_ref().map(|t| &t.2),
                a.msrp_relay,
                a.ca_file,
                a.tls_fingerprint,
                a.srtp,
                a.direct
            ],
        )?;
        Ok(
            c.query_row("SELECT id FROM accounts WHERE aor = ?1", [aor], |r| {
                r.get(0)
            })?,
        )
    }

    pub fn start_call(
        &self,
        account: &str,
        sip_call_id: &str,
        direction: Direction,
        peer: &str,
        verified: bool,
    ) -> Result<i64, StoreError> {
        let c = self.conn.lock().unwrap();
        c.execute(
            "INSERT INTO calls(account, sip_call_id, direction, peer_uri, started_at, verified)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![account, sip_call_id, direction, peer, now_unix(), verified],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn call_answered(&self, id: i64) -> Result<(), StoreError> {
        self.conn.lock().unwrap().execute(
            "UPDATE calls SET answered_at = ?2 WHERE id = ?1 AND answered_at IS NULL",
            params![id, now_unix()],
        )?;
        Ok(())
    }

    pub fn call_ended(&self, id: i64, status: u16, reason: &str) -> Result<(), StoreError> {
        self.conn.lock().unwrap().execute(
            "UPDATE calls SET ended_at = ?2, status = ?3, reason = ?4 WHERE id = ?1 AND ended_at IS NULL",
            params![id, now_unix(), status, reason],
        )?;
        Ok(())
    }

    /// Ends calls a previous run never finished (it was killed or crashed): they get an end
    /// time and a reason instead of staying "in progress" forever. Returns how many.
    pub fn close_interrupted_calls(&self) -> Result<usize, StoreError> {
        Ok(self.conn.lock().unwrap().execute(
            "UPDATE calls SET ended_at = COALESCE(answered_at, started_at),
                 reason = 'Interrupted: Parley stopped during the call'
             WHERE ended_at IS NULL",
            [],
        )?)
    }

    pub fn calls(&self) -> Result<Vec<CallRecord>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(&format!("{CALL_COLUMNS} ORDER BY started_at, id"))?;
        let rows = st.query_map([], call_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One call's record, as `calls` gives it.
    pub fn call(&self, id: i64) -> Result<Option<CallRecord>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(&format!("{CALL_COLUMNS} WHERE id = ?1"))?;
        let found = st.query_map([id], call_row)?.next().transpose()?;
        Ok(found)
    }

    pub fn accounts(&self) -> Result<Vec<SavedAccount>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(
            "SELECT aor, password, server, transport, auth_user, stun, turn, turn_user,
                turn_password, msrp_relay, ca_file, tls_fingerprint, srtp, direct FROM accounts
             WHERE enabled = 1 ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let turn: (Option<String>, Option<String>, Option<String>) =
                (r.get(6)?, r.get(7)?, r.get(8)?);
            Ok(SavedAccount {
                aor: r.get(0)?,
                password: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                server: r.get(2)?,
                transport: r.get(3)?,
                auth_user: r.get(4)?,
                stun: r.get(5)?,
                turn: match turn {
                    (Some(t), Some(u), Some(p)) => Some((t, u, p)),
                    _ => None,
                },
                msrp_relay: r.get(9)?,
                ca_file: r.get(10)?,
                tls_fingerprint: r.get(11)?,
                srtp: r.get(12)?,
                direct: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_account(&self, aor: &str) -> Result<(), StoreError> {
        self.conn
            .lock()
            .unwrap()
            .execute("DELETE FROM accounts WHERE aor = ?1", [aor])?;
        Ok(())
    }

    /// Inserts (id 0) or updates a contact with its addresses, in one transaction.
    pub fn save_contact(&self, contact: &Contact) -> Result<i64, StoreError> {
        let mut c = self.conn.lock().unwrap();
        let tx = c.transaction()?;
        let id = if contact.id == 0 {
            tx.execute(
                "INSERT INTO contacts(name, note) VALUES(?1, ?2)",
                params![contact.name, contact.note],
            )?;
            tx.last_insert_rowid()
        } else {
            tx.execute(
                "UPDATE contacts SET name = ?2, note = ?3 WHERE id = ?1",
                params![contact.id, contact.name, contact.note],
            )?;
            tx.execute(
                "DELETE FROM contact_uris WHERE contact_id = ?1",
                [contact.id],
            )?;
            contact.id
        };
        for uri in contact.uris.iter().filter(|u| !u.trim().is_empty()) {
            tx.execute(
                "INSERT INTO contact_uris(contact_id, uri) VALUES(?1, ?2)",
                params![id, uri.trim()],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn delete_contact(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .lock()
            .unwrap()
            .execute("DELETE FROM contacts WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare(
            "SELECT c.id, c.name, c.note, u.uri FROM contacts c LEFT JOIN contact_uris u ON u.contact_id = c.id
             ORDER BY c.name COLLATE NOCASE, c.id, u.rowid",
        )?;
        let mut out: Vec<Contact> = Vec::new();
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if out.last().map(|c| c.id) != Some(id) {
                out.push(Contact {
                    id,
                    name: r.get(1)?,
                    note: r.get(2)?,
                    uris: Vec::new(),
                });
            }
            if let Some(uri) = r.get::<_, Option<String>>(3)? {
                out.last_mut().unwrap().uris.push(uri);
            }
        }
        Ok(out)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.lock().unwrap().execute(
            "INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        let c = self.conn.lock().unwrap();
        let mut st = c.prepare("SELECT key, value FROM settings ORDER BY key")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn account_password(&self, aor: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT password FROM accounts WHERE aor = ?1", [aor], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_records_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len());
        let id = s
            .start_call("sip:a@x", "cid", Direction::Outgoing, "sip:b@x", true)
            .unwrap();
        #[cfg(unix)]
        {
            // SQLite gives the write-ahead log the database file's mode: private too.
            use std::os::unix::fs::PermissionsExt;
            let wal = dir.path().join("t.db-wal");
            assert_eq!(
                std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        s.call_answered(id).unwrap();
        s.call_ended(id, 200, "Hung up").unwrap();
        s.call_ended(id, 500, "late").unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        let calls = s.calls().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].status, Some(200));
        assert_eq!(calls[0].reason.as_deref(), Some("Hung up"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let a = SavedAccount {
            aor: "sip:a@x".into(),
            password: "pw".into(),
            server: None,
            transport: "udp".into(),
            auth_user: None,
            stun: None,
            turn: None,
            msrp_relay: None,
            ca_file: None,
            tls_fingerprint: None,
            srtp: None,
            direct: false,
        };
        let b = SavedAccount {
            password: "pw2".into(),
            transport: "tcp".into(),
            ..a.clone()
        };
        assert_eq!(s.save_account(&a).unwrap(), s.save_account(&b).unwrap());
        assert_eq!(
            s.account_password("sip:a@x").unwrap().as_deref(),
            Some("pw2")
        );
    }
    #[test]
    fn accounts_are_listed_for_restore() {
        let s = Store::open_in_memory().unwrap();
        let a = SavedAccount {
            aor: "sip:a@x".into(),
            password: "pw".into(),
            server: Some("10.0.0.1:5060".into()),
            transport: "tcp".into(),
            auth_user: Some("a-1234".into()),
            stun: Some("stun.example.com:3478".into()),
            turn: Some(("turn.example.com".into(), "a".into(), "secret".into())),
            msrp_relay: Some("relay.example.com:2855".into()),
            ca_file: Some("/etc/company-ca.pem".into()),
            tls_fingerprint: Some("AB:CD".into()),
            srtp: Some("mandatory".into()),
            direct: true,
        };
        s.save_account(&a).unwrap();
        let all = s.accounts().unwrap();
        assert_eq!(all, vec![a]);
        assert_eq!(all[0].server.as_deref(), Some("10.0.0.1:5060"));
        assert_eq!(all[0].transport, "tcp");
        s.delete_account("sip:a@x").unwrap();
        assert!(s.accounts().unwrap().is_empty());
    }

    #[test]
    fn contacts_round_trip() {
        let s = Store::open_in_memory().unwrap();
        let mut bob = Contact {
            id: 0,
            name: "Bob".into(),
            note: "desk phone".into(),
            uris: vec!["sip:bob@company.com".into(), "sip:1002@company.com".into()],
        };
        bob.id = s.save_contact(&bob).unwrap();
        let ann = Contact {
            id: 0,
            name: "ann".into(),
            note: String::new(),
            uris: vec![],
        };
        let ann_id = s.save_contact(&ann).unwrap();
        let all = s.contacts().unwrap();
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["ann", "Bob"]);
        assert_eq!(all[1], bob);
        bob.uris = vec!["sip:robert@company.com".into()];
        s.save_contact(&bob).unwrap();
        assert_eq!(
            s.contacts().unwrap()[1].uris,
            vec!["sip:robert@company.com"]
        );
        s.delete_contact(ann_id).unwrap();
        assert_eq!(s.contacts().unwrap().len(), 1);
    }

    #[test]
    fn settings_are_upserted() {
        let s = Store::open_in_memory().unwrap();
        s.set_setting("theme", "dark").unwrap();
        s.set_setting("theme", "light").unwrap();
        s.set_setting("ringtone", "off").unwrap();
        assert_eq!(
            s.settings().unwrap(),
            vec![
                ("ringtone".into(), "off".into()),
                ("theme".into(), "light".into())
            ]
        );
    }
}

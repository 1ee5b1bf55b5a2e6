//! Chat and files in a call (the seed's flow): the MSRP session negotiated on the call's
//! `m=message` line starts when the call connects; its text and files become events, and the
//! window's and CLI's commands go out on it. Ended with the call.

use super::{CallId, Core, Event};
use crate::msrp::session::{MsrpSession, SessionEvent, SessionParams};
use crate::store::{Db, NewMessage, NewTransfer};

/// Who a call's messages and files are with, for the store.
#[derive(Clone)]
struct Party {
    db: Option<Db>,
    account: String,
    peer: String,
}

impl Party {
    /// Records what the session reported (delivery and arrivals), in the store's thread.
    fn record(&self, e: &SessionEvent) {
        let Some(db) = &self.db else { return };
        let (account, peer) = (self.account.clone(), self.peer.clone());
        match e.clone() {
            SessionEvent::Text { content_type, text } => db.post("save a message", move |s| {
                let m = NewMessage {
                    account: &account,
                    peer: &peer,
                    direction: "incoming",
                    content_type: &content_type,
                    body: &text,
                    state: "received",
                };
                s.add_message(&m).map(|_| ())
            }),
            SessionEvent::FileReceived {
                name,
                path,
                size,
                sha256,
            } => db.post("save a received file", move |s| {
                let path = path.display().to_string();
                let t = NewTransfer {
                    account: &account,
                    peer: &peer,
                    direction: "incoming",
                    name: &name,
                    size,
                    state: "received",
                    path: Some(&path),
                    sha256: Some(&sha256),
                };
                s.add_transfer(&t).map(|_| ())
            }),
            SessionEvent::FileSent { name, .. } => db.post("save a delivery", move |s| {
                s.outgoing_transfer_ended(&peer, &name, "delivered")
            }),
            SessionEvent::Failed(_) | SessionEvent::Progress { .. } => {}
        }
    }
}

impl Core {
    /// Starts the call's MSRP session when both sides agreed to one and it is not running.
    pub(super) fn start_msrp(&mut self, id: CallId) {
        let files = self.config.files.clone();
        let events = self.events.clone();
        let Some(party) = self.party(id) else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let agreed = c.negotiated.as_ref().and_then(|n| n.msrp.clone());
        let (Some((remote_path, active)), Some(local_path), None) =
            (agreed, c.media.msrp_path.clone(), &c.msrp)
        else {
            return;
        };
        if let Err(e) = std::fs::create_dir_all(&files) {
            tracing::warn!("cannot create {}: {e}", files.display());
        }
        let params = SessionParams {
            local_path,
            remote_path,
            active,
            files,
        };
        let report = move |e: SessionEvent| {
            party.record(&e);
            let ev = match e {
                SessionEvent::Text { content_type, text } => Event::Message {
                    call: id,
                    content_type,
                    text,
                },
                SessionEvent::FileReceived {
                    name,
                    path,
                    size,
                    sha256,
                } => Event::FileReceived {
                    call: id,
                    name,
                    path,
                    size,
                    sha256,
                },
                SessionEvent::FileSent { name, size } => Event::FileSent {
                    call: id,
                    name,
                    size,
                },
                SessionEvent::Failed(message) => Event::TransferFailed { call: id, message },
                SessionEvent::Progress {
                    name,
                    done,
                    total,
                    bytes_per_second,
                } => Event::TransferProgress {
                    call: id,
                    name,
                    done,
                    total,
                    bytes_per_second,
                },
            };
            let _ = events.try_send(ev);
        };
        c.msrp = Some(MsrpSession::start(c.msrp_listener.take(), params, report));
    }

    fn party(&self, id: CallId) -> Option<Party> {
        let c = self.calls.get(&id)?;
        Some(Party {
            db: self.db.clone(),
            account: self.accounts.get(&c.account)?.uri.aor(),
            peer: c.peer.clone(),
        })
    }

    fn msrp_of(&self, id: CallId) -> Result<&MsrpSession, String> {
        let c = self.calls.get(&id).ok_or("That call has ended")?;
        c.msrp.as_ref().ok_or_else(|| {
            "This call has no chat or file line (the other side did not take one)".into()
        })
    }

    pub(super) async fn send_text(&mut self, id: CallId, text: &str) {
        match self.msrp_of(id) {
            Ok(m) => m.send_text(text),
            Err(message) => return self.emit(Event::TransferFailed { call: id, message }).await,
        }
        if let Some(Party {
            db: Some(db),
            account,
            peer,
        }) = self.party(id)
        {
            let text = text.to_string();
            db.post("save a message", move |s| {
                let m = NewMessage {
                    account: &account,
                    peer: &peer,
                    direction: "outgoing",
                    content_type: "text/plain",
                    body: &text,
                    state: "sent",
                };
                s.add_message(&m).map(|_| ())
            });
        }
    }

    pub(super) async fn send_file(&mut self, id: CallId, path: std::path::PathBuf) {
        if !path.is_file() {
            let message = format!("{} is not a file that can be read", path.display());
            return self.emit(Event::TransferFailed { call: id, message }).await;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match self.msrp_of(id) {
            Ok(m) => m.send_file(path),
            Err(message) => return self.emit(Event::TransferFailed { call: id, message }).await,
        }
        if let Some(Party {
            db: Some(db),
            account,
            peer,
        }) = self.party(id)
        {
            db.post("save a transfer", move |s| {
                let t = NewTransfer {
                    account: &account,
                    peer: &peer,
                    direction: "outgoing",
                    name: &name,
                    size,
                    state: "sending",
                    path: None,
                    sha256: None,
                };
                s.add_transfer(&t).map(|_| ())
            });
        }
    }
}

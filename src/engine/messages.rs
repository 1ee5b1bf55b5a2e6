//! Chat and files on a call's or session's MSRP line: the session starts when the call connects;
//! what it reports comes back into the engine's loop (`Internal::Msrp`), is stored, becomes an
//! event, and ends a file session once its file has arrived, failed or been cancelled. The
//! window's and CLI's commands go out on it. Ended with the call.

use super::delivery::Text;
use super::transfer::Purpose;
use super::{AccountId, CallId, Core, Event, Internal};
use crate::msrp::session::{Expected, MsrpSession, SessionEvent, SessionParams};
use crate::store::{now_unix, Db, Direction, MessageState, NewTransfer, TransferState};

/// Who a call's messages and files are with, for the store.
#[derive(Clone)]
pub(super) struct Party {
    pub db: Option<Db>,
    pub account: String,
    pub peer: String,
    /// Whether the server vouched for the peer.
    pub verified: bool,
}

impl Party {
    /// Records a transfer row in the store's thread.
    pub(super) fn transfer(&self, t: OwnedTransfer) {
        let Some(db) = &self.db else { return };
        let (account, peer) = (self.account.clone(), self.peer.clone());
        let verified = self.verified;
        db.post("save a transfer", move |s| {
            let row = NewTransfer {
                account: &account,
                peer: &peer,
                direction: t.direction,
                name: &t.name,
                size: t.size,
                state: t.state,
                path: t.path.as_deref(),
                sha256: t.sha256.as_deref(),
                verified,
            };
            s.add_transfer(&row).map(|_| ())
        });
    }

    /// Ends our latest outgoing transfer of `name` in `state`.
    pub(super) fn outgoing_ended(&self, name: &str, state: TransferState) {
        let Some(db) = &self.db else { return };
        let (peer, name) = (self.peer.clone(), name.to_string());
        db.post("save the end of a transfer", move |s| {
            s.outgoing_transfer_ended(&peer, &name, state)
        });
    }

    /// Records what the session reported (arrivals, deliveries, cancels).
    fn record(&self, e: &SessionEvent) {
        match e.clone() {
            SessionEvent::FileReceived {
                name,
                path,
                size,
                sha256,
            } => self.transfer(OwnedTransfer {
                direction: Direction::Incoming,
                name,
                size,
                state: TransferState::Received,
                path: Some(path.display().to_string()),
                sha256: Some(sha256),
            }),
            SessionEvent::FileSent { name, .. } => {
                self.outgoing_ended(&name, TransferState::Delivered)
            }
            SessionEvent::Cancelled {
                name,
                incoming: false,
                ..
            } => self.outgoing_ended(&name, TransferState::Cancelled),
            SessionEvent::Cancelled { name, .. } => self.transfer(OwnedTransfer {
                direction: Direction::Incoming,
                name,
                size: 0,
                state: TransferState::Cancelled,
                path: None,
                sha256: None,
            }),
            SessionEvent::Failed(_)
            | SessionEvent::Text { .. }
            | SessionEvent::Progress { .. }
            | SessionEvent::Arriving { .. }
            | SessionEvent::AllAnswered { .. }
            | SessionEvent::TextDelivered => {}
        }
    }
}

/// A transfer row with owned values, for the store's thread.
pub(super) struct OwnedTransfer {
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    pub state: TransferState,
    pub path: Option<String>,
    pub sha256: Option<String>,
}

/// What the user hears of a session event (`None`: nothing, yet).
fn event_of(call: CallId, who: (AccountId, bool), peer: String, e: SessionEvent) -> Option<Event> {
    let (account, verified) = who;
    Some(match e {
        // Texts are stored and told with their ids by `msrp_event`.
        SessionEvent::AllAnswered { .. }
        | SessionEvent::Text { .. }
        | SessionEvent::TextDelivered => return None,
        SessionEvent::FileReceived {
            name,
            path,
            size,
            sha256,
        } => Event::FileReceived {
            call,
            peer,
            name,
            path,
            size,
            sha256,
            at: now_unix(),
        },
        SessionEvent::FileSent { name, size } => Event::FileSent {
            call,
            peer,
            name,
            size,
            at: now_unix(),
        },
        SessionEvent::Cancelled { name, by_peer, .. } => Event::TransferCancelled {
            call,
            peer,
            name,
            by_peer,
            at: now_unix(),
        },
        SessionEvent::Failed(message) => Event::TransferFailed {
            call,
            peer,
            message,
            at: now_unix(),
        },
        SessionEvent::Arriving {
            name,
            size,
            content_type,
        } => Event::FileOffered {
            call,
            account,
            from: peer,
            display_name: None,
            name,
            size,
            content_type,
            during_call: true,
            verified,
        },
        SessionEvent::Progress {
            name,
            incoming,
            done,
            total,
            bytes_per_second,
        } => Event::TransferProgress {
            call,
            peer,
            name,
            incoming,
            done,
            total,
            bytes_per_second,
        },
    })
}

impl Core {
    /// Starts the call's MSRP session when both sides agreed to one and it is not running.
    pub(super) fn start_msrp(&mut self, id: CallId) {
        let files = self.config.files.clone();
        let max_size = self.config.max_file_size;
        let internal = self.internal.clone();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let agreed = c.negotiated.as_ref().and_then(|n| n.msrp.clone());
        let theirs = c.negotiated.as_ref().and_then(|n| n.msrp_tls);
        let tls = match (theirs, &self.media_identity) {
            (Some(theirs), Some(identity)) => Some(crate::msrp::session::PeerTls {
                identity: identity.clone(),
                theirs,
            }),
            _ => None,
        };
        let (Some((remote_path, active)), Some(local_path), None) =
            (agreed, c.media.msrp_path.clone(), &c.msrp)
        else {
            return;
        };
        // Through our relay: our own URI is the last of our path, and what we send goes to
        // the relay first.
        let relayed = c.msrp_relay.take();
        // Over TLS our path is the `msrps:` one our SDP gave, else the `msrp:` one.
        let secure = c.negotiated.as_ref().is_some_and(|n| n.msrp_tls.is_some());
        let our_path = |p: &str| match secure {
            true => crate::sdp::secure_path(p),
            false => crate::sdp::plain_path(p),
        };
        let (local_path, remote_path, tls) = match &relayed {
            // The relay's connection is all the TLS there is: the other side's connection
            // ends at the relay, which checks nobody's fingerprint but its users' passwords.
            Some(g) => {
                let own = local_path.split_whitespace().last().unwrap_or_default();
                let first = our_path(&g.use_path);
                (our_path(own), format!("{first} {remote_path}"), None)
            }
            None => (our_path(&local_path), remote_path, tls),
        };
        if let Err(e) = std::fs::create_dir_all(&files) {
            tracing::warn!("cannot create {}: {e}", files.display());
        }
        let expect = match &c.purpose {
            Purpose::ReceiveFile { file, temp } => Some(Expected {
                name: file.name.clone(),
                size: file.size,
                temp: temp.clone(),
                sha1: file.sha1.clone(),
            }),
            _ => None,
        };
        let params = SessionParams {
            local_path,
            remote_path,
            active,
            files,
            partial: self.config.partial_dir(),
            max_size,
            expect,
            ask: true,
            max_upload: self.config.max_upload,
            budget: self.msrp_budget.clone(),
            tls,
        };
        let report = move |e: SessionEvent| {
            let _ = internal.send(Internal::Msrp(id, e));
        };
        c.msrp = Some(match relayed {
            Some(g) => MsrpSession::start_relayed((g.stream, g.relay.ip()), params, report),
            None => MsrpSession::start(c.msrp_listener.take(), params, report),
        });
        self.session_started(id);
    }

    pub(super) fn party(&self, id: CallId) -> Option<Party> {
        let c = self.calls.get(&id)?;
        Some(Party {
            db: self.db.clone(),
            account: self.accounts.get(&c.account)?.uri.aor(),
            peer: c.peer.clone(),
            verified: c.peer_verified(),
        })
    }

    /// What an MSRP session reported: stored, told, and acted on by file sessions.
    pub(super) async fn msrp_event(&mut self, id: CallId, e: SessionEvent) {
        if let SessionEvent::AllAnswered { .. } = e {
            // Said only if the session ends before the report (`session_ended`).
            if let Some(c) = self.calls.get_mut(&id) {
                c.all_answered = true;
            }
            return;
        }
        self.chat_text(id, &e).await;
        let Some(party) = self.party(id) else { return };
        party.record(&e);
        self.flush_store().await;
        let Some(who) = self.calls.get(&id).map(|c| (c.account, c.peer_verified())) else {
            return;
        };
        if let Some(ev) = event_of(id, who, party.peer, e.clone()) {
            self.emit(ev).await;
        }
        self.file_session_reacts(id, &e).await;
    }

    /// Waits until queued writes have landed: whoever hears an event finds it stored.
    pub(super) async fn flush_store(&self) {
        if let Some(db) = &self.db {
            db.run(|_| ()).await;
        }
    }

    fn msrp_of(&self, id: CallId) -> Result<&MsrpSession, String> {
        let c = self.calls.get(&id).ok_or("That call has ended")?;
        c.msrp.as_ref().ok_or_else(|| {
            "This call has no chat or file line (the other side did not take one)".into()
        })
    }

    async fn refused(&self, id: CallId, message: String) {
        let peer = self
            .calls
            .get(&id)
            .map(|c| c.peer.clone())
            .unwrap_or_default();
        self.emit(Event::TransferFailed {
            call: id,
            peer,
            message,
            at: now_unix(),
        })
        .await
    }

    pub(super) async fn send_text(&mut self, id: CallId, text: &str) {
        match self.msrp_of(id) {
            Ok(m) => m.send_text(text),
            Err(message) => return self.refused(id, message).await,
        }
        let Some((account, peer)) = self.calls.get(&id).map(|c| (c.account, c.peer.clone())) else {
            return;
        };
        let text_id = self.text_sending(account, &peer, text, Some(id)).await;
        if let Some(c) = self.calls.get_mut(&id) {
            c.texts.push_back(text_id);
        }
    }

    /// A text on the call's chat: theirs stored and told, ours answered.
    async fn chat_text(&mut self, id: CallId, e: &SessionEvent) {
        let Some(c) = self.calls.get(&id) else { return };
        let (account, peer, verified) = (c.account, c.peer.clone(), c.peer_verified());
        match e {
            SessionEvent::Text { content_type, text } => {
                let aor = self
                    .accounts
                    .get(&account)
                    .map(|a| a.uri.aor())
                    .unwrap_or_default();
                let text_id = self
                    .store_text(Text {
                        account: &aor,
                        peer: &peer,
                        direction: Direction::Incoming,
                        state: MessageState::Received,
                        content_type,
                        body: text,
                        verified,
                    })
                    .await;
                self.emit(Event::Message {
                    id: text_id,
                    call: id,
                    peer,
                    content_type: content_type.clone(),
                    text: text.clone(),
                    at: crate::store::now_unix(),
                    verified,
                })
                .await;
            }
            SessionEvent::TextDelivered => self.call_text_delivered(id).await,
            SessionEvent::Failed(why) => {
                let pending = self
                    .calls
                    .get_mut(&id)
                    .map(|c| std::mem::take(&mut c.texts));
                self.call_texts_failed(pending.unwrap_or_default(), &peer, why)
                    .await;
            }
            _ => {}
        }
    }

    pub(super) async fn send_file(&mut self, id: CallId, path: std::path::PathBuf) {
        if !path.is_file() {
            let message = format!("{} is not a file that can be read", path.display());
            return self.refused(id, message).await;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match self.msrp_of(id) {
            Ok(m) => m.send_file(path),
            Err(message) => return self.refused(id, message).await,
        }
        if let Some(p) = self.party(id) {
            p.transfer(OwnedTransfer {
                direction: Direction::Outgoing,
                name,
                size,
                state: TransferState::Sending,
                path: None,
                sha256: None,
            });
        }
    }

    pub(super) async fn take_file(&mut self, id: CallId, name: &str, accept: bool) {
        match self.msrp_of(id) {
            Ok(m) => m.take(name, accept),
            Err(message) => self.refused(id, message).await,
        }
    }

    pub(super) async fn cancel_transfer(&mut self, id: CallId, name: &str) {
        match self.msrp_of(id) {
            Ok(m) => m.cancel(name),
            // An offer not yet accepted (ours or theirs) is withdrawn or declined instead.
            Err(_) if self.calls.contains_key(&id) => self.hangup(id).await,
            Err(message) => self.refused(id, message).await,
        }
    }
}

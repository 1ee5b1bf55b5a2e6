//! Sessions that are not voice calls: a file sent to a contact outside a call (RFC 5547: an
//! INVITE whose only stream is `m=message` with `a=file-selector`, accepted or declined with
//! 603), and MSRP chat sessions. They reuse the call machinery (dialog, answer, BYE) but speak
//! in transfer events instead of call events. A file session ends itself once the file has
//! arrived, failed or been cancelled. A receiver keeps what a broken connection left in a
//! temporary file named by the file's hash, and answers the next offer of the same file with
//! `a=file-range` from where it stopped.

use super::messages::OwnedTransfer;
use super::{AccountId, CallId, Core, Direction, Event, Internal, TransferState};
use crate::msrp::session::SessionEvent;
use crate::sdp::file::FileSelector;
use std::path::{Path, PathBuf};

pub(crate) enum Purpose {
    Voice,
    Chat,
    SendFile { path: PathBuf, file: FileSelector },
    ReceiveFile { file: FileSelector, temp: PathBuf },
}

impl Purpose {
    pub(super) fn is_voice(&self) -> bool {
        matches!(self, Purpose::Voice)
    }

    pub(super) fn is_chat(&self) -> bool {
        matches!(self, Purpose::Chat)
    }

    fn file(&self) -> Option<&FileSelector> {
        match self {
            Purpose::SendFile { file, .. } | Purpose::ReceiveFile { file, .. } => Some(file),
            _ => None,
        }
    }
}

/// Name, type, size and SHA-1 of a file to offer (read once from disk, off the engine's loop).
fn describe(path: &Path) -> Result<FileSelector, String> {
    use sha1::{Digest, Sha1};
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    let mut h = Sha1::new();
    crate::msrp::digest::read_pieces(path, |piece| h.update(piece))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    Ok(FileSelector {
        content_type: crate::msrp::mime::of_name(&name).into(),
        name,
        size: meta.len(),
        sha1: Some(crate::msrp::digest::hex(&h.finalize())),
    })
}

/// Where an offered file's bytes go until it is whole: the same place for the same file, so a
/// second attempt finds what the first one left.
pub(super) fn partial_path(files: &Path, file: &FileSelector, peer: &str) -> PathBuf {
    let key = match &file.sha1 {
        Some(h) => h.clone(),
        None => {
            use sha2::{Digest, Sha256};
            let h = Sha256::digest(format!("{peer}\n{}\n{}", file.name, file.size));
            crate::msrp::digest::hex(&h[..16])
        }
    };
    files.join(format!(".parley-{key}.part"))
}

/// The first byte to ask for: past what a broken attempt left, else 1 (and a leftover that
/// cannot be a prefix of this file is dropped).
pub(super) fn resume_point(temp: &Path, size: u64) -> u64 {
    match std::fs::metadata(temp).map(|m| m.len()) {
        Ok(have) if have < size => have + 1,
        Ok(_) => {
            let _ = std::fs::remove_file(temp);
            1
        }
        Err(_) => 1,
    }
}

impl Core {
    /// A file for a contact: on our call with them when it has a chat line, else in a file
    /// session of its own once the file is hashed.
    pub(super) async fn send_file_to(&mut self, account: AccountId, target: &str, path: PathBuf) {
        let uri = self.complete_target(account, target).map(|u| u.aor());
        let on_call = self.calls.iter().find(|(_, c)| {
            c.purpose.is_voice() && c.msrp.is_some() && Some(&c.peer) == uri.as_ref()
        });
        if let Some((id, _)) = on_call {
            let id = *id;
            return self.send_file(id, path).await;
        }
        let internal = self.internal.clone();
        let target = target.to_string();
        let described = self.described.clone();
        tokio::task::spawn_blocking(move || {
            let file = described.get(&path, std::time::SystemTime::now(), describe);
            let _ = internal.send(Internal::FileReady {
                account,
                target,
                path,
                file,
            });
        });
    }

    pub(super) async fn file_ready(
        &mut self,
        account: AccountId,
        target: &str,
        path: PathBuf,
        file: Result<FileSelector, String>,
    ) {
        match file {
            Ok(file) => {
                self.call_with(account, target, Purpose::SendFile { path, file })
                    .await
            }
            Err(message) => self.emit(Event::Error { message }).await,
        }
    }

    pub(super) async fn start_chat(&mut self, account: AccountId, target: &str) {
        self.call_with(account, target, Purpose::Chat).await
    }

    /// An offered session that is not a voice call: a file (asks the user) or chat (taken
    /// from someone the user knows, else asked like a call).
    pub(super) async fn offered_session(&mut self, id: CallId) {
        let Some(c) = self.calls.get(&id) else { return };
        let (account, from) = (c.account, c.peer.clone());
        let (display_name, verified) = match &c.caller {
            Some(who) => (who.display_name.clone(), who.verified),
            None => (None, false),
        };
        match &c.purpose {
            Purpose::ReceiveFile { file, .. } => {
                let ev = Event::FileOffered {
                    call: id,
                    account,
                    from,
                    display_name,
                    name: crate::msrp::names::safe_name(&file.name),
                    size: file.size,
                    content_type: file.content_type.clone(),
                    during_call: false,
                    verified,
                };
                self.emit(ev).await
            }
            // Only someone the server vouched for is taken as the contact they claim to be.
            _ if verified && self.knows(&from).await => self.answer(id).await,
            _ => {
                let ev = Event::ChatOffered {
                    call: id,
                    account,
                    from,
                    display_name,
                    verified,
                };
                self.emit(ev).await
            }
        }
    }

    /// Whether the peer is a saved contact or someone the user wrote to.
    async fn knows(&self, peer: &str) -> bool {
        let Some(db) = &self.db else { return false };
        let peer = peer.to_string();
        matches!(db.run(move |s| s.knows(&peer)).await, Some(Ok(true)))
    }

    /// The session's MSRP line is up: what a file or chat session says about it.
    pub(super) fn session_started(&mut self, id: CallId) {
        let Some(c) = self.calls.get(&id) else { return };
        let peer = c.peer.clone();
        let from = c.negotiated.as_ref().and_then(|n| n.file_from).unwrap_or(1) - 1;
        let ev = match &c.purpose {
            Purpose::SendFile { path, file } => {
                if let Some(m) = &c.msrp {
                    m.resume_file(path.clone(), from.min(file.size));
                }
                if let Some(p) = self.party(id) {
                    p.transfer(OwnedTransfer {
                        direction: Direction::Outgoing,
                        name: file.name.clone(),
                        size: file.size,
                        state: TransferState::Sending,
                        path: None,
                        sha256: None,
                    });
                }
                Some(started(id, peer, file, from, false))
            }
            Purpose::ReceiveFile { file, .. } => {
                let from = c.media.resume_from.max(1) - 1;
                Some(started(id, peer, file, from, true))
            }
            Purpose::Chat => Some(Event::ChatStarted { call: id, peer }),
            Purpose::Voice => None,
        };
        if let Some(ev) = ev {
            let _ = self.events.try_send(ev);
        }
    }

    /// A file session ends when its file's fate is known.
    pub(super) async fn file_session_reacts(&mut self, id: CallId, e: &SessionEvent) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let sending = matches!(c.purpose, Purpose::SendFile { .. });
        let receiving = matches!(c.purpose, Purpose::ReceiveFile { .. });
        match e {
            SessionEvent::FileSent { .. } | SessionEvent::Cancelled { .. } if sending => {
                c.finished = true;
                self.hangup(id).await
            }
            // The sender ends the session once it has our report.
            SessionEvent::FileReceived { .. } if receiving => c.finished = true,
            SessionEvent::Cancelled { .. } if receiving => {
                c.finished = true;
                self.hangup(id).await
            }
            SessionEvent::Failed(_)
                if sending || receiving || matches!(c.purpose, Purpose::Chat) =>
            {
                // A broken connection: what arrived is kept to resume from; the other side
                // may be gone, so the session ends here without waiting for its answer.
                c.finished = true;
                c.keep_partial = true;
                self.hangup(id).await;
                self.end_call(id, 200, "Connection lost").await
            }
            _ => {}
        }
    }

    /// The end of a session that was not a voice call: the file's fate when no event told it
    /// yet, what is left of it removed unless a broken connection may resume.
    /// `phrase`: the refusal's words (its Warning's, where it had one).
    pub(super) async fn session_ended(
        &mut self,
        id: CallId,
        c: super::call::Call,
        status: u16,
        phrase: &str,
    ) {
        let peer = c.peer.clone();
        let party = super::messages::Party {
            db: self.db.clone(),
            account: self
                .accounts
                .get(&c.account)
                .map(|a| a.uri.aor())
                .unwrap_or_default(),
            peer: peer.clone(),
            verified: c.peer_verified(),
        };
        if let Purpose::ReceiveFile { temp, .. } = &c.purpose {
            if !c.keep_partial {
                let _ = std::fs::remove_file(temp);
            }
        }
        let at = crate::store::now_unix();
        let ev = match (&c.purpose, c.finished) {
            (Purpose::Chat, _) => Event::ChatEnded { call: id, peer },
            (_, true) | (Purpose::Voice, _) => return,
            (purpose, false) => {
                let file = purpose.file().expect("file sessions have a file");
                let outgoing = matches!(purpose, Purpose::SendFile { .. });
                match (status, outgoing) {
                    // Every byte was taken, but the other side ended before its report.
                    (200, true) if c.all_answered => {
                        party.outgoing_ended(&file.name, TransferState::Sent);
                        Event::FileSentUnconfirmed {
                            call: id,
                            peer,
                            name: file.name.clone(),
                            size: file.size,
                            at,
                        }
                    }
                    // Connected, then ended by the other side before the end of the file.
                    (200, _) => {
                        match outgoing {
                            true => party.outgoing_ended(&file.name, TransferState::Cancelled),
                            false => party.transfer(cancelled_row(file)),
                        }
                        Event::TransferCancelled {
                            call: id,
                            peer,
                            name: file.name.clone(),
                            by_peer: true,
                            at,
                        }
                    }
                    (_, true) => Event::TransferFailed {
                        call: id,
                        message: refusal(status, phrase, &peer, &file.name),
                        peer,
                        at,
                    },
                    (_, false) => {
                        party.transfer(cancelled_row(file));
                        Event::TransferCancelled {
                            call: id,
                            peer,
                            name: file.name.clone(),
                            by_peer: false,
                            at,
                        }
                    }
                }
            }
        };
        self.flush_store().await;
        self.emit(ev).await
    }
}

fn started(call: CallId, peer: String, file: &FileSelector, from: u64, incoming: bool) -> Event {
    Event::TransferStarted {
        call,
        peer,
        name: file.name.clone(),
        size: file.size,
        from,
        incoming,
    }
}

fn cancelled_row(file: &FileSelector) -> OwnedTransfer {
    OwnedTransfer {
        direction: Direction::Incoming,
        name: crate::msrp::names::safe_name(&file.name),
        size: file.size,
        state: TransferState::Cancelled,
        path: None,
        sha256: None,
    }
}

/// Why an offer of ours was not taken, in words; `phrase` is the refusal's (a Parley that
/// takes no file this large says so in a Warning, a program without file transfer does not).
fn refusal(status: u16, phrase: &str, peer: &str, name: &str) -> String {
    match status {
        603 | 486 | 600 => format!("{peer} declined {name}"),
        480 | 408 => format!("{peer} did not answer the offer of {name}"),
        487 => format!("The offer of {name} was withdrawn"),
        488 if phrase.to_ascii_lowercase().contains("larger") => {
            format!("{name} is larger than {peer} takes")
        }
        488 | 415 => format!("{peer} cannot receive files (their app has no file transfer)"),
        s => format!(
            "{name} was not sent: {}",
            super::reason::line(s, crate::sip::message::default_reason(s))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn a_file_refused_says_whether_it_was_too_large_or_never_possible() {
        let big = refusal(488, "File larger than this user takes", "bob", "a.iso");
        assert_eq!(big, "a.iso is larger than bob takes");
        let none = refusal(488, "Not Acceptable Here", "bob", "a.txt");
        assert!(none.contains("cannot receive files"), "{none}");
        assert!(!none.contains("large"), "{none}");
    }
}

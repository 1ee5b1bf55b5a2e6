//! Chat and files in a call (the seed's flow): the MSRP session negotiated on the call's
//! `m=message` line starts when the call connects; its text and files become events, and the
//! window's and CLI's commands go out on it. Ended with the call.

use super::{CallId, Core, Event};
use crate::msrp::session::{MsrpSession, SessionEvent, SessionParams};

impl Core {
    /// Starts the call's MSRP session when both sides agreed to one and it is not running.
    pub(super) fn start_msrp(&mut self, id: CallId) {
        let files = self.config.files.clone();
        let events = self.events.clone();
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
            };
            let _ = events.try_send(ev);
        };
        c.msrp = Some(MsrpSession::start(c.msrp_listener.take(), params, report));
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
            Err(message) => self.emit(Event::TransferFailed { call: id, message }).await,
        }
    }

    pub(super) async fn send_file(&mut self, id: CallId, path: std::path::PathBuf) {
        if !path.is_file() {
            let message = format!("{} is not a file that can be read", path.display());
            return self.emit(Event::TransferFailed { call: id, message }).await;
        }
        match self.msrp_of(id) {
            Ok(m) => m.send_file(path),
            Err(message) => self.emit(Event::TransferFailed { call: id, message }).await,
        }
    }
}

//! What a desktop window asks of the engine beyond calls: the ringtone while a call rings in,
//! the list of audio devices, and the address book to and from vCard files. Here so that the
//! window holds no audio or file-format code of its own.

use super::{CallState, Core, Event};
use crate::media::ringer::{Ringer, RINGTONE};
use std::path::PathBuf;

/// The setting that turns the ringtone off ("off"); anything else rings.
pub(super) const RINGTONE_SETTING: &str = "ringtone";

impl Core {
    /// Rings while a call or chat rings in, if this engine rings at all and the user wants it.
    pub(super) fn update_ringer(&mut self) {
        let ringing = self.ring_enabled
            && self.calls.values().any(|c| {
                c.state == CallState::Incoming && (c.purpose.is_voice() || c.purpose.is_chat())
            });
        match (ringing, self.ringer.is_some()) {
            (true, false) => {
                self.ringer = Ringer::start(RINGTONE)
                    .map_err(|e| tracing::info!("no ringtone: {e}"))
                    .ok();
            }
            (false, true) => self.ringer = None,
            _ => {}
        }
    }

    /// The user turned the ringtone on or off in Settings.
    pub(super) fn ringtone_setting(&mut self, value: &str) {
        self.ring_enabled = self.config.ring && value != "off";
    }

    /// Lists audio devices off the loop (ALSA may take a moment probing cards).
    pub(super) fn list_devices(&self) {
        let events = self.events.clone();
        tokio::spawn(async move {
            let d = crate::media::devices::list_async().await;
            let _ = events
                .send(Event::Devices {
                    inputs: d.inputs,
                    outputs: d.outputs,
                    error: d.error,
                })
                .await;
        });
    }

    /// Reads contacts from a vCard file and saves each one.
    pub(super) async fn import_contacts(&mut self, path: PathBuf) {
        let contacts = match read_vcards(&path).await {
            Ok(c) => c,
            Err(message) => return self.emit(Event::Error { message }).await,
        };
        let count = contacts.len();
        let saved = self
            .query("save the imported contacts", move |s| {
                contacts
                    .iter()
                    .try_for_each(|c| s.save_contact(c).map(|_| ()))
            })
            .await;
        if saved.is_some() {
            self.send_contacts().await;
            self.emit(Event::ContactsImported { count, path }).await;
        }
    }

    /// Writes the whole address book to a vCard file.
    pub(super) async fn export_contacts(&mut self, path: PathBuf) {
        let Some(contacts) = self.query("read contacts", |s| s.contacts()).await else {
            return;
        };
        let text = crate::vcard::write(&contacts);
        let to = path.clone();
        let written = tokio::task::spawn_blocking(move || std::fs::write(to, text))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written {
            Ok(()) => {
                let count = contacts.len();
                self.emit(Event::ContactsExported { count, path }).await;
            }
            Err(e) => {
                let message = format!("Cannot write {}: {e}", path.display());
                self.emit(Event::Error { message }).await;
            }
        }
    }
}

/// The named contacts of a vCard file, or why there are none, in words.
async fn read_vcards(path: &std::path::Path) -> Result<Vec<crate::store::Contact>, String> {
    let name = path.display();
    let from = path.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(from))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|e| format!("Cannot read {name}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{name} is not a text vCard file"))?;
    let contacts = crate::vcard::read(&text);
    if contacts.is_empty() {
        return Err(format!("No contacts found in {name}"));
    }
    Ok(contacts)
}

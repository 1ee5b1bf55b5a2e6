//! Engine events, handed round: each pane applies what it cares about (accounts, calls, chat),
//! and what touches several (signing in, a call arriving or ending, news from someone) is
//! decided here.

use super::call::CallView;
use super::{notify, threads, trust, welcome, App, Message, Screen, Tab};
use crate::engine::{CallOutcome, CallState, Command, Direction, Event};
use iced::widget::operation;
use iced::Task;
use std::time::Instant;

impl App {
    pub(super) fn on_event(&mut self, ev: Event) -> Task<Message> {
        if let Event::FileOffered {
            call,
            from,
            name,
            during_call,
            verified: true,
            ..
        } = &ev
        {
            // Only a sender the server vouched for is the contact they name.
            if self.settings.accept_from_contacts && self.contacts.by_uri(from).is_some() {
                self.send(Command::take_offer(*call, name, *during_call, true));
                return Task::none();
            }
        }
        self.accounts.apply(&ev);
        self.calls.apply(&ev);
        let news = self.chat.absorb(&ev).map(|n| self.chat_news(n));
        let task = match self.sign_in_event(&ev) {
            Some(t) => t,
            None if self.data_event(&ev) => Task::none(),
            None => self.call_event(ev),
        };
        Task::batch([task, news.unwrap_or_else(Task::none)])
    }

    /// A text or file from someone: counted unread unless their conversation is in view,
    /// and a desktop notification when the window is not in front.
    fn chat_news(&mut self, n: super::chat::News) -> Task<Message> {
        let in_view = self.focused
            && self
                .open_thread()
                .is_some_and(|(_, keys)| keys.contains(&n.peer));
        if n.counted && !in_view {
            self.chat.count_unread(&n.peer);
        }
        let who = self
            .name_for(&n.peer)
            .unwrap_or_else(|| threads::shown(&n.peer));
        self.notify(who, n.words)
    }

    /// A desktop notification, only when the window is not in front.
    fn notify(&self, summary: String, body: String) -> Task<Message> {
        if self.focused {
            return Task::none();
        }
        Task::perform(notify::send(summary, body), Message::Notified)
    }

    /// Accounts and signing in; `None` when the event is not about them.
    fn sign_in_event(&mut self, ev: &Event) -> Option<Task<Message>> {
        match ev {
            Event::Restored { accounts } => return Some(self.restored(*accounts)),
            Event::AccountAdded { account, .. } => {
                if self.signing_in == Some(0) {
                    self.signing_in = Some(*account);
                }
                self.updating = None;
            }
            Event::Registered { account, .. } => return Some(self.registered(*account)),
            Event::ServerUntrusted {
                account,
                aor,
                server,
                fingerprint,
                why,
                can_pin,
            } => {
                self.trust_asked = Some(*account);
                self.trust = Some(trust::Prompt {
                    account: *account,
                    aor: aor.clone(),
                    server: server.clone(),
                    fingerprint: *fingerprint,
                    why: why.clone(),
                    can_pin: *can_pin,
                });
            }
            Event::RegistrationFailed {
                account, message, ..
            } => {
                if self.signing_in == Some(*account) && self.trust_asked != Some(*account) {
                    // A failed first sign-in is not kept: fix the form and try again.
                    self.signing_in = None;
                    self.welcome.failed(message.clone());
                    self.send(Command::RemoveAccount(*account));
                }
            }
            Event::AccountRemoved { account } => {
                let updating = self.updating == Some(*account);
                if self.accounts.list.is_empty() && self.screen == Screen::Main && !updating {
                    self.screen = Screen::Welcome;
                }
            }
            Event::ServerStarted { addr, domain, tls } => {
                if let Some((at, fingerprint)) = tls {
                    self.hosted = Some((domain.clone(), at.port(), *fingerprint));
                }
                if std::mem::take(&mut self.hosting) {
                    // The engine signs in to it now: the account it adds is the one we wait for.
                    self.signing_in = Some(0);
                    self.notice = Some(match tls {
                        Some((at, f)) => super::hosting_notice(domain, at.port(), *f),
                        None => format!(
                            "Hosting {domain} on port {}: colleagues register as NAME@{domain} with this computer as server",
                            addr.port()
                        ),
                    });
                }
            }
            Event::Error { message } => {
                if self.screen == Screen::Welcome
                    && (self.welcome.busy || self.signing_in.is_some())
                {
                    self.signing_in = None;
                    self.hosting = false;
                    self.welcome.failed(message.clone());
                } else {
                    self.notice = Some(message.clone());
                }
            }
            Event::Stopped if self.closing => return Some(iced::exit()),
            Event::Stopped => self.screen = Screen::Fatal("The engine stopped".into()),
            _ => return None,
        }
        Some(Task::none())
    }

    fn restored(&mut self, accounts: usize) -> Task<Message> {
        // The device list for Settings.
        self.send(Command::ListDevices);
        if self.screen == Screen::Starting {
            self.screen = if accounts == 0 {
                Screen::Welcome
            } else {
                Screen::Main
            };
        }
        match self.screen {
            Screen::Welcome => operation::focus("welcome-address"),
            _ => Task::none(),
        }
    }

    fn registered(&mut self, account: crate::engine::AccountId) -> Task<Message> {
        if self.trust_asked == Some(account) {
            self.trust_asked = None;
        }
        if self.signing_in == Some(account) {
            self.signing_in = None;
            self.welcome = welcome::State::default();
            self.screen = Screen::Main;
        }
        if let Some(uri) = self.pending_call.take() {
            self.tab = Tab::Dialpad;
            self.dialpad.number = uri;
            return operation::focus(super::dialpad::INPUT_ID);
        }
        Task::none()
    }

    /// Stored data and lists; true when the event was one of them.
    fn data_event(&mut self, ev: &Event) -> bool {
        match ev.clone() {
            Event::Contacts { contacts } => self.contacts.contacts = contacts,
            Event::History { calls } => self.history.calls = calls,
            Event::CallLogged { record } => self.history.log(record),
            Event::Settings { settings } => self.settings.apply(&settings),
            Event::Devices {
                inputs,
                outputs,
                error,
            } => {
                self.settings.inputs = inputs;
                self.settings.outputs = outputs;
                self.settings.devices_error = error;
            }
            Event::ContactsImported { count, path } => {
                self.notice = Some(format!(
                    "Imported {count} contact(s) from {}",
                    path.display()
                ));
            }
            Event::ContactsExported { count, path } => {
                self.notice = Some(format!("{count} contact(s) saved to {}", path.display()));
            }
            _ => return false,
        }
        true
    }

    /// Calls arriving, changing and ending.
    fn call_event(&mut self, ev: Event) -> Task<Message> {
        match ev {
            Event::ChatOffered {
                call,
                from,
                display_name,
                verified,
                ..
            } => {
                let detail = "Wants to chat (text only). Accept to take it.";
                let who = Ringing {
                    from,
                    display_name,
                    verified,
                };
                self.ringing_in(call, who, "Someone wants to chat", Some(detail))
            }
            Event::IncomingCall {
                call,
                from,
                display_name,
                verified,
                ..
            } => {
                let who = Ringing {
                    from,
                    display_name,
                    verified,
                };
                self.ringing_in(call, who, "Incoming call", None)
            }
            Event::Call {
                call,
                state,
                peer,
                direction,
                status,
                reason,
            } => {
                let name = self.name_for(&peer);
                let v =
                    self.calls.calls.entry(call).or_insert_with(|| {
                        CallView::new(call, peer.clone(), name, direction, state)
                    });
                v.state = state;
                v.peer = peer;
                if state == CallState::Connected && v.connected_at.is_none() {
                    v.connected_at = Some(Instant::now());
                }
                if let (Some(s), Some(r)) = (status, reason) {
                    v.detail = Some(format!("SIP {s} {r}"));
                }
                Task::none()
            }
            Event::CallEnded {
                call,
                peer,
                outcome,
                direction,
                ..
            } => self.call_ended(call, peer, outcome, direction),
            _ => Task::none(),
        }
    }

    /// Someone calls, or asks to chat: their call card rings, and a notification says who.
    /// An unverified caller is shown by address alone: neither a contact's name nor the
    /// display name they chose (which may be someone else's address).
    fn ringing_in(
        &mut self,
        call: crate::engine::CallId,
        r: Ringing,
        title: &str,
        detail: Option<&str>,
    ) -> Task<Message> {
        let name = match r.verified {
            true => self.name_for(&r.from).or(r.display_name),
            false => None,
        };
        let who = match (&name, r.verified) {
            (Some(n), _) => n.clone(),
            (None, true) => r.from.clone(),
            (None, false) => threads::shown(&threads::peer_key(&r.from, false)),
        };
        let note = self.notify(title.into(), who);
        let state = CallState::Incoming;
        let mut v = CallView::new(call, r.from, name, Direction::Incoming, state);
        v.note = detail.map(String::from);
        v.unverified = !r.verified;
        self.calls.calls.insert(call, v);
        note
    }

    fn call_ended(
        &mut self,
        call: crate::engine::CallId,
        peer: String,
        outcome: CallOutcome,
        direction: Direction,
    ) -> Task<Message> {
        let view = self.calls.calls.remove(&call);
        let was_ringing = view
            .as_ref()
            .is_some_and(|c| c.state == CallState::Incoming);
        // As the card named them: an unverified caller keeps no contact's name.
        let who = match view {
            Some(v) if v.unverified => threads::shown(&threads::peer_key(&peer, false)),
            _ => self.name_for(&peer).unwrap_or(peer),
        };
        // How our own call ended, unless it went as planned; a call we declined or missed is
        // in History and in the conversation.
        let said = !matches!(outcome, CallOutcome::Answered | CallOutcome::CancelledByMe);
        if said && direction == Direction::Outgoing {
            self.notice = Some(outcome.words(&who, direction));
        }
        // A stranger's missed call still gets a conversation (from History) to call back from.
        if was_ringing && outcome == CallOutcome::Missed {
            return self.notify("Missed call".into(), who);
        }
        Task::none()
    }
}

/// Who rings, as the engine told it.
struct Ringing {
    from: String,
    display_name: Option<String>,
    verified: bool,
}

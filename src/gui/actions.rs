//! What the panes ask for, turned into engine commands: sign in or host, contacts, the
//! conversation (texts, files, retries), settings, the call card, the trust prompt.

use super::threads::Thread;
use super::{
    call, contacts, conversation, files, settings, trust, welcome, App, Message, Screen, Tab,
};
use crate::engine::{AccountConfig, Command, Transport};
use iced::Task;
use std::path::PathBuf;
use std::time::Duration;

impl App {
    pub(super) fn send_file(&mut self, path: PathBuf) {
        match (self.accounts.calling(), self.open_peer()) {
            (Some(account), Some(target)) => {
                self.attach_path = None;
                self.send(Command::SendFileTo {
                    account,
                    target,
                    path,
                })
            }
            (None, _) => self.notice = Some("Sign in to an account before sending files".into()),
            (_, None) => {
                self.notice = Some("Drop the file on a conversation, or open one first".into())
            }
        }
    }

    /// The composer's text: on the call with this person when there is one, else a message.
    pub(super) fn send_text(&mut self) {
        let text = self.chat.draft.text().trim().to_string();
        let (Some((_, keys)), Some(account)) = (self.open_thread(), self.accounts.calling()) else {
            return;
        };
        let Some(peer) = self.open_peer() else { return };
        if text.is_empty() {
            return;
        }
        self.chat.draft = Default::default();
        let on_call = self.calls.values().find(|c| {
            c.state == crate::engine::CallState::Connected
                && keys.contains(&crate::engine::Address::key(&c.peer))
        });
        self.send(match on_call {
            Some(c) => Command::SendText { call: c.id, text },
            None => Command::SendMessage {
                account,
                target: peer,
                text,
            },
        });
    }

    /// A typed address with the calling account's domain when it has none ("bob").
    pub(super) fn completed(&self, typed: &str) -> String {
        let domain = self
            .accounts
            .calling()
            .and_then(|id| self.accounts.list.get(&id))
            .and_then(|a| a.aor.split('@').nth(1).map(str::to_string))
            .unwrap_or_default();
        match crate::engine::Address::parse(typed) {
            Ok(a) => a.uri_in(&domain),
            Err(_) => typed.to_string(),
        }
    }

    pub(super) fn on_welcome(&mut self, m: welcome::Message) -> Task<Message> {
        match self.welcome.update(m) {
            Some(welcome::Action::SignIn(form)) => {
                self.signing_in = Some(0);
                self.send(Command::AddAccount(Box::new(account_config(*form))));
                // A silent server takes 32 s to time out (Timer F): say so well before.
                return Task::perform(tokio::time::sleep(Duration::from_secs(5)), |_| {
                    Message::SignInSlow
                });
            }
            Some(welcome::Action::Host { user }) => {
                self.hosting = true;
                self.send(Command::HostServer {
                    bind: self.host_bind,
                    domain: lan_domain(),
                    user: Some(user),
                });
            }
            None => {}
        }
        Task::none()
    }

    pub(super) fn on_contacts(&mut self, m: contacts::Message) -> Task<Message> {
        match self.contacts.update(m) {
            Some(contacts::Action::Open(t)) => return self.open(t),
            Some(contacts::Action::OpenFirst) => {
                if let Some(first) = self.sidebar_list().into_iter().next() {
                    // Found: the list shows everyone again, as after any search.
                    self.contacts.search.clear();
                    return self.open(first.thread);
                }
            }
            Some(contacts::Action::Call(uri)) => self.place_call(uri),
            Some(contacts::Action::Save(c)) => self.send(Command::SaveContact(c)),
            Some(contacts::Action::Delete(id)) => {
                if self.tab == Tab::Conversation(Thread::Contact(id)) {
                    self.tab = Tab::Home;
                }
                self.send(Command::DeleteContact(id));
            }
            Some(contacts::Action::Import) => {
                return Task::perform(files::pick_vcard(), Message::ImportFrom)
            }
            Some(contacts::Action::Export) => {
                return Task::perform(files::vcard_destination(), Message::ExportTo)
            }
            None => {}
        }
        Task::none()
    }

    pub(super) fn on_conversation(&mut self, m: conversation::Message) -> Task<Message> {
        use conversation::Message as M;
        match m {
            M::Call(uri) => self.place_call(uri),
            M::Edit(id) => {
                let _ = self.contacts.update(contacts::Message::Edit(id));
            }
            M::AddContact(peer) => {
                let _ = self.contacts.update(contacts::Message::AddPeer(peer));
            }
            M::Draft(action) => self.chat.draft.perform(action),
            M::Send => self.send_text(),
            M::Attach => return Task::perform(files::pick_file(), Message::Attached),
            M::AttachPath(p) => self.attach_path = Some(p),
            M::SendPath => self.send_typed_path(),
            M::CloseAttachPath => self.attach_path = None,
            M::Cancel(call, name) => self.send(Command::CancelTransfer { call, name }),
            M::Retry(id) => {
                if let Some(account) = self.accounts.calling() {
                    self.send(Command::RetryMessage { account, id });
                }
            }
            M::Open(path) => {
                if let Err(e) = std::process::Command::new("xdg-open").arg(&path).spawn() {
                    self.notice = Some(format!("Cannot open {}: {e}", path.display()));
                }
            }
        }
        Task::none()
    }

    /// "Attach by path": the typed path, if it names a file.
    pub(super) fn send_typed_path(&mut self) {
        let typed = self.attach_path.clone().unwrap_or_default();
        let path = PathBuf::from(typed.trim());
        if path.is_file() {
            self.send_file(path);
        } else {
            self.notice = Some(format!("“{}” is not a file that can be read", typed.trim()));
        }
    }

    pub(super) fn on_settings(&mut self, m: settings::Message) {
        match self.settings.update(m) {
            Some(settings::Action::RemoveAccount(id)) => self.send(Command::RemoveAccount(id)),
            Some(settings::Action::Save(key, value)) => self.send(Command::SaveSetting {
                key: key.into(),
                value,
            }),
            Some(settings::Action::AddAccount) => {
                self.welcome = welcome::State::default();
                self.screen = Screen::Welcome;
            }
            Some(settings::Action::UpdateAccount(account, settings, turn_password)) => {
                // It comes back as removed, then added: not a reason to show the welcome.
                self.updating = Some(account);
                self.send(Command::UpdateAccount {
                    account,
                    settings,
                    turn_password,
                });
            }
            None => {}
        }
    }

    pub(super) fn on_call(&mut self, m: call::Message) {
        self.calls.update(&m);
        match m {
            call::Message::Accept(id) => self.send(Command::Answer(id)),
            call::Message::Decline(id) => self.send(Command::Decline(id)),
            call::Message::Hangup(id) => self.send(Command::Hangup(id)),
            call::Message::Hold(id, on) => self.send(Command::Hold { call: id, on }),
            call::Message::Mute(id, on) => self.send(Command::Mute { call: id, on }),
            call::Message::Key(id, digit) => self.send(Command::Dtmf { call: id, digit }),
            call::Message::ToggleKeypad(_) | call::Message::ToggleDetails(_) => {}
        }
    }

    pub(super) fn answer_trust(&mut self, action: trust::Action) {
        match action {
            trust::Action::Trust(account, fingerprint) => {
                if self.signing_in == Some(account) {
                    self.welcome.busy = true;
                    self.welcome.status = Some("Signing in…".into());
                }
                self.send(Command::TrustServer {
                    account,
                    fingerprint,
                });
            }
            trust::Action::Refuse(account) if self.signing_in == Some(account) => {
                // Not trusted on a first sign-in: nothing is kept.
                self.trust_asked = None;
                self.signing_in = None;
                self.welcome
                    .failed("Not signed in: the server's certificate was not trusted".into());
                self.send(Command::RemoveAccount(account));
            }
            trust::Action::Refuse(_) => {}
        }
    }
}

/// The welcome form as an account's settings.
fn account_config(form: welcome::SignIn) -> AccountConfig {
    let welcome::SignIn {
        aor,
        password,
        auth_user,
        server,
        transport,
        stun,
        turn,
        msrp_relay,
        ca_file,
    } = form;
    let mut cfg = AccountConfig::new(&aor, &password);
    cfg.msrp_relay = msrp_relay;
    cfg.ca_file = ca_file.map(PathBuf::from);
    cfg.auth_user = auth_user;
    cfg.server = server;
    cfg.stun = stun;
    cfg.turn = turn;
    cfg.transport = match transport {
        welcome::Transport::Udp => Transport::Udp,
        welcome::Transport::Tcp => Transport::Tcp,
        welcome::Transport::Tls => Transport::Tls,
    };
    cfg
}

/// The SIP domain a hosted server answers for: this machine's name on the LAN (mDNS).
fn lan_domain() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "parley".into());
    format!("{host}.local")
}

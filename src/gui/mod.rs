//! The desktop window (iced). One module per pane; this one routes messages, turns pane actions
//! into engine `Command`s and engine `Event`s into pane state. No protocol code here, and no pane
//! talks to the engine or the database itself.

pub mod bridge;
pub mod call;
pub mod chat;
pub mod contacts;
pub mod conversation;
pub mod dialpad;
pub mod drop;
pub mod files;
pub mod history;
pub mod notify;
pub mod settings;
pub mod style;
pub mod trust;
pub mod welcome;

use crate::engine::{
    AccountConfig, AccountId, CallId, CallOutcome, CallState, Command, Direction, EngineHandle,
    Event, Fingerprint, Transport,
};
use call::CallView;
use iced::keyboard::{self, key::Named, Key};
use iced::widget::{button, column, container, operation, row, rule, text};
use iced::{Element, Length, Subscription, Task, Theme};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Waiting for the engine to start and restore saved accounts.
    Starting,
    Welcome,
    Main,
    /// The engine could not start; the reason.
    Fatal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Dialpad,
    Conversation(i64),
    History,
    Settings,
}

#[derive(Debug, Clone)]
pub struct AccountView {
    pub aor: String,
    pub status: String,
    pub registered: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    Engine(bridge::Update),
    Welcome(welcome::Message),
    Contacts(contacts::Message),
    Dialpad(dialpad::Message),
    History(history::Message),
    Settings(settings::Message),
    Conversation(conversation::Message),
    Call(call::Message),
    Tab(Tab),
    Key(keyboard::Event),
    Tick(Instant),
    SystemTheme(iced::theme::Mode),
    /// The vCard file chosen to import from (none when cancelled).
    ImportFrom(Option<PathBuf>),
    /// Where to export the contacts to (none when cancelled).
    ExportTo(Option<PathBuf>),
    DismissNotice,
    /// The user closed the window: hang up, sign out, then exit.
    CloseRequested,
    WindowFocused(bool),
    /// Five seconds into signing in without an answer.
    SignInSlow,
    Notified(Result<(), String>),
    /// Commands that waited for room in the engine's queue were delivered.
    Flushed,
    /// A file dropped on the window: it goes to the contact it was dropped on, else to the open
    /// conversation.
    FileDropped(PathBuf),
    /// Where the pointer was at the drop (none when the windowing system cannot say).
    DropAt(PathBuf, Option<iced::Point>),
    /// The contact whose row the file was dropped on, if any.
    DroppedOn(PathBuf, Option<i64>),
    /// The attach dialog's choice (none when cancelled).
    Attached(Option<PathBuf>),
    /// Accept (true) or decline a file someone offers.
    Offer(chat::Offer, bool),
    /// The answer to "Trust this server?".
    Trust(trust::Message),
}

pub struct App {
    engine: Option<EngineHandle>,
    key: bridge::Key,
    pub screen: Screen,
    pub welcome: welcome::State,
    pub contacts: contacts::State,
    pub dialpad: dialpad::State,
    pub history: history::State,
    pub settings: settings::State,
    pub tab: Tab,
    pub accounts: BTreeMap<AccountId, AccountView>,
    pub calls: BTreeMap<CallId, CallView>,
    pub chat: chat::State,
    /// The last thing worth telling: a failed call's reason, an error.
    pub notice: Option<String>,
    /// A server certificate the user is asked about; it covers the window until answered.
    pub trust: Option<trust::Prompt>,
    /// The account asked about, until it signs in or is let go: the failure that follows
    /// the question must not discard a first sign-in the user may still trust.
    trust_asked: Option<AccountId>,
    /// The server we host: its TLS port and certificate fingerprint, shown in Settings.
    pub hosted: Option<(String, u16, Fingerprint)>,
    /// A `sip:` URI to call once an account is registered (a clicked link).
    pending_call: Option<String>,
    /// Signing in from the welcome screen: the account being tried.
    signing_in: Option<AccountId>,
    /// Hosting from the welcome screen: the engine signs in to the server once it runs.
    hosting: bool,
    /// Where a hosted server listens: all interfaces on SIP's port, so the LAN can reach it.
    pub host_bind: std::net::SocketAddr,
    system_dark: bool,
    now: Instant,
    closing: bool,
    focused: bool,
    /// Commands waiting for room in the engine's queue (or for the engine to start).
    outbox: std::cell::RefCell<Vec<Command>>,
    flushing: std::cell::Cell<bool>,
}

impl App {
    pub fn new(profile: Option<PathBuf>, pending_call: Option<String>) -> App {
        App {
            engine: None,
            key: bridge::Key { profile },
            screen: Screen::Starting,
            welcome: welcome::State::default(),
            contacts: contacts::State::default(),
            dialpad: dialpad::State::default(),
            history: history::State::default(),
            settings: settings::State {
                ringtone: true,
                ..Default::default()
            },
            tab: Tab::Dialpad,
            accounts: BTreeMap::new(),
            calls: BTreeMap::new(),
            chat: chat::State::default(),
            notice: None,
            trust: None,
            trust_asked: None,
            hosted: None,
            pending_call,
            signing_in: None,
            hosting: false,
            host_bind: std::net::SocketAddr::from(([0, 0, 0, 0], 5060)),
            system_dark: false,
            now: Instant::now(),
            closing: false,
            focused: true,
            outbox: Default::default(),
            flushing: Default::default(),
        }
    }

    /// The tasks to run at start: ask the system theme.
    pub fn boot() -> Task<Message> {
        iced::system::theme().map(Message::SystemTheme)
    }

    /// Hands a command to the engine. A full queue (or an engine still starting) never loses
    /// it: it waits in `outbox`, in order, and `flush` delivers it when the engine can take it.
    fn send(&self, cmd: Command) {
        let mut outbox = self.outbox.borrow_mut();
        let in_order = outbox.is_empty() && !self.flushing.get();
        match &self.engine {
            Some(e) if in_order => {
                if let Some(cmd) = e.try_send(cmd) {
                    tracing::info!("engine queue full; the command waits its turn");
                    outbox.push(cmd);
                }
            }
            _ => outbox.push(cmd),
        }
    }

    /// Delivers waiting commands with back-pressure (awaiting queue space), one batch at a time.
    fn flush(&self) -> Task<Message> {
        let Some(engine) = self.engine.clone() else {
            return Task::none();
        };
        if self.flushing.get() || self.outbox.borrow().is_empty() {
            return Task::none();
        }
        self.flushing.set(true);
        let cmds = std::mem::take(&mut *self.outbox.borrow_mut());
        Task::perform(
            async move {
                for cmd in cmds {
                    engine.send(cmd).await;
                }
            },
            |_| Message::Flushed,
        )
    }

    /// The account to call from: the first registered one, else the first one.
    fn calling_account(&self) -> Option<AccountId> {
        self.accounts
            .iter()
            .find(|(_, a)| a.registered)
            .or_else(|| self.accounts.iter().next())
            .map(|(id, _)| *id)
    }

    fn place_call(&mut self, target: String) {
        match self.calling_account() {
            Some(account) => {
                self.notice = None;
                self.send(Command::Call { account, target });
            }
            None => self.notice = Some("Sign in to an account before calling".into()),
        }
    }

    fn open_conversation(&mut self, id: i64) {
        self.tab = Tab::Conversation(id);
        if let Some(c) = self.contacts.get(id) {
            for u in &c.uris {
                self.chat.unread.remove(u.trim_start_matches("sip:"));
            }
        }
    }

    /// The open conversation's contact address, if one is open.
    fn open_peer(&self) -> Option<String> {
        let Tab::Conversation(id) = self.tab else {
            return None;
        };
        self.contacts.get(id)?.uris.first().cloned()
    }

    fn send_file(&mut self, path: PathBuf) {
        match (self.calling_account(), self.open_peer()) {
            (Some(account), Some(target)) => self.send(Command::SendFileTo {
                account,
                target,
                path,
            }),
            (None, _) => self.notice = Some("Sign in to an account before sending files".into()),
            (_, None) => {
                self.notice = Some("Drop the file on a contact, or open their conversation".into())
            }
        }
    }

    fn conversation(&mut self, m: conversation::Message) -> Task<Message> {
        match m {
            conversation::Message::Draft(action) => self.chat.draft.perform(action),
            conversation::Message::Send => self.send_text(),
            conversation::Message::Attach => {
                return Task::perform(files::pick_file(), Message::Attached)
            }
            conversation::Message::Cancel(call, name) => {
                self.send(Command::CancelTransfer { call, name })
            }
            conversation::Message::Open(path) => {
                if let Err(e) = std::process::Command::new("xdg-open").arg(&path).spawn() {
                    self.notice = Some(format!("Cannot open {}: {e}", path.display()));
                }
            }
            _ => {}
        }
        Task::none()
    }

    /// The composer's text: on the call with this contact when there is one, else a message.
    fn send_text(&mut self) {
        let text = self.chat.draft.text().trim().to_string();
        let (Some(peer), Some(account)) = (self.open_peer(), self.calling_account()) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        self.chat.draft = Default::default();
        let on_call = self.calls.values().find(|c| {
            c.state == CallState::Connected
                && c.peer.trim_start_matches("sip:") == peer.trim_start_matches("sip:")
        });
        self.send(match on_call {
            Some(c) => Command::SendText {
                call: c.id,
                text: text.clone(),
            },
            None => Command::SendMessage {
                account,
                target: peer.clone(),
                text: text.clone(),
            },
        });
        self.chat.sent(&peer, text);
    }

    fn answer_trust(&mut self, action: trust::Action) {
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

    fn name_for(&self, uri: &str) -> Option<String> {
        self.contacts.by_uri(uri).map(|c| c.name.clone())
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        let task = self.route(message);
        Task::batch([task, self.flush()])
    }

    fn route(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Flushed => self.flushing.set(false),
            Message::Engine(bridge::Update::Ready(handle)) => self.engine = Some(handle),
            Message::Engine(bridge::Update::Failed(why)) => self.screen = Screen::Fatal(why),
            Message::Engine(bridge::Update::Event(ev)) => return self.on_event(ev),
            Message::Welcome(m) => match self.welcome.update(m) {
                Some(welcome::Action::SignIn(form)) => {
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
                    } = *form;
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
                    self.signing_in = Some(0);
                    self.send(Command::AddAccount(Box::new(cfg)));
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
            },
            Message::Contacts(m) => match self.contacts.update(m) {
                Some(contacts::Action::Select(id)) => self.open_conversation(id),
                Some(contacts::Action::Call(uri)) => self.place_call(uri),
                Some(contacts::Action::Save(c)) => self.send(Command::SaveContact(c)),
                Some(contacts::Action::Delete(id)) => {
                    if self.tab == Tab::Conversation(id) {
                        self.tab = Tab::Dialpad;
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
            },
            Message::Dialpad(m) => {
                if let Some(dialpad::Action::Call(target)) = self.dialpad.update(m) {
                    self.place_call(target);
                }
            }
            Message::History(m) => {
                if let Some(history::Action::Call(uri)) = self.history.update(m) {
                    self.place_call(uri);
                }
            }
            Message::Conversation(m) => match m {
                conversation::Message::Call(uri) => self.place_call(uri),
                conversation::Message::Edit(id) => {
                    let _ = self.contacts.update(contacts::Message::Edit(id));
                }
                conversation::Message::History(h) => return self.update(Message::History(h)),
                other => return self.conversation(other),
            },
            Message::FileDropped(path) => {
                return drop::locate().map(move |at| Message::DropAt(path.clone(), at))
            }
            Message::DropAt(path, Some(at)) => {
                let rows = self.contacts.visible().iter().map(|c| c.id).collect();
                return drop::contact_at(at, rows)
                    .map(move |c| Message::DroppedOn(path.clone(), c));
            }
            Message::DropAt(path, None) | Message::DroppedOn(path, None) => self.send_file(path),
            Message::DroppedOn(path, Some(id)) => {
                self.open_conversation(id);
                self.send_file(path);
            }
            Message::Attached(Some(path)) => self.send_file(path),
            Message::Attached(None) => {}
            Message::Trust(m) => {
                if let Some(prompt) = self.trust.take() {
                    self.answer_trust(prompt.update(m));
                }
            }
            Message::Offer(offer, accept) => {
                self.chat.offers.retain(|o| *o != offer);
                let chat::Offer {
                    call,
                    name,
                    during_call,
                    ..
                } = offer;
                self.send(Command::take_offer(call, &name, during_call, accept));
            }
            Message::Settings(m) => match self.settings.update(m) {
                Some(settings::Action::RemoveAccount(id)) => self.send(Command::RemoveAccount(id)),
                Some(settings::Action::Save(key, value)) => self.send(Command::SaveSetting {
                    key: key.into(),
                    value,
                }),
                Some(settings::Action::AddAccount) => {
                    self.welcome = welcome::State::default();
                    self.screen = Screen::Welcome;
                }
                None => {}
            },
            Message::Call(m) => match m {
                call::Message::Accept(id) => self.send(Command::Answer(id)),
                call::Message::Decline(id) => self.send(Command::Decline(id)),
                call::Message::Hangup(id) => self.send(Command::Hangup(id)),
                call::Message::Hold(id, on) => self.send(Command::Hold { call: id, on }),
                call::Message::Mute(id, on) => self.send(Command::Mute { call: id, on }),
                call::Message::ToggleKeypad(id) => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.keypad = !c.keypad;
                    }
                }
                call::Message::Key(id, digit) => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.keys.push(digit);
                    }
                    self.send(Command::Dtmf { call: id, digit });
                }
            },
            Message::Tab(t) => {
                // "Back" from adding a second account returns to the main window.
                if self.screen == Screen::Welcome && !self.accounts.is_empty() {
                    self.screen = Screen::Main;
                }
                self.tab = t;
                if t == Tab::Dialpad {
                    return operation::focus(dialpad::INPUT_ID);
                }
            }
            Message::Key(ev) => return self.on_key(ev),
            Message::Tick(now) => self.now = now,
            Message::SystemTheme(mode) => self.system_dark = mode == iced::theme::Mode::Dark,
            Message::ImportFrom(Some(path)) => self.send(Command::ImportContacts(path)),
            Message::ExportTo(Some(path)) => self.send(Command::ExportContacts(path)),
            Message::ImportFrom(None) | Message::ExportTo(None) => {}
            Message::DismissNotice => self.notice = None,
            Message::WindowFocused(f) => self.focused = f,
            Message::SignInSlow => {
                if self.signing_in.is_some() && self.screen == Screen::Welcome {
                    self.welcome.status = Some(
                        "No answer from the server yet; still trying for about half a minute…"
                            .into(),
                    );
                }
            }
            Message::Notified(Err(e)) => tracing::info!("{e}"),
            Message::Notified(Ok(())) => {}
            Message::CloseRequested => {
                if self.engine.is_none() || self.closing {
                    return iced::exit();
                }
                // The engine hangs up, un-REGISTERs (3 s at most) and says Stopped.
                self.closing = true;
                self.send(Command::Shutdown);
            }
        }
        Task::none()
    }

    fn on_key(&mut self, ev: keyboard::Event) -> Task<Message> {
        let keyboard::Event::KeyPressed { key, modifiers, .. } = ev else {
            return Task::none();
        };
        match key.as_ref() {
            Key::Character("k") if modifiers.command() => {
                return operation::focus(contacts::SEARCH_ID);
            }
            Key::Named(Named::Tab) if modifiers.shift() => return operation::focus_previous(),
            Key::Named(Named::Tab) => return operation::focus_next(),
            Key::Named(Named::Escape) => {
                // Esc ends what is happening: declines a ringing call, else hangs up.
                if let Some(c) = self.calls.values().find(|c| c.state == CallState::Incoming) {
                    self.send(Command::Decline(c.id));
                } else if let Some(c) = self.calls.values().next() {
                    self.send(Command::Hangup(c.id));
                }
            }
            Key::Named(Named::Enter) => {
                if let Some(c) = self.calls.values().find(|c| c.state == CallState::Incoming) {
                    self.send(Command::Answer(c.id));
                } else if let Some(id) = self.contacts.selected {
                    if let Some(contacts::Action::Call(uri)) =
                        self.contacts.update(contacts::Message::Call(id))
                    {
                        self.place_call(uri);
                    }
                } else if self.tab == Tab::Dialpad {
                    return self.update(Message::Dialpad(dialpad::Message::Call));
                }
            }
            Key::Named(Named::Backspace) if self.tab == Tab::Dialpad => {
                self.dialpad.update(dialpad::Message::Backspace);
            }
            Key::Character(c) if self.tab == Tab::Dialpad && !modifiers.command() => {
                if let Some(d) = c
                    .chars()
                    .next()
                    .filter(|d| d.is_ascii_digit() || *d == '*' || *d == '#')
                {
                    self.dialpad.update(dialpad::Message::Digit(d));
                }
            }
            _ => {}
        }
        Task::none()
    }

    /// A desktop notification, only when the window is not in front.
    fn notify(&self, summary: String, body: String) -> Task<Message> {
        if self.focused {
            return Task::none();
        }
        Task::perform(notify::send(summary, body), Message::Notified)
    }

    fn on_event(&mut self, ev: Event) -> Task<Message> {
        if let Event::FileOffered {
            call,
            from,
            name,
            during_call,
            ..
        } = &ev
        {
            if self.settings.accept_from_contacts && self.contacts.by_uri(from).is_some() {
                self.send(Command::take_offer(*call, name, *during_call, true));
                return Task::none();
            }
        }
        let news = self.chat.absorb(&ev).then(|| self.chat_news(&ev)).flatten();
        let task = self.handle_event(ev);
        Task::batch([task, news.unwrap_or_else(Task::none)])
    }

    /// A text or file from someone: counted unread unless their conversation is open, and a
    /// desktop notification when the window is not focused.
    fn chat_news(&mut self, ev: &Event) -> Option<Task<Message>> {
        let (peer, what) = match ev {
            Event::Message { peer, text, .. } => (peer.clone(), text.clone()),
            Event::InstantMessage { from, text } => (from.clone(), text.clone()),
            Event::FileReceived { peer, name, .. } => (peer.clone(), format!("sent you {name}")),
            Event::FileOffered { from, name, .. } => (from.clone(), format!("offers {name}")),
            _ => return None,
        };
        let open = self
            .open_peer()
            .is_some_and(|p| p.trim_start_matches("sip:") == peer.trim_start_matches("sip:"));
        // An offer is on its banner; the file counts once it has arrived.
        let counted = !matches!(ev, Event::FileOffered { .. });
        if counted && (!open || !self.focused) {
            *self
                .chat
                .unread
                .entry(peer.trim_start_matches("sip:").to_string())
                .or_default() += 1;
        }
        let who = self.name_for(&peer).unwrap_or(peer);
        Some(self.notify(who, what))
    }

    /// Someone calls, or asks to chat: their call view rings, and a notification says who.
    fn ringing_in(
        &mut self,
        call: CallId,
        from: String,
        display_name: Option<String>,
        title: &str,
        detail: Option<&str>,
    ) -> Task<Message> {
        let name = self.name_for(&from).or(display_name);
        let who = name.clone().unwrap_or_else(|| from.clone());
        let note = self.notify(title.into(), who);
        let mut v = CallView::new(call, from, name, Direction::Incoming, CallState::Incoming);
        v.detail = detail.map(String::from);
        self.calls.insert(call, v);
        note
    }

    fn handle_event(&mut self, ev: Event) -> Task<Message> {
        match ev {
            Event::Restored { accounts } => {
                // The device list for Settings.
                self.send(Command::ListDevices);
                if self.screen == Screen::Starting {
                    self.screen = if accounts == 0 {
                        Screen::Welcome
                    } else {
                        Screen::Main
                    };
                }
                if self.screen == Screen::Welcome {
                    return operation::focus("welcome-address");
                }
                return operation::focus(dialpad::INPUT_ID);
            }
            Event::AccountAdded { account, aor } => {
                if self.signing_in == Some(0) {
                    self.signing_in = Some(account);
                }
                self.accounts.insert(
                    account,
                    AccountView {
                        aor,
                        status: "Signing in…".into(),
                        registered: false,
                    },
                );
            }
            Event::Registering { account, .. } => {
                if let Some(a) = self.accounts.get_mut(&account) {
                    if !a.registered {
                        a.status = "Signing in…".into();
                    }
                }
            }
            Event::Registered { account, .. } => {
                if self.trust_asked == Some(account) {
                    self.trust_asked = None;
                }
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.registered = true;
                    a.status = "Registered".into();
                }
                let mut entered = false;
                if self.signing_in == Some(account) {
                    self.signing_in = None;
                    self.welcome = welcome::State::default();
                    self.screen = Screen::Main;
                    entered = true;
                }
                if let Some(uri) = self.pending_call.take() {
                    self.tab = Tab::Dialpad;
                    self.dialpad.number = uri;
                    entered = true;
                }
                if entered && self.tab == Tab::Dialpad {
                    return operation::focus(dialpad::INPUT_ID);
                }
            }
            Event::ServerUntrusted {
                account,
                aor,
                server,
                fingerprint,
                why,
                can_pin,
            } => {
                self.trust_asked = Some(account);
                self.trust = Some(trust::Prompt {
                    account,
                    aor,
                    server,
                    fingerprint,
                    why,
                    can_pin,
                });
            }
            Event::RegistrationFailed {
                account,
                message,
                retry_in,
                ..
            } => {
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.registered = false;
                    a.status = match retry_in {
                        Some(s) => format!("{message} (retrying in {s} s)"),
                        None => message.clone(),
                    };
                }
                if self.signing_in == Some(account) && self.trust_asked != Some(account) {
                    // A failed first sign-in is not kept: fix the form and try again.
                    self.signing_in = None;
                    self.welcome.failed(message);
                    self.send(Command::RemoveAccount(account));
                }
            }
            Event::Connection {
                account,
                online,
                message,
            } => {
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.registered = online;
                    a.status = message;
                }
            }
            Event::Unregistered { account, .. } => {
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.registered = false;
                    a.status = "Signed out".into();
                }
            }
            Event::AccountRemoved { account } => {
                self.accounts.remove(&account);
                if self.accounts.is_empty() && self.screen == Screen::Main {
                    self.screen = Screen::Welcome;
                }
            }
            Event::ChatOffered {
                call,
                from,
                display_name,
                ..
            } => {
                let detail = "Wants to chat (text only). Answer to accept.";
                return self.ringing_in(
                    call,
                    from,
                    display_name,
                    "Someone wants to chat",
                    Some(detail),
                );
            }
            Event::IncomingCall {
                call,
                from,
                display_name,
                ..
            } => return self.ringing_in(call, from, display_name, "Incoming call", None),
            Event::Call {
                call,
                state,
                peer,
                direction,
                status,
                reason,
            } => {
                let name = self.name_for(&peer);
                let v = self
                    .calls
                    .entry(call)
                    .or_insert_with(|| CallView::new(call, peer.clone(), name, direction, state));
                v.state = state;
                v.peer = peer;
                if state == CallState::Connected && v.connected_at.is_none() {
                    v.connected_at = Some(Instant::now());
                }
                if let (Some(s), Some(r)) = (status, reason) {
                    v.detail = Some(format!("{s} {r}"));
                }
            }
            Event::CallEnded {
                call,
                peer,
                outcome,
                direction,
                ..
            } => {
                let was_ringing = self
                    .calls
                    .remove(&call)
                    .is_some_and(|c| c.state == CallState::Incoming);
                let who = self.name_for(&peer).unwrap_or(peer);
                // How our own call ended, unless it went as planned; a call we declined or
                // missed is in History.
                let said = !matches!(outcome, CallOutcome::Answered | CallOutcome::CancelledByMe);
                if said && direction == Direction::Outgoing {
                    self.notice = Some(outcome.words(&who, direction));
                }
                if was_ringing && outcome == CallOutcome::Missed {
                    return self.notify("Missed call".into(), who);
                }
            }
            Event::Settings { settings } => self.settings.apply(&settings),
            Event::Hold {
                call,
                local,
                remote,
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.local_hold = local;
                    c.remote_hold = remote;
                }
            }
            Event::Dtmf { call, digit } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.detail = Some(format!("They pressed {digit}"));
                }
            }
            Event::InstantMessage { from, text } => {
                self.notice = Some(format!("{from}: {text}"));
            }
            Event::MessageSent { .. } => {}
            Event::MessageFailed { to, message } => {
                self.notice = Some(format!("The message to {to} was not delivered: {message}"));
            }
            Event::Message { call, text, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.detail = Some(format!("They wrote: {text}"));
                }
            }
            Event::FileReceived { name, path, .. } => {
                self.notice = Some(format!("Received {name}, saved as {}", path.display()));
            }
            Event::FileSent { name, .. } => self.notice = Some(format!("{name} was delivered")),
            Event::FileSentUnconfirmed { name, .. } => {
                self.notice = Some(format!("{name} was sent, not confirmed"))
            }
            Event::TransferProgress { .. } => {}
            Event::TransferFailed { message, .. } => self.notice = Some(message),
            Event::FileOffered { .. }
            | Event::TransferStarted { .. }
            | Event::TransferCancelled { .. }
            | Event::ChatStarted { .. }
            | Event::ChatEnded { .. } => {}
            Event::Levels {
                call,
                input,
                output,
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.levels = (input, output);
                }
            }
            Event::MediaPath { call, message, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.path = Some(message);
                }
            }
            Event::CallSecurity {
                call,
                encrypted,
                message,
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.security = Some((encrypted, message));
                }
            }
            Event::Muted { call, on } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.muted = on;
                }
            }
            Event::CallStats {
                call,
                received,
                lost,
                jitter_ms,
                rtt_ms,
                peer_lost_percent,
                no_media_secs,
                ..
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    let rtt = rtt_ms
                        .map(|r| format!(" · round trip {r} ms"))
                        .unwrap_or_default();
                    let silent = match no_media_secs {
                        0 => String::new(),
                        s => format!("No sound from them for {s} s · "),
                    };
                    c.stats = Some(format!(
                        "{silent}Received {received}, lost {lost} · they lost {peer_lost_percent}% · jitter {jitter_ms} ms{rtt}"
                    ));
                }
            }
            Event::Contacts { contacts } => self.contacts.contacts = contacts,
            Event::History { calls } => self.history.calls = calls,
            Event::CallLogged { record } => self.history.log(record),
            Event::Conversations { .. } => {}
            Event::ServerStarted { addr, domain, tls } => {
                if let Some((at, fingerprint)) = tls {
                    self.hosted = Some((domain.clone(), at.port(), fingerprint));
                }
                if std::mem::take(&mut self.hosting) {
                    // The engine signs in to it now: the account it adds is the one we wait for.
                    self.signing_in = Some(0);
                    self.notice = Some(match tls {
                        Some((at, fingerprint)) => hosting_notice(&domain, at.port(), fingerprint),
                        None => format!("Hosting {domain} on port {}: colleagues register as NAME@{domain} with this computer as server", addr.port()),
                    });
                }
            }
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
            Event::Error { message } => {
                if self.screen == Screen::Welcome
                    && (self.welcome.busy || self.signing_in.is_some())
                {
                    self.signing_in = None;
                    self.hosting = false;
                    self.welcome.failed(message);
                } else {
                    self.notice = Some(message);
                }
            }
            Event::Stopped if self.closing => return iced::exit(),
            Event::Stopped => self.screen = Screen::Fatal("The engine stopped".into()),
        }
        Task::none()
    }

    pub fn theme(&self) -> Theme {
        match self.settings.theme {
            settings::ThemeChoice::Light => Theme::Light,
            settings::ThemeChoice::Dark => Theme::Dark,
            settings::ThemeChoice::System if self.system_dark => Theme::Dark,
            settings::ThemeChoice::System => Theme::Light,
        }
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let mut subs = vec![
            bridge::subscription(self.key.clone()).map(Message::Engine),
            keyboard::listen().map(Message::Key),
            iced::system::theme_changes().map(Message::SystemTheme),
            iced::window::close_requests().map(|_| Message::CloseRequested),
            iced::window::events().filter_map(|(_, e)| match e {
                iced::window::Event::Focused => Some(Message::WindowFocused(true)),
                iced::window::Event::Unfocused => Some(Message::WindowFocused(false)),
                iced::window::Event::FileDropped(path) => Some(Message::FileDropped(path)),
                _ => None,
            }),
        ];
        if self.calls.values().any(|c| c.connected_at.is_some()) {
            subs.push(iced::time::every(Duration::from_secs(1)).map(Message::Tick));
        }
        Subscription::batch(subs)
    }

    pub fn title(&self) -> String {
        match self.calls.values().next() {
            Some(c) => format!(
                "{} — Parley",
                c.name.clone().unwrap_or_else(|| c.peer.clone())
            ),
            None => "Parley".into(),
        }
    }

    pub fn view(&self) -> Element<'_, Message> {
        if let (Some(p), Screen::Welcome | Screen::Main) = (&self.trust, &self.screen) {
            return p.view().map(Message::Trust);
        }
        match &self.screen {
            Screen::Starting => container(text("Starting…")).center(Length::Fill).into(),
            Screen::Fatal(why) => container(
                column![
                    text("Parley cannot start").size(24),
                    text(why.clone()).style(style::danger_text),
                ]
                .spacing(12),
            )
            .center(Length::Fill)
            .into(),
            Screen::Welcome => {
                let w = self.welcome.view().map(Message::Welcome);
                if self.accounts.is_empty() {
                    w
                } else {
                    column![w, button(text("Back")).on_press(Message::Tab(Tab::Dialpad))]
                        .padding(8)
                        .into()
                }
            }
            Screen::Main => self.main_view(),
        }
    }

    fn main_view(&self) -> Element<'_, Message> {
        // Who we are and whether we can be reached, above the contacts.
        let me: Element<'_, Message> = match self.accounts.values().next() {
            Some(a) => {
                let dot = text("●").style(if a.registered {
                    style::ok_text
                } else {
                    style::danger_text
                });
                row![
                    dot,
                    text(a.aor.trim_start_matches("sip:").to_string()).size(14)
                ]
                .spacing(6)
                .align_y(iced::Center)
                .padding([6, 8])
                .into()
            }
            None => text("").into(),
        };
        let sidebar = container(column![
            me,
            self.contacts.view(&self.chat.unread).map(Message::Contacts)
        ])
        .width(300)
        .height(Length::Fill)
        .style(style::panel);
        let missed = self.history.missed_count();
        let history_label = if missed > 0 {
            format!("History ({missed} missed)")
        } else {
            "History".into()
        };
        let tabs = [
            (Tab::Dialpad, "Dialpad".to_string()),
            (Tab::History, history_label),
            (Tab::Settings, "Settings".to_string()),
        ];
        let mut bar = row![].spacing(4);
        for (t, label) in tabs {
            let b = button(text(label)).on_press(Message::Tab(t));
            bar = bar.push(if self.tab == t {
                b.style(button::primary)
            } else {
                b.style(button::text)
            });
        }
        if let Tab::Conversation(id) = self.tab {
            if let Some(c) = self.contacts.get(id) {
                bar = bar.push(
                    button(text(c.name.clone()))
                        .on_press(Message::Tab(Tab::Conversation(id)))
                        .style(button::primary),
                );
            }
        }
        let pane: Element<'_, Message> = match self.tab {
            Tab::Dialpad => self.dialpad.view().map(Message::Dialpad),
            Tab::History => self.history.view().map(Message::History),
            Tab::Settings => {
                let lines = self
                    .accounts
                    .iter()
                    .map(|(id, a)| settings::AccountLine {
                        id: *id,
                        aor: &a.aor,
                        status: &a.status,
                    })
                    .collect();
                let hosted = self
                    .hosted
                    .as_ref()
                    .map(|(domain, port, f)| hosting_notice(domain, *port, *f));
                self.settings.view(lines, hosted).map(Message::Settings)
            }
            Tab::Conversation(id) => match self.contacts.get(id) {
                Some(c) => conversation::view(c, &self.history.calls, &self.chat)
                    .map(Message::Conversation),
                None => text("This contact was deleted.").into(),
            },
        };
        let mut main = column![bar].spacing(8).padding(8);
        for c in self.calls.values() {
            main = main.push(call::view(c, self.now).map(Message::Call));
        }
        for o in &self.chat.offers {
            main = main.push(self.offer_view(o));
        }
        main = main.push(container(pane).height(Length::Fill));
        let body = row![sidebar, main.width(Length::Fill)];
        column![
            body.height(Length::Fill),
            rule::horizontal(1),
            self.status_bar()
        ]
        .into()
    }

    fn offer_view<'a>(&self, o: &'a chat::Offer) -> Element<'a, Message> {
        let who = self.name_for(&o.from).unwrap_or(o.from.clone());
        container(
            row![
                text(format!(
                    "{who} wants to send you {} ({})",
                    o.name,
                    chat::size(o.size)
                ))
                .width(Length::Fill),
                button(text("Accept"))
                    .on_press(Message::Offer(o.clone(), true))
                    .style(button::success),
                button(text("Decline"))
                    .on_press(Message::Offer(o.clone(), false))
                    .style(button::danger),
            ]
            .spacing(8)
            .align_y(iced::Center),
        )
        .padding(8)
        .style(style::panel)
        .into()
    }

    fn status_bar(&self) -> Element<'_, Message> {
        let reg = if self.accounts.is_empty() {
            "No account".to_string()
        } else {
            self.accounts
                .values()
                .map(|a| format!("{}: {}", a.aor.trim_start_matches("sip:"), a.status))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let mut r = row![text(reg).size(13).width(Length::Fill)]
            .spacing(12)
            .align_y(iced::Center);
        if let Some(n) = &self.notice {
            r = r.push(text(n.clone()).size(13).style(style::danger_text));
            r = r.push(
                button(text("×").size(13))
                    .on_press(Message::DismissNotice)
                    .style(button::text),
            );
        }
        container(r)
            .padding([4, 10])
            .style(style::panel)
            .width(Length::Fill)
            .into()
    }

    /// A `sip:` URI to put in the dialpad once an account is registered.
    pub fn set_pending_call(&mut self, uri: String) {
        self.pending_call = Some(uri);
    }

    /// For tests: an app whose engine is already running.
    pub fn with_engine(handle: EngineHandle) -> App {
        let mut app = App::new(None, None);
        app.engine = Some(handle);
        app
    }
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

/// Opens the main window and runs until it is closed.
pub fn run(profile: Option<PathBuf>, pending_call: Option<String>) -> iced::Result {
    iced::application(
        move || (App::new(profile.clone(), pending_call.clone()), App::boot()),
        App::update,
        App::view,
    )
    .title(App::title)
    .theme(App::theme)
    .subscription(App::subscription)
    .window_size((1100.0, 720.0))
    .exit_on_close_request(false)
    .run()
}

/// What colleagues need to reach a hosted server over TLS, and to check it is this one.
pub fn hosting_notice(domain: &str, port: u16, fingerprint: Fingerprint) -> String {
    format!(
        "Hosting {domain}, encrypted: colleagues sign in as NAME@{domain} with this computer as \
         server, port {port}, TLS. When Parley asks them whether to trust it, the fingerprint \
         must read {fingerprint}"
    )
}

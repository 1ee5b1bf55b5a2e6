//! The desktop window (iced). A router: each pane owns its state and applies the engine events
//! it cares about (`events.rs` hands them round); pane actions become engine `Command`s here.
//! No protocol code, and no pane talks to the engine or the database itself.

pub mod account_form;
pub mod accounts;
pub mod avatar;
pub mod bridge;
pub mod call;
pub mod chat;
pub mod clock;
pub mod contacts;
pub mod conversation;
pub mod dialpad;
pub mod drop;
mod events;
pub mod files;
pub mod history;
pub mod icons;
mod keys;
mod layout;
mod link;
pub mod notify;
pub mod settings;
pub mod style;
pub mod threads;
pub mod trust;
pub mod welcome;

use crate::engine::{AccountConfig, AccountId, Command, EngineHandle, Fingerprint, Transport};
use iced::keyboard;
use iced::widget::operation;
use iced::{Subscription, Task, Theme};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use threads::Thread;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Waiting for the engine to start and restore saved accounts.
    Starting,
    Welcome,
    Main,
    /// The engine could not start; the reason.
    Fatal(String),
}

/// What fills the main pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tab {
    /// No conversation open: what to do next.
    Home,
    Conversation(Thread),
    Dialpad,
    History,
    Settings,
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
    /// A file dropped on the window: it goes to the conversation it was dropped on, else to
    /// the open one.
    FileDropped(PathBuf),
    /// Where the pointer was at the drop (none when the windowing system cannot say).
    DropAt(PathBuf, Option<iced::Point>),
    /// The conversation whose row the file was dropped on, if any.
    DroppedOn(PathBuf, Option<Thread>),
    /// The attach dialog's choice (none when cancelled, or when no dialog could open).
    Attached(Option<PathBuf>),
    /// Accept (true) or decline a file someone offers.
    Offer(chat::Offer, bool),
    /// The answer to "Trust this server?".
    Trust(trust::Message),
}

pub struct App {
    link: link::Link,
    key: bridge::Key,
    pub screen: Screen,
    pub welcome: welcome::State,
    pub contacts: contacts::State,
    pub dialpad: dialpad::State,
    pub history: history::State,
    pub settings: settings::State,
    pub tab: Tab,
    pub accounts: accounts::Accounts,
    pub calls: call::Calls,
    pub chat: chat::State,
    /// The last thing worth telling: a failed call's reason, an error. Shown on its own card
    /// above the pane until dismissed.
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
    /// An account signing in again with new settings (Settings' form).
    updating: Option<AccountId>,
    /// Where a hosted server listens: all interfaces on SIP's port, so the LAN can reach it.
    pub host_bind: std::net::SocketAddr,
    /// "Attach by path", typed, when no file dialog answered; none when it is not shown.
    pub attach_path: Option<String>,
    /// The conversation last open, for Chats on the rail.
    last_open: Option<Thread>,
    system_dark: bool,
    now: Instant,
    closing: bool,
    focused: bool,
}

impl App {
    pub fn new(profile: Option<PathBuf>, pending_call: Option<String>) -> App {
        App {
            link: link::Link::default(),
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
            tab: Tab::Home,
            accounts: accounts::Accounts::default(),
            calls: call::Calls::default(),
            chat: chat::State::default(),
            notice: None,
            trust: None,
            trust_asked: None,
            hosted: None,
            pending_call,
            signing_in: None,
            hosting: false,
            updating: None,
            host_bind: std::net::SocketAddr::from(([0, 0, 0, 0], 5060)),
            attach_path: None,
            last_open: None,
            system_dark: false,
            now: Instant::now(),
            closing: false,
            focused: true,
        }
    }

    /// The tasks to run at start: ask the system theme.
    pub fn boot() -> Task<Message> {
        iced::system::theme().map(Message::SystemTheme)
    }

    fn send(&self, cmd: Command) {
        self.link.send(cmd)
    }

    pub fn in_call(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Calls `target` from the calling account, unless a call is already up (Call is disabled
    /// then; Enter and double-clicks come here too).
    fn place_call(&mut self, target: String) {
        if self.in_call() {
            self.notice = Some("Finish the call you are in before starting another".into());
            return;
        }
        match self.accounts.calling() {
            Some(account) => {
                self.notice = None;
                self.send(Command::Call { account, target });
            }
            None => self.notice = Some("Sign in to an account before calling".into()),
        }
    }

    /// Opens a conversation: what is in it is read now, and the composer takes the keys.
    fn open(&mut self, t: Thread) -> Task<Message> {
        let keys = threads::keys(&self.contacts.contacts, &t);
        self.chat.read(&keys);
        self.attach_path = None;
        self.tab = Tab::Conversation(t.clone());
        self.last_open = Some(t);
        operation::focus(conversation::COMPOSER_ID)
    }

    /// Chats on the rail: the conversation last open, if it is still there.
    fn last_conversation(&self) -> Tab {
        match &self.last_open {
            Some(t) if !threads::keys(&self.contacts.contacts, t).is_empty() => {
                Tab::Conversation(t.clone())
            }
            _ => Tab::Home,
        }
    }

    /// The open conversation and its address keys, if one is open.
    fn open_thread(&self) -> Option<(&Thread, Vec<String>)> {
        let Tab::Conversation(t) = &self.tab else {
            return None;
        };
        Some((t, threads::keys(&self.contacts.contacts, t)))
    }

    /// The open conversation's address to send to.
    fn open_peer(&self) -> Option<String> {
        let (t, _) = self.open_thread()?;
        self.contacts.address_of(t)
    }

    fn send_file(&mut self, path: PathBuf) {
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
    fn send_text(&mut self) {
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
    fn completed(&self, typed: &str) -> String {
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

    fn name_for(&self, uri: &str) -> Option<String> {
        self.contacts.by_uri(uri).map(|c| c.name.clone())
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        let task = self.route(message);
        Task::batch([task, self.link.flush()])
    }

    fn route(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Flushed => self.link.flushed(),
            Message::Engine(bridge::Update::Ready(handle)) => self.link.engine = Some(handle),
            Message::Engine(bridge::Update::Failed(why)) => self.screen = Screen::Fatal(why),
            Message::Engine(bridge::Update::Event(ev)) => return self.on_event(ev),
            Message::Welcome(m) => return self.on_welcome(m),
            Message::Contacts(m) => return self.on_contacts(m),
            Message::Dialpad(m) => match self.dialpad.update(m) {
                Some(dialpad::Action::Call(target)) => self.place_call(target),
                Some(dialpad::Action::Write(target)) => {
                    let full = self.completed(&target);
                    let t = threads::thread_of(&self.contacts.contacts, &full);
                    return self.open(t);
                }
                None => {}
            },
            Message::History(m) => {
                if let Some(history::Action::Call(uri)) = self.history.update(m) {
                    self.place_call(uri);
                }
            }
            Message::Conversation(m) => return self.on_conversation(m),
            Message::FileDropped(path) => {
                return drop::locate().map(move |at| Message::DropAt(path.clone(), at))
            }
            Message::DropAt(path, Some(at)) => {
                let rows = self.sidebar_list().into_iter().map(|s| s.thread).collect();
                return drop::thread_at(at, rows).map(move |t| Message::DroppedOn(path.clone(), t));
            }
            Message::DropAt(path, None) | Message::DroppedOn(path, None) => self.send_file(path),
            Message::DroppedOn(path, Some(t)) => {
                let focus = self.open(t);
                self.send_file(path);
                return focus;
            }
            Message::Attached(Some(path)) => self.send_file(path),
            // Cancelled, or no dialog could open: offer to type the path instead.
            Message::Attached(None) => {
                self.attach_path = Some(String::new());
                return operation::focus(conversation::ATTACH_PATH_ID);
            }
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
            Message::Settings(m) => self.on_settings(m),
            Message::Call(m) => self.on_call(m),
            Message::Tab(t) => return self.show(t),
            Message::Key(ev) => return self.on_key(ev),
            Message::Tick(now) => self.now = now,
            Message::SystemTheme(mode) => self.system_dark = mode == iced::theme::Mode::Dark,
            Message::ImportFrom(Some(path)) => self.send(Command::ImportContacts(path)),
            Message::ExportTo(Some(path)) => self.send(Command::ExportContacts(path)),
            Message::ImportFrom(None) | Message::ExportTo(None) => {}
            Message::DismissNotice => self.notice = None,
            Message::WindowFocused(f) => {
                self.focused = f;
                // Back in front: the open conversation has been seen.
                if let (true, Some((_, keys))) = (f, self.open_thread()) {
                    self.chat.read(&keys);
                }
            }
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
                if self.link.engine.is_none() || self.closing {
                    return iced::exit();
                }
                // The engine hangs up, un-REGISTERs (3 s at most) and says Stopped.
                self.closing = true;
                self.send(Command::Shutdown);
            }
        }
        Task::none()
    }

    /// Shows a pane ("Back" from adding a second account returns to the main window).
    fn show(&mut self, t: Tab) -> Task<Message> {
        if self.screen == Screen::Welcome && !self.accounts.list.is_empty() {
            self.screen = Screen::Main;
        }
        if let Tab::Conversation(c) = t {
            return self.open(c);
        }
        self.tab = t.clone();
        match t {
            Tab::Dialpad => operation::focus(dialpad::INPUT_ID),
            _ => Task::none(),
        }
    }

    fn on_welcome(&mut self, m: welcome::Message) -> Task<Message> {
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

    fn on_contacts(&mut self, m: contacts::Message) -> Task<Message> {
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

    fn on_conversation(&mut self, m: conversation::Message) -> Task<Message> {
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
    fn send_typed_path(&mut self) {
        let typed = self.attach_path.clone().unwrap_or_default();
        let path = PathBuf::from(typed.trim());
        if path.is_file() {
            self.send_file(path);
        } else {
            self.notice = Some(format!("“{}” is not a file that can be read", typed.trim()));
        }
    }

    fn on_settings(&mut self, m: settings::Message) {
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

    fn on_call(&mut self, m: call::Message) {
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

    pub fn theme(&self) -> Theme {
        match self.settings.theme {
            settings::ThemeChoice::Light => style::light(),
            settings::ThemeChoice::Dark => style::dark(),
            settings::ThemeChoice::System if self.system_dark => style::dark(),
            settings::ThemeChoice::System => style::light(),
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

    /// "Incoming call from Bob", the call's name and timer, or the unread count.
    pub fn title(&self) -> String {
        if let Some(c) = self.calls.ringing_in() {
            return format!("Incoming call from {} — Parley", c.who());
        }
        if let Some(c) = self.calls.values().next() {
            let timer = call::timer(c, self.now)
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            return format!("{}{timer} — Parley", c.who());
        }
        match self.chat.total_unread() {
            0 => "Parley".into(),
            n => format!("({n}) Parley"),
        }
    }

    /// A `sip:` URI to put in the dialpad once an account is registered.
    pub fn set_pending_call(&mut self, uri: String) {
        self.pending_call = Some(uri);
    }

    /// For tests: an app whose engine is already running.
    pub fn with_engine(handle: EngineHandle) -> App {
        let mut app = App::new(None, None);
        app.link.engine = Some(handle);
        app
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
    .font(icons::BYTES)
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

//! The desktop window (iced). A router: each pane owns its state and applies the engine events
//! it cares about (`events.rs` hands them round); pane actions become engine `Command`s in
//! `actions.rs`; `layout.rs` draws the frame, `keys.rs` takes the keyboard, `link.rs` queues
//! commands to the engine. No protocol code, and no pane talks to the engine or the database
//! itself.

pub mod account_form;
pub mod accounts;
mod actions;
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

use crate::engine::{AccountId, Command, EngineHandle, Fingerprint};
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
            bridge::stop_requests().map(|_| Message::CloseRequested),
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

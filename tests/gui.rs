//! The desktop app's main flows, headless: the real `App` (update and view) on a real engine,
//! a real server and a real peer; the view is queried and clicked with iced_test.

mod common;

use common::*;
use iced_test::simulator;
use parley::engine::{CallState, Command, Engine, EngineConfig, Event};
use parley::gui::bridge::Update;
use parley::gui::threads::Thread;
use parley::gui::{chat, contacts, dialpad, drop, welcome, App, Message, Screen, Tab};
use parley::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

struct Gui {
    app: App,
    events: mpsc::Receiver<Event>,
    handle: parley::engine::EngineHandle,
    dir: Arc<tempfile::TempDir>,
}

impl Gui {
    async fn start() -> Gui {
        Gui::start_in(Arc::new(tempfile::tempdir().unwrap())).await
    }

    /// A window on the profile in `dir` (its database and received files).
    async fn start_in(dir: Arc<tempfile::TempDir>) -> Gui {
        Gui::start_with(dir, |_| {}).await
    }

    /// As `start_in`, with the engine's settings changed by `tweak` first.
    async fn start_with(dir: Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut EngineConfig)) -> Gui {
        let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.store = Some(Arc::new(
            Store::open(&dir.path().join("parley.db")).unwrap(),
        ));
        cfg.files = dir.path().join("files");
        tweak(&mut cfg);
        let (handle, events) = Engine::start(cfg).await.unwrap();
        handle.send(Command::Restore).await;
        let mut gui = Gui {
            app: App::with_engine(handle.clone()),
            events,
            handle,
            dir,
        };
        gui.pump(|a| a.screen != Screen::Starting).await;
        gui
    }

    /// Stops the engine as closing the window would, and waits until it has.
    async fn quit(mut self) -> Arc<tempfile::TempDir> {
        self.handle.send(Command::Shutdown).await;
        while let Some(ev) = self.events.recv().await {
            if ev == Event::Stopped {
                break;
            }
        }
        self.dir
    }

    /// Feeds engine events to the app until `pred` holds (20 s at most).
    async fn pump(&mut self, pred: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !pred(&self.app) {
            let Ok(ev) = tokio::time::timeout_at(deadline, self.events.recv()).await else {
                panic!(
                    "the app never got there: screen {:?}, sign-in {:?}, notice {:?}",
                    self.app.screen, self.app.welcome.status, self.app.notice
                );
            };
            let ev = ev.expect("engine stopped");
            let _ = self.app.update(Message::Engine(Update::Event(ev)));
        }
    }

    fn update(&mut self, m: Message) {
        let _ = self.app.update(m);
    }

    /// Runs a task the app returned, as iced's runtime would, feeding its messages back.
    async fn run(&mut self, task: iced::Task<Message>) {
        use iced::futures::StreamExt;
        let Some(mut stream) = iced_runtime::task::into_stream(task) else {
            return;
        };
        while let Some(action) = stream.next().await {
            if let iced_runtime::Action::Output(m) = action {
                let next = self.app.update(m);
                Box::pin(self.run(next)).await;
            }
        }
    }

    /// Clicks the widget showing `label` and delivers the messages it produced.
    fn click(&mut self, label: &str) {
        let messages: Vec<Message> = {
            let mut ui = simulator(self.app.view());
            ui.click(label)
                .unwrap_or_else(|e| panic!("cannot click {label}: {e}"));
            ui.into_messages().collect()
        };
        for m in messages {
            self.update(m);
        }
    }

    fn shows(&self, label: &str) -> bool {
        let mut ui = simulator(self.app.view());
        ui.find(label).is_ok()
    }

    /// A window signed in as alice at `server`, on the main screen.
    async fn signed_in(server: std::net::SocketAddr) -> Gui {
        let mut gui = Gui::start().await;
        gui.sign_in("alice", "a-secret", server).await;
        gui.pump(|a| a.screen == Screen::Main).await;
        gui
    }

    /// Adds a contact through the editor, as a user would, and returns its id once saved.
    async fn add_contact(&mut self, name: &str, uris: &str) -> i64 {
        self.click("Add");
        self.update(Message::Contacts(contacts::Message::EditName(name.into())));
        self.update(Message::Contacts(contacts::Message::EditUris(uris.into())));
        self.click("Save");
        self.pump(|a| a.contacts.contacts.iter().any(|c| c.name == name))
            .await;
        let c = self.app.contacts.contacts.iter().find(|c| c.name == name);
        c.unwrap().id
    }

    async fn sign_in(&mut self, user: &str, password: &str, server: std::net::SocketAddr) {
        self.update(Message::Welcome(welcome::Message::Address(format!(
            "{user}@company.com"
        ))));
        self.update(Message::Welcome(welcome::Message::Password(
            password.into(),
        )));
        self.update(Message::Welcome(welcome::Message::Server(
            server.to_string(),
        )));
        self.click("Sign in");
    }
}

#[tokio::test]
async fn add_contact_call_ringing_answer_hang_up_history() {
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let mut gui = Gui::start().await;
    assert!(gui.shows("Welcome to Parley"));
    gui.sign_in("alice", "a-secret", server.local_addr()).await;
    gui.pump(|a| a.screen == Screen::Main).await;
    assert!(gui.shows("alice@company.com: Online"));

    let id = gui.add_contact("Bob Builder", "bob@company.com").await;
    assert!(gui.shows("Bob Builder"));
    assert_eq!(
        gui.app.contacts.contacts[0].uris,
        vec!["sip:bob@company.com"]
    );

    gui.update(Message::Contacts(contacts::Message::Call(id)));
    let call = bob.incoming().await;
    gui.pump(|a| a.calls.values().any(|c| c.state == CallState::Ringing))
        .await;
    assert!(gui.shows("Ringing…"), "no ringing in the view");
    assert!(gui.shows("Bob Builder"), "the banner names the contact");

    bob.send(Command::Answer(call)).await;
    gui.pump(|a| a.calls.values().any(|c| c.connected_at.is_some()))
        .await;
    assert!(gui.shows("Hang up"));
    gui.click("Hang up");
    gui.pump(|a| a.calls.is_empty() && !a.history.calls.is_empty())
        .await;
    assert_eq!(bob.ended().await.0, 200);

    gui.click("History");
    assert_eq!(gui.app.tab, Tab::History);
    assert!(gui.shows("Bob Builder"), "History names the contact");
    assert!(gui.shows("Call back"));
    assert_eq!(gui.app.history.calls[0].status, Some(200));
}

#[tokio::test]
async fn incoming_call_is_answered_from_the_banner_and_esc_hangs_up() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    bob.call("sip:alice@company.com").await;
    gui.pump(|a| !a.calls.is_empty()).await;
    assert!(gui.shows("Incoming call"));
    gui.click("Accept");
    gui.pump(|a| a.calls.values().any(|c| c.connected_at.is_some()))
        .await;
    bob.reached(CallState::Connected).await;
    let esc = iced::keyboard::Event::KeyPressed {
        key: iced::keyboard::Key::Named(iced::keyboard::key::Named::Escape),
        modified_key: iced::keyboard::Key::Named(iced::keyboard::key::Named::Escape),
        physical_key: iced::keyboard::key::Physical::Unidentified(
            iced::keyboard::key::NativeCode::Unidentified,
        ),
        location: iced::keyboard::Location::Standard,
        modifiers: iced::keyboard::Modifiers::empty(),
        text: None,
        repeat: false,
    };
    gui.update(Message::Key(esc));
    assert_eq!(bob.ended().await.1, "Remote hung up");
    gui.pump(|a| a.calls.is_empty()).await;
}

#[tokio::test]
async fn missed_call_is_highlighted_in_history() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    bob.call("sip:alice@company.com").await;
    let call = bob.reached(CallState::Ringing).await;
    bob.send(Command::Hangup(call)).await;
    gui.pump(|a| a.history.missed_count() == 1).await;
    // The rail's History carries the count; the row says it in words.
    assert!(gui.shows("History") && gui.shows("1"));
    gui.click("History");
    assert!(gui.shows("Missed call"));
    gui.click("Missed");
    assert!(gui.shows("Missed"));
    assert_eq!(gui.app.history.visible().len(), 1);
}

#[tokio::test]
async fn wrong_password_is_said_on_the_welcome_screen_and_not_kept() {
    let server = server(USERS).await;
    let mut gui = Gui::start().await;
    gui.sign_in("alice", "nope", server.local_addr()).await;
    gui.pump(|a| {
        a.welcome
            .status
            .as_deref()
            .is_some_and(|s| s.contains("Wrong password"))
    })
    .await;
    assert_eq!(gui.app.screen, Screen::Welcome);
    assert!(gui.shows("Wrong password for sip:alice@company.com (403 from the server)"));
    gui.pump(|a| a.accounts.list.is_empty()).await;
}

#[tokio::test]
async fn unreachable_server_and_bad_address_are_clear() {
    let mut gui = Gui::start().await;
    gui.update(Message::Welcome(welcome::Message::Address(
        "not an address".into(),
    )));
    gui.click("Sign in");
    assert!(gui
        .app
        .welcome
        .status
        .as_deref()
        .unwrap()
        .contains("has a space in it"));
    // A server that never answers: the REGISTER times out (Timer F, 32 s on UDP), said as such.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    gui.sign_in("alice", "x", silent.local_addr().unwrap())
        .await;
    // The window says it is still waiting long before the timeout.
    gui.update(Message::SignInSlow);
    assert!(gui.shows("No answer from the server yet; still trying for about half a minute…"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !gui.app.welcome.status.as_deref().is_some_and(|s| {
        s.contains("No answer from the server for sip:alice@company.com (timeout)")
    }) {
        let ev = tokio::time::timeout_at(deadline, gui.events.recv())
            .await
            .expect("no timeout seen")
            .unwrap();
        gui.update(Message::Engine(Update::Event(ev)));
    }
}

#[tokio::test]
async fn closing_the_window_hangs_up_and_signs_out() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    bob.call("sip:alice@company.com").await;
    gui.pump(|a| !a.calls.is_empty()).await;
    gui.click("Accept");
    bob.reached(CallState::Connected).await;
    gui.update(Message::CloseRequested);
    assert_eq!(bob.ended().await.1, "Remote hung up");
    // Signed out: the server no longer knows where alice is.
    bob.call("sip:alice@company.com").await;
    assert_eq!(bob.ended().await.0, 480);
}

#[tokio::test]
async fn a_sip_link_opens_the_app_ready_to_call() {
    let server = server(USERS).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.store = Some(Arc::new(
        Store::open(&dir.path().join("parley.db")).unwrap(),
    ));
    let (handle, events) = Engine::start(cfg).await.unwrap();
    let mut acc = parley::engine::AccountConfig::new("sip:alice@company.com", "a-secret");
    acc.server = Some(server.local_addr().to_string());
    handle.send(Command::AddAccount(Box::new(acc))).await;
    handle.send(Command::Restore).await;
    let mut app = App::with_engine(handle.clone());
    app.set_pending_call("sip:bob@company.com".into());
    let mut gui = Gui {
        app,
        events,
        handle,
        dir: Arc::new(dir),
    };
    gui.pump(|a| a.accounts.list.values().any(|x| x.registered))
        .await;
    assert_eq!(gui.app.tab, Tab::Dialpad);
    assert_eq!(gui.app.dialpad.number, "sip:bob@company.com");
    assert!(gui.shows("sip:bob@company.com"));
}

#[tokio::test]
async fn preferences_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parley.db");
    for round in 0..2 {
        let mut cfg = EngineConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.store = Some(Arc::new(Store::open(&db).unwrap()));
        let (handle, mut events) = Engine::start(cfg).await.unwrap();
        handle.send(Command::Restore).await;
        let mut app = App::with_engine(handle.clone());
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap();
            let done = matches!(ev, Event::Restored { .. });
            let _ = app.update(Message::Engine(Update::Event(ev)));
            if done {
                break;
            }
        }
        if round == 0 {
            assert_eq!(app.theme().to_string(), "Parley light");
            let _ = app.update(Message::Settings(parley::gui::settings::Message::Theme(
                parley::gui::settings::ThemeChoice::Dark,
            )));
            let _ = app.update(Message::Settings(parley::gui::settings::Message::Ringtone(
                false,
            )));
            handle.send(Command::Shutdown).await;
            while let Some(ev) = events.recv().await {
                if ev == Event::Stopped {
                    break;
                }
            }
        } else {
            assert_eq!(app.theme().to_string(), "Parley dark");
            assert!(!app.settings.ringtone);
        }
    }
}

#[tokio::test]
async fn hold_and_keypad_from_the_call_banner() {
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    gui.click("Dialpad");
    gui.update(Message::Dialpad(parley::gui::dialpad::Message::Input(
        "bob".into(),
    )));
    gui.click("Call");
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    gui.pump(|a| a.calls.values().any(|c| c.connected_at.is_some()))
        .await;
    gui.click("History"); // so the only digit buttons are the banner's keypad
    gui.click("Hold");
    gui.pump(|a| a.calls.values().any(|c| c.local_hold)).await;
    assert!(gui.shows("Resume"));
    assert!(matches!(
        bob.wait(|e| matches!(e, Event::Hold { .. })).await,
        Event::Hold { remote: true, .. }
    ));
    gui.click("Keypad");
    gui.click("7");
    assert!(matches!(
        bob.wait(|e| matches!(e, Event::Dtmf { .. })).await,
        Event::Dtmf { digit: '7', .. }
    ));
    gui.click("Resume");
    gui.pump(|a| a.calls.values().all(|c| !c.local_hold)).await;
}

/// "Host a local server": the server runs in the app, the user is signed in to it, and a
/// colleague registering to it can call them.
#[tokio::test]
async fn hosting_a_local_server_lets_colleagues_call_over_tls_once_they_trust_it() {
    let mut gui = Gui::start().await;
    gui.app.host_bind = "127.0.0.1:0".parse().unwrap();
    gui.update(Message::Welcome(welcome::Message::HostUser("alice".into())));
    gui.click("Host a server");
    gui.pump(|a| a.screen == Screen::Main).await;
    let aor = gui.app.accounts.list.values().next().unwrap().aor.clone();
    let domain = aor.split('@').nth(1).unwrap().to_string();
    let notice = gui.app.notice.clone().unwrap();
    let port: u16 = notice
        .split("port ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let said = notice.split("must read ").nth(1).unwrap();
    let fingerprint = parley::tls::Fingerprint::parse(said).unwrap();
    // A colleague's window signs in over TLS, is asked, and trusts what the host showed.
    let mut bob = Gui::start().await;
    bob.update(Message::Welcome(welcome::Message::Address(format!(
        "bob@{domain}"
    ))));
    bob.update(Message::Welcome(welcome::Message::Server(format!(
        "127.0.0.1:{port}"
    ))));
    bob.update(Message::Welcome(welcome::Message::Transport(
        welcome::Transport::Tls,
    )));
    bob.click("Sign in");
    bob.pump(|a| a.trust.is_some()).await;
    assert_eq!(bob.app.trust.as_ref().unwrap().fingerprint, fingerprint);
    assert!(bob.shows("Trust 127.0.0.1?"));
    assert!(
        bob.app.accounts.list.len() == 1,
        "the sign-in waits for the answer"
    );
    bob.click("Trust this server");
    bob.pump(|a| a.screen == Screen::Main).await;
    let account = *bob.app.accounts.list.keys().next().unwrap();
    bob.handle
        .send(Command::Call {
            account,
            target: "alice".into(),
        })
        .await;
    gui.pump(|a| a.calls.values().any(|c| c.state == CallState::Incoming))
        .await;
    assert!(gui.shows("Incoming call"));
    assert!(gui.shows(&format!("bob@{domain}")));
    assert!(gui.app.title().starts_with("Incoming call from"));
}

#[tokio::test]
async fn contacts_are_searched_edited_and_deleted() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    for (name, uri) in [
        ("Bob Builder", "bob@company.com"),
        ("Carol Chen", "sip:carol@company.com, 1003@company.com"),
    ] {
        gui.click("Add");
        gui.update(Message::Contacts(contacts::Message::EditName(name.into())));
        gui.update(Message::Contacts(contacts::Message::EditUris(uri.into())));
        gui.click("Save");
    }
    gui.pump(|a| a.contacts.contacts.len() == 2).await;
    assert_eq!(
        gui.app.contacts.contacts[1].uris,
        vec!["sip:carol@company.com", "sip:1003@company.com"]
    );

    gui.update(Message::Contacts(contacts::Message::Search("1003".into())));
    assert!(gui.shows("Carol Chen"));
    assert!(!gui.shows("Bob Builder"));
    gui.update(Message::Contacts(contacts::Message::Search(String::new())));

    let carol = gui.app.contacts.contacts[1].id;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(carol),
    )));
    assert_eq!(gui.app.tab, Tab::Conversation(Thread::Contact(carol)));
    gui.click("Edit");
    gui.update(Message::Contacts(contacts::Message::EditName(
        "Carol Chen-Li".into(),
    )));
    gui.click("Save");
    gui.pump(|a| {
        a.contacts
            .contacts
            .iter()
            .any(|c| c.name == "Carol Chen-Li")
    })
    .await;

    gui.update(Message::Contacts(contacts::Message::Edit(carol)));
    gui.click("Delete");
    gui.pump(|a| a.contacts.contacts.len() == 1).await;
    assert_eq!(
        gui.app.tab,
        Tab::Home,
        "the deleted contact's conversation closed"
    );
    assert!(!gui.shows("Carol Chen-Li"));
}

#[tokio::test]
async fn a_second_account_can_be_added_from_settings() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    gui.click("Settings");
    gui.click("Add an account");
    assert_eq!(gui.app.screen, Screen::Welcome);
    gui.click("Back");
    assert_eq!(gui.app.screen, Screen::Main);
    gui.click("Settings");
    gui.click("Add an account");
    gui.update(Message::Welcome(welcome::Message::Address(
        "bob@company.com".into(),
    )));
    gui.update(Message::Welcome(welcome::Message::Password(
        "b-secret".into(),
    )));
    gui.update(Message::Welcome(welcome::Message::Server(
        server.local_addr().to_string(),
    )));
    gui.click("Sign in");
    gui.pump(|a| {
        a.screen == Screen::Main && a.accounts.list.values().filter(|x| x.registered).count() == 2
    })
    .await;
    gui.click("Settings");
    assert!(gui.shows("bob@company.com"));
}

/// The window never loses a command when the engine's queue is full. The test's runtime has one
/// thread, so the engine cannot drain its 64-command queue while 150 contacts are saved.
#[tokio::test]
async fn a_full_engine_queue_loses_no_command() {
    let mut gui = Gui::start().await;
    let mut tasks = Vec::new();
    for i in 0..150 {
        for m in [
            contacts::Message::New,
            contacts::Message::EditName(format!("Contact {i:03}")),
            contacts::Message::EditUris(format!("c{i}@company.com")),
            contacts::Message::Save,
        ] {
            tasks.push(gui.app.update(Message::Contacts(m)));
        }
    }
    for task in tasks {
        gui.run(task).await;
    }
    gui.pump(|a| a.contacts.contacts.len() == 150).await;
    let mut names: Vec<_> = gui
        .app
        .contacts
        .contacts
        .iter()
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    assert_eq!(names.first().unwrap(), "Contact 000");
    assert_eq!(names.last().unwrap(), "Contact 149");
}

/// Contacts go out to a vCard file and come back from one through the engine: the window
/// only picks the file.
#[tokio::test]
async fn contacts_are_exported_to_and_imported_from_vcard() {
    let mut gui = Gui::start().await;
    for m in [
        contacts::Message::New,
        contacts::Message::EditName("Bob Builder".into()),
        contacts::Message::EditUris("bob@company.com, sip:bob@home.example".into()),
        contacts::Message::Save,
    ] {
        gui.update(Message::Contacts(m));
    }
    gui.pump(|a| !a.contacts.contacts.is_empty()).await;
    let file = gui.dir.path().join("contacts.vcf");
    gui.update(Message::ExportTo(Some(file.clone())));
    gui.pump(|a| a.notice.as_deref().is_some_and(|n| n.contains("saved to")))
        .await;
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("FN:Bob Builder"));
    let mut other = Gui::start().await;
    other.update(Message::ImportFrom(Some(file.clone())));
    other
        .pump(|a| a.contacts.contacts.iter().any(|c| c.name == "Bob Builder"))
        .await;
    let bob = other
        .app
        .contacts
        .contacts
        .iter()
        .find(|c| c.name == "Bob Builder");
    assert_eq!(bob.unwrap().uris.len(), 2);
    other
        .pump(|a| {
            a.notice
                .as_deref()
                .is_some_and(|n| n.contains("Imported 1 contact"))
        })
        .await;
    // A file with no contact in it is said so, and nothing is added.
    let empty = gui.dir.path().join("empty.vcf");
    std::fs::write(&empty, "hello\n").unwrap();
    other.update(Message::ImportFrom(Some(empty)));
    other
        .pump(|a| {
            a.notice
                .as_deref()
                .is_some_and(|n| n.contains("No contacts found"))
        })
        .await;
    assert_eq!(other.app.contacts.contacts.len(), 1);
}

/// The call banner's media controls: the "They" meter moves with the other side's voice, and
/// Mute turns into Unmute once the engine has muted the microphone.
#[tokio::test]
async fn meters_and_mute_in_the_call_banner() {
    let server = server(USERS).await;
    let mut bob = Agent::start_engine(
        "bob",
        "b-secret",
        Some(server.local_addr()),
        |e| e.microphone = parley::media::headless::SourceSpec::Tone(660.0),
        |_| {},
    )
    .await;
    bob.registered().await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    gui.click("Dialpad");
    gui.update(Message::Dialpad(parley::gui::dialpad::Message::Input(
        "bob".into(),
    )));
    gui.click("Call");
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    gui.pump(|a| a.calls.values().any(|c| c.levels.1 > 0.5))
        .await;
    // The meters are among the details, out of the way until asked for.
    assert!(!gui.shows("They"));
    gui.click("Details");
    assert!(gui.shows("They") && gui.shows("You"));
    gui.click("Mute");
    gui.pump(|a| a.calls.values().any(|c| c.muted)).await;
    assert!(gui.shows("Unmute"));
}

#[tokio::test]
async fn a_file_offer_is_accepted_and_the_conversation_survives_a_restart() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let id = gui.add_contact("Bob", "bob@company.com").await;

    let file = gui.dir.path().join("plans.txt");
    std::fs::write(&file, "the plans, in full\n").unwrap();
    let account = bob.account;
    let (target, text) = (
        "sip:alice@company.com".to_string(),
        "see attached".to_string(),
    );
    bob.send(Command::SendMessage {
        account,
        target: target.clone(),
        text,
    })
    .await;
    bob.send(Command::SendFileTo {
        account,
        target,
        path: file,
    })
    .await;
    gui.pump(|a| !a.chat.offers.is_empty()).await;
    assert!(gui.shows("Bob wants to send you plans.txt (19 bytes)"));
    gui.click("Accept");
    gui.pump(|a| {
        a.chat
            .items
            .iter()
            .any(|s| matches!(s.item, chat::Item::File { .. }))
    })
    .await;
    bob.wait(|e| matches!(e, Event::FileSent { .. })).await;
    assert!(!gui.shows("Accept"), "the offer is gone once taken");
    let bob_key = ["bob@company.com".to_string()];
    assert_eq!(
        gui.app.chat.unread_with(&bob_key),
        2,
        "a text and a file are unread"
    );
    assert!(gui.shows("2"), "Bob's row carries the count");
    assert_eq!(gui.app.title(), "(2) Parley");

    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    let pane = ["see attached", "plans.txt", "Show in folder"];
    for label in pane {
        assert!(gui.shows(label), "the conversation lacks {label:?}");
    }
    let dir = gui.quit().await;
    let mut gui = Gui::start_in(dir).await;
    gui.pump(|a| a.screen == Screen::Main && !a.contacts.contacts.is_empty())
        .await;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    for label in pane {
        assert!(
            gui.shows(label),
            "after a restart the conversation lacks {label:?}"
        );
    }
    let saved = gui.dir.path().join("files").join("plans.txt");
    assert_eq!(
        std::fs::read_to_string(saved).unwrap(),
        "the plans, in full\n"
    );
}

/// Shift+Enter as a keyboard gives it: Enter with the Shift modifier held.
fn shift_enter() -> iced::Event {
    use iced::keyboard::{key, Event as K, Key, Location, Modifiers};
    let enter = Key::Named(key::Named::Enter);
    iced::Event::Keyboard(K::KeyPressed {
        key: enter.clone(),
        modified_key: enter,
        physical_key: key::Physical::Unidentified(key::NativeCode::Unidentified),
        location: Location::Standard,
        modifiers: Modifiers::SHIFT,
        text: None,
        repeat: false,
    })
}

#[tokio::test]
async fn the_composer_sends_on_enter_and_breaks_lines_on_shift_enter() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let id = gui.add_contact("Bob", "bob@company.com").await;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));

    let typed: Vec<Message> = {
        let mut ui = simulator(gui.app.view());
        let composer = iced::widget::Id::new(parley::gui::conversation::COMPOSER_ID);
        ui.click(composer).expect("no composer");
        ui.typewrite("line one");
        ui.simulate([shift_enter()]);
        ui.typewrite("line two");
        ui.tap_key(iced::keyboard::key::Named::Enter);
        ui.into_messages().collect()
    };
    for m in typed {
        gui.update(m);
    }
    let said = bob
        .wait(|e| matches!(e, Event::InstantMessage { .. }))
        .await;
    let Event::InstantMessage { text, .. } = said else {
        unreachable!()
    };
    assert_eq!(text, "line one\nline two");
    assert!(
        gui.app.chat.draft.text().trim().is_empty(),
        "the composer is emptied"
    );
    // Bob's phone answered 200: the bubble says delivered.
    gui.pump(|a| {
        a.chat.items.iter().any(|s| {
            matches!(
                s.item,
                chat::Item::Text {
                    state: parley::engine::MessageState::Delivered,
                    ..
                }
            )
        })
    })
    .await;
    assert!(gui.shows("line one\nline two") && gui.shows("Delivered"));
}

#[tokio::test]
async fn a_file_dropped_on_a_contact_is_offered_to_that_contact() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    gui.add_contact("Carol", "carol@company.com").await;
    let bob_id = gui.add_contact("Bob", "bob@company.com").await;
    let ids: Vec<Thread> = gui
        .app
        .contacts
        .contacts
        .iter()
        .map(|c| Thread::Contact(c.id))
        .collect();
    assert_eq!(gui.app.tab, Tab::Home, "no conversation is open");

    let (hit, missed) = {
        let mut ui = simulator(gui.app.view());
        let on_bob = ui.find("Bob").expect("Bob is listed").bounds().center();
        let beside = iced::Point::new(on_bob.x, on_bob.y + 400.0);
        let hit = ui.find(drop::row_at(on_bob, ids.clone())).ok();
        (hit, ui.find(drop::row_at(beside, ids)).ok())
    };
    assert_eq!(
        hit,
        Some(Thread::Contact(bob_id)),
        "the drop point is on Bob's row"
    );
    assert_eq!(missed, None, "below the list is no contact");

    let file = gui.dir.path().join("minutes.txt");
    std::fs::write(&file, "minutes").unwrap();
    gui.update(Message::DroppedOn(file, hit));
    assert_eq!(
        gui.app.tab,
        Tab::Conversation(Thread::Contact(bob_id)),
        "Bob's conversation opens"
    );
    let offer = bob.wait(|e| matches!(e, Event::FileOffered { .. })).await;
    let Event::FileOffered { name, size, .. } = offer else {
        unreachable!()
    };
    assert_eq!((name.as_str(), size), ("minutes.txt", 7));
}

/// Defect 10: hanging up one's own ringing call is no error; History says "You cancelled".
#[tokio::test]
async fn cancelling_ones_own_call_is_no_error_and_history_says_so() {
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let id = gui.add_contact("Bob Builder", "bob@company.com").await;
    gui.update(Message::Contacts(contacts::Message::Call(id)));
    bob.incoming().await;
    gui.pump(|a| a.calls.values().any(|c| c.state == CallState::Ringing))
        .await;
    gui.click("Hang up");
    gui.pump(|a| a.calls.is_empty() && !a.history.calls.is_empty())
        .await;
    assert_eq!(gui.app.notice, None, "a cancelled call is no news");
    gui.click("History");
    assert!(gui.shows("You cancelled"));
    assert!(!gui.shows("487"), "no SIP code in History");
}

/// Defects 5 and 6: a contact form that cannot be saved stays open with what was typed and
/// says why beside it; `alice at company` is no three addresses.
#[tokio::test]
async fn a_contact_form_that_cannot_be_saved_keeps_the_input_and_says_why() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    gui.click("Add");
    gui.update(Message::Contacts(contacts::Message::EditUris(
        "alice at company".into(),
    )));
    gui.click("Save");
    assert!(gui.shows("A contact needs a name"));
    gui.update(Message::Contacts(contacts::Message::EditName(
        "Alice".into(),
    )));
    gui.click("Save");
    let editor = gui
        .app
        .contacts
        .editor
        .clone()
        .expect("the form stays open");
    assert_eq!(editor.uris, "alice at company", "what was typed is kept");
    assert!(editor.error.unwrap().1.contains("space"));
    assert!(gui.app.contacts.contacts.is_empty(), "nothing was saved");
    gui.update(Message::Contacts(contacts::Message::EditUris(
        "alice@Company.COM, sip:alice@company.com".into(),
    )));
    gui.click("Save");
    gui.pump(|a| !a.contacts.contacts.is_empty()).await;
    assert_eq!(
        gui.app.contacts.contacts[0].uris,
        vec!["sip:alice@company.com"]
    );
}

/// Defect 7: the dialpad refuses what is no address, in words, and logs no call.
#[tokio::test]
async fn the_dialpad_refuses_malformed_addresses_and_logs_nothing() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    for typed in ["bob smith", "sip:bob@@company..com"] {
        gui.app.notice = None;
        gui.update(Message::Dialpad(dialpad::Message::Input(typed.into())));
        gui.update(Message::Dialpad(dialpad::Message::Call));
        gui.pump(|a| a.notice.is_some()).await;
        let notice = gui.app.notice.clone().unwrap();
        assert!(notice.starts_with("Cannot call"), "{notice}");
        assert!(!notice.contains("password"), "{notice}");
    }
    assert!(gui.app.calls.is_empty() && gui.app.history.calls.is_empty());
}

/// Whether the text `label` is drawn inside the window's visible area (not scrolled away).
fn in_view(app: &App, label: &str) -> bool {
    use iced::widget::selector::Candidate;
    let mut ui = simulator(app.view());
    let wanted = label.to_string();
    ui.find(move |c: Candidate<'_>| match c {
        Candidate::Text {
            content,
            visible_bounds,
            ..
        } if content == wanted => Some(visible_bounds.is_some()),
        _ => None,
    })
    .unwrap_or(false)
}

/// Defect 1: a text arriving in the open conversation is not counted unread, even when it
/// comes from the contact's second address; the window title counts the others.
#[tokio::test]
async fn the_open_conversation_collects_no_unread_count() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let mut carol = Agent::start("carol", "c-secret", Some(server.local_addr())).await;
    carol.registered().await;
    let id = gui
        .add_contact("Bob", "bob@home.example, bob@company.com")
        .await;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    for (who, text) in [(&bob, "reading this?"), (&carol, "and this one?")] {
        who.send(Command::SendMessage {
            account: who.account,
            target: "sip:alice@company.com".into(),
            text: text.into(),
        })
        .await;
    }
    gui.pump(|a| a.chat.items.len() == 2).await;
    let bob_keys = [
        "bob@home.example".to_string(),
        "bob@company.com".to_string(),
    ];
    assert_eq!(gui.app.chat.unread_with(&bob_keys), 0, "Bob's is in view");
    assert_eq!(gui.app.chat.total_unread(), 1, "Carol's is not");
    assert_eq!(gui.app.title(), "(1) Parley");
    assert!(in_view(&gui.app, "reading this?"));
}

/// Defect 3: a message that cannot be delivered looks failed in the conversation, with the
/// reason and Retry, and nothing is drawn over the status bar's one line.
#[tokio::test]
async fn an_undelivered_message_says_so_on_its_bubble_and_can_be_retried() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    // Dave has an account but is not signed in: the server cannot deliver to him.
    gui.click("Dialpad");
    gui.update(Message::Dialpad(dialpad::Message::Input("dave".into())));
    gui.click("Message");
    assert!(
        matches!(gui.app.tab, Tab::Conversation(Thread::Peer(ref k)) if k == "dave@company.com"),
        "the account's domain completes the address"
    );
    gui.app.chat.draft = iced::widget::text_editor::Content::with_text("are you there?");
    gui.update(Message::Conversation(
        parley::gui::conversation::Message::Send,
    ));
    let failed = |a: &App| {
        a.chat.items.iter().any(|s| {
            matches!(
                s.item,
                chat::Item::Text {
                    state: parley::engine::MessageState::Failed,
                    ..
                }
            )
        })
    };
    gui.pump(failed).await;
    assert!(gui.shows("Not delivered") && gui.shows("Retry"));
    assert_eq!(
        gui.app.notice, None,
        "the failure is on the bubble, not over the status bar"
    );
    assert!(gui.shows("alice@company.com: Online"));
    gui.click("Retry");
    gui.pump(|a| !failed(a)).await;
    assert!(gui.shows("Sending"), "the same bubble goes back to sending");
    gui.pump(failed).await;
    let texts = gui
        .app
        .chat
        .items
        .iter()
        .filter(|s| matches!(s.item, chat::Item::Text { .. }))
        .count();
    assert_eq!(texts, 1, "a retry is the same message, not a second one");
}

/// Defect 4: while a call is up, Call does nothing (it would call again, get 486 from
/// ourselves and log a failed call).
#[tokio::test]
async fn call_is_disabled_while_a_call_is_up() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let id = gui.add_contact("Bob", "bob@company.com").await;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    gui.click("Call");
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    gui.pump(|a| a.calls.values().any(|c| c.connected_at.is_some()))
        .await;
    let pressed: Vec<Message> = {
        let mut ui = simulator(gui.app.view());
        ui.click("Call").expect("the Call button is shown");
        ui.into_messages().collect()
    };
    assert!(
        pressed.is_empty(),
        "a disabled Call sends nothing: {pressed:?}"
    );
    gui.click("Dialpad");
    assert!(gui.shows("In a call"));
    gui.click("Hang up");
    gui.pump(|a| a.calls.is_empty() && a.history.calls.len() == 1)
        .await;
    assert!(!bob.saw_call_status(486), "no second call reached anyone");
}

/// Defect 8: a stranger's message opens a conversation one can answer from and save them.
#[tokio::test]
async fn a_stranger_gets_a_conversation_with_add_contact() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut carol = Agent::start("carol", "c-secret", Some(server.local_addr())).await;
    carol.registered().await;
    carol
        .send(Command::SendMessage {
            account: carol.account,
            target: "sip:alice@company.com".into(),
            text: "hi, it's Carol from accounts".into(),
        })
        .await;
    gui.pump(|a| !a.chat.items.is_empty()).await;
    assert_eq!(gui.app.notice, None, "not a flash in the status bar");
    assert!(gui.shows("carol@company.com"), "the sidebar lists her");
    assert!(gui.shows("1"), "with her unread count");
    gui.click("carol@company.com");
    assert!(gui.shows("hi, it's Carol from accounts"));
    gui.click("Add contact");
    assert_eq!(
        gui.app.contacts.editor.as_ref().map(|e| e.uris.as_str()),
        Some("carol@company.com")
    );
    gui.update(Message::Contacts(contacts::Message::EditName(
        "Carol".into(),
    )));
    gui.click("Save");
    gui.pump(|a| a.contacts.contacts.iter().any(|c| c.name == "Carol"))
        .await;
    let list = gui.app.sidebar_list();
    assert_eq!(
        list.len(),
        1,
        "her conversation is now the contact's: {list:?}"
    );
    assert!(matches!(list[0].thread, Thread::Contact(_)));
    assert!(list[0]
        .last
        .as_ref()
        .unwrap()
        .1
        .contains("Carol from accounts"));
}

/// Defect 13: an empty search says so and offers a next step; Attach with no file dialog
/// (none answers here: no desktop portal) offers to take a typed path, which sends.
#[tokio::test]
async fn empty_search_and_attach_without_a_dialog_lead_somewhere() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let id = gui.add_contact("Bob", "bob@company.com").await;
    gui.update(Message::Contacts(contacts::Message::Search(
        "zed@company.com".into(),
    )));
    assert!(gui.shows("Nobody matches “zed@company.com”"));
    assert!(gui.shows("Add zed@company.com as a contact"));
    gui.update(Message::Contacts(contacts::Message::Search(String::new())));
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    gui.update(Message::Attached(None));
    let file = gui.dir.path().join("agenda.txt");
    std::fs::write(&file, "1. lunch").unwrap();
    gui.update(Message::Conversation(
        parley::gui::conversation::Message::AttachPath(file.display().to_string()),
    ));
    gui.click("Send file");
    let offer = bob.wait(|e| matches!(e, Event::FileOffered { .. })).await;
    assert!(matches!(offer, Event::FileOffered { ref name, .. } if name == "agenda.txt"));
}

/// Defect 13: a long conversation opens at its newest message, not its oldest.
#[tokio::test]
async fn a_conversation_opens_at_its_newest_message() {
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let id = gui.add_contact("Bob", "bob@company.com").await;
    for i in 0..40 {
        bob.send(Command::SendMessage {
            account: bob.account,
            target: "sip:alice@company.com".into(),
            text: format!("message number {i}"),
        })
        .await;
        bob.wait(|e| matches!(e, Event::MessageSent { .. })).await;
    }
    gui.pump(|a| a.chat.items.len() == 40).await;
    gui.update(Message::Contacts(contacts::Message::Clicked(
        Thread::Contact(id),
    )));
    assert!(
        in_view(&gui.app, "message number 39"),
        "the newest is in view"
    );
    assert!(
        !in_view(&gui.app, "message number 0"),
        "the oldest is scrolled away"
    );
}

/// Defect 9: a call without sound says so on its card, once, and the words go with the call.
#[tokio::test]
async fn no_sound_is_said_on_the_call_card_and_goes_with_the_call() {
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    // Devices that are not there: the call connects in silence and says why.
    let mut gui = Gui::start_with(dir, |cfg| {
        cfg.microphone = parley::media::headless::SourceSpec::Device(Some("no such mic".into()));
        cfg.speaker = parley::media::headless::SinkSpec::Device(Some("no such speaker".into()));
    })
    .await;
    gui.sign_in("alice", "a-secret", server.local_addr()).await;
    gui.pump(|a| a.screen == Screen::Main).await;
    gui.click("Dialpad");
    gui.update(Message::Dialpad(dialpad::Message::Input("bob".into())));
    gui.click("Call");
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    gui.pump(|a| a.calls.values().any(|c| c.no_sound.is_some()))
        .await;
    let said = gui
        .app
        .calls
        .values()
        .next()
        .unwrap()
        .no_sound
        .clone()
        .unwrap();
    assert!(said.starts_with("The call has no sound"), "{said}");
    assert_eq!(said.matches("no such mic").count(), 1, "{said}");
    assert!(gui.shows(&parley::gui::style::elide(&said, 100)));
    assert_eq!(gui.app.notice, None, "not a notice that outlives the call");
    gui.click("Hang up");
    gui.pump(|a| a.calls.is_empty()).await;
    assert!(!gui.shows(&parley::gui::style::elide(&said, 100)));
}

/// The layout bounds of the widget showing `label`.
fn bounds_of(app: &App, label: &str) -> iced::Rectangle {
    let mut ui = simulator(app.view());
    ui.find(label)
        .unwrap_or_else(|e| panic!("no {label}: {e}"))
        .bounds()
}

fn record(id: i64, peer: &str, started_at: i64, status: u16) -> parley::engine::CallRecord {
    parley::engine::CallRecord {
        id,
        account: "sip:alice@company.com".into(),
        sip_call_id: format!("c{id}"),
        direction: parley::engine::Direction::Outgoing,
        peer_uri: peer.into(),
        started_at,
        answered_at: (status == 200).then_some(started_at),
        ended_at: Some(started_at + 30),
        status: Some(status),
        reason: None,
        verified: true,
    }
}

/// Defect 2: a long or odd address is cut with an ellipsis in History, so it ends before the
/// words beside it begin.
#[tokio::test]
async fn long_addresses_are_elided_not_drawn_over_their_neighbours() {
    let mut gui = Gui::start().await;
    gui.app.screen = Screen::Main;
    gui.app.tab = Tab::History;
    let odd = "sip:bob@@company..com.and.a.great.deal.more.than.fits.example.org";
    gui.app.history.log(record(1, odd, 1_795_568_642, 403));
    assert!(
        !gui.shows(odd.trim_start_matches("sip:")),
        "shown whole, it ran over"
    );
    let cut = parley::gui::style::elide(odd.trim_start_matches("sip:"), 36);
    assert!(cut.ends_with('…'));
    let name = bounds_of(&gui.app, &cut);
    let call_back = bounds_of(&gui.app, "Call back");
    assert!(
        name.x + name.width <= call_back.x,
        "{name:?} reaches {call_back:?}"
    );
}

/// Defect 11: History lists by start time, newest first, though calls end out of order.
#[tokio::test]
async fn history_keeps_start_order_when_calls_end_out_of_order() {
    let mut gui = Gui::start().await;
    gui.app.screen = Screen::Main;
    gui.app.tab = Tab::History;
    let at = 1_795_568_642;
    // The 06:15 call ended first; the longer 06:14 one is logged after it.
    gui.app
        .history
        .log(record(2, "sip:carol@company.com", at + 60, 200));
    gui.app
        .history
        .log(record(1, "sip:bob@company.com", at, 200));
    let bob = bounds_of(&gui.app, "bob@company.com");
    let carol = bounds_of(&gui.app, "carol@company.com");
    assert!(
        carol.y < bob.y,
        "the later call is above: carol {carol:?}, bob {bob:?}"
    );
}

/// Defect 12: Hold and Keypad change the words and open the keypad below, but the call's
/// buttons stay where the pointer is.
#[tokio::test]
async fn call_buttons_never_move() {
    let mut gui = Gui::start().await;
    gui.app.screen = Screen::Main;
    let id = 7;
    let mut v = parley::gui::call::CallView::new(
        id,
        "sip:bob@company.com".into(),
        Some("Bob".into()),
        parley::engine::Direction::Outgoing,
        CallState::Connected,
    );
    v.connected_at = Some(std::time::Instant::now());
    v.stats = Some("Received 1500, lost 2 · they lost 0% · jitter 3 ms · round trip 40 ms".into());
    v.security = Some((true, "Encrypted: SRTP (AES_CM_128_HMAC_SHA1_80), keys by DTLS. Read this code to each other: 4F2A".into()));
    gui.app.calls.calls.insert(id, v);
    let before = [
        bounds_of(&gui.app, "Hang up"),
        bounds_of(&gui.app, "Keypad"),
    ];
    gui.update(Message::Call(parley::gui::call::Message::ToggleKeypad(id)));
    let c = gui.app.calls.get_mut(&id).unwrap();
    (c.local_hold, c.remote_hold, c.muted) = (true, true, true);
    c.no_sound = Some("The call has no sound: neither the microphone nor the speaker opens (ALSA function 'snd_pcm_open' failed)".into());
    assert!(
        gui.shows("Resume") && gui.shows("5"),
        "on hold, keypad open"
    );
    let after = [
        bounds_of(&gui.app, "Hang up"),
        bounds_of(&gui.app, "Keypad"),
    ];
    assert_eq!(before, after, "the buttons moved");
}

/// Settings change how an account reaches its server and encrypts: it signs in again with them,
/// and keeps them over a restart; a half-given TURN server is refused beside its field.
#[tokio::test]
async fn reach_and_encryption_are_set_per_account_in_settings() {
    use parley::gui::account_form::Message as F;
    use parley::gui::settings::Message as S;
    let server = server(USERS).await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    gui.click("Settings");
    assert!(gui.shows("UDP · calls encrypted when possible"));
    gui.click("Reach and encryption…");
    let form = |m| Message::Settings(S::Form(m));
    gui.update(form(F::Turn("turn.company.com:3478".into())));
    gui.click("Save and sign in again");
    assert!(gui.shows("A TURN server needs its user name (and password) too"));
    assert!(
        gui.app.settings.form.is_some(),
        "the form stays, with what was typed"
    );
    gui.update(form(F::Turn(String::new())));
    // The SIP server answers STUN on its own port.
    gui.update(form(F::Stun(server.local_addr().to_string())));
    gui.update(form(F::Srtp(parley::engine::SrtpPolicy::Mandatory)));
    // Calls without the server, by choice (a LAN): said on the account's line.
    gui.update(form(F::Direct(true)));
    gui.click("Save and sign in again");
    let done = |a: &App| {
        a.accounts.list.values().any(|x| {
            x.registered
                && x.settings.srtp == parley::engine::SrtpPolicy::Mandatory
                && x.settings.direct
        })
    };
    gui.pump(done).await;
    assert_eq!(
        gui.app.screen,
        Screen::Main,
        "signing in again is no first sign-in"
    );
    assert!(
        gui.shows("UDP · STUN · calls always encrypted · takes calls from anyone on the network")
    );
    let dir = gui.quit().await;
    let mut gui = Gui::start_in(dir).await;
    gui.pump(done).await;
    let a = gui.app.accounts.list.values().next().unwrap();
    assert_eq!(a.settings.stun, Some(server.local_addr().to_string()));
}

/// Trust: on a server that vouches for nobody (an open one), someone claiming to be Bob is
/// not Bob: their text goes to a conversation of its own marked unverified, their file is
/// not taken even with "accept files from saved contacts" on, and their call card shows the
/// address and says it is unverified, never the contact's name.
#[tokio::test]
async fn a_sender_nobody_vouched_for_is_never_taken_for_a_contact() {
    let server = open_server().await;
    let mut gui = Gui::signed_in(server.local_addr()).await;
    let bob_id = gui.add_contact("Bob", "bob@company.com").await;
    gui.update(Message::Settings(
        parley::gui::settings::Message::AcceptFromContacts(true),
    ));
    let mut bob = Agent::start("bob", "", Some(server.local_addr())).await;
    bob.registered().await;
    let (account, target) = (bob.account, "sip:alice@company.com".to_string());
    bob.send(Command::SendMessage {
        account,
        target: target.clone(),
        text: "IT here: your password expired".into(),
    })
    .await;
    gui.pump(|a| !a.chat.items.is_empty()).await;
    let list = gui.app.sidebar_list();
    let bobs = list
        .iter()
        .find(|s| s.thread == Thread::Contact(bob_id))
        .unwrap();
    assert_eq!(
        bobs.last, None,
        "nothing is filed under the contact: {list:?}"
    );
    let claimed = list
        .iter()
        .find(|s| s.thread != Thread::Contact(bob_id))
        .expect("a conversation of its own");
    assert_eq!(claimed.name, "bob@company.com");
    assert!(claimed.unverified, "marked in the sidebar");
    gui.update(Message::Contacts(contacts::Message::Clicked(
        claimed.thread.clone(),
    )));
    assert!(gui.shows(parley::gui::threads::UNVERIFIED));
    assert!(gui.shows("IT here: your password expired"));

    let file = gui.dir.path().join("invoice.pdf");
    std::fs::write(&file, "not an invoice").unwrap();
    bob.send(Command::SendFileTo {
        account,
        target: target.clone(),
        path: file,
    })
    .await;
    gui.pump(|a| !a.chat.offers.is_empty()).await;
    assert!(
        gui.shows("bob@company.com (unverified) wants to send you invoice.pdf (14 bytes)"),
        "the offer waits for the user, naming the address"
    );

    bob.call(&target).await;
    gui.pump(|a| a.calls.values().any(|c| c.state == CallState::Incoming))
        .await;
    assert!(gui.shows(parley::gui::threads::UNVERIFIED));
    let card = gui.app.calls.values().next().unwrap();
    assert_eq!(card.name, None, "never the contact's name");
    assert_eq!(card.who(), "bob@company.com");
}

//! Files dropped on the real window, as a file manager drops them: under Xvfb, a small XDND
//! drag source (written here with x11rb, protocol version 5) drags `file:///…` onto Parley's
//! window — once onto Bob's row in the sidebar, once onto the open conversation — and Bob, a
//! real engine registered at a real server, is offered each file.

mod common;

use common::*;
use parley::engine::{Contact, Event};
use parley::store::{SavedAccount, Store};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt, EventMask};
use x11rb::protocol::Event as XEvent;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// An X server of the test's own, and the processes drawn on it; all ended when dropped.
struct Display {
    number: u32,
    children: Vec<Child>,
}

impl Display {
    fn start() -> Display {
        require("Xvfb", "-help", "xvfb");
        // A display number no one else here uses.
        let number = (100..400)
            .map(|n| n + std::process::id() % 300)
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .expect("a free display");
        let xvfb = Command::new("Xvfb")
            .args([
                format!(":{number}").as_str(),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "Xvfb never opened {socket}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Display {
            number,
            children: vec![xvfb],
        }
    }

    fn name(&self) -> String {
        format!(":{}", self.number)
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn atom(conn: &RustConnection, name: &str) -> xproto::Atom {
    conn.intern_atom(false, name.as_bytes())
        .unwrap()
        .reply()
        .unwrap()
        .atom
}

/// The top-level window titled `title` that takes XDND drops.
fn find_window(conn: &RustConnection, root: xproto::Window, title: &str) -> Option<xproto::Window> {
    let aware = atom(conn, "XdndAware");
    let tree = conn.query_tree(root).ok()?.reply().ok()?;
    tree.children.into_iter().find(|&w| {
        let name = conn
            .get_property(
                false,
                w,
                xproto::AtomEnum::WM_NAME,
                xproto::AtomEnum::STRING,
                0,
                256,
            )
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| String::from_utf8_lossy(&r.value).to_string());
        let dnd = conn
            .get_property(false, w, aware, xproto::AtomEnum::ATOM, 0, 1)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|r| !r.value.is_empty());
        dnd && name.as_deref() == Some(title)
    })
}

/// A drag source: one unmapped window owning the XDND selection.
struct DragSource {
    conn: RustConnection,
    root: xproto::Window,
    window: xproto::Window,
}

impl DragSource {
    fn new(display: &str) -> DragSource {
        let (conn, screen) = x11rb::connect(Some(display)).expect("X connects");
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().unwrap();
        conn.create_window(
            0,
            window,
            root,
            0,
            0,
            1,
            1,
            0,
            xproto::WindowClass::INPUT_ONLY,
            0,
            &xproto::CreateWindowAux::new(),
        )
        .unwrap();
        conn.flush().unwrap();
        DragSource { conn, root, window }
    }

    fn message(&self, target: xproto::Window, kind: &str, data: [u32; 5]) {
        let event = xproto::ClientMessageEvent::new(32, target, atom(&self.conn, kind), data);
        self.conn
            .send_event(false, target, EventMask::NO_EVENT, event)
            .unwrap();
        self.conn.flush().unwrap();
    }

    /// Drags `file` to (`x`, `y`) in root coordinates over `target` and drops it there, as a
    /// file manager does: Enter, the pointer moved there, Position, the data given when asked
    /// for, Drop once accepted, until Finished.
    fn drop_file(&self, target: xproto::Window, file: &Path, x: i16, y: i16) {
        let c = &self.conn;
        let (uri_list, selection) = (atom(c, "text/uri-list"), atom(c, "XdndSelection"));
        c.set_selection_owner(self.window, selection, x11rb::CURRENT_TIME)
            .unwrap();
        // Where a real drag leaves the pointer: Parley asks the X server at the drop.
        c.warp_pointer(x11rb::NONE, self.root, 0, 0, 0, 0, x, y)
            .unwrap();
        self.message(target, "XdndEnter", [self.window, 5 << 24, uri_list, 0, 0]);
        let at = ((x as u32) << 16) | y as u32;
        let copy = atom(c, "XdndActionCopy");
        self.message(target, "XdndPosition", [self.window, 0, at, 0, copy]);
        let data = format!("file://{}\r\n", file.display());
        let (mut given, mut accepted) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(given && accepted) {
            assert!(Instant::now() < deadline, "the window never took the drag");
            match c.poll_for_event().unwrap() {
                Some(XEvent::SelectionRequest(req)) => {
                    c.change_property8(
                        xproto::PropMode::REPLACE,
                        req.requestor,
                        req.property,
                        uri_list,
                        data.as_bytes(),
                    )
                    .unwrap();
                    let notify = xproto::SelectionNotifyEvent {
                        response_type: xproto::SELECTION_NOTIFY_EVENT,
                        sequence: 0,
                        time: req.time,
                        requestor: req.requestor,
                        selection: req.selection,
                        target: req.target,
                        property: req.property,
                    };
                    c.send_event(false, req.requestor, EventMask::NO_EVENT, notify)
                        .unwrap();
                    c.flush().unwrap();
                    given = true;
                }
                Some(XEvent::ClientMessage(m)) if m.type_ == atom(c, "XdndStatus") => {
                    assert_eq!(m.data.as_data32()[1] & 1, 1, "the window refused the drag");
                    accepted = true;
                }
                Some(_) => {}
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        self.message(target, "XdndDrop", [self.window, 0, 0, 0, 0]);
        let finished = atom(c, "XdndFinished");
        loop {
            assert!(Instant::now() < deadline, "the drop never finished");
            match c.poll_for_event().unwrap() {
                Some(XEvent::ClientMessage(m)) if m.type_ == finished => {
                    assert_eq!(m.data.as_data32()[1] & 1, 1, "the drop was not taken");
                    return;
                }
                Some(_) => {}
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// Alice's profile: her account at `server`, and Bob in her contacts.
fn alice_profile(dir: &Path, server: std::net::SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let store = Store::open(&dir.join("parley.db")).unwrap();
    store
        .save_account(&SavedAccount {
            aor: "sip:alice@company.com".into(),
            password: "a-secret".into(),
            server: Some(server.to_string()),
            transport: "udp".into(),
            auth_user: None,
            stun: None,
            turn: None,
            msrp_relay: None,
            ca_file: None,
            tls_fingerprint: None,
            srtp: None,
            direct: false,
        })
        .unwrap();
    store
        .save_contact(&Contact {
            id: 0,
            name: "Bob".into(),
            note: String::new(),
            uris: vec!["sip:bob@company.com".into()],
        })
        .unwrap();
}

async fn offered(bob: &mut Agent, name: &str) {
    let wanted = name.to_string();
    let got = bob
        .wait(move |e| matches!(e, Event::FileOffered { name, .. } if *name == wanted))
        .await;
    assert!(matches!(got, Event::FileOffered { .. }));
}

#[tokio::test]
async fn files_dropped_on_a_contact_row_and_on_the_open_conversation_go_to_that_contact() {
    let display = Display::start();
    let server = server(USERS).await;
    let mut bob = Agent::start("bob", "b-secret", Some(server.local_addr())).await;
    bob.registered().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("alice");
    alice_profile(&profile, server.local_addr());
    let mut display = display;
    let window = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--profile")
        .arg(&profile)
        .env("DISPLAY", display.name())
        .env_remove("WAYLAND_DISPLAY")
        .env("ICED_BACKEND", "tiny-skia")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the window starts");
    display.children.push(window);
    // Alice's window is signed in once it answers Bob's message (the server says 480 until
    // then; each answer is the cue for the next try).
    loop {
        bob.send(parley::engine::Command::SendMessage {
            account: bob.account,
            target: "sip:alice@company.com".into(),
            text: "send me the minutes".into(),
        })
        .await;
        let answer = bob
            .wait(|e| matches!(e, Event::MessageSent { .. } | Event::MessageFailed { .. }))
            .await;
        if matches!(answer, Event::MessageSent { .. }) {
            break;
        }
    }
    let source = DragSource::new(&display.name());
    let deadline = Instant::now() + Duration::from_secs(30);
    let target = loop {
        if let Some(w) = find_window(&source.conn, source.root, "(1) Parley") {
            break w;
        }
        assert!(
            Instant::now() < deadline,
            "no Parley window with Bob's message"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let geometry = source
        .conn
        .translate_coordinates(target, source.root, 0, 0)
        .unwrap()
        .reply()
        .unwrap();
    let (wx, wy) = (geometry.dst_x, geometry.dst_y);
    let files: Vec<PathBuf> = ["minutes.txt", "agenda.txt"]
        .iter()
        .map(|n| {
            let p = dir.path().join(n);
            std::fs::write(&p, format!("the {n}")).unwrap();
            p
        })
        .collect();
    // Bob's row, the only one in the sidebar: past the rail (72 px), under Alice's own line
    // and the search box.
    source.drop_file(target, &files[0], wx + 220, wy + 136);
    offered(&mut bob, "minutes.txt").await;
    // Bob's conversation is open now; a drop in the middle of it goes to him too.
    source.drop_file(target, &files[1], wx + 760, wy + 400);
    offered(&mut bob, "agenda.txt").await;
}

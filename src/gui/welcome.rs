//! First run: sign in to a SIP account, or host a local server for the LAN.

use super::style;
use crate::engine::Address;
use iced::widget::{button, column, container, pick_list, row, rule, text, text_input};
use iced::{Element, Length};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub address: String,
    pub password: String,
    /// The provider's authentication user name, when it differs from the address's user.
    pub auth_user: String,
    pub server: String,
    pub transport: Transport,
    /// Behind a NAT: a STUN server, and a TURN server with its user and password (optional).
    pub stun: String,
    pub turn: String,
    pub turn_user: String,
    pub turn_password: String,
    /// An MSRP relay for chat and files (optional; the server's is tried behind a NAT).
    pub msrp_relay: String,
    /// A CA certificate file (PEM) for TLS, when the provider uses its own CA (optional).
    pub ca_file: String,
    /// Your name on the hosted server.
    pub host_user: String,
    /// "Signing in…" or the last error, shown under the form.
    pub status: Option<String>,
    pub busy: bool,
    /// The advanced fields are shown.
    pub advanced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    /// Encrypted signalling.
    Tls,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS (encrypted)",
        })
    }
}

#[derive(Debug, Clone)]
pub enum Message {
    ToggleAdvanced,
    Address(String),
    Password(String),
    AuthUser(String),
    Server(String),
    Transport(Transport),
    Stun(String),
    Turn(String),
    TurnUser(String),
    TurnPassword(String),
    MsrpRelay(String),
    CaFile(String),
    HostUser(String),
    SignIn,
    Host,
}

/// What the sign-in form asks for.
pub struct SignIn {
    pub aor: String,
    pub password: String,
    pub auth_user: Option<String>,
    pub server: Option<String>,
    pub transport: Transport,
    pub stun: Option<String>,
    pub turn: Option<(String, String, String)>,
    pub msrp_relay: Option<String>,
    pub ca_file: Option<String>,
}

pub enum Action {
    /// Boxed: the form is far larger than the other action.
    SignIn(Box<SignIn>),
    Host {
        user: String,
    },
}

/// `alice@example.com` or `sip:alice@example.com` -> `sip:alice@example.com`, or why not.
pub fn normalize_address(s: &str) -> Result<String, String> {
    match Address::parse(s) {
        Ok(a) => a
            .aor()
            .ok_or_else(|| format!("“{}” needs its domain, like alice@example.com", s.trim())),
        Err(e) => Err(style::sentence(&e.to_string())),
    }
}

impl State {
    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::ToggleAdvanced => self.advanced = !self.advanced,
            Message::Address(s) => self.address = s,
            Message::Password(s) => self.password = s,
            Message::AuthUser(s) => self.auth_user = s,
            Message::Server(s) => self.server = s,
            Message::Transport(t) => self.transport = t,
            Message::Stun(s) => self.stun = s,
            Message::Turn(s) => self.turn = s,
            Message::TurnUser(s) => self.turn_user = s,
            Message::TurnPassword(s) => self.turn_password = s,
            Message::MsrpRelay(s) => self.msrp_relay = s,
            Message::CaFile(s) => self.ca_file = s,
            Message::HostUser(s) => self.host_user = s,
            Message::SignIn => match (normalize_address(&self.address), self.turn_server()) {
                (Err(e), _) | (_, Err(e)) => self.status = Some(e),
                (Ok(aor), Ok(turn)) => {
                    self.busy = true;
                    self.status = Some("Signing in…".into());
                    let server = Some(self.server.trim().to_string()).filter(|s| !s.is_empty());
                    return Some(Action::SignIn(Box::new(SignIn {
                        aor,
                        password: self.password.clone(),
                        auth_user: Some(self.auth_user.trim().to_string())
                            .filter(|s| !s.is_empty()),
                        server,
                        transport: self.transport,
                        stun: Some(self.stun.trim().to_string()).filter(|s| !s.is_empty()),
                        turn,
                        msrp_relay: Some(self.msrp_relay.trim().to_string())
                            .filter(|s| !s.is_empty()),
                        ca_file: Some(self.ca_file.trim().to_string()).filter(|s| !s.is_empty()),
                    })));
                }
            },
            Message::Host => {
                let user = self.host_user.trim().to_string();
                let plain = user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if user.is_empty() || !plain {
                    self.status = Some("Pick a user name (letters and digits) for yourself".into());
                } else {
                    self.busy = true;
                    self.status = Some("Starting the server…".into());
                    return Some(Action::Host { user });
                }
            }
        }
        None
    }

    /// The TURN server, user and password, when a server is given: all three, or why not.
    fn turn_server(&self) -> Result<Option<(String, String, String)>, String> {
        let server = self.turn.trim();
        if server.is_empty() {
            return Ok(None);
        }
        let (user, password) = (self.turn_user.trim(), &self.turn_password);
        if user.is_empty() || password.is_empty() {
            return Err("A TURN server needs its user name and password too".into());
        }
        Ok(Some((server.into(), user.into(), password.clone())))
    }

    /// The engine said how signing in went.
    pub fn failed(&mut self, message: String) {
        self.busy = false;
        self.status = Some(message);
    }

    pub fn view(&self) -> Element<'_, Message> {
        let address = text_input("alice@example.com", &self.address)
            .on_input(Message::Address)
            .on_submit(Message::SignIn)
            .id("welcome-address")
            .padding(8);
        let password = text_input("", &self.password)
            .secure(true)
            .on_input(Message::Password)
            .on_submit(Message::SignIn)
            .padding(8);
        let mut sign_in = column![
            text("Sign in to your SIP account").size(20),
            style::labelled("Address", address.into()),
            style::labelled("Password", password.into()),
        ]
        .spacing(12);
        let more = if self.advanced {
            "Hide advanced settings"
        } else {
            "Advanced settings (server, NAT, TLS)…"
        };
        sign_in = sign_in.push(
            button(text(more).size(13))
                .on_press(Message::ToggleAdvanced)
                .style(button::text),
        );
        if self.advanced {
            sign_in = sign_in.push(self.advanced_view());
        }
        sign_in = sign_in.push(
            button(text("Sign in"))
                .on_press_maybe((!self.busy).then_some(Message::SignIn))
                .style(button::primary)
                .padding([8, 20]),
        );
        let host = column![
            text("Or host a local server").size(20),
            text(
                "Colleagues on this network register to this computer; no account anywhere needed."
            )
            .size(14)
            .style(style::muted_text),
            row![
                text_input("Your user name, e.g. alice", &self.host_user)
                    .on_input(Message::HostUser)
                    .on_submit(Message::Host)
                    .padding(8),
                button(text("Host a server"))
                    .on_press_maybe((!self.busy).then_some(Message::Host))
                    .style(style::outlined),
            ]
            .spacing(8),
        ]
        .spacing(10);
        let mut body = column![
            text("Welcome to Parley").size(30),
            sign_in,
            rule::horizontal(1),
            host
        ]
        .spacing(24)
        .max_width(560);
        if let Some(s) = &self.status {
            body = body.push(text(s.clone()).style(style::status_text(self.busy)));
        }
        iced::widget::scrollable(container(body).center_x(Length::Fill).padding(32)).into()
    }

    /// The fields most people never need, each labelled.
    fn advanced_view<'a>(&'a self) -> Element<'a, Message> {
        let labelled = style::labelled::<'a, Message>;
        let input = |hint: &'a str, value: &'a str, on: fn(String) -> Message| {
            text_input(hint, value)
                .on_input(on)
                .on_submit(Message::SignIn)
                .padding(8)
        };
        column![
            labelled(
                "Authentication user, if your provider gives one",
                input("", &self.auth_user, Message::AuthUser).into()
            ),
            labelled(
                "Server or outbound proxy, and transport",
                row![
                    input(
                        "sip.example.com:5060 (empty: found from the domain)",
                        &self.server,
                        Message::Server
                    ),
                    pick_list(
                        [Transport::Udp, Transport::Tcp, Transport::Tls],
                        Some(self.transport),
                        Message::Transport
                    ),
                ]
                .spacing(8)
                .into()
            ),
            labelled(
                "STUN server, to learn your public address behind a NAT",
                input("stun.example.com:3478", &self.stun, Message::Stun).into()
            ),
            labelled(
                "TURN server, user and password, to relay calls when nothing else gets through",
                row![
                    input("turn.example.com:3478", &self.turn, Message::Turn),
                    input("user", &self.turn_user, Message::TurnUser),
                    input("password", &self.turn_password, Message::TurnPassword).secure(true),
                ]
                .spacing(8)
                .into()
            ),
            labelled(
                "MSRP relay for chat and files behind a NAT",
                input(
                    "relay.example.com:2855",
                    &self.msrp_relay,
                    Message::MsrpRelay
                )
                .into()
            ),
            labelled(
                "CA certificate file (PEM), if your provider has its own authority",
                input("/etc/ssl/company-ca.pem", &self.ca_file, Message::CaFile).into()
            ),
        ]
        .spacing(12)
        .into()
    }
}

#[cfg(test)]
mod nat_tests {
    use super::*;

    #[test]
    fn a_turn_server_needs_its_credentials_and_goes_with_the_sign_in() {
        let mut s = State {
            address: "alice@example.com".into(),
            turn: "turn.example.com:3478".into(),
            ..State::default()
        };
        assert!(s.update(Message::SignIn).is_none());
        assert!(s.status.as_deref().unwrap().contains("TURN"));
        s.update(Message::TurnUser("alice".into()));
        s.update(Message::TurnPassword("relay".into()));
        s.update(Message::Stun("stun.example.com".into()));
        s.update(Message::MsrpRelay(" relay.example.com ".into()));
        match s.update(Message::SignIn) {
            Some(Action::SignIn(form)) => {
                let SignIn {
                    stun,
                    turn,
                    msrp_relay,
                    ..
                } = *form;
                assert_eq!(stun.as_deref(), Some("stun.example.com"));
                assert_eq!(msrp_relay.as_deref(), Some("relay.example.com"));
                let turn = turn.unwrap();
                assert_eq!(
                    (turn.0.as_str(), turn.1.as_str()),
                    ("turn.example.com:3478", "alice")
                );
            }
            _ => panic!("no sign-in"),
        }
    }
}

//! An account's reach and encryption in Settings: the server and its transport, STUN and TURN
//! servers for calls from behind a NAT, the MSRP relay for chat and files, whom TLS trusts (a
//! CA file, a certificate trusted as it is) and whether calls are encrypted. Labelled fields,
//! an error beside the field it is about, what was typed kept.

use super::style::{self, labelled};
use crate::engine::{AccountId, AccountSettings, Fingerprint, SrtpPolicy, Transport};
use iced::widget::{button, column, container, pick_list, row, text, text_input, toggler};
use iced::{Element, Length};
use std::path::PathBuf;

/// The one way past the rule that only the server reaches an account.
const DIRECT_LABEL: &str =
    "Take calls and messages from anyone on this network, not only through the server (unverified)";

/// The transports as the form offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Way(pub Transport);

impl std::fmt::Display for Way {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS (encrypted)",
        })
    }
}

const WAYS: [Way; 3] = [
    Way(Transport::Udp),
    Way(Transport::Tcp),
    Way(Transport::Tls),
];

#[derive(Debug, Clone)]
pub struct Form {
    pub account: AccountId,
    pub aor: String,
    pub server: String,
    pub transport: Transport,
    pub stun: String,
    pub turn: String,
    pub turn_user: String,
    /// Empty: keep the password the engine has.
    pub turn_password: String,
    pub msrp_relay: String,
    pub ca_file: String,
    pub pinned: Option<Fingerprint>,
    pub srtp: SrtpPolicy,
    /// Calls and texts from anyone on the network, not only through the server.
    pub direct: bool,
    /// Why it cannot be saved, beside the field.
    pub error: Option<(Field, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Turn,
    CaFile,
}

#[derive(Debug, Clone)]
pub enum Message {
    Server(String),
    Transport(Way),
    Stun(String),
    Turn(String),
    TurnUser(String),
    TurnPassword(String),
    MsrpRelay(String),
    CaFile(String),
    ForgetPin,
    Srtp(SrtpPolicy),
    Direct(bool),
    Save,
    Cancel,
}

pub enum Outcome {
    Save(AccountId, Box<AccountSettings>, Option<String>),
    Cancel,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Form {
    pub fn new(account: AccountId, aor: &str, s: &AccountSettings) -> Form {
        let (turn, turn_user) = s.turn.clone().unwrap_or_default();
        Form {
            account,
            aor: aor.to_string(),
            server: s.server.clone().unwrap_or_default(),
            transport: s.transport,
            stun: s.stun.clone().unwrap_or_default(),
            turn,
            turn_user,
            turn_password: String::new(),
            msrp_relay: s.msrp_relay.clone().unwrap_or_default(),
            ca_file: s
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pinned: s.pinned,
            srtp: s.srtp,
            direct: s.direct,
            error: None,
        }
    }

    pub fn update(&mut self, m: Message) -> Option<Outcome> {
        match m {
            Message::Server(s) => self.server = s,
            Message::Transport(w) => self.transport = w.0,
            Message::Stun(s) => self.stun = s,
            Message::Turn(s) => self.turn = s,
            Message::TurnUser(s) => self.turn_user = s,
            Message::TurnPassword(s) => self.turn_password = s,
            Message::MsrpRelay(s) => self.msrp_relay = s,
            Message::CaFile(s) => self.ca_file = s,
            Message::ForgetPin => self.pinned = None,
            Message::Srtp(p) => self.srtp = p,
            Message::Direct(on) => self.direct = on,
            Message::Cancel => return Some(Outcome::Cancel),
            Message::Save => match self.checked() {
                Ok(s) => {
                    let password = opt(&self.turn_password);
                    return Some(Outcome::Save(self.account, Box::new(s), password));
                }
                Err(e) => self.error = Some(e),
            },
        }
        None
    }

    fn checked(&self) -> Result<AccountSettings, (Field, String)> {
        let turn = match (opt(&self.turn), opt(&self.turn_user)) {
            (Some(t), Some(u)) => Some((t, u)),
            (None, None) => None,
            _ => {
                let why = "A TURN server needs its user name (and password) too";
                return Err((Field::Turn, why.into()));
            }
        };
        let ca_file = opt(&self.ca_file).map(PathBuf::from);
        if let Some(p) = ca_file.as_ref().filter(|p| !p.is_file()) {
            let why = format!("{} is not a file that can be read", p.display());
            return Err((Field::CaFile, why));
        }
        Ok(AccountSettings {
            server: opt(&self.server),
            transport: self.transport,
            stun: opt(&self.stun),
            turn,
            msrp_relay: opt(&self.msrp_relay),
            ca_file,
            pinned: self.pinned,
            srtp: self.srtp,
            direct: self.direct,
        })
    }

    pub fn view(&self) -> Element<'_, Message> {
        let error_at = |f: Field| match &self.error {
            Some((at, why)) if *at == f => {
                Some(text(why.clone()).size(13).style(style::danger_text))
            }
            _ => None,
        };
        let mut turn = labelled(
            "TURN server, user and password (relays calls when nothing else gets through)",
            row![
                input("turn.example.com:3478", &self.turn, Message::Turn),
                input("user", &self.turn_user, Message::TurnUser),
                text_input("password (kept unless typed)", &self.turn_password)
                    .secure(true)
                    .on_input(Message::TurnPassword)
                    .padding(8),
            ]
            .spacing(6)
            .into(),
        );
        if let Some(e) = error_at(Field::Turn) {
            turn = turn.push(e);
        }
        let mut ca = labelled(
            "CA certificate file (PEM), if the provider has its own authority",
            input("/etc/ssl/company-ca.pem", &self.ca_file, Message::CaFile).into(),
        );
        if let Some(e) = error_at(Field::CaFile) {
            ca = ca.push(e);
        }
        let pin: Element<'_, Message> = match &self.pinned {
            Some(f) => row![
                text(format!("Trusted as it is: {}", style::elide(&f.to_string(), 40)))
                    .size(13)
                    .width(Length::Fill),
                button(text("Forget")).on_press(Message::ForgetPin).style(style::outlined),
            ]
            .spacing(8)
            .align_y(iced::Center)
            .into(),
            None => text("No server certificate is trusted as it is (they are checked against the CA file and the system's authorities).")
                .size(13)
                .style(style::muted_text)
                .into(),
        };
        let form = column![
            text(format!(
                "Reach and encryption for {}",
                self.aor.trim_start_matches("sip:")
            ))
            .size(18),
            labelled(
                "Server or outbound proxy, and transport",
                row![
                    input(
                        "sip.example.com:5060 (empty: found from the domain)",
                        &self.server,
                        Message::Server
                    ),
                    pick_list(WAYS, Some(Way(self.transport)), Message::Transport),
                ]
                .spacing(6)
                .into(),
            ),
            labelled(
                "STUN server (to learn your public address behind a NAT)",
                input("stun.example.com:3478", &self.stun, Message::Stun).into(),
            ),
            turn,
            labelled(
                "MSRP relay for chat and files behind a NAT",
                input(
                    "relay.example.com:2855",
                    &self.msrp_relay,
                    Message::MsrpRelay
                )
                .into(),
            ),
            ca,
            pin,
            labelled(
                "Encrypted calls (SRTP)",
                pick_list(SrtpPolicy::ALL, Some(self.srtp), Message::Srtp).into(),
            ),
            toggler(self.direct)
                .label(DIRECT_LABEL)
                .on_toggle(Message::Direct),
            row![
                button(text("Save and sign in again"))
                    .on_press(Message::Save)
                    .style(button::primary),
                button(text("Cancel"))
                    .on_press(Message::Cancel)
                    .style(style::outlined),
            ]
            .spacing(8),
        ]
        .spacing(12);
        container(form).padding(16).style(style::card).into()
    }
}

fn input<'a>(
    hint: &'a str,
    value: &'a str,
    on: fn(String) -> Message,
) -> iced::widget::TextInput<'a, Message> {
    text_input(hint, value)
        .on_input(on)
        .on_submit(Message::Save)
        .padding(8)
}

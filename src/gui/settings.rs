//! Settings: accounts (each with its reach and encryption: servers, NAT helpers, TLS trust,
//! SRTP policy), audio devices (the chosen input and output are used in calls, at once),
//! theme, ringtone.

use super::account_form::{self, Form};
use super::style;
use crate::engine::{AccountId, AccountSettings};
use iced::widget::{button, column, pick_list, row, scrollable, text, toggler};
use iced::{Element, Length};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThemeChoice {
    #[default]
    System,
    Light,
    Dark,
}

impl std::fmt::Display for ThemeChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ThemeChoice::System => "Follow the system",
            ThemeChoice::Light => "Light",
            ThemeChoice::Dark => "Dark",
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub theme: ThemeChoice,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    /// Why devices could not be listed, if they could not.
    pub devices_error: Option<String>,
    pub ringtone: bool,
    /// Files offered by saved contacts are accepted without asking.
    pub accept_from_contacts: bool,
    /// The account whose reach and encryption are being edited.
    pub form: Option<Form>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Theme(ThemeChoice),
    Input(String),
    Output(String),
    Ringtone(bool),
    AcceptFromContacts(bool),
    RemoveAccount(u32),
    AddAccount,
    /// Open the form for an account's reach and encryption.
    Edit(AccountId, String, Box<AccountSettings>),
    Form(account_form::Message),
}

pub enum Action {
    RemoveAccount(u32),
    AddAccount,
    /// Sign the account in again with these settings (and a new TURN password, if typed).
    UpdateAccount(AccountId, Box<AccountSettings>, Option<String>),
    /// Remember a preference.
    Save(&'static str, String),
}

/// One account line as the settings pane shows it.
pub struct AccountLine<'a> {
    pub id: u32,
    pub aor: &'a str,
    pub status: &'a str,
    pub settings: &'a AccountSettings,
}

impl ThemeChoice {
    fn key(&self) -> &'static str {
        match self {
            ThemeChoice::System => "system",
            ThemeChoice::Light => "light",
            ThemeChoice::Dark => "dark",
        }
    }
}

impl State {
    /// Applies saved preferences (from the store, via the engine).
    pub fn apply(&mut self, saved: &[(String, String)]) {
        for (k, v) in saved {
            match k.as_str() {
                "theme" => {
                    self.theme = [ThemeChoice::System, ThemeChoice::Light, ThemeChoice::Dark]
                        .into_iter()
                        .find(|t| t.key() == v)
                        .unwrap_or_default()
                }
                "ringtone" => self.ringtone = v != "off",
                "accept_files_from_contacts" => self.accept_from_contacts = v == "on",
                "input" => self.input = Some(v.clone()),
                "output" => self.output = Some(v.clone()),
                _ => {}
            }
        }
    }

    pub fn update(&mut self, message: Message) -> Option<Action> {
        Some(match message {
            Message::Edit(id, aor, settings) => {
                self.form = Some(Form::new(id, &aor, &settings));
                return None;
            }
            Message::Form(m) => {
                let outcome = self.form.as_mut()?.update(m)?;
                self.form = None;
                match outcome {
                    account_form::Outcome::Save(id, s, password) => {
                        Action::UpdateAccount(id, s, password)
                    }
                    account_form::Outcome::Cancel => return None,
                }
            }
            Message::Theme(t) => {
                self.theme = t;
                Action::Save("theme", t.key().into())
            }
            Message::Input(d) => {
                self.input = Some(d.clone());
                Action::Save("input", d)
            }
            Message::Output(d) => {
                self.output = Some(d.clone());
                Action::Save("output", d)
            }
            Message::Ringtone(on) => {
                self.ringtone = on;
                Action::Save("ringtone", if on { "on" } else { "off" }.into())
            }
            Message::AcceptFromContacts(on) => {
                self.accept_from_contacts = on;
                let v = if on { "on" } else { "off" };
                Action::Save("accept_files_from_contacts", v.into())
            }
            Message::RemoveAccount(id) => Action::RemoveAccount(id),
            Message::AddAccount => Action::AddAccount,
        })
    }

    /// `hosted`: what colleagues need to reach the server this computer hosts, if it does.
    pub fn view<'a>(
        &'a self,
        accounts: Vec<AccountLine<'a>>,
        hosted: Option<String>,
    ) -> Element<'a, Message> {
        let mut acc = column![text("Accounts").size(20)].spacing(8);
        for a in accounts {
            let edit = Message::Edit(a.id, a.aor.to_string(), Box::new(a.settings.clone()));
            acc = acc.push(
                row![
                    column![
                        text(style::elide(a.aor.trim_start_matches("sip:"), 40)),
                        text(style::elide(a.status, 60))
                            .size(13)
                            .style(style::muted_text),
                        text(reach_words(a.settings))
                            .size(13)
                            .style(style::muted_text),
                    ]
                    .spacing(2)
                    .width(Length::Fill),
                    button(text("Reach and encryption…"))
                        .on_press(edit)
                        .style(style::outlined),
                    button(text("Remove"))
                        .on_press(Message::RemoveAccount(a.id))
                        .style(button::danger),
                ]
                .spacing(8)
                .align_y(iced::Center),
            );
        }
        if let Some(f) = &self.form {
            acc = acc.push(f.view().map(Message::Form));
        }
        acc = acc.push(
            button(text("Add an account"))
                .on_press(Message::AddAccount)
                .style(style::outlined),
        );
        let mut audio = column![
            text("Audio devices").size(20),
            row![
                text("Microphone").width(120),
                pick_list(self.inputs.clone(), self.input.clone(), Message::Input)
                    .placeholder("default"),
            ]
            .spacing(8),
            row![
                text("Speaker").width(120),
                pick_list(self.outputs.clone(), self.output.clone(), Message::Output)
                    .placeholder("default"),
            ]
            .spacing(8),
        ]
        .spacing(8);
        if let Some(e) = &self.devices_error {
            audio = audio.push(text(e.clone()).style(style::danger_text));
        }
        let look = column![
            text("Appearance and sound").size(20),
            row![
                text("Theme").width(120),
                pick_list(
                    [ThemeChoice::System, ThemeChoice::Light, ThemeChoice::Dark],
                    Some(self.theme),
                    Message::Theme
                ),
            ]
            .spacing(8),
            toggler(self.ringtone)
                .label("Ring on incoming calls")
                .on_toggle(Message::Ringtone),
            toggler(self.accept_from_contacts)
                .label("Accept files from saved contacts without asking")
                .on_toggle(Message::AcceptFromContacts),
        ]
        .spacing(8);
        let mut all = column![acc].spacing(28).padding(16).max_width(900);
        if let Some(h) = hosted {
            all = all.push(column![text("Hosted server").size(20), text(h)].spacing(8));
        }
        scrollable(all.push(audio).push(look)).into()
    }
}

/// One line of what an account's reach and encryption are: "TLS · STUN · TURN · calls always
/// encrypted".
fn reach_words(s: &AccountSettings) -> String {
    let mut w = vec![match s.transport {
        crate::engine::Transport::Udp => "UDP",
        crate::engine::Transport::Tcp => "TCP",
        crate::engine::Transport::Tls => "TLS",
    }
    .to_string()];
    if s.stun.is_some() {
        w.push("STUN".into());
    }
    if s.turn.is_some() {
        w.push("TURN".into());
    }
    if s.msrp_relay.is_some() {
        w.push("MSRP relay".into());
    }
    if s.pinned.is_some() {
        w.push("certificate trusted as it is".into());
    }
    w.push(
        match s.srtp {
            crate::engine::SrtpPolicy::Off => "calls not encrypted",
            crate::engine::SrtpPolicy::Optional => "calls encrypted when possible",
            crate::engine::SrtpPolicy::Mandatory => "calls always encrypted",
        }
        .into(),
    );
    if s.direct {
        w.push("takes calls from anyone on the network".into());
    }
    w.join(" · ")
}

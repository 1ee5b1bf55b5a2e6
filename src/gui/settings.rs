//! Settings: accounts, audio devices (the chosen input and output are used in calls, at once),
//! theme, ringtone.

use super::style;
use iced::widget::{button, column, pick_list, row, scrollable, text, toggler};
use iced::Element;

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
}

pub enum Action {
    RemoveAccount(u32),
    AddAccount,
    /// Remember a preference.
    Save(&'static str, String),
}

/// One account line as the settings pane shows it.
pub struct AccountLine<'a> {
    pub id: u32,
    pub aor: &'a str,
    pub status: &'a str,
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
            acc = acc.push(
                row![
                    text(a.aor).width(320),
                    text(a.status).width(280).style(style::muted_text),
                    button(text("Remove"))
                        .on_press(Message::RemoveAccount(a.id))
                        .style(button::danger),
                ]
                .spacing(8)
                .align_y(iced::Center),
            );
        }
        acc = acc.push(button(text("Add an account")).on_press(Message::AddAccount));
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
        let mut all = column![acc].spacing(28).padding(16);
        if let Some(h) = hosted {
            all = all.push(column![text("Hosted server").size(20), text(h)].spacing(8));
        }
        scrollable(all.push(audio).push(look)).into()
    }
}

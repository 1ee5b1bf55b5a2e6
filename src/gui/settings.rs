//! Settings: accounts, audio devices (listed; used when audio lands), theme, ringtone.

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
}

#[derive(Debug, Clone)]
pub enum Message {
    Theme(ThemeChoice),
    Input(String),
    Output(String),
    Ringtone(bool),
    RemoveAccount(u32),
    AddAccount,
}

pub enum Action {
    RemoveAccount(u32),
    AddAccount,
}

/// One account line as the settings pane shows it.
pub struct AccountLine<'a> {
    pub id: u32,
    pub aor: &'a str,
    pub status: &'a str,
}

impl State {
    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::Theme(t) => self.theme = t,
            Message::Input(d) => self.input = Some(d),
            Message::Output(d) => self.output = Some(d),
            Message::Ringtone(on) => self.ringtone = on,
            Message::RemoveAccount(id) => return Some(Action::RemoveAccount(id)),
            Message::AddAccount => return Some(Action::AddAccount),
        }
        None
    }

    pub fn view<'a>(&'a self, accounts: Vec<AccountLine<'a>>) -> Element<'a, Message> {
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
        ]
        .spacing(8);
        scrollable(column![acc, audio, look].spacing(28).padding(16)).into()
    }
}

//! The dialpad: 0-9 * #, typed digits too, backspace; a full SIP URI or a bare user or number
//! (the engine completes it with the account's domain). Enter calls; Message opens a
//! conversation with the address. Call waits while a call is up.

use super::icons::{icon, Icon};
use super::style;
use iced::widget::{button, column, container, row, text, text_input};
use iced::{Element, Length};

pub const INPUT_ID: &str = "dialpad-input";

#[derive(Debug, Clone, Default)]
pub struct State {
    pub number: String,
}

#[derive(Debug, Clone)]
pub enum Message {
    Input(String),
    Digit(char),
    Backspace,
    Call,
    Write,
}

pub enum Action {
    Call(String),
    Write(String),
}

const KEYS: [[char; 3]; 4] = [
    ['1', '2', '3'],
    ['4', '5', '6'],
    ['7', '8', '9'],
    ['*', '0', '#'],
];

impl State {
    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::Input(s) => self.number = s,
            Message::Digit(c) => self.number.push(c),
            Message::Backspace => {
                self.number.pop();
            }
            Message::Call => {
                let n = self.number.trim().to_string();
                if !n.is_empty() {
                    return Some(Action::Call(n));
                }
            }
            Message::Write => {
                let n = self.number.trim().to_string();
                if !n.is_empty() {
                    return Some(Action::Write(n));
                }
            }
        }
        None
    }

    /// `in_call`: a call is up, so Call waits for it to end.
    pub fn view(&self, in_call: bool) -> Element<'_, Message> {
        let input = row![
            text_input("Number, user or user@domain", &self.number)
                .on_input(Message::Input)
                .on_submit(Message::Call)
                .size(20)
                .padding(10)
                .id(INPUT_ID),
            button(icon(Icon::Backspace, 18.0))
                .on_press(Message::Backspace)
                .padding(12)
                .style(style::outlined),
        ]
        .spacing(6)
        .align_y(iced::Center);
        let mut pad = column![].spacing(8);
        for line in KEYS {
            let mut r = row![].spacing(8);
            for k in line {
                r = r.push(
                    button(text(k.to_string()).size(24).center().width(Length::Fill))
                        .width(72)
                        .padding(12)
                        .on_press(Message::Digit(k))
                        .style(style::outlined),
                );
            }
            pad = pad.push(r);
        }
        let typed = !self.number.trim().is_empty();
        let label = if in_call { "In a call" } else { "Call" };
        let call = button(
            row![icon(Icon::Phone, 18.0), text(label).size(18)]
                .spacing(8)
                .align_y(iced::Center),
        )
        .padding([12, 24])
        .style(button::primary)
        .on_press_maybe((typed && !in_call).then_some(Message::Call));
        let write = button(
            row![icon(Icon::Chats, 18.0), text("Message").size(18)]
                .spacing(8)
                .align_y(iced::Center),
        )
        .padding([12, 20])
        .style(style::outlined)
        .on_press_maybe(typed.then_some(Message::Write));
        container(
            column![input, pad, row![call, write].spacing(8)]
                .spacing(16)
                .max_width(360)
                .align_x(iced::Center),
        )
        .center_x(Length::Fill)
        .padding(24)
        .into()
    }
}

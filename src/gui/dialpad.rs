//! The dialpad: 0-9 * #, typed digits too, backspace; a full SIP URI or a bare user or number
//! (the engine completes it with the account's domain). Enter calls.

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
}

pub enum Action {
    Call(String),
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
        }
        None
    }

    pub fn view(&self) -> Element<'_, Message> {
        let input = row![
            text_input("Number, user or sip:user@domain", &self.number)
                .on_input(Message::Input)
                .on_submit(Message::Call)
                .size(20)
                .id(INPUT_ID),
            button(text("⌫"))
                .on_press(Message::Backspace)
                .style(button::secondary),
        ]
        .spacing(6);
        let mut pad = column![].spacing(8);
        for line in KEYS {
            let mut r = row![].spacing(8);
            for k in line {
                r = r.push(
                    button(text(k.to_string()).size(24).center().width(Length::Fill))
                        .width(72)
                        .padding(12)
                        .on_press(Message::Digit(k))
                        .style(button::secondary),
                );
            }
            pad = pad.push(r);
        }
        let call = button(text("Call").size(20).center().width(Length::Fill))
            .width(232)
            .padding(12)
            .style(button::success)
            .on_press_maybe((!self.number.trim().is_empty()).then_some(Message::Call));
        container(
            column![input, pad, call]
                .spacing(16)
                .max_width(360)
                .align_x(iced::Center),
        )
        .center_x(Length::Fill)
        .padding(24)
        .into()
    }
}

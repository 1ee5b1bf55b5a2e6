//! Keyboard: Ctrl+K searches, Tab moves focus, Esc ends what is happening (declines a ringing
//! call, else hangs up), Enter answers a ringing call or calls the selected contact, and digits
//! type into the dialpad when it shows. Only keys no widget took come here: Enter in the
//! composer sends.

use super::{contacts, dialpad, App, Message, Tab};
use crate::engine::Command;
use iced::keyboard::{self, key::Named, Key};
use iced::widget::operation;
use iced::Task;

impl App {
    pub(super) fn on_key(&mut self, ev: keyboard::Event) -> Task<Message> {
        let keyboard::Event::KeyPressed { key, modifiers, .. } = ev else {
            return Task::none();
        };
        match key.as_ref() {
            Key::Character("k") if modifiers.command() => {
                return operation::focus(contacts::SEARCH_ID);
            }
            Key::Named(Named::Tab) if modifiers.shift() => return operation::focus_previous(),
            Key::Named(Named::Tab) => return operation::focus_next(),
            Key::Named(Named::Escape) => {
                if let Some(c) = self.calls.ringing_in() {
                    self.send(Command::Decline(c.id));
                } else if let Some(c) = self.calls.values().next() {
                    self.send(Command::Hangup(c.id));
                }
            }
            Key::Named(Named::Enter) => return self.on_enter(),
            Key::Named(Named::Backspace) if self.tab == Tab::Dialpad => {
                self.dialpad.update(dialpad::Message::Backspace);
            }
            Key::Character(c) if self.tab == Tab::Dialpad && !modifiers.command() => {
                if let Some(d) = c
                    .chars()
                    .next()
                    .filter(|d| d.is_ascii_digit() || *d == '*' || *d == '#')
                {
                    self.dialpad.update(dialpad::Message::Digit(d));
                }
            }
            _ => {}
        }
        Task::none()
    }

    fn on_enter(&mut self) -> Task<Message> {
        if let Some(c) = self.calls.ringing_in() {
            self.send(Command::Answer(c.id));
        } else if let Some(id) = self.contacts.selected {
            if let Some(contacts::Action::Call(uri)) =
                self.contacts.update(contacts::Message::Call(id))
            {
                self.place_call(uri);
            }
        } else if self.tab == Tab::Dialpad {
            return self.update(Message::Dialpad(dialpad::Message::Call));
        }
        Task::none()
    }
}

//! Keyboard: Ctrl+K searches (Enter opens the first found), Ctrl+1..4 open Chats, Dialpad,
//! History and Settings, Ctrl+O attaches a file, Tab moves focus, Esc ends what is happening
//! (declines a ringing call or a file offer, else hangs up), Enter answers a ringing call or
//! takes the offered file or calls the selected contact, and digits type into the dialpad when
//! it shows. Only keys no widget took come here: Enter in the composer sends.

use super::{contacts, conversation, dialpad, App, Message, Tab};
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
            // The rail's panes, as Telegram and Slack number theirs.
            Key::Character(n @ ("1" | "2" | "3" | "4")) if modifiers.command() => {
                let tab = match n {
                    "1" => self.last_conversation(),
                    "2" => Tab::Dialpad,
                    "3" => Tab::History,
                    _ => Tab::Settings,
                };
                return self.update(Message::Tab(tab));
            }
            Key::Character("o") if modifiers.command() && self.open_thread().is_some() => {
                return self.update(Message::Conversation(conversation::Message::Attach));
            }
            Key::Named(Named::Tab) if modifiers.shift() => return operation::focus_previous(),
            Key::Named(Named::Tab) => return operation::focus_next(),
            Key::Named(Named::Escape) => return self.on_escape(),
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

    fn on_escape(&mut self) -> Task<Message> {
        let ringing = self.calls.ringing_in().map(|c| c.id);
        let any = self.calls.values().next().map(|c| c.id);
        match (ringing, any, self.chat.offers.last().cloned()) {
            (Some(id), _, _) => self.send(Command::Decline(id)),
            (None, Some(id), _) => self.send(Command::Hangup(id)),
            (None, None, Some(o)) => return self.update(Message::Offer(o, false)),
            (None, None, None) => {}
        }
        Task::none()
    }

    fn on_enter(&mut self) -> Task<Message> {
        if let Some(c) = self.calls.ringing_in() {
            self.send(Command::Answer(c.id));
        } else if let Some(o) = self.chat.offers.last().cloned() {
            return self.update(Message::Offer(o, true));
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

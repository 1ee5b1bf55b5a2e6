//! A contact's conversation: the timeline of calls with them. Chat messages and files join this
//! timeline when MSRP lands; until then the composer says so instead of pretending.

use super::history;
use super::style;
use crate::store::{CallRecord, Contact};
use iced::widget::{button, column, row, scrollable, text, text_input, Column};
use iced::{Element, Length};

#[derive(Debug, Clone)]
pub enum Message {
    Call(String),
    Edit(i64),
    History(history::Message),
}

/// Calls with any of the contact's addresses, oldest first.
pub fn timeline<'a>(contact: &Contact, calls: &'a [CallRecord]) -> Vec<&'a CallRecord> {
    let bare = |u: &str| u.trim_start_matches("sip:").to_lowercase();
    let mine: Vec<String> = contact.uris.iter().map(|u| bare(u)).collect();
    calls
        .iter()
        .filter(|c| mine.contains(&bare(&c.peer_uri)))
        .collect()
}

pub fn view<'a>(contact: &'a Contact, calls: &'a [CallRecord]) -> Element<'a, Message> {
    let mut who = column![
        text(contact.name.clone()).size(24),
        text(contact.uris.join(", "))
            .size(13)
            .style(style::muted_text),
    ];
    if !contact.note.is_empty() {
        who = who.push(text(contact.note.clone()).size(13));
    }
    let mut header = row![
        who.width(Length::Fill),
        button(text("Edit"))
            .on_press(Message::Edit(contact.id))
            .style(button::secondary),
    ]
    .spacing(8)
    .align_y(iced::Center);
    if let Some(uri) = contact.uris.first() {
        header = header.push(
            button(text("Call"))
                .on_press(Message::Call(uri.clone()))
                .style(button::success),
        );
    }
    let mut items = Column::new().spacing(4);
    let entries = timeline(contact, calls);
    if entries.is_empty() {
        items = items.push(text("No calls with this contact yet.").style(style::muted_text));
    }
    for c in entries {
        items = items.push(history::row_view(c).map(Message::History));
    }
    let composer = text_input("Messages and files arrive with the chat update", "");
    column![header, scrollable(items).height(Length::Fill), composer]
        .spacing(12)
        .padding(16)
        .into()
}

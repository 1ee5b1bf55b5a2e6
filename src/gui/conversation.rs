//! A contact's conversation: calls, texts and files with them on one timeline, files under way
//! with their progress, rate and Cancel, and the composer (Enter sends; Attach picks a file; a
//! file dropped on the window goes to the open conversation).

use super::chat::{self, Item};
use super::history;
use super::style;
use crate::engine::CallId;
use crate::store::{CallRecord, Contact};
use iced::keyboard::{key::Named, Key};
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{button, column, progress_bar, row, scrollable, text, text_editor, Column};
use iced::{Element, Length};
use std::path::PathBuf;

pub const COMPOSER_ID: &str = "conversation-composer";

#[derive(Debug, Clone)]
pub enum Message {
    Call(String),
    Edit(i64),
    History(history::Message),
    Draft(text_editor::Action),
    Send,
    Attach,
    Cancel(CallId, String),
    Open(PathBuf),
}

fn bare(u: &str) -> String {
    u.trim_start_matches("sip:").to_lowercase()
}

/// Whether `peer` is one of the contact's addresses.
pub fn is_theirs(contact: &Contact, peer: &str) -> bool {
    contact.uris.iter().any(|u| bare(u) == bare(peer))
}

fn item_view(item: &Item) -> Element<'_, Message> {
    match item {
        Item::Text {
            incoming, text: t, ..
        } => {
            let who = if *incoming { "They" } else { "You" };
            text(format!("{who}: {t}")).into()
        }
        Item::File {
            incoming: true,
            name,
            path: Some(path),
            ..
        } => row![
            text(format!("Received {name}")).width(Length::Fill),
            button(text("Open"))
                .on_press(Message::Open(path.clone()))
                .style(button::secondary),
            button(text("Show in folder"))
                .on_press(Message::Open(
                    path.parent().map(|p| p.to_path_buf()).unwrap_or_default()
                ))
                .style(button::secondary),
        ]
        .spacing(6)
        .align_y(iced::Center)
        .into(),
        Item::File { name, .. } => text(format!("Sent {name} (delivered, checked)")).into(),
        Item::Note { text: t, .. } => text(t.clone()).style(style::muted_text).into(),
    }
}

fn transfer_view<'a>(call: CallId, name: &'a str, t: &'a chat::Transfer) -> Element<'a, Message> {
    let verb = if t.incoming { "Receiving" } else { "Sending" };
    let fraction = t.done as f32 / t.total.max(1) as f32;
    column![
        row![
            text(format!(
                "{verb} {name}: {} of {} · {}/s",
                chat::size(t.done),
                chat::size(t.total),
                chat::size(t.bytes_per_second)
            ))
            .width(Length::Fill),
            button(text("Cancel"))
                .on_press(Message::Cancel(call, name.to_string()))
                .style(button::danger),
        ]
        .spacing(6)
        .align_y(iced::Center),
        progress_bar(0.0..=1.0, fraction),
    ]
    .spacing(4)
    .into()
}

/// Enter sends; Shift+Enter and every other key do what they do in any text box.
fn composer_keys(press: KeyPress) -> Option<Binding<Message>> {
    let enter = matches!(press.key, Key::Named(Named::Enter));
    let focused = matches!(press.status, text_editor::Status::Focused { .. });
    if enter && focused && !press.modifiers.shift() {
        return Some(Binding::Custom(Message::Send));
    }
    Binding::from_key_press(press)
}

/// One line of the timeline.
pub enum Entry<'a> {
    Call(&'a CallRecord),
    Said(&'a Item),
}

/// Calls, texts and files with any of the contact's addresses, oldest first.
pub fn timeline<'a>(
    contact: &Contact,
    calls: &'a [CallRecord],
    said: &'a [chat::Said],
) -> Vec<Entry<'a>> {
    let mut all: Vec<(i64, Entry<'a>)> = calls
        .iter()
        .filter(|c| is_theirs(contact, &c.peer_uri))
        .map(|c| (c.started_at, Entry::Call(c)))
        .collect();
    all.extend(
        said.iter()
            .filter(|s| is_theirs(contact, s.item.peer()))
            .map(|s| (s.at, Entry::Said(&s.item))),
    );
    // Stable: what happened in the same second keeps the order it was told in.
    all.sort_by_key(|(at, _)| *at);
    all.into_iter().map(|(_, e)| e).collect()
}

pub fn view<'a>(
    contact: &'a Contact,
    calls: &'a [CallRecord],
    chat: &'a chat::State,
) -> Element<'a, Message> {
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
    let entries = timeline(contact, calls, &chat.items);
    if entries.is_empty() {
        items = items.push(text("Nothing with this contact yet.").style(style::muted_text));
    }
    for e in entries {
        items = items.push(match e {
            Entry::Call(c) => history::row_view(c).map(Message::History),
            Entry::Said(i) => item_view(i),
        });
    }
    for ((call, name), t) in &chat.transfers {
        if is_theirs(contact, &t.peer) {
            items = items.push(transfer_view(*call, name, t));
        }
    }
    let composer = row![
        text_editor(&chat.draft)
            .placeholder("Write a message; Enter sends, Shift+Enter starts a new line")
            .id(COMPOSER_ID)
            .on_action(Message::Draft)
            .key_binding(composer_keys)
            .height(Length::Shrink)
            .max_height(140.0),
        button(text("Attach…"))
            .on_press(Message::Attach)
            .style(button::secondary),
    ]
    .spacing(6);
    column![header, scrollable(items).height(Length::Fill), composer]
        .spacing(12)
        .padding(16)
        .into()
}

//! The open conversation, filling the main pane: a header (avatar, name, address, Call, Attach,
//! Edit or Add contact), the timeline (bubbles left and right with their times and delivery,
//! day dividers, calls as small centred notes, files as cards with progress, Cancel, Open and
//! Show in folder) opening at the newest, and the composer (Enter sends, Shift+Enter breaks a
//! line; a file dropped on the window goes here).

use super::chat::{self, Item, Said};
use super::icons::{icon, Icon};
use super::threads::Thread;
use super::{avatar, clock, style};
use crate::engine::{CallId, CallOutcome, CallRecord, MessageState};
use iced::keyboard::{key::Named, Key};
use iced::widget::text_editor::{Binding, KeyPress};
use iced::widget::{
    button, column, container, progress_bar, row, scrollable, space, text, text_editor, text_input,
    Column,
};
use iced::{Element, Length};
use std::path::PathBuf;

pub const COMPOSER_ID: &str = "conversation-composer";
pub const ATTACH_PATH_ID: &str = "conversation-attach-path";

#[derive(Debug, Clone)]
pub enum Message {
    Call(String),
    Edit(i64),
    /// Save someone not in the contacts: the form, with their address.
    AddContact(String),
    Draft(text_editor::Action),
    Send,
    Attach,
    /// Typed into "attach by path" (shown when no file dialog answered).
    AttachPath(String),
    SendPath,
    CloseAttachPath,
    Cancel(CallId, String),
    Open(PathBuf),
    Retry(i64),
}

/// Whom the conversation is with, as the header shows them.
pub struct Header<'a> {
    pub thread: &'a Thread,
    pub name: &'a str,
    pub address: &'a str,
    pub note: &'a str,
    /// A call is up (with anyone): Call waits until it ends.
    pub in_call: bool,
}

/// One line of the timeline.
pub enum Entry<'a> {
    Call(&'a CallRecord),
    Said(&'a Said),
}

impl Entry<'_> {
    fn at(&self) -> i64 {
        match self {
            Entry::Call(c) => c.started_at,
            Entry::Said(s) => s.at,
        }
    }
}

/// Calls, texts and files with any of these peers (address keys), oldest first.
pub fn timeline<'a>(keys: &[String], calls: &'a [CallRecord], said: &'a [Said]) -> Vec<Entry<'a>> {
    let mut all: Vec<Entry<'a>> = calls
        .iter()
        .filter(|c| keys.contains(&super::threads::call_key(c)))
        .map(Entry::Call)
        .collect();
    all.extend(
        said.iter()
            .filter(|s| keys.contains(&s.peer))
            .map(Entry::Said),
    );
    // Stable: what happened in the same second keeps the order it was told in.
    all.sort_by_key(Entry::at);
    all
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

fn header<'a>(h: &Header<'a>) -> Element<'a, Message> {
    let mut who = column![
        text(style::elide(h.name, 40))
            .size(20)
            .wrapping(text::Wrapping::None),
        text(style::elide(h.address.trim_start_matches("sip:"), 48))
            .size(13)
            .style(style::muted_text)
            .wrapping(text::Wrapping::None),
    ]
    .spacing(2);
    if !h.note.is_empty() {
        who = who.push(
            text(style::elide(h.note, 60))
                .size(12)
                .style(style::muted_text),
        );
    }
    let call = button(row![icon(Icon::Phone, 15.0), text("Call")].spacing(6))
        .on_press_maybe((!h.in_call).then(|| Message::Call(h.address.to_string())))
        .style(button::primary)
        .padding([7, 14]);
    let attach = button(row![icon(Icon::Attach, 15.0), text("Attach")].spacing(6))
        .on_press(Message::Attach)
        .style(style::outlined)
        .padding([7, 12]);
    let manage = match h.thread {
        Thread::Contact(id) => button(row![icon(Icon::Edit, 15.0), text("Edit")].spacing(6))
            .on_press(Message::Edit(*id)),
        Thread::Peer(k) => {
            button(row![icon(Icon::AddContact, 15.0), text("Add contact")].spacing(6))
                .on_press(Message::AddContact(super::threads::bare(k).to_string()))
        }
    }
    .style(style::outlined)
    .padding([7, 12]);
    row![
        avatar::view(h.name, 44.0),
        who.width(Length::Fill),
        call,
        attach,
        manage
    ]
    .spacing(10)
    .align_y(iced::Center)
    .into()
}

/// A centred note: a day, a call.
fn centred<'a>(content: Element<'a, Message>) -> Element<'a, Message> {
    container(container(content).padding([3, 10]).style(style::note))
        .center_x(Length::Fill)
        .into()
}

fn call_note(c: &CallRecord) -> Element<'_, Message> {
    let (glyph, words) = match c.outcome() {
        Some(CallOutcome::Answered) => {
            let secs = c.duration();
            let dir = match c.direction {
                crate::engine::Direction::Incoming => Icon::PhoneIncoming,
                crate::engine::Direction::Outgoing => Icon::PhoneOutgoing,
            };
            (dir, format!("Call, {}:{:02}", secs / 60, secs % 60))
        }
        Some(CallOutcome::Missed) => (Icon::PhoneMissed, "Missed call".to_string()),
        Some(o) => (Icon::PhoneOff, o.words("They", c.direction)),
        None => (Icon::Phone, "Call in progress".to_string()),
    };
    let mut line = row![icon(glyph, 12.0), text(words).size(12)]
        .spacing(6)
        .align_y(iced::Center);
    line = line.push(text(clock::time_of_day(c.started_at)).size(12));
    let el: Element<'_, Message> = line.into();
    if c.is_missed() {
        return container(el)
            .style(|t| container::Style {
                text_color: Some(t.palette().danger),
                ..container::Style::default()
            })
            .into();
    }
    el
}

/// Where a text of ours stands, as an icon and a word.
fn delivery(state: MessageState) -> Option<(Icon, &'static str)> {
    match state {
        MessageState::Sending => Some((Icon::Clock, "Sending")),
        MessageState::Sent => Some((Icon::Check, "Sent")),
        MessageState::Delivered => Some((Icon::CheckCheck, "Delivered")),
        MessageState::Failed => Some((Icon::Alert, "Not delivered")),
        MessageState::Received => None,
    }
}

fn bubble<'a>(s: &'a Said, item: &'a Item) -> Element<'a, Message> {
    let Item::Text {
        id,
        incoming,
        text: t,
        state,
        error,
    } = item
    else {
        return space().into();
    };
    let mut foot = row![text(clock::time_of_day(s.at)).size(11)]
        .spacing(4)
        .align_y(iced::Center);
    if let Some((glyph, word)) = delivery(*state) {
        foot = foot.push(icon(glyph, 11.0)).push(text(word).size(11));
    }
    let mut body = column![text(t.clone()).size(15), foot].spacing(3);
    let failed = *state == MessageState::Failed;
    if let (true, Some(why)) = (failed, error) {
        body = body.push(text(why.clone()).size(12).style(style::danger_text));
        body = body.push(
            button(row![icon(Icon::Retry, 12.0), text("Retry").size(13)].spacing(4))
                .on_press(Message::Retry(*id))
                .style(style::outlined)
                .padding([3, 10]),
        );
    }
    let card = container(body).padding([7, 12]).max_width(460);
    let card = match (failed, *incoming) {
        (true, _) => card.style(style::failed_bubble),
        (false, ours) => card.style(style::bubble(!ours)),
    };
    side(card.into(), !*incoming)
}

/// Ours on the right, theirs on the left.
fn side(el: Element<'_, Message>, ours: bool) -> Element<'_, Message> {
    match ours {
        true => row![space::horizontal(), el].into(),
        false => row![el, space::horizontal()].into(),
    }
}

fn file_card<'a>(s: &'a Said, item: &'a Item) -> Element<'a, Message> {
    let Item::File {
        incoming,
        name,
        size,
        path,
    } = item
    else {
        return space().into();
    };
    let what = match incoming {
        true => "Received".to_string(),
        false => "Delivered, checked".to_string(),
    };
    let mut col = column![row![
        icon(Icon::File, 22.0),
        column![
            text(style::elide(name, 40))
                .size(15)
                .wrapping(text::Wrapping::None),
            text(format!(
                "{} · {what} · {}",
                chat::size(*size),
                clock::time_of_day(s.at)
            ))
            .size(12)
            .style(style::muted_text),
        ]
        .spacing(2)
    ]
    .spacing(10)
    .align_y(iced::Center)]
    .spacing(8);
    if let (true, Some(p)) = (*incoming, path) {
        let folder = p.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        col = col.push(
            row![
                button(text("Open"))
                    .on_press(Message::Open(p.clone()))
                    .style(style::outlined),
                button(row![icon(Icon::Folder, 13.0), text("Show in folder")].spacing(6))
                    .on_press(Message::Open(folder))
                    .style(style::outlined),
            ]
            .spacing(6),
        );
    }
    let card = container(col).padding(10).max_width(420).style(style::card);
    side(card.into(), !*incoming)
}

fn transfer_card<'a>(call: CallId, name: &'a str, t: &'a chat::Transfer) -> Element<'a, Message> {
    let verb = if t.incoming { "Receiving" } else { "Sending" };
    let fraction = t.done as f32 / t.total.max(1) as f32;
    let card = column![
        row![
            icon(
                if t.incoming {
                    Icon::Download
                } else {
                    Icon::Upload
                },
                18.0
            ),
            text(format!("{verb} {}", style::elide(name, 36)))
                .size(14)
                .width(Length::Fill),
            button(text("Cancel"))
                .on_press(Message::Cancel(call, name.to_string()))
                .style(style::outlined),
        ]
        .spacing(8)
        .align_y(iced::Center),
        progress_bar(0.0..=1.0, fraction).girth(6),
        text(format!(
            "{} of {} · {}/s",
            chat::size(t.done),
            chat::size(t.total),
            chat::size(t.bytes_per_second)
        ))
        .size(12)
        .style(style::muted_text),
    ]
    .spacing(6);
    side(
        container(card)
            .padding(10)
            .max_width(420)
            .style(style::card)
            .into(),
        !t.incoming,
    )
}

/// The timeline, with a divider where the day changes.
fn entries<'a>(list: Vec<Entry<'a>>, now: i64) -> Column<'a, Message> {
    let mut items = Column::new().spacing(8).padding([8, 4]);
    let mut day: Option<i64> = None;
    for e in list {
        let at = e.at();
        if day.is_none_or(|d| !clock::same_day(d, at)) {
            items = items.push(centred(text(clock::day_label(at, now)).size(12).into()));
            day = Some(at);
        }
        items = items.push(match e {
            Entry::Call(c) => centred(call_note(c)),
            Entry::Said(s) => match &s.item {
                Item::Text { .. } => bubble(s, &s.item),
                Item::File { .. } => file_card(s, &s.item),
                Item::Note { text: t } => centred(text(t.clone()).size(12).into()),
            },
        });
    }
    items
}

/// What the attach row looks like when no file dialog answered: a path to type.
pub struct AttachByPath<'a> {
    pub path: &'a str,
}

pub fn view<'a>(
    h: Header<'a>,
    keys: &[String],
    calls: &'a [CallRecord],
    chat: &'a chat::State,
    by_path: Option<AttachByPath<'a>>,
) -> Element<'a, Message> {
    let list = timeline(keys, calls, &chat.items);
    let empty = list.is_empty();
    let mut items = entries(list, clock::now());
    if empty {
        items = items.push(centred(
            text(format!(
                "No messages with {} yet. Say hello, or call.",
                style::elide(h.name, 30)
            ))
            .size(13)
            .into(),
        ));
    }
    for ((call, name), t) in &chat.transfers {
        if keys.contains(&t.peer) {
            items = items.push(transfer_card(*call, name, t));
        }
    }
    let composer = row![
        text_editor(&chat.draft)
            .placeholder("Write a message")
            .id(COMPOSER_ID)
            .on_action(Message::Draft)
            .key_binding(composer_keys)
            .height(Length::Shrink)
            .max_height(140.0)
            .padding(10),
        button(row![icon(Icon::Send, 15.0), text("Send")].spacing(6))
            .on_press(Message::Send)
            .style(button::primary)
            .padding([9, 14]),
    ]
    .spacing(8)
    .align_y(iced::Center);
    let mut col = column![
        header(&h),
        scrollable(items)
            .anchor_bottom()
            .spacing(6)
            .height(Length::Fill),
    ]
    .spacing(12)
    .padding(16);
    if let Some(p) = by_path {
        col = col.push(attach_by_path(p));
    }
    col.push(composer).into()
}

/// No file dialog answered (no desktop portal): the path can be typed instead.
fn attach_by_path<'a>(p: AttachByPath<'a>) -> Element<'a, Message> {
    container(
        column![
            text("No file was chosen. If no file dialog opened, type the file's path, or drag the file onto this conversation:")
                .size(13),
            row![
                text_input("/home/you/Documents/report.pdf", p.path)
                    .id(ATTACH_PATH_ID)
                    .on_input(Message::AttachPath)
                    .on_submit(Message::SendPath)
                    .padding(8),
                button(text("Send file")).on_press(Message::SendPath).style(button::primary),
                button(icon(Icon::Close, 14.0)).on_press(Message::CloseAttachPath).style(style::outlined),
            ]
            .spacing(6)
            .align_y(iced::Center),
        ]
        .spacing(6),
    )
    .padding(10)
    .style(style::card)
    .into()
}

//! The sidebar: conversations (contacts and strangers who wrote or called) with search, each
//! row an avatar, name, preview, time and unread badge; and the contact form (name, addresses,
//! note) with its errors beside the fields.

use super::icons::{icon, Icon};
use super::threads::{Summary, Thread};
use super::{avatar, clock, style};
use crate::engine::{Address, Contact};
use iced::widget::{
    button, column, container, mouse_area, row, scrollable, space, text, text_input, Column,
};
use iced::{Element, Length};

pub const SEARCH_ID: &str = "contact-search";

#[derive(Debug, Clone, Default)]
pub struct State {
    pub contacts: Vec<Contact>,
    pub search: String,
    /// The contact Enter calls: the last one clicked.
    pub selected: Option<i64>,
    pub editor: Option<Editor>,
    /// Last click, to tell a double-click (which calls) from a click (which opens).
    last_click: Option<(Thread, std::time::Instant)>,
}

#[derive(Debug, Clone, Default)]
pub struct Editor {
    pub id: i64,
    pub name: String,
    /// Addresses, one per line in the form.
    pub uris: String,
    pub note: String,
    /// Why the form could not be saved, shown beside the field; what was typed stays.
    pub error: Option<(Field, String)>,
}

/// A field of the contact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Addresses,
}

impl Editor {
    /// The contact the form describes, or why it cannot be saved yet. Addresses are one per
    /// line or comma separated; each is checked as the engine checks an address.
    fn checked(&self) -> Result<Contact, (Field, String)> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err((Field::Name, "A contact needs a name".into()));
        }
        let mut uris = Vec::new();
        for typed in self.uris.split([',', '\n']).map(str::trim) {
            if typed.is_empty() {
                continue;
            }
            let a = Address::parse(typed)
                .map_err(|e| (Field::Addresses, style::sentence(&e.to_string())))?;
            let uri = match a.has_host() {
                true => a.uri_in(""),
                false => format!("sip:{a}"),
            };
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
        if uris.is_empty() {
            let why = "A contact needs an address, like bob@company.com";
            return Err((Field::Addresses, why.into()));
        }
        Ok(Contact {
            id: self.id,
            name: name.to_string(),
            note: self.note.trim().to_string(),
            uris,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Message {
    Search(String),
    /// Enter in the search box: open the first conversation found.
    OpenFirst,
    Clicked(Thread),
    Call(i64),
    New,
    /// "Add contact" for someone not in the contacts: the form, their address filled in.
    AddPeer(String),
    Edit(i64),
    Delete(i64),
    EditName(String),
    EditUris(String),
    EditNote(String),
    Save,
    CancelEdit,
    Import,
    Export,
}

pub enum Action {
    Open(Thread),
    OpenFirst,
    Call(String),
    Save(Contact),
    Delete(i64),
    Import,
    Export,
}

impl State {
    pub fn get(&self, id: i64) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    /// The contact owning a SIP address, if any.
    pub fn by_uri(&self, uri: &str) -> Option<&Contact> {
        super::threads::owner(&self.contacts, uri)
    }

    /// The address to call for a conversation.
    pub fn address_of(&self, t: &Thread) -> Option<String> {
        match t {
            Thread::Contact(id) => self.get(*id)?.uris.first().cloned(),
            Thread::Peer(k) => Some(super::threads::address(k)),
        }
    }

    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::Search(s) => self.search = s,
            Message::OpenFirst => return Some(Action::OpenFirst),
            Message::Clicked(t) => {
                let now = std::time::Instant::now();
                let double = self.last_click.as_ref().is_some_and(|(last, at)| {
                    *last == t && now.duration_since(*at).as_millis() < 400
                });
                // A double-click calls once; a third click starts a new pair.
                self.last_click = if double { None } else { Some((t.clone(), now)) };
                if let Thread::Contact(id) = t {
                    self.selected = Some(id);
                }
                if double {
                    return self.address_of(&t).map(Action::Call);
                }
                return Some(Action::Open(t));
            }
            Message::Call(id) => {
                self.selected = Some(id);
                let uri = self.get(id)?.uris.first()?.clone();
                return Some(Action::Call(uri));
            }
            Message::New => self.editor = Some(Editor::default()),
            Message::AddPeer(address) => {
                self.editor = Some(Editor {
                    uris: address,
                    ..Editor::default()
                })
            }
            Message::Edit(id) => {
                let c = self.get(id)?;
                self.editor = Some(Editor {
                    id,
                    name: c.name.clone(),
                    uris: c.uris.join("\n"),
                    note: c.note.clone(),
                    error: None,
                });
            }
            Message::Delete(id) => {
                self.editor = None;
                if self.selected == Some(id) {
                    self.selected = None;
                }
                return Some(Action::Delete(id));
            }
            Message::EditName(s) => self.editor.as_mut()?.name = s,
            Message::EditUris(s) => self.editor.as_mut()?.uris = s,
            Message::EditNote(s) => self.editor.as_mut()?.note = s,
            Message::CancelEdit => self.editor = None,
            Message::Save => {
                let e = self.editor.as_mut()?;
                match e.checked() {
                    Ok(contact) => {
                        self.editor = None;
                        return Some(Action::Save(contact));
                    }
                    Err(why) => e.error = Some(why),
                }
            }
            Message::Import => return Some(Action::Import),
            Message::Export => return Some(Action::Export),
        }
        None
    }

    /// The sidebar: search, the conversations, and the address book's tools.
    pub fn view<'a>(&'a self, list: &[Summary], open: Option<&Thread>) -> Element<'a, Message> {
        let search = text_input("Search (Ctrl+K)", &self.search)
            .on_input(Message::Search)
            .on_submit(Message::OpenFirst)
            .id(SEARCH_ID)
            .padding(8);
        let now = clock::now();
        let mut rows = Column::new().spacing(2);
        for s in list {
            rows = rows.push(row_view(s, open == Some(&s.thread), now));
        }
        if list.is_empty() {
            rows = rows.push(self.empty_view());
        }
        let tools = row![
            button(row![icon(Icon::Plus, 14.0), text("Add")].spacing(6))
                .on_press(Message::New)
                .style(button::primary),
            button(text("Import"))
                .on_press(Message::Import)
                .style(style::outlined),
            button(text("Export"))
                .on_press(Message::Export)
                .style(style::outlined),
        ]
        .spacing(6);
        column![
            search,
            scrollable(rows).height(Length::Fill).spacing(6),
            tools
        ]
        .spacing(8)
        .padding(8)
        .into()
    }

    /// No contacts yet, or none matching the search: what to do next.
    fn empty_view<'a>(&self) -> Element<'a, Message> {
        let q = self.search.trim();
        if q.is_empty() {
            return column![
                text("No conversations yet").size(15),
                text("Add a contact, or call or write to an address from the dialpad.")
                    .size(13)
                    .style(style::muted_text),
            ]
            .spacing(4)
            .padding(8)
            .into();
        }
        let mut col = column![text(format!("Nobody matches “{}”", style::elide(q, 24))).size(14)]
            .spacing(6)
            .padding(8);
        if Address::parse(q).is_ok() {
            col = col.push(
                button(text(format!("Add {} as a contact", style::elide(q, 20))))
                    .on_press(Message::AddPeer(q.to_string()))
                    .style(style::outlined),
            );
        }
        col.into()
    }

    /// The contact form, in the main pane: labelled fields, the reason beside the field it is
    /// about, and what was typed kept until it is saved or cancelled.
    pub fn editor_view<'a>(&'a self, e: &'a Editor) -> Element<'a, Message> {
        let error_at = |f: Field| -> Element<'a, Message> {
            match &e.error {
                Some((at, why)) if *at == f => {
                    text(why.clone()).size(13).style(style::danger_text).into()
                }
                _ => space().height(0).into(),
            }
        };
        let field = |label: &'a str, input: Element<'a, Message>, f: Option<Field>| {
            let mut c = style::labelled(label, input);
            if let Some(f) = f {
                c = c.push(error_at(f));
            }
            c
        };
        let mut buttons = row![
            button(text("Save"))
                .on_press(Message::Save)
                .style(button::primary),
            button(text("Cancel"))
                .on_press(Message::CancelEdit)
                .style(style::outlined),
        ]
        .spacing(8);
        if e.id != 0 {
            buttons = buttons.push(space::horizontal()).push(
                button(row![icon(Icon::Trash, 14.0), text("Delete")].spacing(6))
                    .on_press(Message::Delete(e.id))
                    .style(button::danger),
            );
        }
        let title = if e.id == 0 {
            "New contact"
        } else {
            "Edit contact"
        };
        let form = column![
            text(title).size(22),
            field(
                "Name",
                text_input("Bob Builder", &e.name)
                    .on_input(Message::EditName)
                    .on_submit(Message::Save)
                    .padding(8)
                    .into(),
                Some(Field::Name),
            ),
            field(
                "SIP addresses (comma or line separated)",
                text_input("bob@company.com", &e.uris)
                    .on_input(Message::EditUris)
                    .on_submit(Message::Save)
                    .padding(8)
                    .into(),
                Some(Field::Addresses),
            ),
            field(
                "Note",
                text_input("Optional", &e.note)
                    .on_input(Message::EditNote)
                    .on_submit(Message::Save)
                    .padding(8)
                    .into(),
                None,
            ),
            buttons,
        ]
        .spacing(14)
        .max_width(520);
        container(container(form).padding(20).style(style::card))
            .padding(24)
            .into()
    }
}

/// One conversation in the sidebar: avatar, name and time, preview and unread badge.
fn row_view<'a>(s: &Summary, open: bool, now: i64) -> Element<'a, Message> {
    let when = s
        .last
        .as_ref()
        .map(|(at, _)| clock::short(*at, now))
        .unwrap_or_default();
    let preview = s
        .last
        .as_ref()
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| style::elide(s.address.trim_start_matches("sip:"), 34));
    let room = if s.unread > 0 { 26 } else { 31 };
    let mut bottom = row![text(style::elide(&preview, room))
        .size(13)
        .style(style::muted_text)
        .wrapping(text::Wrapping::None)
        .width(Length::Fill)]
    .spacing(6)
    .align_y(iced::Center);
    if s.unread > 0 {
        bottom = bottom.push(
            container(text(s.unread.to_string()).size(12))
                .padding([1, 7])
                .style(style::badge),
        );
    }
    // Room for the "unverified" tag beside the name.
    let room = if s.unverified { 13 } else { 22 };
    let name = text(style::elide(&s.name, room))
        .size(15)
        .wrapping(text::Wrapping::None)
        .width(Length::Fill);
    let mut top = row![name].spacing(6).align_y(iced::Center);
    if s.unverified {
        top = top.push(text("unverified").size(12).style(style::danger_text));
    }
    let top = top.push(text(when).size(12).style(style::muted_text));
    let body = row![
        avatar::view(&s.name, 40.0),
        column![top, bottom].spacing(2).width(Length::Fill)
    ]
    .spacing(10)
    .align_y(iced::Center);
    let entry = mouse_area(container(body).padding([6, 8]).width(Length::Fill))
        .on_press(Message::Clicked(s.thread.clone()));
    container(entry)
        .id(super::drop::row_id(&s.thread))
        .style(move |t: &iced::Theme| match open {
            true => style::selected_row(t),
            false => container::Style::default(),
        })
        .into()
}

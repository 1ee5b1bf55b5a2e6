//! The sidebar: contact list with search, and the contact editor (name, addresses, note).

use super::style;
use crate::engine::Address;
use crate::store::Contact;
use iced::widget::{
    button, column, container, mouse_area, row, scrollable, text, text_input, Column,
};
use iced::{Element, Length};

pub const SEARCH_ID: &str = "contact-search";

#[derive(Debug, Clone, Default)]
pub struct State {
    pub contacts: Vec<Contact>,
    pub search: String,
    pub selected: Option<i64>,
    pub editor: Option<Editor>,
    /// Last click, to tell a double-click (which calls) from a click (which selects).
    last_click: Option<(i64, std::time::Instant)>,
}

#[derive(Debug, Clone, Default)]
pub struct Editor {
    pub id: i64,
    pub name: String,
    /// Addresses, one per line in the form.
    pub uris: String,
    pub note: String,
    /// Why the form could not be saved, shown beside it; what was typed stays.
    pub error: Option<String>,
}

impl Editor {
    /// The contact the form describes, or why it cannot be saved yet. Addresses are one per
    /// line or comma separated; each is checked as the engine checks an address.
    fn checked(&self) -> Result<Contact, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("A contact needs a name".into());
        }
        let mut uris = Vec::new();
        for typed in self.uris.split([',', '\n']).map(str::trim) {
            if typed.is_empty() {
                continue;
            }
            let a = Address::parse(typed).map_err(|e| format!("Address: {e}"))?;
            let uri = match a.has_host() {
                true => a.uri_in(""),
                false => format!("sip:{a}"),
            };
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
        if uris.is_empty() {
            return Err("A contact needs an address, like bob@company.com".into());
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
    Clicked(i64),
    Call(i64),
    New,
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
    Select(i64),
    Call(String),
    Save(Contact),
    Delete(i64),
    Import,
    Export,
}

impl State {
    /// Contacts matching the search box (name, address or note, case-insensitive).
    pub fn visible(&self) -> Vec<&Contact> {
        let q = self.search.trim().to_lowercase();
        self.contacts
            .iter()
            .filter(|c| {
                q.is_empty()
                    || c.name.to_lowercase().contains(&q)
                    || c.note.to_lowercase().contains(&q)
                    || c.uris.iter().any(|u| u.to_lowercase().contains(&q))
            })
            .collect()
    }

    pub fn get(&self, id: i64) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    /// The contact owning a SIP address, if any.
    pub fn by_uri(&self, uri: &str) -> Option<&Contact> {
        let bare = |u: &str| u.trim().trim_start_matches("sip:").to_lowercase();
        self.contacts
            .iter()
            .find(|c| c.uris.iter().any(|u| bare(u) == bare(uri)))
    }

    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::Search(s) => self.search = s,
            Message::Clicked(id) => {
                let now = std::time::Instant::now();
                let double = self.last_click.is_some_and(|(last, at)| {
                    last == id && now.duration_since(at).as_millis() < 400
                });
                // A double-click calls once; a third click starts a new pair.
                self.last_click = if double { None } else { Some((id, now)) };
                self.selected = Some(id);
                if double {
                    return self.update(Message::Call(id));
                }
                return Some(Action::Select(id));
            }
            Message::Call(id) => {
                self.selected = Some(id);
                let uri = self.get(id)?.uris.first()?.clone();
                return Some(Action::Call(uri));
            }
            Message::New => self.editor = Some(Editor::default()),
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

    /// The list, each contact with its count of unread texts and files (by bare address).
    pub fn view(&self, unread: &std::collections::BTreeMap<String, usize>) -> Element<'_, Message> {
        let search = text_input("Search contacts (Ctrl+K)", &self.search)
            .on_input(Message::Search)
            .id(SEARCH_ID);
        let mut list = Column::new().spacing(2);
        for c in self.visible() {
            let selected = self.selected == Some(c.id);
            let count: usize = c
                .uris
                .iter()
                .filter_map(|u| unread.get(u.trim_start_matches("sip:")))
                .sum();
            let name = match count {
                0 => c.name.clone(),
                n => format!("{} ({n} new)", c.name),
            };
            let label = column![
                text(name).size(16),
                text(c.uris.first().cloned().unwrap_or_default())
                    .size(12)
                    .style(style::muted_text),
            ];
            let entry = row![
                mouse_area(container(label).width(Length::Fill).padding(6))
                    .on_press(Message::Clicked(c.id)),
                button(text("Call"))
                    .on_press(Message::Call(c.id))
                    .style(button::success),
            ]
            .spacing(4)
            .align_y(iced::Center);
            let entry =
                container(entry)
                    .id(super::drop::row_id(c.id))
                    .style(move |t: &iced::Theme| {
                        if selected {
                            container::Style::default()
                                .background(t.extended_palette().primary.weak.color)
                        } else {
                            container::Style::default()
                        }
                    });
            list = list.push(entry);
        }
        if self.contacts.is_empty() {
            list = list.push(text("No contacts yet.").style(style::muted_text));
        }
        let tools = row![
            button(text("Add")).on_press(Message::New),
            button(text("Import"))
                .on_press(Message::Import)
                .style(button::secondary),
            button(text("Export"))
                .on_press(Message::Export)
                .style(button::secondary),
        ]
        .spacing(6);
        let mut col = column![search, scrollable(list).height(Length::Fill), tools].spacing(8);
        if let Some(e) = &self.editor {
            col = col.push(self.editor_view(e));
        }
        col.padding(8).into()
    }

    fn editor_view<'a>(&'a self, e: &'a Editor) -> Element<'a, Message> {
        let mut buttons = row![
            button(text("Save")).on_press(Message::Save),
            button(text("Cancel"))
                .on_press(Message::CancelEdit)
                .style(button::secondary),
        ]
        .spacing(6);
        if e.id != 0 {
            buttons = buttons.push(
                button(text("Delete"))
                    .on_press(Message::Delete(e.id))
                    .style(button::danger),
            );
        }
        column![
            text(if e.id == 0 {
                "New contact"
            } else {
                "Edit contact"
            })
            .size(16),
            text_input("Name", &e.name)
                .on_input(Message::EditName)
                .on_submit(Message::Save),
            text_input("SIP addresses, comma separated", &e.uris)
                .on_input(Message::EditUris)
                .on_submit(Message::Save),
            text_input("Note", &e.note)
                .on_input(Message::EditNote)
                .on_submit(Message::Save),
            text(e.error.clone().unwrap_or_default()).style(text::danger),
            buttons,
        ]
        .spacing(6)
        .into()
    }
}

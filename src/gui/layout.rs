//! The window's frame: a rail (Chats, Dialpad, History, Settings), the sidebar of
//! conversations, and the main pane (notices, call cards and file offers above the open
//! conversation or pane), with one line of account state at the bottom.

use super::icons::{icon, Icon};
use super::threads::{self, Summary, Thread};
use super::{avatar, call, chat, conversation, settings, style, App, Message, Screen, Tab};
use iced::widget::{button, column, container, row, rule, scrollable, space, text, Column};
use iced::{Element, Length};

impl App {
    pub fn view(&self) -> Element<'_, Message> {
        if let (Some(p), Screen::Welcome | Screen::Main) = (&self.trust, &self.screen) {
            return p.view().map(Message::Trust);
        }
        match &self.screen {
            Screen::Starting => container(text("Starting…")).center(Length::Fill).into(),
            Screen::Fatal(why) => container(
                column![
                    text("Parley cannot start").size(24),
                    text(why.clone()).style(style::danger_text),
                ]
                .spacing(12),
            )
            .center(Length::Fill)
            .into(),
            Screen::Welcome => {
                let w = self.welcome.view().map(Message::Welcome);
                if self.accounts.list.is_empty() {
                    w
                } else {
                    column![
                        w,
                        button(text("Back"))
                            .on_press(Message::Tab(Tab::Home))
                            .style(style::outlined)
                    ]
                    .padding(8)
                    .into()
                }
            }
            Screen::Main => self.main_view(),
        }
    }

    /// The conversations the sidebar lists, in its order.
    pub fn sidebar_list(&self) -> Vec<Summary> {
        threads::list(
            &self.contacts.contacts,
            &self.contacts.search,
            &self.chat,
            &self.history.calls,
        )
    }

    fn main_view(&self) -> Element<'_, Message> {
        let open = match &self.tab {
            Tab::Conversation(t) => Some(t),
            _ => None,
        };
        let list = self.sidebar_list();
        let sidebar = container(column![
            self.me(),
            self.contacts.view(&list, open).map(Message::Contacts)
        ])
        .width(300)
        .height(Length::Fill)
        .style(style::panel);
        let body = row![self.rail(), sidebar, self.main_pane()];
        column![
            body.height(Length::Fill),
            rule::horizontal(1),
            self.status_bar()
        ]
        .into()
    }

    /// Who we are: avatar, address, and a dot that says whether we can be reached.
    fn me(&self) -> Element<'_, Message> {
        let Some(a) = self.accounts.list.values().next() else {
            return space().into();
        };
        let address = a.aor.trim_start_matches("sip:").to_string();
        let dot = text("●").size(12).style(if a.registered {
            style::ok_text
        } else {
            style::danger_text
        });
        let state = text(style::elide(&a.status, 30))
            .size(12)
            .style(style::muted_text)
            .wrapping(text::Wrapping::None);
        row![
            avatar::view(&address, 36.0),
            column![
                text(style::elide(&address, 26))
                    .size(14)
                    .wrapping(text::Wrapping::None),
                row![dot, state].spacing(4).align_y(iced::Center)
            ]
            .spacing(2)
        ]
        .spacing(10)
        .align_y(iced::Center)
        .padding([10, 12])
        .into()
    }

    /// The rail: the panes one click away, the missed calls on History's badge.
    fn rail(&self) -> Element<'_, Message> {
        let chats = self.last_conversation();
        let unread = self.chat.total_unread();
        let missed = self.history.missed_count();
        let items = [
            (Icon::Chats, "Chats", chats, unread),
            (Icon::Keypad, "Dialpad", Tab::Dialpad, 0),
            (Icon::History, "History", Tab::History, missed),
            (Icon::Settings, "Settings", Tab::Settings, 0),
        ];
        let mut col = Column::new()
            .spacing(4)
            .padding([10, 6])
            .align_x(iced::Center);
        for (glyph, label, tab, count) in items {
            let here = match (&self.tab, &tab) {
                (Tab::Conversation(_) | Tab::Home, Tab::Conversation(_) | Tab::Home) => true,
                (a, b) => a == b,
            };
            let mut face = column![icon(glyph, 20.0), text(label).size(11)]
                .spacing(3)
                .align_x(iced::Center);
            if count > 0 {
                face = face.push(
                    container(text(count.to_string()).size(11))
                        .padding([0, 6])
                        .style(style::badge),
                );
            }
            let b = button(face.width(Length::Fixed(56.0)))
                .on_press(Message::Tab(tab))
                .padding([6, 2]);
            col = col.push(if here {
                b.style(button::primary)
            } else {
                b.style(button::text)
            });
        }
        container(col)
            .height(Length::Fill)
            .style(style::panel)
            .into()
    }

    fn main_pane(&self) -> Element<'_, Message> {
        let mut main = column![].spacing(10).padding([10, 12]);
        if let Some(n) = &self.notice {
            main = main.push(notice_card(n));
        }
        for c in self.calls.values() {
            main = main.push(call::view(c, self.now).map(Message::Call));
        }
        for o in &self.chat.offers {
            main = main.push(self.offer_view(o));
        }
        main.push(container(self.pane()).height(Length::Fill))
            .width(Length::Fill)
            .into()
    }

    fn pane(&self) -> Element<'_, Message> {
        if let Some(e) = &self.contacts.editor {
            return scrollable(self.contacts.editor_view(e).map(Message::Contacts)).into();
        }
        let in_call = self.in_call();
        match &self.tab {
            Tab::Home => self.home(),
            Tab::Dialpad => self.dialpad.view(in_call).map(Message::Dialpad),
            Tab::History => self
                .history
                .view(&self.contacts.contacts, in_call)
                .map(Message::History),
            Tab::Settings => self.settings_view(),
            Tab::Conversation(t) => self.conversation(t),
        }
    }

    fn conversation<'a>(&'a self, t: &'a Thread) -> Element<'a, Message> {
        let keys = threads::keys(&self.contacts.contacts, t);
        let (name, address, note) = match t {
            Thread::Contact(id) => match self.contacts.get(*id) {
                Some(c) => (
                    c.name.as_str(),
                    c.uris.first().map(String::as_str).unwrap_or_default(),
                    c.note.as_str(),
                ),
                None => return text("This contact was deleted.").into(),
            },
            Thread::Peer(k) => {
                let addr = threads::bare(k);
                let note = match threads::is_unverified(k) {
                    true => threads::UNVERIFIED,
                    false => "",
                };
                (addr, addr, note)
            }
        };
        let header = conversation::Header {
            thread: t,
            name,
            address,
            note,
            in_call: self.in_call(),
        };
        let by_path = self
            .attach_path
            .as_deref()
            .map(|path| conversation::AttachByPath { path });
        conversation::view(header, &keys, &self.history.calls, &self.chat, by_path)
            .map(Message::Conversation)
    }

    /// Nothing open: a next step.
    fn home(&self) -> Element<'_, Message> {
        let tip = if self.contacts.contacts.is_empty() {
            "Add a contact with Add, or dial an address to call or write to someone."
        } else {
            "Pick a conversation on the left, or dial a number."
        };
        container(
            column![
                icon(Icon::Chats, 48.0).style(style::muted_text),
                text("No conversation open").size(20),
                text(tip).size(14).style(style::muted_text),
                button(row![icon(Icon::Keypad, 15.0), text("Open the dialpad")].spacing(6))
                    .on_press(Message::Tab(Tab::Dialpad))
                    .style(style::outlined),
            ]
            .spacing(12)
            .align_x(iced::Center),
        )
        .center(Length::Fill)
        .into()
    }

    fn settings_view(&self) -> Element<'_, Message> {
        let lines = self
            .accounts
            .list
            .iter()
            .map(|(id, a)| settings::AccountLine {
                id: *id,
                aor: &a.aor,
                status: &a.status,
                settings: &a.settings,
            })
            .collect();
        let hosted = self
            .hosted
            .as_ref()
            .map(|(domain, port, f)| super::hosting_notice(domain, *port, *f));
        self.settings.view(lines, hosted).map(Message::Settings)
    }

    fn offer_view<'a>(&self, o: &'a chat::Offer) -> Element<'a, Message> {
        let who = self
            .name_for(&o.from)
            .unwrap_or_else(|| super::threads::shown(&o.from));
        container(
            row![
                icon(Icon::File, 22.0),
                text(format!(
                    "{} wants to send you {} ({})",
                    style::elide(&who, 30),
                    style::elide(&o.name, 40),
                    chat::size(o.size)
                ))
                .width(Length::Fill),
                button(text("Accept"))
                    .on_press(Message::Offer(o.clone(), true))
                    .style(button::primary),
                button(text("Decline"))
                    .on_press(Message::Offer(o.clone(), false))
                    .style(style::outlined),
            ]
            .spacing(10)
            .align_y(iced::Center),
        )
        .padding(10)
        .style(style::card)
        .into()
    }

    /// One line, never wrapped: each account and its state.
    fn status_bar(&self) -> Element<'_, Message> {
        let reg = if self.accounts.list.is_empty() {
            "No account".to_string()
        } else {
            self.accounts
                .list
                .values()
                .map(|a| format!("{}: {}", a.aor.trim_start_matches("sip:"), a.status))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        container(
            text(style::elide(&reg, 140))
                .size(12)
                .style(style::muted_text)
                .wrapping(text::Wrapping::None),
        )
        .padding([3, 10])
        .style(style::panel)
        .width(Length::Fill)
        .into()
    }
}

/// A notice on its own card: room to wrap, never drawn over anything, dismissed with ×.
fn notice_card(n: &str) -> Element<'_, Message> {
    container(
        row![
            icon(Icon::Info, 16.0),
            text(n.to_string()).size(14).width(Length::Fill),
            button(icon(Icon::Close, 14.0))
                .on_press(Message::DismissNotice)
                .style(button::text),
        ]
        .spacing(10)
        .align_y(iced::Center),
    )
    .padding([8, 12])
    .style(style::card)
    .into()
}

//! Call history: every call, newest first, missed ones highlighted, a filter, click to call back.

use super::icons::{icon, Icon};
use super::threads::{call_key, owner, shown};
use super::{clock, style};
use crate::engine::{CallOutcome, CallRecord, Contact, Direction};
use iced::widget::{button, column, container, row, scrollable, text, Column};
use iced::{Element, Length};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    #[default]
    All,
    Missed,
    Incoming,
    Outgoing,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub calls: Vec<CallRecord>,
    pub filter: Filter,
}

#[derive(Debug, Clone)]
pub enum Message {
    Filter(Filter),
    CallBack(String),
}

pub enum Action {
    Call(String),
}

pub fn format_duration(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

impl State {
    /// A call just logged: its row replaced if shown already, else put where its start time
    /// places it (a long call ends after a short one that began later).
    pub fn log(&mut self, record: CallRecord) {
        match self.calls.iter_mut().rev().find(|c| c.id == record.id) {
            Some(shown) => *shown = record,
            None => {
                let key = (record.started_at, record.id);
                let i = self.calls.partition_point(|c| (c.started_at, c.id) <= key);
                self.calls.insert(i, record);
            }
        }
    }

    pub fn visible(&self) -> Vec<&CallRecord> {
        self.calls
            .iter()
            .rev()
            .filter(|c| match self.filter {
                Filter::All => true,
                Filter::Missed => c.is_missed(),
                Filter::Incoming => c.direction == Direction::Incoming,
                Filter::Outgoing => c.direction == Direction::Outgoing,
            })
            .collect()
    }

    pub fn missed_count(&self) -> usize {
        self.calls.iter().filter(|c| c.is_missed()).count()
    }

    pub fn update(&mut self, message: Message) -> Option<Action> {
        match message {
            Message::Filter(f) => self.filter = f,
            Message::CallBack(uri) => return Some(Action::Call(uri)),
        }
        None
    }

    /// `contacts` name the rows; `in_call`: Call back waits while a call is up.
    pub fn view<'a>(&'a self, contacts: &'a [Contact], in_call: bool) -> Element<'a, Message> {
        let filters = [
            (Filter::All, "All"),
            (Filter::Missed, "Missed"),
            (Filter::Incoming, "Incoming"),
            (Filter::Outgoing, "Outgoing"),
        ];
        let mut bar = row![].spacing(6);
        for (f, label) in filters {
            let b = button(text(label)).on_press(Message::Filter(f));
            bar = bar.push(if f == self.filter {
                b.style(button::primary)
            } else {
                b.style(style::outlined)
            });
        }
        let mut list = Column::new().spacing(2);
        let visible = self.visible();
        for c in &visible {
            let name = owner(contacts, &call_key(c)).map(|k| k.name.as_str());
            list = list.push(row_view(c, name, in_call));
        }
        if visible.is_empty() {
            let empty = match self.filter {
                Filter::All => "No calls yet. Pick a contact, or dial a number, to make one.",
                Filter::Missed => "No missed calls.",
                Filter::Incoming => "No incoming calls yet.",
                Filter::Outgoing => "No outgoing calls yet.",
            };
            list = list.push(text(empty).style(style::muted_text));
        }
        column![
            text("History").size(22),
            bar,
            scrollable(list).height(Length::Fill).spacing(6)
        ]
        .spacing(12)
        .padding(16)
        .into()
    }
}

/// One history line: who (named when a contact), when, how it ended, Call back.
pub fn row_view<'a>(
    c: &'a CallRecord,
    name: Option<&'a str>,
    in_call: bool,
) -> Element<'a, Message> {
    let missed = c.is_missed();
    let glyph = match (missed, c.direction) {
        (true, _) => Icon::PhoneMissed,
        (false, Direction::Incoming) => Icon::PhoneIncoming,
        (false, Direction::Outgoing) => Icon::PhoneOutgoing,
    };
    let address = match c.verified {
        true => c.peer_uri.trim_start_matches("sip:").to_string(),
        false => shown(&call_key(c)),
    };
    let who = name.unwrap_or(&address);
    let outcome = match c.outcome() {
        Some(CallOutcome::Answered) => format_duration(c.duration()),
        Some(o) => o.words(who, c.direction),
        None => "In progress".into(),
    };
    let look: fn(&iced::Theme) -> text::Style = if missed {
        style::missed_text
    } else {
        style::muted_text
    };
    let mut title = text(style::elide(who, 36)).wrapping(text::Wrapping::None);
    if missed {
        title = title.style(style::missed_text);
    }
    let mut sub = clock::date_time(c.started_at);
    if name.is_some() {
        sub = format!("{} · {sub}", style::elide(&address, 30));
    }
    let line = row![
        icon(glyph, 18.0).style(look),
        column![
            title,
            text(sub)
                .size(12)
                .style(style::muted_text)
                .wrapping(text::Wrapping::None)
        ]
        .width(Length::Fill),
        text(style::elide(&outcome, 30))
            .size(13)
            .wrapping(text::Wrapping::None),
        button(row![icon(Icon::Phone, 13.0), text("Call back")].spacing(6))
            .on_press_maybe((!in_call).then(|| Message::CallBack(c.peer_uri.clone())))
            .style(style::outlined),
    ]
    .spacing(12)
    .align_y(iced::Center);
    container(line).padding([6, 8]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: i64, started_at: i64) -> CallRecord {
        CallRecord {
            id,
            account: "sip:a@x".into(),
            sip_call_id: format!("c{id}"),
            direction: Direction::Outgoing,
            peer_uri: "sip:bob@x".into(),
            verified: true,
            started_at,
            answered_at: Some(started_at),
            ended_at: Some(started_at + 60),
            status: Some(200),
            reason: None,
        }
    }

    /// Defect 11: a long call that began first but ended last is not shown above a later one.
    #[test]
    fn history_is_newest_first_by_start_even_when_calls_end_out_of_order() {
        let mut h = State::default();
        h.log(call(2, 6 * 3600 + 15 * 60));
        h.log(call(1, 6 * 3600 + 14 * 60));
        let order: Vec<i64> = h.visible().iter().map(|c| c.id).collect();
        assert_eq!(order, [2, 1]);
        assert_eq!(format_duration(125), "2:05");
    }
}

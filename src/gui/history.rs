//! Call history: every call, newest first, missed ones highlighted, a filter, click to call back.

use super::style;
use crate::engine::CallOutcome;
use crate::store::CallRecord;
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

/// `2026-11-25 14:03` in UTC: no time-zone database needed, and the same everywhere.
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

pub fn format_duration(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

impl State {
    /// A call just logged: its row replaced if shown already, else added as the newest.
    pub fn log(&mut self, record: CallRecord) {
        match self.calls.iter_mut().rev().find(|c| c.id == record.id) {
            Some(shown) => *shown = record,
            None => self.calls.push(record),
        }
    }

    pub fn visible(&self) -> Vec<&CallRecord> {
        self.calls
            .iter()
            .rev()
            .filter(|c| match self.filter {
                Filter::All => true,
                Filter::Missed => c.is_missed(),
                Filter::Incoming => c.direction == "incoming",
                Filter::Outgoing => c.direction == "outgoing",
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

    pub fn view(&self) -> Element<'_, Message> {
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
                b.style(button::secondary)
            });
        }
        let mut list = Column::new().spacing(4);
        for c in self.visible() {
            list = list.push(row_view(c));
        }
        if self.visible().is_empty() {
            list = list.push(text("No calls here yet.").style(style::muted_text));
        }
        column![bar, scrollable(list).height(Length::Fill)]
            .spacing(12)
            .padding(16)
            .into()
    }
}

/// One history line; also used by the conversation timeline.
pub fn row_view(c: &CallRecord) -> Element<'_, Message> {
    let missed = c.is_missed();
    let arrow = if c.direction == "incoming" {
        "↙"
    } else {
        "↗"
    };
    let outcome = match c.outcome() {
        Some(CallOutcome::Answered) => format_duration(c.duration()),
        Some(o) => o.words(&c.peer_uri, c.call_direction()),
        None => "In progress".into(),
    };
    let mut peer = text(format!("{arrow} {}", c.peer_uri));
    if missed {
        peer = peer.color(style::MISSED);
    }
    let line = row![
        column![
            peer,
            text(format_time(c.started_at))
                .size(12)
                .style(style::muted_text)
        ]
        .width(Length::Fill),
        text(outcome).size(13),
        button(text("Call back"))
            .on_press(Message::CallBack(c.peer_uri.clone()))
            .style(button::success),
    ]
    .spacing(12)
    .align_y(iced::Center);
    container(line).padding(6).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_time(1_795_568_642), "2026-11-25 01:04");
        assert_eq!(format_duration(125), "2:05");
    }
}

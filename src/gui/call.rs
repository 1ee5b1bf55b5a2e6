//! The call banner: an incoming call with Accept / Decline, an outgoing call with its progress,
//! a connected call with its timer and controls. Mute, Hold and the DTMF keypad are shown but
//! disabled until the audio update wires them to RTP.

use super::style;
use crate::engine::{CallId, CallState, Direction};
use iced::widget::{button, column, container, row, text, tooltip};
use iced::{Element, Length};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct CallView {
    pub id: CallId,
    pub peer: String,
    /// The contact's name or the caller's display name, when known.
    pub name: Option<String>,
    pub direction: Direction,
    pub state: CallState,
    pub connected_at: Option<Instant>,
    /// The last status line, e.g. "180 Ringing".
    pub detail: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Accept(CallId),
    Decline(CallId),
    Hangup(CallId),
}

pub fn state_words(v: &CallView) -> &'static str {
    match (v.direction, v.state) {
        (Direction::Incoming, CallState::Incoming) => "Incoming call",
        (_, CallState::Dialing) => "Calling…",
        (_, CallState::Trying) => "Trying…",
        (_, CallState::Ringing) => "Ringing…",
        (_, CallState::Progress) => "Connecting (early media)…",
        (_, CallState::Connecting) => "Connecting…",
        (_, CallState::Connected) => "Connected",
        (_, CallState::Ending) => "Hanging up…",
        (_, CallState::Incoming) => "Incoming call",
    }
}

pub fn timer(v: &CallView, now: Instant) -> Option<String> {
    let secs = now.saturating_duration_since(v.connected_at?).as_secs();
    Some(format!("{}:{:02}", secs / 60, secs % 60))
}

fn disabled_with_reason<'a>(label: &'a str) -> Element<'a, Message> {
    tooltip(
        button(text(label)).style(button::secondary),
        container(text("Arrives with the audio update"))
            .padding(6)
            .style(container::rounded_box),
        tooltip::Position::Bottom,
    )
    .into()
}

pub fn view(v: &CallView, now: Instant) -> Element<'_, Message> {
    let who = v.name.clone().unwrap_or_else(|| v.peer.clone());
    let mut info = column![text(who).size(22), text(v.peer.clone()).size(13)];
    let mut status = state_words(v).to_string();
    if let Some(t) = timer(v, now) {
        status = format!("{status} · {t}");
    }
    info = info.push(text(status).size(15).style(style::ok_text));
    if let Some(d) = &v.detail {
        info = info.push(text(d.clone()).size(12).style(style::muted_text));
    }
    let controls: Element<'_, Message> =
        if v.direction == Direction::Incoming && v.state == CallState::Incoming {
            row![
                button(text("Accept"))
                    .on_press(Message::Accept(v.id))
                    .style(button::success)
                    .padding([8, 16]),
                button(text("Decline"))
                    .on_press(Message::Decline(v.id))
                    .style(button::danger)
                    .padding([8, 16]),
            ]
            .spacing(8)
            .into()
        } else {
            let mut r = row![].spacing(8);
            if v.state == CallState::Connected {
                r = r
                    .push(disabled_with_reason("Mute"))
                    .push(disabled_with_reason("Hold"))
                    .push(disabled_with_reason("Keypad"));
            }
            r.push(
                button(text("Hang up"))
                    .on_press(Message::Hangup(v.id))
                    .style(button::danger)
                    .padding([8, 16]),
            )
            .into()
        };
    container(
        row![info.width(Length::Fill), controls]
            .spacing(16)
            .align_y(iced::Center),
    )
    .padding(12)
    .style(style::banner)
    .width(Length::Fill)
    .into()
}

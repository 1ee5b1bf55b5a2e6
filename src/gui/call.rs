//! The call banner: an incoming call with Accept / Decline, an outgoing call with its progress,
//! a connected call with its timer and media counts, Mute, Hold (re-INVITE) and a keypad.

use super::style;
use crate::engine::{CallId, CallState, Direction};
use iced::widget::{button, column, container, progress_bar, row, text};
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
    pub local_hold: bool,
    pub remote_hold: bool,
    pub keypad: bool,
    /// Keys sent so far in this call, shown above the keypad.
    pub keys: String,
    /// The latest media counts, in words.
    pub stats: Option<String>,
    /// The way the audio goes, once ICE chose it ("Audio goes through a relay (...)").
    pub path: Option<String>,
    /// Whether the audio is encrypted, and how, in the engine's words.
    pub security: Option<(bool, String)>,
    pub muted: bool,
    /// Loudness of our microphone and of the other side, 0..1.
    pub levels: (f32, f32),
}

impl CallView {
    pub fn new(
        id: CallId,
        peer: String,
        name: Option<String>,
        direction: Direction,
        state: CallState,
    ) -> CallView {
        CallView {
            id,
            peer,
            name,
            direction,
            state,
            connected_at: None,
            detail: None,
            local_hold: false,
            remote_hold: false,
            keypad: false,
            keys: String::new(),
            stats: None,
            path: None,
            security: None,
            muted: false,
            levels: (0.0, 0.0),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Message {
    Accept(CallId),
    Decline(CallId),
    Hangup(CallId),
    Hold(CallId, bool),
    Mute(CallId, bool),
    ToggleKeypad(CallId),
    Key(CallId, char),
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

/// "You" and "They" level bars.
fn meters<'a>((input, output): (f32, f32)) -> Element<'a, Message> {
    let bar = |label: &'a str, v: f32| {
        row![
            text(label).size(12).width(Length::Fixed(36.0)),
            progress_bar(0.0..=1.0, v)
                .girth(6)
                .length(Length::Fixed(160.0)),
        ]
        .spacing(6)
        .align_y(iced::Center)
    };
    column![bar("You", input), bar("They", output)]
        .spacing(2)
        .into()
}

fn keypad(v: &CallView) -> Element<'_, Message> {
    let mut keys = row![].spacing(4);
    for k in "123456789*0#".chars() {
        keys = keys.push(
            button(text(k.to_string()).center().width(Length::Fill))
                .width(36)
                .on_press(Message::Key(v.id, k))
                .style(button::secondary),
        );
    }
    row![keys, text(v.keys.clone()).size(18)]
        .spacing(12)
        .align_y(iced::Center)
        .into()
}

pub fn view(v: &CallView, now: Instant) -> Element<'_, Message> {
    let who = v.name.clone().unwrap_or_else(|| v.peer.clone());
    let mut info = column![text(who).size(22), text(v.peer.clone()).size(13)];
    let mut status = state_words(v).to_string();
    if let Some(t) = timer(v, now) {
        status = format!("{status} · {t}");
    }
    if v.local_hold {
        status = format!("{status} · on hold");
    }
    if v.muted {
        status = format!("{status} · muted");
    }
    if v.remote_hold {
        status = format!("{status} · they put you on hold");
    }
    info = info.push(text(status).size(15).style(style::ok_text));
    if let Some(d) = &v.detail {
        info = info.push(text(d.clone()).size(12).style(style::muted_text));
    }
    if let Some((encrypted, words)) = &v.security {
        // Said plainly either way: an unencrypted call stands out.
        let look = if *encrypted {
            style::ok_text
        } else {
            style::danger_text
        };
        info = info.push(text(words.clone()).size(13).style(look));
    }
    for line in [&v.stats, &v.path].into_iter().flatten() {
        info = info.push(text(line.clone()).size(12).style(style::muted_text));
    }
    if v.state == CallState::Connected {
        info = info.push(meters(v.levels));
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
                let hold = if v.local_hold { "Resume" } else { "Hold" };
                let keypad_style = if v.keypad {
                    button::primary
                } else {
                    button::secondary
                };
                let (mute, mute_style) = match v.muted {
                    true => ("Unmute", button::primary as fn(&_, _) -> _),
                    false => ("Mute", button::secondary as fn(&_, _) -> _),
                };
                r = r
                    .push(
                        button(text(mute))
                            .on_press(Message::Mute(v.id, !v.muted))
                            .style(mute_style),
                    )
                    .push(
                        button(text(hold))
                            .on_press(Message::Hold(v.id, !v.local_hold))
                            .style(button::secondary),
                    )
                    .push(
                        button(text("Keypad"))
                            .on_press(Message::ToggleKeypad(v.id))
                            .style(keypad_style),
                    );
            }
            r.push(
                button(text("Hang up"))
                    .on_press(Message::Hangup(v.id))
                    .style(button::danger)
                    .padding([8, 16]),
            )
            .into()
        };
    let top = row![info.width(Length::Fill), controls]
        .spacing(16)
        .align_y(iced::Center);
    let mut body = column![top].spacing(8);
    if v.keypad && v.state == CallState::Connected {
        body = body.push(keypad(v));
    }
    container(body)
        .padding(12)
        .style(style::banner)
        .width(Length::Fill)
        .into()
}

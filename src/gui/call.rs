//! Calls you can read across the room: a card per call with the avatar, the name, a large timer
//! and a colour per state (ringing, incoming, connected, on hold); round icon buttons with their
//! words (mute, hold, keypad, hang up) that never move, the keypad as a 3x4 grid below them;
//! the encryption said on its own line; SIP status lines and media counts only behind Details.
//! The calls' state is kept here, from the engine's events.

use super::avatar;
use super::icons::{icon, Icon};
use super::style::{self, CallTone};
use crate::engine::{Address, CallId, CallState, Direction, Event};
use iced::widget::{button, column, container, progress_bar, row, space, text, Column};
use iced::{Element, Length};
use std::collections::BTreeMap;
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
    /// The last status line ("180 Ringing"), for Details.
    pub detail: Option<String>,
    /// A chat offer's words, or what they last pressed or wrote.
    pub note: Option<String>,
    pub local_hold: bool,
    pub remote_hold: bool,
    pub keypad: bool,
    pub details: bool,
    /// Keys sent so far in this call, shown above the keypad.
    pub keys: String,
    /// The latest media counts, in words.
    pub stats: Option<String>,
    /// The way the audio goes, once ICE chose it ("Audio goes through a relay (...)").
    pub path: Option<String>,
    /// Whether the audio is encrypted, and how, in the engine's words.
    pub security: Option<(bool, String)>,
    /// Why this call has no sound, when it has none.
    pub no_sound: Option<String>,
    pub muted: bool,
    /// Loudness of our microphone and of the other side, 0..1.
    pub levels: (f32, f32),
    /// The caller is only who they claim to be: nobody vouched for them.
    pub unverified: bool,
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
            note: None,
            local_hold: false,
            remote_hold: false,
            keypad: false,
            details: false,
            keys: String::new(),
            stats: None,
            path: None,
            security: None,
            no_sound: None,
            muted: false,
            unverified: false,
            levels: (0.0, 0.0),
        }
    }

    pub fn who(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.peer.trim_start_matches("sip:").to_string())
    }

    pub fn tone(&self) -> CallTone {
        match self.state {
            CallState::Incoming => CallTone::Incoming,
            CallState::Connected if self.local_hold || self.remote_hold => CallTone::OnHold,
            CallState::Connected => CallTone::Connected,
            CallState::Ending => CallTone::Ended,
            _ => CallTone::Ringing,
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
    ToggleDetails(CallId),
    Key(CallId, char),
}

/// The calls under way.
#[derive(Debug, Default)]
pub struct Calls {
    pub calls: BTreeMap<CallId, CallView>,
}

impl Calls {
    pub fn get_mut(&mut self, id: &CallId) -> Option<&mut CallView> {
        self.calls.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &CallView> {
        self.calls.values()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn ringing_in(&self) -> Option<&CallView> {
        self.calls.values().find(|c| c.state == CallState::Incoming)
    }

    /// What this pane does with a call's event; the router handles the rest.
    pub fn apply(&mut self, ev: &Event) {
        let Some(c) = call_of(ev).and_then(|id| self.calls.get_mut(&id)) else {
            return;
        };
        match ev.clone() {
            Event::Hold { local, remote, .. } => (c.local_hold, c.remote_hold) = (local, remote),
            Event::Dtmf { digit, .. } => c.note = Some(format!("They pressed {digit}")),
            Event::Message { text, .. } => c.note = Some(format!("They wrote: {text}")),
            Event::Levels { input, output, .. } => c.levels = (input, output),
            Event::MediaPath { message, .. } => c.path = Some(message),
            Event::CallSecurity {
                encrypted, message, ..
            } => c.security = Some((encrypted, message)),
            Event::NoSound { message, .. } => c.no_sound = Some(message),
            Event::Muted { on, .. } => c.muted = on,
            Event::CallStats {
                received,
                lost,
                jitter_ms,
                rtt_ms,
                peer_lost_percent,
                no_media_secs,
                ..
            } => {
                let rtt = rtt_ms
                    .map(|r| format!(" · round trip {r} ms"))
                    .unwrap_or_default();
                let silent = match no_media_secs {
                    0 => String::new(),
                    s => format!("No sound from them for {s} s · "),
                };
                c.stats = Some(format!(
                    "{silent}Received {received}, lost {lost} · they lost {peer_lost_percent}% · jitter {jitter_ms} ms{rtt}"
                ));
            }
            _ => {}
        }
    }

    pub fn update(&mut self, m: &Message) {
        match m {
            Message::ToggleKeypad(id) => {
                if let Some(c) = self.calls.get_mut(id) {
                    c.keypad = !c.keypad;
                }
            }
            Message::ToggleDetails(id) => {
                if let Some(c) = self.calls.get_mut(id) {
                    c.details = !c.details;
                }
            }
            Message::Key(id, digit) => {
                if let Some(c) = self.calls.get_mut(id) {
                    c.keys.push(*digit);
                }
            }
            _ => {}
        }
    }
}

/// The call an event is about, for the events this pane applies.
fn call_of(ev: &Event) -> Option<CallId> {
    match ev {
        Event::Hold { call, .. }
        | Event::Dtmf { call, .. }
        | Event::Message { call, .. }
        | Event::Levels { call, .. }
        | Event::MediaPath { call, .. }
        | Event::CallSecurity { call, .. }
        | Event::NoSound { call, .. }
        | Event::Muted { call, .. }
        | Event::CallStats { call, .. } => Some(*call),
        _ => None,
    }
}

pub fn state_words(v: &CallView) -> &'static str {
    match (v.direction, v.state) {
        (_, CallState::Connected) if v.local_hold => "On hold",
        (_, CallState::Connected) if v.remote_hold => "They put you on hold",
        (_, CallState::Incoming) => "Incoming call",
        (_, CallState::Dialing) => "Calling…",
        (_, CallState::Trying) => "Calling…",
        (_, CallState::Ringing) => "Ringing…",
        (_, CallState::Progress) => "Connecting…",
        (_, CallState::Connecting) => "Connecting…",
        (_, CallState::Connected) => "Connected",
        (_, CallState::Ending) => "Hanging up…",
    }
}

pub fn timer(v: &CallView, now: Instant) -> Option<String> {
    let secs = now.saturating_duration_since(v.connected_at?).as_secs();
    Some(format!("{}:{:02}", secs / 60, secs % 60))
}

/// A button with its icon over its word; every one the same size, so none moves.
fn control<'a>(
    glyph: Icon,
    label: &'a str,
    on: Message,
    look: impl Fn(&iced::Theme, button::Status) -> button::Style + 'a,
) -> Element<'a, Message> {
    let face = column![icon(glyph, 22.0), text(label).size(12)]
        .spacing(6)
        .align_x(iced::Center)
        .width(Length::Fill);
    button(face)
        .on_press(on)
        .style(look)
        .padding([10, 4])
        .width(Length::Fixed(84.0))
        .into()
}

fn controls(v: &CallView) -> Element<'_, Message> {
    let id = v.id;
    if v.state == CallState::Incoming {
        return row![
            control(
                Icon::Phone,
                "Accept",
                Message::Accept(id),
                style::round_success
            ),
            control(
                Icon::PhoneOff,
                "Decline",
                Message::Decline(id),
                style::round_danger
            ),
        ]
        .spacing(12)
        .into();
    }
    let mut r = row![].spacing(12);
    if v.state == CallState::Connected {
        let (mute_icon, mute) = match v.muted {
            true => (Icon::MicOff, "Unmute"),
            false => (Icon::Mic, "Mute"),
        };
        let (hold_icon, hold) = match v.local_hold {
            true => (Icon::Play, "Resume"),
            false => (Icon::Pause, "Hold"),
        };
        r = r
            .push(control(
                mute_icon,
                mute,
                Message::Mute(id, !v.muted),
                style::round(v.muted),
            ))
            .push(control(
                hold_icon,
                hold,
                Message::Hold(id, !v.local_hold),
                style::round(v.local_hold),
            ))
            .push(control(
                Icon::Keypad,
                "Keypad",
                Message::ToggleKeypad(id),
                style::round(v.keypad),
            ));
    }
    r.push(control(
        Icon::PhoneOff,
        "Hang up",
        Message::Hangup(id),
        style::round_danger,
    ))
    .into()
}

fn keypad(v: &CallView) -> Element<'_, Message> {
    let mut grid = Column::new().spacing(6);
    for line in ["123", "456", "789", "*0#"] {
        let mut r = row![].spacing(6);
        for k in line.chars() {
            r = r.push(
                button(text(k.to_string()).size(18).center().width(Length::Fill))
                    .width(56)
                    .on_press(Message::Key(v.id, k))
                    .style(style::outlined),
            );
        }
        grid = grid.push(r);
    }
    let typed = if v.keys.is_empty() {
        " ".to_string()
    } else {
        v.keys.clone()
    };
    column![text(typed).size(20), grid].spacing(8).into()
}

/// One line that never wraps, so the card keeps its height.
fn line<'a>(s: String, max: usize) -> iced::widget::Text<'a> {
    text(style::elide(&s, max))
        .size(13)
        .wrapping(text::Wrapping::None)
}

fn meters<'a>((input, output): (f32, f32)) -> Element<'a, Message> {
    let bar = |label: &'a str, v: f32| {
        row![
            text(label).size(12).width(Length::Fixed(36.0)),
            progress_bar(0.0..=1.0, v)
                .girth(6)
                .length(Length::Fixed(140.0)),
        ]
        .spacing(6)
        .align_y(iced::Center)
    };
    column![bar("You", input), bar("They", output)]
        .spacing(2)
        .into()
}

fn details(v: &CallView) -> Column<'_, Message> {
    let mut c = Column::new().spacing(2);
    for l in [&v.detail, &v.stats, &v.path].into_iter().flatten() {
        c = c.push(line(l.clone(), 110).style(style::muted_text));
    }
    if v.state == CallState::Connected {
        c = c.push(meters(v.levels));
    }
    c
}

pub fn view(v: &CallView, now: Instant) -> Element<'_, Message> {
    let tone = v.tone();
    let timer_text = timer(v, now).unwrap_or_default();
    let state = text(state_words(v))
        .size(15)
        .style(move |t: &iced::Theme| text::Style {
            color: Some(style::tone_colour(t, tone)),
        });
    let mut flags = Vec::new();
    if v.muted {
        flags.push("muted");
    }
    let state_line = row![
        state,
        text(flags.join(" · ")).size(13).style(style::muted_text)
    ]
    .spacing(8);
    // The address under the name, unless the name is the address; the line stays either way,
    // so the card keeps its height.
    let named = v
        .name
        .as_deref()
        .is_some_and(|n| Address::key(n) != Address::key(&v.peer));
    let under = match (v.unverified, named) {
        (true, _) => super::threads::UNVERIFIED.to_string(),
        (false, true) => v.peer.trim_start_matches("sip:").to_string(),
        (false, false) => String::new(),
    };
    let who = column![
        text(style::elide(&v.who(), 32))
            .size(24)
            .wrapping(text::Wrapping::None),
        line(under, 44).style(style::muted_text),
        state_line,
    ]
    .spacing(2);
    let top = row![
        avatar::view(&v.who(), 56.0),
        who.width(Length::Fill),
        text(timer_text).size(36),
    ]
    .spacing(14)
    .align_y(iced::Center);
    // The buttons come right under the name, whose row keeps its height; whatever else is
    // said (encryption, no sound, their keys) goes below them, so they never move.
    let details_label = if v.details { "Hide details" } else { "Details" };
    let mut body = column![
        top,
        row![
            controls(v),
            space::horizontal(),
            button(text(details_label).size(13))
                .on_press(Message::ToggleDetails(v.id))
                .style(button::text),
        ]
        .align_y(iced::Center)
    ]
    .spacing(10);
    if let Some((encrypted, words)) = &v.security {
        let (glyph, look): (Icon, fn(&iced::Theme) -> text::Style) = match encrypted {
            true => (Icon::Lock, style::ok_text),
            false => (Icon::Unlocked, style::danger_text),
        };
        body = body.push(
            row![
                icon(glyph, 14.0).style(look),
                line(words.clone(), 100).style(look)
            ]
            .spacing(6),
        );
    }
    for said in [&v.no_sound, &v.note].into_iter().flatten() {
        body = body.push(line(said.clone(), 100));
    }
    if v.keypad && v.state == CallState::Connected {
        body = body.push(keypad(v));
    }
    if v.details {
        body = body.push(details(v));
    }
    container(body)
        .padding(16)
        .style(style::call_card(tone))
        .width(Length::Fill)
        .into()
}

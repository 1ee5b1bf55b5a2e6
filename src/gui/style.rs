//! One visual system for every pane: two themes (light and dark) on one accent colour, red kept
//! for errors and hanging up, green for answering; outlined secondary buttons; bubbles, cards
//! and badges. Colours are checked for contrast (WCAG 2: 4.5:1 for text) in the tests below.

use iced::widget::{button, column, container, text, Column};
use iced::{color, Background, Border, Color, Element, Shadow, Theme};

/// The accent: links, the selected row, our own bubbles, primary buttons.
const ACCENT_LIGHT: Color = color!(0x2458d6);
const ACCENT_DARK: Color = color!(0x7aa2f7);

pub fn light() -> Theme {
    Theme::custom(
        "Parley light",
        iced::theme::Palette {
            background: color!(0xffffff),
            text: color!(0x1b1e23),
            primary: ACCENT_LIGHT,
            success: color!(0x1a7340),
            warning: color!(0x9a5200),
            danger: color!(0xc0262d),
        },
    )
}

pub fn dark() -> Theme {
    Theme::custom(
        "Parley dark",
        iced::theme::Palette {
            background: color!(0x17191d),
            text: color!(0xe6e8eb),
            primary: ACCENT_DARK,
            success: color!(0x4cc27a),
            warning: color!(0xe3a34a),
            danger: color!(0xff6b6b),
        },
    )
}

/// Relative luminance (WCAG 2).
pub fn luminance(c: Color) -> f32 {
    let lin = |v: f32| {
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b)
}

/// Contrast ratio of two colours, 1 to 21.
pub fn contrast(a: Color, b: Color) -> f32 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Text a little quieter than the body's, still readable (checked at 4.5:1).
pub fn muted(theme: &Theme) -> Color {
    let p = theme.palette();
    mix(p.text, p.background, 0.35)
}

fn mix(a: Color, b: Color, t: f32) -> Color {
    Color::from_rgb(
        a.r + (b.r - a.r) * t,
        a.g + (b.g - a.g) * t,
        a.b + (b.b - a.b) * t,
    )
}

/// Status lines: the accent while something is under way, red after a failure.
pub fn status_text(busy: bool) -> impl Fn(&Theme) -> text::Style {
    move |theme: &Theme| text::Style {
        color: Some(if busy {
            theme.palette().primary
        } else {
            theme.palette().danger
        }),
    }
}

pub fn danger_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(theme.palette().danger),
    }
}

pub fn muted_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(muted(theme)),
    }
}

pub fn ok_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(theme.palette().success),
    }
}

/// A missed call's line.
pub fn missed_text(theme: &Theme) -> text::Style {
    danger_text(theme)
}

/// The sidebar and status bar: set off from the main pane by a shade.
pub fn panel(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.background.weakest.color.into()),
        border: Border {
            color: p.background.strong.color,
            width: 1.0,
            radius: 0.0.into(),
        },
        ..container::Style::default()
    }
}

/// A card: a file, an offer, a form.
pub fn card(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.background.base.color.into()),
        border: Border {
            color: p.background.strong.color,
            width: 1.0,
            radius: 10.0.into(),
        },
        ..container::Style::default()
    }
}

/// The colour a call's state is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTone {
    Ringing,
    Incoming,
    Connected,
    OnHold,
    Ended,
}

pub fn tone_colour(theme: &Theme, tone: CallTone) -> Color {
    let p = theme.palette();
    match tone {
        CallTone::Ringing => p.primary,
        CallTone::Incoming => p.success,
        CallTone::Connected => p.success,
        CallTone::OnHold => p.warning,
        CallTone::Ended => muted(theme),
    }
}

/// The call card: a band of the state's colour on the left, so the state reads from afar.
pub fn call_card(tone: CallTone) -> impl Fn(&Theme) -> container::Style {
    move |theme: &Theme| {
        let p = theme.extended_palette();
        let c = tone_colour(theme, tone);
        container::Style {
            background: Some(mix(p.background.base.color, c, 0.10).into()),
            border: Border {
                color: c,
                width: 2.0,
                radius: 12.0.into(),
            },
            ..container::Style::default()
        }
    }
}

/// A chat bubble: ours in the accent, theirs in a neutral shade.
pub fn bubble(ours: bool) -> impl Fn(&Theme) -> container::Style {
    move |theme: &Theme| {
        let p = theme.extended_palette();
        let (bg, fg) = match ours {
            true => (p.primary.base.color, p.primary.base.text),
            false => (p.background.weak.color, p.background.weak.text),
        };
        container::Style {
            background: Some(bg.into()),
            text_color: Some(fg),
            border: Border {
                radius: 14.0.into(),
                ..Border::default()
            },
            ..container::Style::default()
        }
    }
}

/// A failed bubble of ours: outlined in red, so it does not look sent.
pub fn failed_bubble(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.background.base.color.into()),
        text_color: Some(p.background.base.text),
        border: Border {
            color: theme.palette().danger,
            width: 1.5,
            radius: 14.0.into(),
        },
        ..container::Style::default()
    }
}

/// A small centred note in the timeline (a call, a day).
pub fn note(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.background.weakest.color.into()),
        text_color: Some(muted(theme)),
        border: Border {
            radius: 10.0.into(),
            ..Border::default()
        },
        ..container::Style::default()
    }
}

/// The unread count: white on the accent.
pub fn badge(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.primary.base.color.into()),
        text_color: Some(p.primary.base.text),
        border: Border {
            radius: 9.0.into(),
            ..Border::default()
        },
        ..container::Style::default()
    }
}

/// The selected row of the sidebar.
pub fn selected_row(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(mix(p.background.base.color, theme.palette().primary, 0.14).into()),
        border: Border {
            radius: 8.0.into(),
            ..Border::default()
        },
        ..container::Style::default()
    }
}

/// Secondary buttons: outlined, so they do not look disabled (grey fills did).
pub fn outlined(theme: &Theme, status: button::Status) -> button::Style {
    let p = theme.palette();
    let edge = match status {
        button::Status::Hovered | button::Status::Pressed => p.primary,
        _ => mix(p.text, p.background, 0.55),
    };
    let fg = match status {
        button::Status::Disabled => mix(p.text, p.background, 0.55),
        _ => p.text,
    };
    button::Style {
        background: match status {
            button::Status::Pressed => Some(Background::Color(mix(p.background, p.primary, 0.12))),
            _ => None,
        },
        text_color: fg,
        border: Border {
            color: edge,
            width: 1.0,
            radius: 8.0.into(),
        },
        shadow: Shadow::default(),
        snap: true,
    }
}

/// A round icon button of the call card; `on` lights it (muted, on hold, keypad open).
pub fn round(on: bool) -> impl Fn(&Theme, button::Status) -> button::Style {
    move |theme: &Theme, status: button::Status| {
        let mut s = outlined(theme, status);
        s.border.radius = 16.0.into();
        if on {
            let p = theme.extended_palette();
            s.background = Some(p.primary.base.color.into());
            s.text_color = p.primary.base.text;
        }
        s
    }
}

/// Hang up / decline: red, round.
pub fn round_danger(theme: &Theme, status: button::Status) -> button::Style {
    let mut s = button::danger(theme, status);
    s.border.radius = 16.0.into();
    s
}

/// Answer: green, round.
pub fn round_success(theme: &Theme, status: button::Status) -> button::Style {
    let mut s = button::success(theme, status);
    s.border.radius = 16.0.into();
    s
}

/// Cuts `s` to `max` characters with an ellipsis, so a long address never runs over its
/// neighbours (iced 0.14 has no ellipsis of its own).
pub fn elide(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// A form field under its label.
pub fn labelled<'a, M: 'a>(label: &'a str, field: Element<'a, M>) -> Column<'a, M> {
    column![text(label).size(13).style(muted_text), field].spacing(4)
}

/// The engine's words as a sentence of their own: the first letter in upper case.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_themes_read_well() {
        for theme in [light(), dark()] {
            let p = theme.palette();
            let ex = theme.extended_palette();
            let name = theme.to_string();
            let check = |what: &str, fg: Color, bg: Color| {
                let r = contrast(fg, bg);
                assert!(r >= 4.5, "{name}: {what} is {r:.2}:1");
            };
            check("text", p.text, p.background);
            check("muted text", muted(&theme), p.background);
            check(
                "muted text on a panel",
                muted(&theme),
                ex.background.weakest.color,
            );
            check("errors", p.danger, p.background);
            check("the accent as text", p.primary, p.background);
            check("our bubbles", ex.primary.base.text, ex.primary.base.color);
            check(
                "their bubbles",
                ex.background.weak.text,
                ex.background.weak.color,
            );
        }
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(elide("bob@company.com", 40), "bob@company.com");
        assert_eq!(elide("abcdefghij", 5), "abcd…");
    }
}

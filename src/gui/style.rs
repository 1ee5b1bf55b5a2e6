//! Colours and small style helpers shared by the panes; they follow the active theme.

use iced::widget::{container, text};
use iced::{Border, Color, Theme};

/// Status lines: the palette's primary colour while something is under way, danger after.
pub fn status_text(busy: bool) -> impl Fn(&Theme) -> text::Style {
    move |theme: &Theme| {
        let p = theme.extended_palette();
        text::Style {
            color: Some(if busy {
                p.primary.strong.color
            } else {
                p.danger.base.color
            }),
        }
    }
}

pub fn danger_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(theme.extended_palette().danger.base.color),
    }
}

pub fn muted_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(
            theme
                .extended_palette()
                .background
                .strong
                .text
                .scale_alpha(0.7),
        ),
    }
}

pub fn ok_text(theme: &Theme) -> text::Style {
    text::Style {
        color: Some(theme.extended_palette().success.base.color),
    }
}

/// A panel set off from the background (sidebar, status bar, call banner).
pub fn panel(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.background.weak.color.into()),
        border: Border {
            color: p.background.strong.color,
            width: 1.0,
            radius: 0.0.into(),
        },
        ..container::Style::default()
    }
}

pub fn banner(theme: &Theme) -> container::Style {
    let p = theme.extended_palette();
    container::Style {
        background: Some(p.primary.weak.color.into()),
        text_color: Some(p.primary.weak.text),
        border: Border {
            color: p.primary.strong.color,
            width: 1.0,
            radius: 8.0.into(),
        },
        ..container::Style::default()
    }
}

pub const MISSED: Color = Color::from_rgb(0.85, 0.2, 0.2);

//! Avatars: a person's initials on a colour picked from their name, so the same person always
//! looks the same and two people rarely alike. Drawn, not loaded: no images, no memory to speak
//! of.

use iced::widget::{container, text};
use iced::{Background, Border, Color, Element, Length};

/// Colours dark enough for white initials to read (contrast at least 4.5:1).
const COLOURS: [Color; 8] = [
    Color::from_rgb(0.75, 0.22, 0.17),
    Color::from_rgb(0.11, 0.42, 0.63),
    Color::from_rgb(0.13, 0.47, 0.30),
    Color::from_rgb(0.48, 0.27, 0.62),
    Color::from_rgb(0.65, 0.33, 0.05),
    Color::from_rgb(0.05, 0.45, 0.47),
    Color::from_rgb(0.62, 0.16, 0.42),
    Color::from_rgb(0.33, 0.36, 0.45),
];

/// "Bob Builder" -> "BB", "alice@company.com" -> "A", "+4930123" -> "#".
pub fn initials(name: &str) -> String {
    let name = name.trim().trim_start_matches("sip:");
    let name = name.split('@').next().unwrap_or_default();
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || c == '.' || c == '_' || c == '-')
        .filter(|w| w.chars().next().is_some_and(char::is_alphabetic))
        .collect();
    let first = |w: &str| w.chars().next().map(|c| c.to_uppercase().to_string());
    match words.as_slice() {
        [] => "#".into(),
        [one] => first(one).unwrap_or_default(),
        [a, .., b] => format!(
            "{}{}",
            first(a).unwrap_or_default(),
            first(b).unwrap_or_default()
        ),
    }
}

/// The colour for a name: the same name, the same colour, in every run.
pub fn colour(name: &str) -> Color {
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let h = name.to_lowercase().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    COLOURS[h as usize % COLOURS.len()]
}

pub fn view<'a, M: 'a>(name: &str, size: f32) -> Element<'a, M> {
    let bg = colour(name);
    container(
        text(initials(name))
            .size(size * 0.42)
            .color(Color::WHITE)
            .center(),
    )
    .center(Length::Fixed(size))
    .style(move |_| container::Style {
        background: Some(Background::Color(bg)),
        border: Border {
            radius: (size / 2.0).into(),
            ..Border::default()
        },
        ..container::Style::default()
    })
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_and_stable_colours() {
        assert_eq!(initials("Bob Builder"), "BB");
        assert_eq!(initials("alice@company.com"), "A");
        assert_eq!(initials("sip:jean-luc.picard@x"), "JP");
        assert_eq!(initials("+4930123"), "#");
        assert_eq!(colour("Bob"), colour("bob"));
        let white = super::super::style::luminance(Color::WHITE);
        for c in COLOURS {
            let ratio = (white + 0.05) / (super::super::style::luminance(c) + 0.05);
            assert!(ratio >= 4.5, "{c:?} gives white initials only {ratio:.1}:1");
        }
    }
}

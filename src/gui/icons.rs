//! The window's icons: a 13 KB subset of the Lucide icon font (ISC), bundled in the binary so
//! the app builds and runs offline; drawn as text, so they take the theme's colours. Why Lucide
//! and how the subset is made: resources/fonts/README.md.

use iced::widget::{text, Text};
use iced::Font;

pub const BYTES: &[u8] = include_bytes!("../../resources/fonts/lucide-parley.ttf");
pub const FONT: Font = Font::with_name("lucide");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    Phone,
    PhoneOff,
    PhoneIncoming,
    PhoneOutgoing,
    PhoneMissed,
    Mic,
    MicOff,
    Pause,
    Play,
    Keypad,
    Attach,
    Send,
    Plus,
    Settings,
    History,
    Chats,
    Check,
    CheckCheck,
    Clock,
    Alert,
    Retry,
    Close,
    File,
    Folder,
    Download,
    Lock,
    Unlocked,
    AddContact,
    Edit,
    Trash,
    Backspace,
    Info,
    Upload,
}

impl Icon {
    /// The glyph's code point in the Lucide font (1.66.0).
    pub fn char(self) -> char {
        use Icon::*;
        match self {
            Phone => '\u{e133}',
            PhoneOff => '\u{e138}',
            PhoneIncoming => '\u{e136}',
            PhoneOutgoing => '\u{e139}',
            PhoneMissed => '\u{e137}',
            Mic => '\u{e118}',
            MicOff => '\u{e119}',
            Pause => '\u{e12e}',
            Play => '\u{e13c}',
            Keypad => '\u{e0e9}',
            Attach => '\u{e12d}',
            Send => '\u{e152}',
            Plus => '\u{e13d}',
            Settings => '\u{e154}',
            History => '\u{e1f5}',
            Chats => '\u{e116}',
            Check => '\u{e06c}',
            CheckCheck => '\u{e38e}',
            Clock => '\u{e087}',
            Alert => '\u{e077}',
            Retry => '\u{e149}',
            Close => '\u{e1b2}',
            File => '\u{e0c0}',
            Folder => '\u{e247}',
            Download => '\u{e0b2}',
            Lock => '\u{e10b}',
            Unlocked => '\u{e10c}',
            AddContact => '\u{e1a2}',
            Edit => '\u{e1f9}',
            Trash => '\u{e18e}',
            Backspace => '\u{e0ae}',
            Info => '\u{e0f9}',
            Upload => '\u{e19e}',
        }
    }
}

/// The icon as a text widget of `size` pixels.
pub fn icon<'a>(i: Icon, size: f32) -> Text<'a> {
    text(i.char().to_string())
        .font(FONT)
        .size(size)
        .line_height(1.0)
        .shaping(text::Shaping::Basic)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_icon_is_in_the_bundled_font() {
        // The subset's cmap must hold each code point we draw, or the icon shows as a box.
        let face = super::BYTES;
        assert!(face.len() < 32 * 1024, "the subset stays small");
        let cps = super::tests_support::code_points(face);
        for i in super::tests_support::ALL {
            assert!(
                cps.contains(&(i.char() as u32)),
                "{i:?} is missing from the font"
            );
        }
    }
}

#[cfg(test)]
mod tests_support {
    use super::Icon::{self, *};

    pub const ALL: [Icon; 33] = [
        Phone,
        PhoneOff,
        PhoneIncoming,
        PhoneOutgoing,
        PhoneMissed,
        Mic,
        MicOff,
        Pause,
        Play,
        Keypad,
        Attach,
        Send,
        Plus,
        Settings,
        History,
        Chats,
        Check,
        CheckCheck,
        Clock,
        Alert,
        Retry,
        Close,
        File,
        Folder,
        Download,
        Lock,
        Unlocked,
        AddContact,
        Edit,
        Trash,
        Backspace,
        Info,
        Upload,
    ];

    /// The code points of a TrueType font's format-4 cmap subtable (enough for the BMP's
    /// private use area the icons sit in).
    pub fn code_points(font: &[u8]) -> Vec<u32> {
        let u16_at = |o: usize| u16::from_be_bytes([font[o], font[o + 1]]) as usize;
        let u32_at = |o: usize| {
            u32::from_be_bytes([font[o], font[o + 1], font[o + 2], font[o + 3]]) as usize
        };
        let tables = u16_at(4);
        let cmap = (0..tables)
            .map(|i| 12 + 16 * i)
            .find(|&rec| &font[rec..rec + 4] == b"cmap")
            .map(|rec| u32_at(rec + 8))
            .expect("a cmap table");
        let mut out = Vec::new();
        for i in 0..u16_at(cmap + 2) {
            let sub = cmap + u32_at(cmap + 4 + 8 * i + 4);
            if u16_at(sub) != 4 {
                continue;
            }
            let segs = u16_at(sub + 6) / 2;
            for s in 0..segs {
                let end = u16_at(sub + 14 + 2 * s);
                let start = u16_at(sub + 16 + 2 * segs + 2 * s);
                if start != 0xFFFF {
                    out.extend((start..=end).map(|c| c as u32));
                }
            }
        }
        out
    }
}

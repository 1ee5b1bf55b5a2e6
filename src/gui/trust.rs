//! "Trust this server?": a server's certificate was refused, and the user may trust that one
//! certificate after comparing its fingerprint with the one the server's keeper gives, as SSH
//! asks about a new host key. Asked once: a trusted certificate is kept with the account.

use super::style;
use crate::engine::AccountId;
use iced::widget::{button, column, container, row, text};
use iced::{Element, Length};

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub account: AccountId,
    pub aor: String,
    /// The name the certificate was checked against.
    pub server: String,
    pub fingerprint: crate::engine::Fingerprint,
    pub why: String,
    /// False when the certificate replaced one trusted before: nothing to trust then.
    pub can_pin: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    Trust,
    Refuse,
}

pub enum Action {
    Trust(AccountId, crate::engine::Fingerprint),
    Refuse(AccountId),
}

impl Prompt {
    pub fn update(&self, message: Message) -> Action {
        match message {
            Message::Trust if self.can_pin => Action::Trust(self.account, self.fingerprint),
            _ => Action::Refuse(self.account),
        }
    }

    /// The fingerprint in two lines of 16 bytes, easier to read out than one of 95 characters.
    fn fingerprint_lines(&self) -> String {
        let all = self.fingerprint.to_string();
        let (first, second) = all.split_at(16 * 3);
        format!("{}\n{second}", first.trim_end_matches(':'))
    }

    pub fn view(&self) -> Element<'_, Message> {
        let title = match self.can_pin {
            true => format!("Trust {}?", self.server),
            false => format!("{} shows a different certificate", self.server),
        };
        let explain = match self.can_pin {
            true => {
                "Ask whoever runs the server for its fingerprint and compare every pair. \
                     If they match, Parley trusts this certificate for this account from now on \
                     and warns you if it ever changes. Nothing was sent to the server."
            }
            false => {
                "The certificate is not the one you trusted before. It may have been \
                      replaced, or someone may be listening in between. Nothing was sent; ask \
                      whoever runs the server before signing in again."
            }
        };
        let mut buttons = row![].spacing(8);
        if self.can_pin {
            buttons = buttons.push(button(text("Trust this server")).on_press(Message::Trust));
        }
        let leave = if self.can_pin { "Don't trust" } else { "Close" };
        buttons = buttons.push(
            button(text(leave))
                .style(button::secondary)
                .on_press(Message::Refuse),
        );
        let card = column![
            text(title).size(22),
            text(format!(
                "Signing in as {}: its certificate was refused because {}.",
                self.aor, self.why
            )),
            text("Its SHA-256 fingerprint:").style(style::muted_text),
            text(self.fingerprint_lines()).font(iced::Font::MONOSPACE),
            text(explain),
            buttons,
        ]
        .spacing(12)
        .max_width(560);
        container(container(card).padding(24).style(style::panel))
            .center(Length::Fill)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(can_pin: bool) -> Prompt {
        Prompt {
            account: 3,
            aor: "sip:alice@lan".into(),
            server: "lan".into(),
            fingerprint: crate::engine::Fingerprint([0xAB; 32]),
            why: "it is self-signed".into(),
            can_pin,
        }
    }

    #[test]
    fn trusting_gives_the_fingerprint_shown_and_a_replaced_certificate_cannot_be_trusted() {
        assert!(matches!(
            prompt(true).update(Message::Trust),
            Action::Trust(3, f) if f == crate::engine::Fingerprint([0xAB; 32])
        ));
        assert!(matches!(
            prompt(false).update(Message::Trust),
            Action::Refuse(3)
        ));
        let lines = prompt(true).fingerprint_lines();
        assert_eq!(lines.lines().count(), 2);
        assert_eq!(
            lines.replace('\n', ":"),
            prompt(true).fingerprint.to_string()
        );
    }
}

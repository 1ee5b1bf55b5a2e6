//! The user's accounts as the window shows them: the address, whether it is reachable, and the
//! state in words. Kept from the engine's registration events.

use crate::engine::{AccountId, AccountSettings, Event};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct AccountView {
    pub aor: String,
    pub status: String,
    pub registered: bool,
    /// How it reaches its server and encrypts, as Settings shows it.
    pub settings: AccountSettings,
}

#[derive(Debug, Default)]
pub struct Accounts {
    pub list: BTreeMap<AccountId, AccountView>,
}

impl Accounts {
    /// The account to call from: the first registered one, else the first one.
    pub fn calling(&self) -> Option<AccountId> {
        self.list
            .iter()
            .find(|(_, a)| a.registered)
            .or_else(|| self.list.iter().next())
            .map(|(id, _)| *id)
    }

    /// What registration events say about the accounts.
    pub fn apply(&mut self, ev: &Event) {
        let (account, registered, status) = match ev {
            Event::AccountAdded {
                account,
                aor,
                settings,
            } => {
                let view = AccountView {
                    aor: aor.clone(),
                    status: "Signing in…".into(),
                    registered: false,
                    settings: settings.clone(),
                };
                self.list.insert(*account, view);
                return;
            }
            Event::AccountUpdated { account, settings } => {
                if let Some(a) = self.list.get_mut(account) {
                    a.settings = settings.clone();
                }
                return;
            }
            Event::AccountRemoved { account } => {
                self.list.remove(account);
                return;
            }
            Event::Registering { account, .. } => match self.list.get(account) {
                Some(a) if !a.registered => (account, false, "Signing in…".to_string()),
                _ => return,
            },
            Event::Registered { account, .. } => (account, true, "Online".to_string()),
            Event::RegistrationFailed {
                account,
                message,
                retry_in,
                ..
            } => {
                let words = match retry_in {
                    Some(s) => format!("{message} (retrying in {s} s)"),
                    None => message.clone(),
                };
                (account, false, words)
            }
            Event::Connection {
                account,
                online,
                message,
            } => (account, *online, message.clone()),
            Event::Unregistered { account, .. } => (account, false, "Signed out".to_string()),
            _ => return,
        };
        if let Some(a) = self.list.get_mut(account) {
            a.registered = registered;
            a.status = status;
        }
    }
}

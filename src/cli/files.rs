//! `parley send-file` and `parley chat`: one file or one text to a contact, outside a call;
//! each exits 0 only when the other side confirmed it.

use super::{print_event, start_engine, AccountArgs};
use crate::engine::{Command, Event};
use std::path::PathBuf;

/// Sends a file in a session of its own (RFC 5547); the peer accepts or declines it.
pub async fn send_file(
    args: AccountArgs,
    target: String,
    path: PathBuf,
    profile: Option<PathBuf>,
) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("{} is not a file that can be read", path.display()));
    }
    let (h, mut events) = start_engine(&args, profile.as_ref()).await?;
    let mut result = Err("the engine stopped before the file went".to_string());
    let mut sent = false;
    while let Some(ev) = events.recv().await {
        print_event(&ev, args.json);
        let outcome = match ev {
            Event::Registered { account, .. } | Event::RegistrationFailed { account, .. }
                if !sent =>
            {
                sent = true;
                let (target, path) = (target.clone(), path.clone());
                h.send(Command::SendFileTo {
                    account,
                    target,
                    path,
                })
                .await;
                None
            }
            Event::FileSent { .. } => Some(Ok(())),
            Event::TransferFailed { message, .. } | Event::Error { message } => Some(Err(message)),
            Event::TransferCancelled { name, by_peer, .. } => Some(Err(match by_peer {
                true => format!("{name} was cancelled by the other side"),
                false => format!("{name} was cancelled"),
            })),
            Event::Stopped => break,
            _ => None,
        };
        if let Some(r) = outcome {
            result = r;
            h.send(Command::Shutdown).await;
        }
    }
    result
}

/// Sends one text once the account is set up: by SIP MESSAGE, or with `msrp` in a chat session
/// of its own. Exits 0 only when delivered.
pub async fn chat(
    args: AccountArgs,
    target: String,
    text: String,
    msrp: bool,
    profile: Option<PathBuf>,
) -> Result<(), String> {
    let (h, mut events) = start_engine(&args, profile.as_ref()).await?;
    let mut result = Err("the engine stopped before the message went".to_string());
    let (mut sent, mut session) = (false, None);
    while let Some(ev) = events.recv().await {
        print_event(&ev, args.json);
        let outcome = match ev {
            Event::Registered { account, .. } | Event::RegistrationFailed { account, .. }
                if !sent =>
            {
                sent = true;
                let (target, text) = (target.clone(), text.clone());
                let cmd = match msrp {
                    true => Command::StartChat { account, target },
                    false => Command::SendMessage {
                        account,
                        target,
                        text,
                    },
                };
                h.send(cmd).await;
                None
            }
            Event::ChatStarted { call, .. } => {
                session = Some(call);
                let text = text.clone();
                h.send(Command::SendText { call, text }).await;
                None
            }
            Event::MessageSent { .. } => Some(Ok(())),
            Event::ChatEnded { .. } if session.is_none() => {
                Some(Err("the other side did not take the chat".to_string()))
            }
            Event::MessageFailed { message, .. }
            | Event::TransferFailed { message, .. }
            | Event::Error { message } => Some(Err(message)),
            Event::Stopped => break,
            _ => None,
        };
        if let Some(r) = outcome {
            result = r;
            h.send(Command::Shutdown).await;
        }
    }
    result
}

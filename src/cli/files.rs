//! `parley send-file` and `parley chat`: one file or one text to a contact, outside a call;
//! each exits 0 only when the other side confirmed it.

use super::{print_event, start_engine, AccountArgs};
use crate::engine::{AccountId, Command, Event};
use std::path::PathBuf;

/// What an event means for a one-shot command.
enum Step {
    Wait,
    Send(Box<Command>),
    Done(Result<(), String>),
}

/// Starts the engine, sends `first` once the account is set up (registered or not), then lets
/// `step` judge each event until it says done; the engine is shut down before returning.
async fn one_shot(
    args: &AccountArgs,
    profile: Option<PathBuf>,
    what: &str,
    first: impl Fn(AccountId) -> Command,
    mut step: impl FnMut(Event) -> Step,
) -> Result<(), String> {
    let (h, mut events) = start_engine(args, profile.as_ref()).await?;
    let mut result = Err(format!("the engine stopped before the {what} went"));
    let mut sent = false;
    while let Some(ev) = events.recv().await {
        print_event(&ev, args.json);
        let s = match ev {
            Event::Registered { account, .. } | Event::RegistrationFailed { account, .. }
                if !sent =>
            {
                sent = true;
                Step::Send(Box::new(first(account)))
            }
            Event::Error { message } => Step::Done(Err(message)),
            Event::Stopped => break,
            ev => step(ev),
        };
        match s {
            Step::Wait => {}
            Step::Send(cmd) => h.send(*cmd).await,
            Step::Done(r) => {
                result = r;
                h.send(Command::Shutdown).await;
            }
        }
    }
    result
}

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
    let first = |account| Command::SendFileTo {
        account,
        target: target.clone(),
        path: path.clone(),
    };
    one_shot(&args, profile, "file", first, |ev| match ev {
        Event::FileSent { .. } => Step::Done(Ok(())),
        Event::FileSentUnconfirmed { name, .. } => Step::Done(Err(format!(
            "{name} was sent, not confirmed: the other side ended before saying it arrived whole"
        ))),
        Event::TransferFailed { message, .. } => Step::Done(Err(message)),
        Event::TransferCancelled { name, by_peer, .. } => Step::Done(Err(match by_peer {
            true => format!("{name} was cancelled by the other side"),
            false => format!("{name} was cancelled"),
        })),
        _ => Step::Wait,
    })
    .await
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
    let first = |account| match msrp {
        true => Command::StartChat {
            account,
            target: target.clone(),
        },
        false => Command::SendMessage {
            account,
            target: target.clone(),
            text: text.clone(),
        },
    };
    let mut session = None;
    one_shot(&args, profile, "message", first, |ev| match ev {
        Event::ChatStarted { call, .. } => {
            session = Some(call);
            let text = text.clone();
            Step::Send(Box::new(Command::SendText { call, text }))
        }
        Event::MessageSent { .. } => Step::Done(Ok(())),
        Event::ChatEnded { .. } if session.is_none() => {
            Step::Done(Err("the other side did not take the chat".to_string()))
        }
        Event::MessageFailed { message, .. } | Event::TransferFailed { message, .. } => {
            Step::Done(Err(message))
        }
        _ => Step::Wait,
    })
    .await
}

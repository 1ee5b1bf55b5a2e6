//! The one subscription between the window and the engine (the halloy pattern): the stream
//! starts the engine, hands the GUI its `EngineHandle` first, then forwards every `Event`.

use crate::engine::{Command, Engine, EngineConfig, EngineHandle, Event};
use crate::store::{Profile, Store};
use iced::futures::SinkExt;
use iced::Subscription;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Update {
    Ready(EngineHandle),
    Event(Event),
    /// The engine could not start (profile folder, database, socket): said in words.
    Failed(String),
}

/// What identifies the engine stream: the profile it runs on.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Key {
    pub profile: Option<PathBuf>,
}

pub fn subscription(key: Key) -> Subscription<Update> {
    Subscription::run_with(key, |key| {
        let profile = key.profile.clone();
        iced::stream::channel(64, async move |mut out| {
            let started = async {
                let p = Profile::new(profile.as_deref()).map_err(|e| e.to_string())?;
                let store = Store::open(&p.database()).map_err(|e| e.to_string())?;
                Engine::start(EngineConfig::desktop(&p, store))
                    .await
                    .map_err(|e| format!("cannot open a SIP socket: {e}"))
            };
            match started.await {
                Ok((handle, mut events)) => {
                    handle.send(Command::Restore).await;
                    let _ = out.send(Update::Ready(handle)).await;
                    while let Some(ev) = events.recv().await {
                        if out.send(Update::Event(ev)).await.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = out.send(Update::Failed(e)).await;
                }
            }
        })
    })
}

/// SIGTERM (logging out, `kill`), SIGINT and SIGHUP, each as a request to close: the first
/// signs out and stops the engine as closing the window does, a second quits at once.
pub fn stop_requests() -> Subscription<()> {
    Subscription::run(|| {
        iced::stream::channel(1, async |mut out| loop {
            crate::stop::requested().await;
            if out.send(()).await.is_err() {
                break;
            }
        })
    })
}

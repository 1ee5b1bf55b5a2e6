//! The window's line to the engine: commands go out in order, and a full queue (or an engine
//! still starting) never loses one: it waits in the outbox until the engine can take it.

use super::Message;
use crate::engine::{Command, EngineHandle};
use iced::Task;
use std::cell::{Cell, RefCell};

#[derive(Default)]
pub struct Link {
    pub engine: Option<EngineHandle>,
    /// Commands waiting for room in the engine's queue (or for the engine to start).
    outbox: RefCell<Vec<Command>>,
    flushing: Cell<bool>,
}

impl Link {
    /// Hands a command to the engine, or to the outbox when it cannot take it now.
    pub fn send(&self, cmd: Command) {
        let mut outbox = self.outbox.borrow_mut();
        let in_order = outbox.is_empty() && !self.flushing.get();
        match &self.engine {
            Some(e) if in_order => {
                if let Some(cmd) = e.try_send(cmd) {
                    tracing::info!("engine queue full; the command waits its turn");
                    outbox.push(cmd);
                }
            }
            _ => outbox.push(cmd),
        }
    }

    /// Delivers waiting commands with back-pressure (awaiting queue space), one batch at a time.
    pub fn flush(&self) -> Task<Message> {
        let Some(engine) = self.engine.clone() else {
            return Task::none();
        };
        if self.flushing.get() || self.outbox.borrow().is_empty() {
            return Task::none();
        }
        self.flushing.set(true);
        let cmds = std::mem::take(&mut *self.outbox.borrow_mut());
        Task::perform(
            async move {
                for cmd in cmds {
                    engine.send(cmd).await;
                }
            },
            |_| Message::Flushed,
        )
    }

    /// The batch being delivered has gone.
    pub fn flushed(&self) {
        self.flushing.set(false);
    }
}

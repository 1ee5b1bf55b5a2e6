//! The ways a person or the system asks a program to stop: Ctrl+C (SIGINT),
//! systemd, `kill` and logging out (SIGTERM), a closed terminal (SIGHUP). The agent and the
//! window sign out first on each; otherwise a registration outlives the program and callers
//! wait 32 s for a 408.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP. Listens from the moment it is called,
/// so a signal that comes between two waits is not lost; call once, then poll it in a loop.
pub fn requested() -> impl std::future::Future<Output = ()> {
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    async move {
        tokio::select! {
            _ = next(int.as_mut()) => {}
            _ = next(term.as_mut()) => {}
            _ = next(hup.as_mut()) => {}
        }
    }
}

/// The next delivery of a signal we could watch; never for one we could not.
async fn next(s: Option<&mut Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

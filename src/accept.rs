//! Accepting TCP connections through hard times: when the process or the system runs out of
//! file descriptors (EMFILE, ENFILE) or buffers, `accept` fails until some are given back.
//! Exiting would close the port for good, and retrying at once would spin a core; instead the
//! loop waits, longer each time (up to a second), and takes connections again as soon as
//! descriptors return. Failures of one connection (it was reset before we took it) are passed
//! over at once.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// Whether an accept error is the system running short, not a problem of one connection.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The next connection on `listener`, however long running short lasts; `what` names the
/// service in the log.
pub async fn next(listener: &TcpListener, what: &str) -> (TcpStream, SocketAddr) {
    let mut wait = FIRST_WAIT;
    let mut told = false;
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if told {
                    tracing::warn!("{what}: taking connections again");
                }
                return accepted;
            }
            Err(e) if out_of_resources(&e) => {
                if !told {
                    tracing::warn!(
                        "{what}: cannot take connections ({e}); waiting for descriptors"
                    );
                    told = true;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LONGEST_WAIT);
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => {
                // Unknown: not worth dying for, but never a busy loop.
                tracing::debug!("{what}: accept failed: {e}");
                tokio::time::sleep(FIRST_WAIT).await;
            }
        }
    }
}

/// Whether an accepted connection opens with a TLS handshake record (22: no SIP or MSRP
/// message starts so), told by its first byte; `None` when none came `within`.
pub async fn opens_with_tls(stream: &TcpStream, within: Duration) -> Option<bool> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(within, stream.peek(&mut first)).await {
        Ok(Ok(1)) => Some(first[0] == TLS_HANDSHAKE),
        _ => None,
    }
}

/// The content type of a TLS handshake record, the first byte a TLS client sends.
const TLS_HANDSHAKE: u8 = 22;

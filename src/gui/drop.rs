//! Where a dropped file landed. winit says only that a file was dropped on the window, not where,
//! and while dragging the source program holds the pointer, so at the drop we ask the X server
//! where the pointer is and find the conversation row under it.

use super::threads::Thread;
use iced::widget::selector::{self, Candidate};
use iced::widget::Id;
use iced::{window, Point, Task};

/// On a Wayland desktop, winit 0.30 (under iced 0.14) delivers no file drops at all (iced
/// #2538, winit #1881), so the window runs on X11 through XWayland there, where XDND drops
/// work and the drop point can be asked of the X server. Writing Wayland's data-device
/// protocol ourselves would mean a second Wayland connection beside winit's, with no way to
/// map its surfaces to winit's window. `PARLEY_WAYLAND=1` keeps native Wayland (no drops).
/// Called before any thread starts, as it changes the environment.
pub fn prefer_x11_for_drops() {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some();
    let xwayland = std::env::var_os("DISPLAY").is_some();
    let native = std::env::var_os("PARLEY_WAYLAND").is_some_and(|v| v == "1");
    if wayland && xwayland && !native {
        tracing::info!(
            "Wayland session: the window uses X11 (XWayland) so files can be dropped on it"
        );
        std::env::remove_var("WAYLAND_DISPLAY");
    }
}

/// The id of a conversation's row in the sidebar, so a drop can find it.
pub fn row_id(t: &Thread) -> Id {
    match t {
        Thread::Contact(id) => Id::from(format!("contact-row-{id}")),
        Thread::Peer(k) => Id::from(format!("peer-row-{k}")),
    }
}

/// The pointer's position in the newest window, in logical pixels; none off X11.
pub fn locate() -> Task<Option<Point>> {
    window::latest().then(|id| match id {
        Some(id) => window::scale_factor(id)
            .then(move |scale| window::run(id, move |w| pointer_in(w, scale)))
            .map(Option::flatten),
        None => Task::done(None),
    })
}

/// Asks X where the pointer is relative to the window's inside.
#[cfg(target_os = "linux")]
fn pointer_in(window: &dyn window::Window, scale: f32) -> Option<Option<Point>> {
    use window::raw_window_handle::RawWindowHandle;
    use x11rb::protocol::xproto::ConnectionExt;
    let xid = match window.window_handle().ok()?.as_raw() {
        RawWindowHandle::Xlib(h) => h.window as u32,
        RawWindowHandle::Xcb(h) => h.window.get(),
        _ => return Some(None),
    };
    let (conn, _) = x11rb::connect(None).ok()?;
    let reply = conn.query_pointer(xid).ok()?.reply().ok()?;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let at = Point::new(reply.win_x as f32 / scale, reply.win_y as f32 / scale);
    Some(Some(at))
}

#[cfg(not(target_os = "linux"))]
fn pointer_in(_: &dyn window::Window, _: f32) -> Option<Option<Point>> {
    Some(None)
}

/// Finds which of the sidebar's rows contains `at`, as the window shows them now.
pub fn thread_at(at: Point, threads: Vec<Thread>) -> Task<Option<Thread>> {
    selector::find(row_at(at, threads))
}

/// The selector behind `thread_at` (also run by tests on a simulated window).
pub fn row_at(
    at: Point,
    threads: Vec<Thread>,
) -> impl FnMut(Candidate<'_>) -> Option<Thread> + Send + 'static {
    let rows: Vec<(Id, Thread)> = threads.into_iter().map(|t| (row_id(&t), t)).collect();
    move |candidate| {
        let Candidate::Container {
            id: Some(id),
            visible_bounds: Some(bounds),
            ..
        } = candidate
        else {
            return None;
        };
        if !bounds.contains(at) {
            return None;
        }
        rows.iter()
            .find(|(row, _)| row == id)
            .map(|(_, t)| t.clone())
    }
}

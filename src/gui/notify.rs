//! Desktop notifications (freedesktop, over D-Bus with notify-rust) for calls that arrive or are
//! missed while the window is not focused. Sent from a task, never from the update loop; with no
//! notification service the failure is logged and nothing else happens.

pub async fn send(summary: String, body: String) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname("Parley")
        .icon("parley")
        .summary(&summary)
        .body(&body)
        .show_async()
        .await
        .map(|_| ())
        .map_err(|e| format!("desktop notification failed: {e}"))
}

//! The desktop window (iced). For now it opens and says what Parley can do; the panes (contacts,
//! dialpad, conversation, history, settings) come with the GUI issue and talk to the engine only
//! through `Command`/`Event`.

use iced::widget::{column, container, text};
use iced::{Element, Length};

#[derive(Debug, Default)]
struct Window {
    /// A `sip:` URI the app was opened with (a clicked link).
    pending_call: Option<String>,
}

#[derive(Debug, Clone)]
enum Message {}

fn update(_state: &mut Window, message: Message) {
    match message {}
}

fn view(state: &Window) -> Element<'_, Message> {
    let mut body = column![
        text("Parley").size(32),
        text("Calls, chat and files over SIP."),
        text("The desktop panes are on their way. Until then, the command line does it all:"),
        text("parley serve · parley agent · parley call · parley history").size(14),
    ]
    .spacing(12);
    if let Some(uri) = &state.pending_call {
        body = body.push(text(format!("Ready to call {uri}")));
    }
    container(body)
        .center_x(Length::Fill)
        .center_y(Length::Fill)
        .padding(24)
        .into()
}

/// Opens the main window and runs until it is closed.
pub fn run(pending_call: Option<String>) -> iced::Result {
    iced::application(
        move || Window {
            pending_call: pending_call.clone(),
        },
        update,
        view,
    )
    .title("Parley")
    .window_size((900.0, 600.0))
    .run()
}

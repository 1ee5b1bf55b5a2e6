//! Every SIP status that ends a call or a registration, said once, in words a person can act on.

/// What the history keeps for an incoming call another device of ours answered.
pub const ANSWERED_ELSEWHERE: &str = "Answered on another device";

/// An incoming call we answered whose caller never confirmed it (no ACK within 32 s).
pub const NO_ACK: &str = "you answered, but the caller's side never confirmed the call";

/// A late offer (ours, in the 200) whose ACK brought no answer we could use.
pub const NO_MEDIA_ANSWER: &str =
    "the caller's side sent no audio settings Parley could use after you answered";

pub fn describe(code: u16) -> &'static str {
    match code {
        200 => "Call ended",
        301 => "The address has moved permanently",
        302 => "The address has moved temporarily",
        400 => "The other side could not understand the request",
        401 | 407 => "Wrong user name or password",
        403 => "Refused by the server (check the user name and password)",
        404 => "Nobody has that address",
        405 => "The other side does not allow this",
        408 => "No answer: the other side or the server did not respond in time",
        410 => "That address is gone for good",
        413 => "The request was too large for the server",
        414 => "The address is too long for the server",
        415 => "The other side does not support the call's media format",
        416 => "That kind of address is not supported",
        420 => "The other side needs an extension Parley does not have",
        422 => "The other side wants its call checked less often (session timer too short)",
        423 => "The server wants a longer registration interval",
        440 => "The server limits how many places a call may ring at once",
        480 => "Not available right now (offline or not signed in)",
        481 => "The call no longer exists on the other side",
        482 | 483 => "The call is looping between servers",
        484 => "The address is incomplete",
        486 => "Busy",
        487 => "Cancelled",
        488 => "The other side cannot take the call's media as offered (no common codec, or one side requires encryption)",
        491 => "Request pending, try again",
        500 => "Server error at the other end",
        501 => "The other side does not support this request",
        502 => "Bad gateway",
        503 => "Service unavailable (server overloaded or down)",
        504 => "Server timed out reaching the other side",
        505 => "SIP version not supported",
        600 => "Busy everywhere",
        603 => "Declined",
        604 => "The address does not exist anywhere",
        606 => "Not acceptable",
        c if (300..400).contains(&c) => "Redirected",
        c if (400..500).contains(&c) => "The request was refused",
        c if (500..600).contains(&c) => "Server failure",
        _ => "The call failed",
    }
}

/// `404 Not Found: Nobody has that address`.
pub fn line(code: u16, phrase: &str) -> String {
    format!("{code} {phrase}: {}", describe(code))
}

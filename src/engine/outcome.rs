//! How a call ended, in the user's terms rather than SIP's: the window and the history read
//! this, never a status code (the codes stay in `CallEnded`'s details).

use super::reason;
use super::Direction;
use crate::store::CallRecord;

/// A call's outcome, from where the user sits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Answered,
    /// Nobody here answered an incoming call (it rang out, or the caller gave up).
    Missed,
    /// The called side declined ours, or we declined theirs.
    Declined,
    /// The called side was busy, or we were when they called.
    Busy,
    /// Our call rang and nobody took it (or they were not available).
    NoAnswer,
    /// We hung up our own call before it was answered.
    CancelledByMe,
    /// Our call did not reach anyone: no such user, not signed in, no answer from the network.
    Unreachable,
    /// Another device of ours took the incoming call.
    AnsweredElsewhere,
    /// Something else went wrong, in words.
    Failed(String),
}

impl CallOutcome {
    /// The outcome of a call that ended with `status` (0 when it ended without one) and the
    /// words the history keeps for it.
    pub fn of(direction: Direction, status: u16, answered: bool, words: &str) -> CallOutcome {
        if answered {
            return CallOutcome::Answered;
        }
        if words == reason::NO_ACK || words == reason::NO_MEDIA_ANSWER {
            // Answered here, then the caller's side failed: not a call the user missed.
            return CallOutcome::Failed(words.to_string());
        }
        match (direction, status) {
            (Direction::Incoming, 200) if words == reason::ANSWERED_ELSEWHERE => {
                CallOutcome::AnsweredElsewhere
            }
            (_, 486 | 600) => CallOutcome::Busy,
            (_, 603) => CallOutcome::Declined,
            (Direction::Incoming, _) => CallOutcome::Missed,
            (Direction::Outgoing, 487) => CallOutcome::CancelledByMe,
            (Direction::Outgoing, 408 | 480) => CallOutcome::NoAnswer,
            (Direction::Outgoing, 404 | 410 | 484 | 503 | 504 | 604) => CallOutcome::Unreachable,
            (Direction::Outgoing, code) => CallOutcome::Failed(reason::describe(code).to_string()),
        }
    }

    /// What the user reads, `who` being the other side's name: "Bob is busy".
    pub fn words(&self, who: &str, direction: Direction) -> String {
        let ours = direction == Direction::Outgoing;
        match self {
            CallOutcome::Answered => "Answered".into(),
            CallOutcome::Missed => format!("Missed call from {who}"),
            CallOutcome::Declined if ours => format!("{who} declined"),
            CallOutcome::Declined => "You declined".into(),
            CallOutcome::Busy if ours => format!("{who} is busy"),
            CallOutcome::Busy => format!("{who} called while you were busy"),
            CallOutcome::CancelledByMe => "You cancelled".into(),
            CallOutcome::NoAnswer => format!("{who} did not answer"),
            CallOutcome::Unreachable => format!("{who} could not be reached"),
            CallOutcome::AnsweredElsewhere => "Answered on another device".into(),
            CallOutcome::Failed(why) => format!("Call failed: {why}"),
        }
    }

    /// Worth an error's colour: something went wrong, not a choice someone made.
    pub fn is_failure(&self) -> bool {
        matches!(self, CallOutcome::Unreachable | CallOutcome::Failed(_))
    }
}

impl CallRecord {
    /// How the call ended; `None` while it goes on.
    pub fn outcome(&self) -> Option<CallOutcome> {
        self.ended_at?;
        let direction = self.direction;
        let status = self.status.unwrap_or(0);
        let words = self.reason.as_deref().unwrap_or_default();
        Some(CallOutcome::of(
            direction,
            status,
            self.answered_at.is_some(),
            words,
        ))
    }

    pub fn is_missed(&self) -> bool {
        self.outcome() == Some(CallOutcome::Missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_people_say_them() {
        use Direction::{Incoming as In, Outgoing as Out};
        let of = |d, s| CallOutcome::of(d, s, false, "");
        assert_eq!(CallOutcome::of(Out, 200, true, ""), CallOutcome::Answered);
        assert_eq!(of(Out, 486).words("Bob", Out), "Bob is busy");
        assert_eq!(of(Out, 603).words("Bob", Out), "Bob declined");
        assert_eq!(of(Out, 487), CallOutcome::CancelledByMe);
        assert!(!of(Out, 487).is_failure(), "cancelling is no error");
        assert_eq!(of(Out, 404), CallOutcome::Unreachable);
        assert!(of(Out, 500).is_failure());
        assert!(!of(Out, 500).words("Bob", Out).contains("500"));
        assert_eq!(of(Out, 408).words("Bob", Out), "Bob did not answer");
        assert_eq!(of(In, 487), CallOutcome::Missed);
        assert_eq!(of(In, 408), CallOutcome::Missed);
        assert_eq!(of(In, 603).words("Bob", In), "You declined");
        assert_eq!(
            CallOutcome::of(In, 200, false, reason::ANSWERED_ELSEWHERE),
            CallOutcome::AnsweredElsewhere
        );
        let unconfirmed = CallOutcome::of(In, 408, false, reason::NO_ACK);
        assert!(unconfirmed.is_failure(), "answered here: not a missed call");
        assert!(unconfirmed
            .words("Bob", In)
            .starts_with("Call failed: you answered"));
    }
}

//! How an event settles (B9-B13, B21): billed, unfunded, a duplicate, or quarantined for a
//! reason.
//!
//! Precedence: an event too late (B21) is `too_late` whatever else holds: the window bounds
//! what a run compares, so an event outside it is compared with nothing (the events it might
//! repeat may be archived already, B22, and the outcome must not depend on that). Then a
//! duplicate, then the checks of its own fields in the order of [`Outcome`], then its key's
//! state and funding.

use polars::prelude::{Expr, lit};

/// A single event with more tokens than this, input and output together, is quarantined as
/// absurd (B13).
pub const ABSURD_TOKENS: i64 = 100_000_000;

/// How an event settled (B13); a code in polars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Covered by the holder's seat.
    Plan = 0,
    /// Paid from the Credits pool.
    Credits = 1,
    /// Paid from the wallet.
    Payg = 2,
    /// Funded by nothing (B10).
    Unfunded = 3,
    /// Repeats an event id.
    Duplicate = 4,
    /// A field is missing.
    Malformed = 5,
    NegativeTokens = 6,
    /// Token counts over [`ABSURD_TOKENS`].
    AbsurdTokens = 7,
    /// The model has no price.
    UnknownModel = 8,
    /// The key had no state at the event's time.
    UnknownKey = 9,
    /// The pay-as-you-go key was deleted before the event.
    KeyDeleted = 10,
    /// First seen by a run more than W days after its usage day (B21).
    TooLate = 11,
}

impl Outcome {
    const ALL: [Outcome; 12] = [
        Outcome::Plan,
        Outcome::Credits,
        Outcome::Payg,
        Outcome::Unfunded,
        Outcome::Duplicate,
        Outcome::Malformed,
        Outcome::NegativeTokens,
        Outcome::AbsurdTokens,
        Outcome::UnknownModel,
        Outcome::UnknownKey,
        Outcome::KeyDeleted,
        Outcome::TooLate,
    ];

    /// Whether the event is usage: billed to a seat, Credits or the wallet, or unfunded.
    pub fn is_usage(self) -> bool {
        matches!(
            self,
            Outcome::Plan | Outcome::Credits | Outcome::Payg | Outcome::Unfunded
        )
    }

    /// The outcome of a polars code.
    pub fn of_code(code: i32) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| *o as i32 == code)
    }

    /// Why the event is quarantined, if it is.
    pub fn quarantine(self) -> Option<Quarantine> {
        match self {
            Outcome::Plan
            | Outcome::Credits
            | Outcome::Payg
            | Outcome::Unfunded
            | Outcome::Duplicate => None,
            Outcome::Malformed => Some(Quarantine::Malformed),
            Outcome::NegativeTokens => Some(Quarantine::NegativeTokens),
            Outcome::AbsurdTokens => Some(Quarantine::AbsurdTokens),
            Outcome::UnknownModel => Some(Quarantine::UnknownModel),
            Outcome::UnknownKey => Some(Quarantine::UnknownKey),
            Outcome::KeyDeleted => Some(Quarantine::KeyDeleted),
            Outcome::TooLate => Some(Quarantine::TooLate),
        }
    }

    /// The outcome's code as a polars literal.
    pub fn lit(self) -> Expr {
        lit(self as i32)
    }
}

/// Why an event is quarantined (B13), named as in run summaries and metrics. Variants are in
/// the order of their names, so counts keyed by reason keep the order they had as strings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Quarantine {
    /// Token counts over [`ABSURD_TOKENS`].
    AbsurdTokens,
    /// The pay-as-you-go key was deleted before the event.
    KeyDeleted,
    /// A field is missing.
    Malformed,
    NegativeTokens,
    /// First seen by a run more than W days after its usage day (B21).
    TooLate,
    /// The key had no state at the event's time.
    UnknownKey,
    /// The model has no price.
    UnknownModel,
}

impl Quarantine {
    /// The reason's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Quarantine::AbsurdTokens => "absurd_tokens",
            Quarantine::KeyDeleted => "key_deleted",
            Quarantine::Malformed => "malformed",
            Quarantine::NegativeTokens => "negative_tokens",
            Quarantine::TooLate => "too_late",
            Quarantine::UnknownKey => "unknown_key",
            Quarantine::UnknownModel => "unknown_model",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::of_code(outcome as i32), Some(outcome));
        }
    }

    #[test]
    fn quarantine_names_are_their_json_names_in_order() {
        let reasons = Outcome::ALL.map(Outcome::quarantine);
        let mut reasons: Vec<Quarantine> = reasons.into_iter().flatten().collect();
        reasons.sort();
        let names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "variants in the order of their names");
        for reason in reasons {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::from(reason.as_str())
            );
        }
    }
}

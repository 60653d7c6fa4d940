//! The names of the columns the stages hand each other, and the check that a frame crossing
//! from one stage to the next has the columns the next one reads.

use polars::prelude::DataFrame;

/// An event's time, µs since the epoch.
pub const TS_US: &str = "ts_us";
/// The run's code of an event's key (`-1`: a key the run does not know).
pub const KEY_CODE: &str = "key_code";
/// The run's code of an event's model (`-1`: a model without a price).
pub const MODEL_CODE: &str = "model_code";
pub const INPUT_TOKENS: &str = "input_tokens";
pub const OUTPUT_TOKENS: &str = "output_tokens";
/// The usage day in the key's Team's zone, as a day number (B3).
pub const USAGE_DAY: &str = "usage_day";
/// A hash of the event id, to find the few ids that may repeat.
pub const ID_HASH: &str = "id_hash";
/// The event's rowid in `usage_events`.
pub const ROW_ID: &str = "row_id";
pub const EVENT_ID: &str = "event_id";
/// Whether an event repeats an earlier event's id (B13).
pub const DUPLICATE: &str = "duplicate";
/// The run's code of the key interval an event falls in.
pub const IV_CODE: &str = "iv_code";
/// How an event settled: an [`super::outcome::Outcome`] code.
pub const OUTCOME: &str = "outcome";
/// Usage of a day before the day billed (B14).
pub const LATE: &str = "late";
/// Events summed in a row.
pub const EVENTS: &str = "events";
/// What funds an interval's events: a [`super::lookup::Funding`] code.
pub const FUNDING: &str = "funding";
/// The run's code of a seat cycle.
pub const SEAT_CODE: &str = "seat_code";
/// Credits access of the key's holder in an interval.
pub const ACCESS: &str = "access";
pub const USER_CODE: &str = "user_code";
pub const TIER_CODE: &str = "tier_code";
/// A seat cycle's quota, in tokens.
pub const QUOTA: &str = "quota";
/// A seat cycle's tokens on earlier billed days.
pub const PRIOR: &str = "prior";
/// Input and output tokens together.
pub const TOKENS: &str = "tokens";

/// An event as the store hands it over ([`crate::store::LEAN_COLUMNS`]), read by `reduce`.
pub const EVENT: [&str; 7] = [
    TS_US,
    KEY_CODE,
    MODEL_CODE,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    USAGE_DAY,
    ID_HASH,
];

/// What an event read again for funding in order has besides [`EVENT`]: its row, and whether
/// it repeats an id.
pub const REREAD: [&str; 2] = [ROW_ID, DUPLICATE];

/// The ids of events that share an instant, to put them in B12 order.
pub const EVENT_IDS: [&str; 2] = [ROW_ID, EVENT_ID];

/// Usage summed per interval, model and usage day, with its outcome once funded.
pub const USAGE: [&str; 7] = [
    IV_CODE,
    MODEL_CODE,
    USAGE_DAY,
    OUTCOME,
    EVENTS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
];

/// One row per line of usage billed or unfunded (the tier only on plan lines).
pub const LINES: [&str; 9] = [
    KEY_CODE,
    USER_CODE,
    TIER_CODE,
    OUTCOME,
    MODEL_CODE,
    USAGE_DAY,
    EVENTS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
];

/// Events per outcome and lateness.
pub const COUNTS: [&str; 3] = [OUTCOME, LATE, EVENTS];

/// Tokens each seat cycle's quota covered.
pub const SEAT_TOKENS: [&str; 2] = [SEAT_CODE, TOKENS];

/// A frame that lacks a column the stage it reaches reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{stage}` reads the column `{column}`, which the frame it was handed lacks")]
pub struct MissingColumn {
    pub stage: &'static str,
    pub column: &'static str,
}

/// Checks that `frame`, handed to `stage`, has every column of `columns`.
pub fn expect(
    frame: &DataFrame,
    stage: &'static str,
    columns: &[&'static str],
) -> Result<(), MissingColumn> {
    let schema = frame.schema();
    match columns.iter().find(|column| !schema.contains(column)) {
        Some(column) => Err(MissingColumn { stage, column }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    #[test]
    fn the_store_hands_over_the_columns_reduce_reads() {
        assert_eq!(EVENT, crate::store::LEAN_COLUMNS);
    }

    #[test]
    fn a_missing_column_is_named_with_the_stage_that_reads_it() {
        let frame = df!(OUTCOME => [0i32], EVENTS => [1i64]).unwrap();
        assert_eq!(expect(&frame, "price", &[OUTCOME, EVENTS]), Ok(()));
        let missing = expect(&frame, "price", &COUNTS).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "`price` reads the column `late`, which the frame it was handed lacks"
        );
    }
}

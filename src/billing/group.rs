//! The funded usage grouped for the statements: one row per line, events counted per outcome
//! and lateness, and the tokens each seat cycle's quota covered.

use polars::prelude::*;

use super::columns::{
    EVENTS, IV_CODE, KEY_CODE, LATE, MODEL_CODE, OUTCOME, SEAT_CODE, TIER_CODE, TOKENS, USAGE_DAY,
    USER_CODE,
};
use super::frames::{JoinOn as _, collect_all, summed, tokens};
use super::fund::Funded;
use super::outcome::Outcome;
use super::reduce::late;

/// The run's usage as statement material, still in the run's codes.
pub struct Grouped {
    /// [`super::columns::LINES`]: one row per line of usage billed (the tier only on plan
    /// lines) or unfunded.
    pub lines: DataFrame,
    /// [`super::columns::COUNTS`]: events per outcome and lateness.
    pub counts: DataFrame,
    /// [`super::columns::SEAT_TOKENS`]: tokens each seat cycle's quota covered.
    pub seat_usage: DataFrame,
}

/// Groups `funded`, the usage of the run of `day` (a day number).
pub fn group(funded: Funded, day: i64) -> PolarsResult<Grouped> {
    let Funded {
        usage,
        quarantined,
        intervals,
    } = funded;
    let usage = usage.cache();
    let counts = concat(
        [
            quarantined,
            usage
                .clone()
                .group_by([col(OUTCOME), late(day)])
                .agg([col(EVENTS).sum()]),
        ],
        UnionArgs::default(),
    )?
    .group_by([col(OUTCOME), col(LATE)])
    .agg([col(EVENTS).sum()])
    .filter(col(EVENTS).gt(lit(0)))
    .sort([OUTCOME, LATE], SortMultipleOptions::default());
    let seat_usage = usage
        .clone()
        .filter(col(OUTCOME).eq(Outcome::Plan.lit()))
        .join_on(intervals.clone(), IV_CODE, JoinType::Inner)
        .group_by([col(SEAT_CODE)])
        .agg([tokens().sum().alias(TOKENS)])
        .sort([SEAT_CODE], SortMultipleOptions::default());
    let lines = usage
        .filter(
            col(OUTCOME)
                .eq(Outcome::Plan.lit())
                .or(col(OUTCOME).eq(Outcome::Credits.lit()))
                .or(col(OUTCOME).eq(Outcome::Payg.lit()))
                .or(col(OUTCOME).eq(Outcome::Unfunded.lit())),
        )
        .join_on(intervals, IV_CODE, JoinType::Inner)
        .with_column(
            when(col(OUTCOME).eq(Outcome::Plan.lit()))
                .then(col(TIER_CODE))
                .otherwise(lit(NULL).cast(DataType::Int32))
                .alias(TIER_CODE),
        )
        .group_by([
            col(KEY_CODE),
            col(USER_CODE),
            col(TIER_CODE),
            col(OUTCOME),
            col(MODEL_CODE),
            col(USAGE_DAY),
        ])
        .agg(summed());
    let [lines, counts, seat_usage] = collect_all([lines, counts, seat_usage])?;
    Ok(Grouped {
        lines,
        counts,
        seat_usage,
    })
}

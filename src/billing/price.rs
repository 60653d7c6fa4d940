//! The grouped usage named and priced: each line's codes become the names of its key, user,
//! tier and model, and each Credits or pay-as-you-go line is priced exactly and rounded once
//! (B7, B11). A missing value is an error, never a default.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError};

use super::columns::{
    self, EVENTS, INPUT_TOKENS, KEY_CODE, LATE, MODEL_CODE, MissingColumn, OUTCOME, OUTPUT_TOKENS,
    SEAT_CODE, TIER_CODE, TOKENS, USAGE_DAY, USER_CODE,
};
use super::error::BillingError;
use super::group::Grouped;
use super::lookup::Lookup;
use super::outcome::Outcome;
use super::replay::{Replay, SeatUsage};
use super::statement::{StatementLine, Unfunded, Usage};
use crate::money::Amount;
use crate::prices::{Currency, Prices};

/// Grouped usage that can't be named or priced.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error(transparent)]
    Columns(#[from] MissingColumn),
    /// A column of another type.
    #[error("the grouped usage has no column as expected")]
    Column(#[from] PolarsError),
    #[error("`{column}` is missing in row {row}")]
    Missing { column: &'static str, row: usize },
    #[error("`{column}` holds a negative count {count}")]
    NegativeCount { column: &'static str, count: i64 },
    /// An outcome code [`Outcome`] does not have.
    #[error("unknown outcome code {0}")]
    UnknownOutcome(i32),
    /// A line whose outcome funds no statement line (a quarantine or duplicate among usage).
    #[error("a usage line has outcome `{0:?}`, which no balance pays")]
    NotALine(Outcome),
    /// A code the run's lookup does not have.
    #[error("unknown {table} code {code}")]
    UnknownCode {
        /// What it codes: `key`, `user`, `tier`, `model` or `seat`.
        table: &'static str,
        code: i32,
    },
    #[error("usage day number {0} is not a date")]
    NotADate(i64),
    #[error("unfunded token sums overflow `i64`")]
    SumsOverflow,
    /// A key whose Team the run does not know.
    #[error("key `{0}` has no Team")]
    NoTeam(String),
    /// A billed model without a price in the Team's currency.
    #[error("model `{model}` has no price in {currency}")]
    NoPrice { model: String, currency: Currency },
}

/// The run's usage, named and priced.
#[derive(Debug, Default)]
pub struct Priced {
    /// Usage lines per Team.
    pub usage: BTreeMap<String, Vec<StatementLine>>,
    /// Unfunded usage per Team.
    pub unfunded: BTreeMap<String, Vec<Unfunded>>,
    /// Events per outcome.
    pub counts: BTreeMap<Outcome, u64>,
    /// Usage of earlier days (B14).
    pub late: u64,
    /// Tokens each seat cycle's quota covered.
    pub seat_usage: Vec<SeatUsage>,
}

impl Priced {
    /// Names and prices `grouped`, the usage of the run of `day` (a day number) of the Teams
    /// of `replays`.
    pub fn new(
        grouped: &Grouped,
        lookup: &Lookup,
        prices: &Prices,
        replays: &BTreeMap<String, Replay>,
        day: i64,
    ) -> Result<Self, BillingError> {
        columns::expect(&grouped.lines, "price", &columns::LINES).map_err(PriceError::from)?;
        columns::expect(&grouped.counts, "price", &columns::COUNTS).map_err(PriceError::from)?;
        columns::expect(&grouped.seat_usage, "price", &columns::SEAT_TOKENS)
            .map_err(PriceError::from)?;
        let mut priced = Priced::default();
        priced.add_lines(&grouped.lines, lookup, prices, replays, day)?;
        priced.add_counts(&grouped.counts)?;
        priced.seat_usage = seat_usage(&grouped.seat_usage, lookup)?;
        Ok(priced)
    }

    /// Merges the rows of `frame` ([`columns::LINES`]) into usage lines, each priced once,
    /// and unfunded usage per user and key.
    fn add_lines(
        &mut self,
        frame: &DataFrame,
        lookup: &Lookup,
        prices: &Prices,
        replays: &BTreeMap<String, Replay>,
        day: i64,
    ) -> Result<(), BillingError> {
        let mut unfunded: BTreeMap<(&str, &str, &str), Sums> = BTreeMap::new();
        let (keys, users, tiers) = (
            i32s(frame, KEY_CODE)?,
            i32s(frame, USER_CODE)?,
            optional_i32s(frame, TIER_CODE)?,
        );
        let (models, days) = (i32s(frame, MODEL_CODE)?, i64s(frame, USAGE_DAY)?);
        let (events, input, output) = (
            counts(frame, EVENTS)?,
            i64s(frame, INPUT_TOKENS)?,
            i64s(frame, OUTPUT_TOKENS)?,
        );
        for (row, outcome) in outcomes(frame)?.into_iter().enumerate() {
            let key = named("key", &lookup.keys, keys[row])?;
            let user = named("user", &lookup.users, users[row])?;
            if outcome == Outcome::Unfunded {
                let at = (key.team.as_str(), user.as_str(), key.id.as_str());
                add(
                    unfunded.entry(at).or_default(),
                    (events[row], input[row], output[row]),
                )?;
                continue;
            }
            let model = named("model", &lookup.models, models[row])?;
            let currency = replays
                .get(&key.team)
                .map(|replay| Currency::of(replay.state.region))
                .ok_or_else(|| PriceError::NoTeam(key.id.clone()))?;
            let line = Usage {
                tier: tiers[row]
                    .map(|tier| named("tier", &lookup.tiers, tier).cloned())
                    .transpose()?,
                user: user.clone(),
                key: key.id.clone(),
                model: model.clone(),
                usage_day: date(days[row])?,
                late: days[row] < day,
                events: events[row],
                input_tokens: input[row],
                output_tokens: output[row],
                amount: if outcome == Outcome::Plan {
                    Amount::ZERO
                } else {
                    let price = prices
                        .usage_price(model, currency, input[row], output[row])
                        .map_err(BillingError::money(&key.team))?
                        .ok_or_else(|| PriceError::NoPrice {
                            model: model.clone(),
                            currency,
                        })?;
                    Amount::round(price)
                },
            };
            self.usage
                .entry(key.team.clone())
                .or_default()
                .push(match outcome {
                    Outcome::Plan => StatementLine::Plan(line),
                    Outcome::Credits => StatementLine::Credits(line),
                    Outcome::Payg => StatementLine::Payg(line),
                    other => return Err(PriceError::NotALine(other).into()),
                });
        }
        for ((team, user, key), (events, input, output)) in unfunded {
            self.unfunded
                .entry(team.to_owned())
                .or_default()
                .push(Unfunded {
                    user: user.to_owned(),
                    key: key.to_owned(),
                    events,
                    input_tokens: input,
                    output_tokens: output,
                });
        }
        Ok(())
    }

    /// Adds the counts of `frame` ([`columns::COUNTS`]).
    fn add_counts(&mut self, frame: &DataFrame) -> Result<(), PriceError> {
        for ((outcome, n), late) in outcomes(frame)?
            .into_iter()
            .zip(counts(frame, EVENTS)?)
            .zip(bools(frame, LATE)?)
        {
            *self.counts.entry(outcome).or_insert(0) += n;
            // Late usage is usage billed (or found unfunded) on a later day (B14); a late
            // duplicate or quarantined event is counted under its own outcome only (B13).
            if late && outcome.is_usage() {
                self.late += n;
            }
        }
        Ok(())
    }
}

/// The seat usage of `frame` ([`columns::SEAT_TOKENS`]), named.
fn seat_usage(frame: &DataFrame, lookup: &Lookup) -> Result<Vec<SeatUsage>, PriceError> {
    i32s(frame, SEAT_CODE)?
        .into_iter()
        .zip(i64s(frame, TOKENS)?)
        .map(|(seat, tokens)| {
            let seat = named("seat", &lookup.seats, seat)?;
            Ok(SeatUsage {
                team: seat.team.clone(),
                tier: seat.tier.clone(),
                seat: seat.seat,
                cycle_start: seat.cycle_start,
                tokens,
            })
        })
        .collect()
}

fn values<T>(
    column: &'static str,
    values: impl Iterator<Item = Option<T>>,
) -> Result<Vec<T>, PriceError> {
    values
        .enumerate()
        .map(|(row, value)| value.ok_or(PriceError::Missing { column, row }))
        .collect()
}

fn i32s(frame: &DataFrame, column: &'static str) -> Result<Vec<i32>, PriceError> {
    values(column, frame.column(column)?.i32()?.iter())
}

/// A column where a null means "none".
fn optional_i32s(frame: &DataFrame, column: &str) -> Result<Vec<Option<i32>>, PriceError> {
    Ok(frame.column(column)?.i32()?.iter().collect())
}

fn i64s(frame: &DataFrame, column: &'static str) -> Result<Vec<i64>, PriceError> {
    values(column, frame.column(column)?.i64()?.iter())
}

/// Event counts: a negative count is an error.
fn counts(frame: &DataFrame, column: &'static str) -> Result<Vec<u64>, PriceError> {
    i64s(frame, column)?
        .into_iter()
        .map(|count| u64::try_from(count).map_err(|_| PriceError::NegativeCount { column, count }))
        .collect()
}

fn bools(frame: &DataFrame, column: &'static str) -> Result<Vec<bool>, PriceError> {
    values(column, frame.column(column)?.bool()?.iter())
}

fn outcomes(frame: &DataFrame) -> Result<Vec<Outcome>, PriceError> {
    i32s(frame, OUTCOME)?
        .into_iter()
        .map(|code| Outcome::of_code(code).ok_or(PriceError::UnknownOutcome(code)))
        .collect()
}

/// The entry of `table` a code names.
fn named<'a, T>(table: &'static str, entries: &'a [T], code: i32) -> Result<&'a T, PriceError> {
    usize::try_from(code)
        .ok()
        .and_then(|i| entries.get(i))
        .ok_or(PriceError::UnknownCode { table, code })
}

/// The usage day a day number names.
fn date(day_number: i64) -> Result<NaiveDate, PriceError> {
    crate::calendar::from_day_number(day_number).ok_or(PriceError::NotADate(day_number))
}

/// What one usage line sums: events, input and output tokens.
type Sums = (u64, i64, i64);

/// Adds `more` to `sums`; a count beyond its integer type is an error, never a wrapped value.
fn add(sums: &mut Sums, more: Sums) -> Result<(), PriceError> {
    let overflow = || PriceError::SumsOverflow;
    *sums = (
        sums.0.checked_add(more.0).ok_or_else(overflow)?,
        sums.1.checked_add(more.1).ok_or_else(overflow)?,
        sums.2.checked_add(more.2).ok_or_else(overflow)?,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_names_its_column_and_row() {
        let missing = values(EVENTS, [Some(1), None].into_iter()).unwrap_err();
        assert_eq!(missing.to_string(), "`events` is missing in row 1");
        assert_eq!(
            named::<String>("model", &[], 3).unwrap_err().to_string(),
            "unknown model code 3"
        );
    }

    #[test]
    fn an_unpriced_model_or_a_key_without_a_team_is_a_billing_error_with_its_cause() {
        let unpriced = BillingError::from(PriceError::NoPrice {
            model: "m1".into(),
            currency: Currency::Usd,
        });
        assert_eq!(
            crate::error_chain(&unpriced),
            "cannot assemble the day's statements; nothing was written: model `m1` has no price in USD"
        );
        assert_eq!(
            PriceError::NoTeam("k1".into()).to_string(),
            "key `k1` has no Team"
        );
        assert_eq!(
            PriceError::NotALine(Outcome::Duplicate).to_string(),
            "a usage line has outcome `Duplicate`, which no balance pays"
        );
    }
}

//! Statements from the day's charges and classified usage (B5-B11, B16).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError};
use rust_decimal::Decimal;

use super::classify::{Classified, Outcome};
use super::lookup::Lookup;
use super::replay::{Replay, SeatUsage};
use super::run::BillingError;
use super::statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
use crate::balance::Balance;
use crate::money;
use crate::prices::{Currency, Prices};
use crate::store::Spent;

/// A classified frame that can't be named or priced: a missing value is an error, never a
/// default.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A column is absent or of another type.
    #[error("the classified usage has no column as expected")]
    Column(#[from] PolarsError),
    /// A null where a value is needed.
    #[error("`{column}` is missing in row {row}")]
    Missing { column: String, row: usize },
    /// A negative event count.
    #[error("`{column}` holds a negative count {count}")]
    NegativeCount { column: String, count: i64 },
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
    /// A usage day number outside the calendar.
    #[error("usage day number {0} is not a date")]
    NotADate(i64),
    /// Unfunded token sums beyond `i64`.
    #[error("unfunded token sums overflow `i64`")]
    SumsOverflow,
    /// A key whose Team the run does not know.
    #[error("key `{0}` has no Team")]
    NoTeam(String),
    /// A billed model without a price in the Team's currency.
    #[error("model `{model}` has no price in {currency}")]
    NoPrice { model: String, currency: Currency },
}

fn values<T>(
    column: &str,
    values: impl Iterator<Item = Option<T>>,
) -> Result<Vec<T>, AssembleError> {
    values
        .enumerate()
        .map(|(row, value)| {
            value.ok_or_else(|| AssembleError::Missing {
                column: column.to_owned(),
                row,
            })
        })
        .collect()
}

fn i32s(frame: &DataFrame, column: &str) -> Result<Vec<i32>, AssembleError> {
    values(column, frame.column(column)?.i32()?.iter())
}

fn i64s(frame: &DataFrame, column: &str) -> Result<Vec<i64>, AssembleError> {
    values(column, frame.column(column)?.i64()?.iter())
}

/// Event counts: a negative count is an error.
fn counts(frame: &DataFrame, column: &str) -> Result<Vec<u64>, AssembleError> {
    i64s(frame, column)?
        .into_iter()
        .map(|count| {
            u64::try_from(count).map_err(|_| AssembleError::NegativeCount {
                column: column.to_owned(),
                count,
            })
        })
        .collect()
}

fn bools(frame: &DataFrame, column: &str) -> Result<Vec<bool>, AssembleError> {
    values(column, frame.column(column)?.bool()?.iter())
}

fn outcomes(frame: &DataFrame) -> Result<Vec<Outcome>, AssembleError> {
    i32s(frame, "outcome")?
        .into_iter()
        .map(|code| Outcome::of_code(code).ok_or(AssembleError::UnknownOutcome(code)))
        .collect()
}

/// The entry of `table` a code names.
fn named<'a, T>(table: &'static str, entries: &'a [T], code: i32) -> Result<&'a T, AssembleError> {
    usize::try_from(code)
        .ok()
        .and_then(|i| entries.get(i))
        .ok_or(AssembleError::UnknownCode { table, code })
}

/// The usage day a day number names.
fn date(day_number: i64) -> Result<NaiveDate, AssembleError> {
    crate::calendar::from_day_number(day_number).ok_or(AssembleError::NotADate(day_number))
}

/// What one usage line sums: events, input and output tokens.
type Sums = (u64, i64, i64);

/// Adds `more` to `sums`; a count beyond its integer type is an error, never a wrapped value.
fn add(sums: &mut Sums, more: Sums) -> Result<(), AssembleError> {
    let overflow = || AssembleError::SumsOverflow;
    *sums = (
        sums.0.checked_add(more.0).ok_or_else(overflow)?,
        sums.1.checked_add(more.1).ok_or_else(overflow)?,
        sums.2.checked_add(more.2).ok_or_else(overflow)?,
    );
    Ok(())
}

/// `result`'s amount, or the overflow as the billing error of `team`.
fn amount_of<T>(team: &str, result: Result<T, money::Overflow>) -> Result<T, BillingError> {
    result.map_err(|source| BillingError::Money {
        team: team.to_owned(),
        source,
    })
}

/// The classified usage of a run as statement material.
#[derive(Debug, Default)]
pub struct Aggregates {
    /// Usage lines per Team.
    pub usage: BTreeMap<String, Vec<StatementLine>>,
    /// Unfunded usage per Team.
    pub unfunded: BTreeMap<String, Vec<Unfunded>>,
    /// Events per outcome.
    pub counts: BTreeMap<Outcome, u64>,
    /// Late events.
    pub late: u64,
    pub seat_usage: Vec<SeatUsage>,
}

impl Aggregates {
    /// Names the codes of `classified`, merges rows into lines, and prices each line exactly,
    /// rounded once (B7, B11).
    pub fn new(
        classified: &Classified,
        lookup: &Lookup,
        prices: &Prices,
        currency_of: &dyn Fn(&str) -> Option<Currency>,
        day: i64,
    ) -> Result<Self, BillingError> {
        let mut aggregates = Aggregates::default();
        let mut usage: BTreeMap<&str, Vec<StatementLine>> = BTreeMap::new();
        let mut unfunded: BTreeMap<(&str, &str, &str), Sums> = BTreeMap::new();
        let frame = &classified.lines;
        let (keys, users, tiers) = (
            i32s(frame, "key_code")?,
            i32s(frame, "user_code")?,
            frame.column("tier_code")?.i32()?.iter().collect::<Vec<_>>(),
        );
        let (models, days) = (i32s(frame, "model_code")?, i64s(frame, "usage_day")?);
        let (events, input, output) = (
            counts(frame, "events")?,
            i64s(frame, "input_tokens")?,
            i64s(frame, "output_tokens")?,
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
            let currency =
                currency_of(&key.team).ok_or_else(|| AssembleError::NoTeam(key.id.clone()))?;
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
                    Decimal::ZERO
                } else {
                    let price = amount_of(
                        &key.team,
                        prices.usage_price(model, currency, input[row], output[row]),
                    )?
                    .ok_or_else(|| AssembleError::NoPrice {
                        model: model.clone(),
                        currency,
                    })?;
                    super::replay::round(price)
                },
            };
            usage.entry(&key.team).or_default().push(match outcome {
                Outcome::Plan => StatementLine::Plan(line),
                Outcome::Credits => StatementLine::Credits(line),
                Outcome::Payg => StatementLine::Payg(line),
                other => return Err(AssembleError::NotALine(other).into()),
            });
        }
        aggregates.usage = usage
            .into_iter()
            .map(|(team, lines)| (team.to_owned(), lines))
            .collect();
        for ((team, user, key), (events, input, output)) in unfunded {
            aggregates
                .unfunded
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
        let frame = &classified.counts;
        for ((outcome, n), late) in outcomes(frame)?
            .into_iter()
            .zip(counts(frame, "events")?)
            .zip(bools(frame, "late")?)
        {
            *aggregates.counts.entry(outcome).or_insert(0) += n;
            // Late usage is usage billed (or found unfunded) on a later day (B14); a late
            // duplicate or quarantined event is counted under its own outcome only (B13).
            if late && outcome.is_usage() {
                aggregates.late += n;
            }
        }
        let frame = &classified.seat_usage;
        for (seat, tokens) in i32s(frame, "seat_code")?
            .into_iter()
            .zip(i64s(frame, "tokens")?)
        {
            let seat = named("seat", &lookup.seats, seat)?;
            aggregates.seat_usage.push(SeatUsage {
                team: seat.team.clone(),
                tier: seat.tier.clone(),
                seat: seat.seat,
                cycle_start: seat.cycle_start,
                tokens,
            });
        }
        Ok(aggregates)
    }
}

/// One Team's statement, or `None` when the Team has nothing to bill and no balance change.
pub fn statement(
    day: NaiveDate,
    replay: &Replay,
    mut lines: Vec<StatementLine>,
    unfunded: Vec<Unfunded>,
    spent_before: Spent,
) -> Result<Option<Statement>, BillingError> {
    lines.extend(replay.charges.iter().cloned());
    if lines.is_empty() && unfunded.is_empty() && !replay.topped_up_today {
        return Ok(None);
    }
    lines.sort_by_cached_key(StatementLine::sort_key);
    let state = &replay.state;
    let totals = amount_of(&state.id, Totals::of(&lines))?;
    // A balance is exact (top-ups may have up to six decimals) and rounded once, here, so that
    // whether it is overdrawn is decided on the amount the statement shows.
    let left = |topped_up, spent, today| {
        amount_of(
            &state.id,
            money::sub(topped_up, spent).and_then(|l| money::sub(l, today)),
        )
        .map(super::replay::round)
    };
    let balances = Balances {
        credits: left(
            state.credits_topped_up,
            spent_before.credits,
            totals.credits,
        )?,
        wallet: left(state.wallet_topped_up, spent_before.wallet, totals.payg)?,
    };
    let overdrawn = [
        (Balance::Credits, balances.credits),
        (Balance::Wallet, balances.wallet),
    ]
    .into_iter()
    .filter(|(_, amount)| amount.is_sign_negative() && !amount.is_zero())
    .map(|(balance, amount)| Overdrawn { balance, amount })
    .collect();
    Ok(Some(Statement {
        team: state.id.clone(),
        day,
        region: state.region,
        currency: Currency::of(state.region),
        lines,
        totals,
        balances: Some(balances),
        unfunded,
        overdrawn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_names_its_column_and_row() {
        let missing = values("events", [Some(1), None].into_iter()).unwrap_err();
        assert_eq!(missing.to_string(), "`events` is missing in row 1");
        assert_eq!(
            named::<String>("model", &[], 3).unwrap_err().to_string(),
            "unknown model code 3"
        );
    }

    #[test]
    fn an_unpriced_model_or_a_key_without_a_team_is_a_billing_error_with_its_cause() {
        let unpriced = BillingError::from(AssembleError::NoPrice {
            model: "m1".into(),
            currency: Currency::Usd,
        });
        assert_eq!(
            crate::error_chain(&unpriced),
            "cannot assemble the day's statements; nothing was written: model `m1` has no price in USD"
        );
        assert_eq!(
            AssembleError::NoTeam("k1".into()).to_string(),
            "key `k1` has no Team"
        );
        assert_eq!(
            AssembleError::NotALine(Outcome::Duplicate).to_string(),
            "a usage line has outcome `Duplicate`, which no balance pays"
        );
    }
}

//! Statements from the day's charges and classified usage (B5-B11, B16).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError, PolarsResult};
use rust_decimal::Decimal;

use super::classify::{Classified, Outcome};
use super::lookup::{Lookup, code};
use super::replay::{Replay, SeatUsage};
use super::statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
use crate::prices::Prices;

/// A column of a small result frame as values; a missing value reads as zero or false.
fn i32s(frame: &DataFrame, column: &str) -> PolarsResult<Vec<i32>> {
    Ok(frame
        .column(column)?
        .i32()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn i64s(frame: &DataFrame, column: &str) -> PolarsResult<Vec<i64>> {
    Ok(frame
        .column(column)?
        .i64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn counts(frame: &DataFrame, column: &str) -> PolarsResult<Vec<u64>> {
    Ok(i64s(frame, column)?
        .into_iter()
        .map(|n| u64::try_from(n).unwrap_or(0))
        .collect())
}

fn bools(frame: &DataFrame, column: &str) -> PolarsResult<Vec<bool>> {
    Ok(frame
        .column(column)?
        .bool()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn outcomes(frame: &DataFrame) -> PolarsResult<Vec<Outcome>> {
    i32s(frame, "outcome")?
        .into_iter()
        .map(|code| {
            Outcome::of_code(code).ok_or_else(|| {
                PolarsError::ComputeError(format!("unknown outcome code {code}").into())
            })
        })
        .collect()
}

/// The entry a code names.
fn named<T>(entries: &[T], code: i32) -> PolarsResult<&T> {
    usize::try_from(code)
        .ok()
        .and_then(|i| entries.get(i))
        .ok_or_else(|| PolarsError::ComputeError(format!("unknown code {code}").into()))
}

fn date(day_number: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Days::new(u64::try_from(day_number).unwrap_or(0))
}

/// What one usage line sums: events, input and output tokens.
type Sums = (u64, i64, i64);

fn add(sums: &mut Sums, (events, input, output): Sums) {
    sums.0 += events;
    sums.1 += input;
    sums.2 += output;
}

/// Identifies a usage line: Team, outcome, user, key, tier, model, usage day.
type LineKey<'a> = (
    &'a str,
    Outcome,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    i64,
);

/// The classified usage of a run as statement material.
#[derive(Debug, Default)]
pub struct Aggregates {
    /// Usage lines per Team.
    pub usage: BTreeMap<String, Vec<StatementLine>>,
    /// Unfunded usage per Team.
    pub unfunded: BTreeMap<String, Vec<Unfunded>>,
    /// Events per outcome.
    pub counts: BTreeMap<String, u64>,
    /// Late events.
    pub late: u64,
    /// Seat usage.
    pub seat_usage: Vec<SeatUsage>,
}

impl Aggregates {
    /// Names the codes of `classified`, merges rows into lines, and prices each line exactly,
    /// rounded once (B7, B11).
    pub fn new(
        classified: &Classified,
        lookup: &Lookup,
        prices: &Prices,
        currency_of: &dyn Fn(&str) -> Option<&'static str>,
        day: i64,
    ) -> PolarsResult<Self> {
        let mut lines: BTreeMap<LineKey, Sums> = BTreeMap::new();
        let mut unfunded: BTreeMap<(&str, &str, &str), Sums> = BTreeMap::new();
        let frame = &classified.usage;
        let (input, output) = (i64s(frame, "input_tokens")?, i64s(frame, "output_tokens")?);
        let (intervals, models, days) = (
            i32s(frame, "iv_code")?,
            i32s(frame, "model_code")?,
            i64s(frame, "usage_day")?,
        );
        for (row, (outcome, events)) in outcomes(frame)?
            .into_iter()
            .zip(counts(frame, "events")?)
            .enumerate()
        {
            let interval = named(&lookup.intervals, intervals[row])?;
            let key = named(&lookup.keys, code(interval.key as usize))?;
            let sums = (events, input[row], output[row]);
            match outcome {
                Outcome::Plan | Outcome::Credits | Outcome::Payg => {
                    let tier = match interval.seat {
                        Some(seat) if outcome == Outcome::Plan => {
                            Some(named(&lookup.seats, code(seat as usize))?.tier.as_str())
                        }
                        _ => None,
                    };
                    let line = (
                        key.team.as_str(),
                        outcome,
                        interval.user.as_str(),
                        key.id.as_str(),
                        tier,
                        named(&lookup.models, models[row])?.as_str(),
                        days[row],
                    );
                    add(lines.entry(line).or_default(), sums);
                }
                Outcome::Unfunded => {
                    let at = (key.team.as_str(), interval.user.as_str(), key.id.as_str());
                    add(unfunded.entry(at).or_default(), sums);
                }
                _ => {}
            }
        }
        let mut aggregates = Aggregates::default();
        for ((team, outcome, user, key, tier, model, usage_day), (events, input, output)) in lines {
            let currency = currency_of(team).unwrap_or("USD");
            let usage = Usage {
                tier: tier.map(str::to_owned),
                user: user.to_owned(),
                key: key.to_owned(),
                usage_day: date(usage_day),
                late: usage_day < day,
                events,
                input_tokens: input,
                output_tokens: output,
                amount: if outcome == Outcome::Plan {
                    Decimal::ZERO
                } else {
                    super::replay::round(prices.usage_price(model, currency, input, output))
                },
                model: model.to_owned(),
            };
            let line = match outcome {
                Outcome::Plan => StatementLine::Plan(usage),
                Outcome::Credits => StatementLine::Credits(usage),
                _ => StatementLine::Payg(usage),
            };
            aggregates
                .usage
                .entry(team.to_owned())
                .or_default()
                .push(line);
        }
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
            *aggregates
                .counts
                .entry(outcome.name().to_owned())
                .or_insert(0) += n;
            if late {
                aggregates.late += n;
            }
        }
        let frame = &classified.seat_usage;
        for (seat, tokens) in i32s(frame, "seat_code")?
            .into_iter()
            .zip(i64s(frame, "tokens")?)
        {
            let seat = named(&lookup.seats, seat)?;
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

/// What was spent from a Team's Credits pool and wallet before the day.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// Credits.
    pub credits: Decimal,
    /// Wallet.
    pub wallet: Decimal,
}

/// One Team's statement, or `None` when the Team has nothing to bill and no balance change.
pub fn statement(
    day: NaiveDate,
    replay: &Replay,
    mut lines: Vec<StatementLine>,
    unfunded: Vec<Unfunded>,
    spent_before: Spent,
) -> Option<Statement> {
    lines.extend(replay.charges.iter().cloned());
    if lines.is_empty() && unfunded.is_empty() && !replay.topped_up_today {
        return None;
    }
    lines.sort_by_cached_key(StatementLine::sort_key);
    let totals = Totals::of(&lines);
    let state = &replay.state;
    let balances = Balances {
        credits: state.credits_topped_up - spent_before.credits - totals.credits,
        wallet: state.wallet_topped_up - spent_before.wallet - totals.payg,
    };
    let overdrawn = [("credits", balances.credits), ("wallet", balances.wallet)]
        .into_iter()
        .filter(|(_, amount)| amount.is_sign_negative() && !amount.is_zero())
        .map(|(balance, amount)| Overdrawn {
            balance: balance.to_owned(),
            amount,
        })
        .collect();
    Some(Statement {
        team: state.id.clone(),
        day,
        region: state.region.as_str().to_owned(),
        currency: Prices::currency(state.region).to_owned(),
        lines,
        totals,
        balances: Some(balances),
        unfunded,
        overdrawn,
    })
}

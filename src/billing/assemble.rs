//! Statements from the day's charges and classified usage (B5-B11, B16).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError, PolarsResult};
use rust_decimal::Decimal;

use super::classify::{Classified, Outcome};
use super::lookup::Lookup;
use super::replay::{Replay, SeatUsage};
use super::statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
use crate::prices::Prices;

/// Reads integer and boolean cells of a small result frame; a missing cell reads as zero.
struct Cells<'a>(&'a DataFrame);

impl Cells<'_> {
    fn i32(&self, column: &str, row: usize) -> PolarsResult<i32> {
        Ok(self.0.column(column)?.i32()?.get(row).unwrap_or(0))
    }
    fn i64(&self, column: &str, row: usize) -> PolarsResult<i64> {
        Ok(self.0.column(column)?.i64()?.get(row).unwrap_or(0))
    }
    fn count(&self, column: &str, row: usize) -> PolarsResult<u64> {
        Ok(u64::try_from(self.i64(column, row)?).unwrap_or(0))
    }
    fn bool(&self, column: &str, row: usize) -> PolarsResult<bool> {
        Ok(self.0.column(column)?.bool()?.get(row).unwrap_or(false))
    }
    fn outcome(&self, row: usize) -> PolarsResult<Outcome> {
        let code = self.i32("outcome", row)?;
        Outcome::of_code(code)
            .ok_or_else(|| PolarsError::ComputeError(format!("unknown outcome code {code}").into()))
    }
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
type LineKey = (String, Outcome, String, String, Option<String>, String, i64);

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
        let mut unfunded: BTreeMap<(String, String, String), Sums> = BTreeMap::new();
        let usage = Cells(&classified.usage);
        for row in 0..classified.usage.height() {
            let outcome = usage.outcome(row)?;
            let interval =
                &lookup.intervals[usize::try_from(usage.i32("iv_code", row)?).unwrap_or(0)];
            let key = &lookup.keys[interval.key as usize];
            let sums = (
                usage.count("events", row)?,
                usage.i64("input_tokens", row)?,
                usage.i64("output_tokens", row)?,
            );
            let model = || {
                let code = usize::try_from(usage.i32("model_code", row)?).unwrap_or(0);
                Ok::<_, PolarsError>(lookup.models[code].clone())
            };
            match outcome {
                Outcome::Plan | Outcome::Credits | Outcome::Payg => {
                    let tier = interval
                        .seat
                        .filter(|_| outcome == Outcome::Plan)
                        .map(|s| lookup.seats[s as usize].tier.clone());
                    let line = (
                        key.team.clone(),
                        outcome,
                        interval.user.clone(),
                        key.id.clone(),
                        tier,
                        model()?,
                        usage.i64("usage_day", row)?,
                    );
                    add(lines.entry(line).or_default(), sums);
                }
                Outcome::Unfunded => {
                    let at = (key.team.clone(), interval.user.clone(), key.id.clone());
                    add(unfunded.entry(at).or_default(), sums);
                }
                _ => {}
            }
        }
        let mut aggregates = Aggregates::default();
        for ((team, outcome, user, key, tier, model, usage_day), (events, input, output)) in lines {
            let currency = currency_of(&team).unwrap_or("USD");
            let usage = Usage {
                tier,
                user,
                key,
                usage_day: date(usage_day),
                late: usage_day < day,
                events,
                input_tokens: input,
                output_tokens: output,
                amount: if outcome == Outcome::Plan {
                    Decimal::ZERO
                } else {
                    super::replay::round(prices.usage_price(&model, currency, input, output))
                },
                model,
            };
            let line = match outcome {
                Outcome::Plan => StatementLine::Plan(usage),
                Outcome::Credits => StatementLine::Credits(usage),
                _ => StatementLine::Payg(usage),
            };
            aggregates.usage.entry(team).or_default().push(line);
        }
        for ((team, user, key), (events, input, output)) in unfunded {
            aggregates.unfunded.entry(team).or_default().push(Unfunded {
                user,
                key,
                events,
                input_tokens: input,
                output_tokens: output,
            });
        }
        let counts = Cells(&classified.counts);
        for row in 0..classified.counts.height() {
            let n = counts.count("events", row)?;
            *aggregates
                .counts
                .entry(counts.outcome(row)?.name().to_owned())
                .or_insert(0) += n;
            if counts.bool("late", row)? {
                aggregates.late += n;
            }
        }
        let seats = Cells(&classified.seat_usage);
        for row in 0..classified.seat_usage.height() {
            let seat = &lookup.seats[usize::try_from(seats.i32("seat_code", row)?).unwrap_or(0)];
            aggregates.seat_usage.push(SeatUsage {
                team: seat.team.clone(),
                tier: seat.tier.clone(),
                seat: seat.seat,
                cycle_start: seat.cycle_start,
                tokens: seats.i64("tokens", row)?,
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
    lines.sort_by_key(StatementLine::sort_key);
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

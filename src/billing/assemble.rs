//! Statements from the day's charges and classified usage (B5-B11, B16).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsResult};
use rust_decimal::Decimal;

use super::classify::Classified;
use super::replay::{Replay, SeatUsage};
use super::statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
use crate::prices::Prices;

/// Reads string, integer and boolean cells of a small result frame.
struct Cells<'a>(&'a DataFrame);

impl Cells<'_> {
    fn str(&self, column: &str, row: usize) -> PolarsResult<Option<String>> {
        Ok(self.0.column(column)?.str()?.get(row).map(str::to_owned))
    }
    fn i64(&self, column: &str, row: usize) -> PolarsResult<Option<i64>> {
        Ok(self.0.column(column)?.i64()?.get(row))
    }
    fn bool(&self, column: &str, row: usize) -> PolarsResult<Option<bool>> {
        Ok(self.0.column(column)?.bool()?.get(row))
    }
}

fn date(day_number: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Days::new(u64::try_from(day_number).unwrap_or(0))
}

/// Usage lines per Team, priced exactly and rounded once per line (B7, B11).
fn usage_lines(
    lines: &DataFrame,
    prices: &Prices,
    currency_of: &dyn Fn(&str) -> Option<&'static str>,
) -> PolarsResult<BTreeMap<String, Vec<StatementLine>>> {
    let cells = Cells(lines);
    let mut by_team: BTreeMap<String, Vec<StatementLine>> = BTreeMap::new();
    for row in 0..lines.height() {
        let team = cells.str("team_id", row)?.unwrap_or_default();
        let model = cells.str("model", row)?.unwrap_or_default();
        let (input, output) = (
            cells.i64("input_tokens", row)?.unwrap_or(0),
            cells.i64("output_tokens", row)?.unwrap_or(0),
        );
        let currency = currency_of(&team).unwrap_or("USD");
        let price = |per_million: &BTreeMap<String, Decimal>| {
            per_million.get(currency).copied().unwrap_or_default()
        };
        let amount = prices.models.get(&model).map_or(Decimal::ZERO, |m| {
            (Decimal::from(input) * price(&m.input_per_million)
                + Decimal::from(output) * price(&m.output_per_million))
                / Decimal::from(1_000_000)
        });
        let outcome = cells.str("outcome", row)?.unwrap_or_default();
        let usage = Usage {
            tier: cells.str("line_tier", row)?,
            user: cells.str("iv_user", row)?.unwrap_or_default(),
            key: cells.str("key_id", row)?.unwrap_or_default(),
            model,
            usage_day: date(cells.i64("usage_day", row)?.unwrap_or(0)),
            late: cells.bool("late", row)?.unwrap_or(false),
            events: u64::try_from(cells.i64("events", row)?.unwrap_or(0)).unwrap_or(0),
            input_tokens: input,
            output_tokens: output,
            amount: if outcome == "plan" {
                Decimal::ZERO
            } else {
                super::replay::round(amount)
            },
        };
        let line = match outcome.as_str() {
            "plan" => StatementLine::Plan(usage),
            "credits" => StatementLine::Credits(usage),
            _ => StatementLine::Payg(usage),
        };
        by_team.entry(team).or_default().push(line);
    }
    Ok(by_team)
}

/// Unfunded usage per Team.
fn unfunded(frame: &DataFrame) -> PolarsResult<BTreeMap<String, Vec<Unfunded>>> {
    let cells = Cells(frame);
    let mut by_team: BTreeMap<String, Vec<Unfunded>> = BTreeMap::new();
    for row in 0..frame.height() {
        by_team
            .entry(cells.str("team_id", row)?.unwrap_or_default())
            .or_default()
            .push(Unfunded {
                user: cells.str("iv_user", row)?.unwrap_or_default(),
                key: cells.str("key_id", row)?.unwrap_or_default(),
                events: u64::try_from(cells.i64("events", row)?.unwrap_or(0)).unwrap_or(0),
                input_tokens: cells.i64("input_tokens", row)?.unwrap_or(0),
                output_tokens: cells.i64("output_tokens", row)?.unwrap_or(0),
            });
    }
    Ok(by_team)
}

/// Event counts per outcome, and how many were late.
fn counts(frame: &DataFrame) -> PolarsResult<(BTreeMap<String, u64>, u64)> {
    let cells = Cells(frame);
    let (mut by_outcome, mut late) = (BTreeMap::new(), 0);
    for row in 0..frame.height() {
        let n = u64::try_from(cells.i64("events", row)?.unwrap_or(0)).unwrap_or(0);
        *by_outcome
            .entry(cells.str("outcome", row)?.unwrap_or_default())
            .or_insert(0) += n;
        if cells.bool("late", row)?.unwrap_or(false) {
            late += n;
        }
    }
    Ok((by_outcome, late))
}

/// Tokens each seat's quota covered, per cycle.
fn seat_usage(frame: &DataFrame) -> PolarsResult<Vec<SeatUsage>> {
    let cells = Cells(frame);
    (0..frame.height())
        .map(|row| {
            Ok(SeatUsage {
                team: cells.str("team_id", row)?.unwrap_or_default(),
                tier: cells.str("iv_tier", row)?.unwrap_or_default(),
                seat: cells.i64("iv_seat", row)?.unwrap_or(0),
                cycle_start: date(cells.i64("iv_cycle", row)?.unwrap_or(0)),
                tokens: cells.i64("tokens", row)?.unwrap_or(0),
            })
        })
        .collect()
}

/// The classified usage of a run, merged over its chunks (each chunk holds whole Teams).
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
    /// Adds one chunk's results.
    pub fn add(
        &mut self,
        classified: &Classified,
        prices: &Prices,
        currency_of: &dyn Fn(&str) -> Option<&'static str>,
    ) -> PolarsResult<()> {
        for (team, lines) in usage_lines(&classified.lines, prices, currency_of)? {
            self.usage.entry(team).or_default().extend(lines);
        }
        for (team, unfunded) in unfunded(&classified.unfunded)? {
            self.unfunded.entry(team).or_default().extend(unfunded);
        }
        let (counts, late) = counts(&classified.counts)?;
        for (outcome, n) in counts {
            *self.counts.entry(outcome).or_default() += n;
        }
        self.late += late;
        self.seat_usage.extend(seat_usage(&classified.seat_usage)?);
        Ok(())
    }

    /// Events classified so far.
    pub fn events(&self) -> u64 {
        self.counts.values().sum()
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

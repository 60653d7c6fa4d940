//! A day's summary, and the reconciliation that refuses to commit a day whose counts or sums do
//! not add up (B7, B13).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::BillingError;
use super::outcome::{Outcome, Quarantine};
use super::price::Priced;
use super::statement::{Statement, StatementLine, Totals};
use crate::money::Amount;
use crate::prices::Currency;

/// What a run did (`summary.json`): every event read is counted once in billed, unfunded,
/// duplicates or quarantined (B13); `late` counts the billed or unfunded events of earlier days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The billing day.
    pub day: NaiveDate,
    pub events_read: u64,
    /// Billed (plan, Credits or pay-as-you-go).
    pub billed: u64,
    /// Funded by nothing (B10).
    pub unfunded: u64,
    /// Repeated event ids (B13).
    pub duplicates: u64,
    /// Quarantined, per reason.
    pub quarantined: BTreeMap<Quarantine, u64>,
    /// Usage of earlier days billed now (B14).
    pub late: u64,
    /// Statements written.
    pub statements: u64,
    /// Statement totals per currency.
    pub totals: BTreeMap<Currency, Amount>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
}

/// The summary of `day`: `events_read`, settled as `priced` counts them, into `statements`,
/// in a run that `started`.
pub fn summarize(
    day: NaiveDate,
    events_read: u64,
    priced: &Priced,
    statements: &[Statement],
    started: Instant,
) -> Result<Summary, BillingError> {
    let counts = &priced.counts;
    let count = |outcome: Outcome| counts.get(&outcome).copied().unwrap_or(0);
    let mut totals: BTreeMap<Currency, Amount> = BTreeMap::new();
    for statement in statements {
        let currency = statement.currency;
        let total = totals.entry(currency).or_default();
        *total = total
            .checked_add(statement.totals.total)
            .map_err(|source| BillingError::DayTotal {
                day,
                currency,
                source,
            })?;
    }
    Ok(Summary {
        day,
        events_read,
        billed: count(Outcome::Plan) + count(Outcome::Credits) + count(Outcome::Payg),
        unfunded: count(Outcome::Unfunded),
        duplicates: count(Outcome::Duplicate),
        quarantined: counts
            .iter()
            .filter_map(|(outcome, n)| outcome.quarantine().map(|reason| (reason, *n)))
            .collect(),
        late: priced.late,
        statements: statements.len() as u64,
        totals,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

impl Summary {
    /// The summary of the whole day from those of its shards (B23): every count and total is
    /// the sum of theirs, the duration the longest. `None` for no shard; an error names what
    /// differs or overflows.
    pub fn of_shards(shards: impl IntoIterator<Item = Summary>) -> Result<Option<Summary>, String> {
        let mut shards = shards.into_iter();
        let Some(mut whole) = shards.next() else {
            return Ok(None);
        };
        for shard in shards {
            if shard.day != whole.day {
                return Err(format!(
                    "a summary of {} among those of {}",
                    shard.day, whole.day
                ));
            }
            whole.events_read += shard.events_read;
            whole.billed += shard.billed;
            whole.unfunded += shard.unfunded;
            whole.duplicates += shard.duplicates;
            whole.late += shard.late;
            whole.statements += shard.statements;
            whole.duration_ms = whole.duration_ms.max(shard.duration_ms);
            for (reason, n) in shard.quarantined {
                *whole.quarantined.entry(reason).or_default() += n;
            }
            for (currency, amount) in shard.totals {
                let total = whole.totals.entry(currency).or_default();
                *total = total
                    .checked_add(amount)
                    .map_err(|e| format!("the total in {currency}: {e}"))?;
            }
        }
        Ok(Some(whole))
    }

    /// Whether every event read is counted once (B13).
    pub fn adds_up(&self) -> bool {
        self.billed + self.unfunded + self.duplicates + self.quarantined.values().sum::<u64>()
            == self.events_read
    }
}

/// Counts add up to the events read, every event billed or unfunded is on a statement (none is
/// left in `priced`, whose Teams' usage the statements took), and every total is the sum of
/// its lines (B7, B13).
pub fn reconcile(
    summary: &Summary,
    priced: &Priced,
    statements: &[Statement],
) -> Result<(), BillingError> {
    let fail = |message: String| {
        Err(BillingError::Reconciliation {
            day: summary.day,
            message,
        })
    };
    let settled = summary.billed
        + summary.unfunded
        + summary.duplicates
        + summary.quarantined.values().sum::<u64>();
    if !summary.adds_up() || priced.counts.values().sum::<u64>() != summary.events_read {
        return fail(format!(
            "{} events read but {settled} settled",
            summary.events_read
        ));
    }
    if !priced.usage.is_empty() || !priced.unfunded.is_empty() {
        let teams: Vec<&String> = priced.usage.keys().chain(priced.unfunded.keys()).collect();
        return fail(format!(
            "usage of unknown Team(s) {teams:?} has no statement"
        ));
    }
    let on_statements: u64 = statements
        .iter()
        .flat_map(|s| s.lines.iter().filter_map(StatementLine::usage))
        .map(|u| u.events)
        .sum();
    let unfunded: u64 = statements
        .iter()
        .flat_map(|s| s.unfunded.iter())
        .map(|u| u.events)
        .sum();
    if on_statements != summary.billed || unfunded != summary.unfunded {
        return fail(format!(
            "{} billed and {} unfunded events, but statements carry {on_statements} and {unfunded}",
            summary.billed, summary.unfunded
        ));
    }
    for statement in statements {
        if Totals::of(&statement.lines).as_ref() != Ok(&statement.totals) {
            return fail(format!(
                "totals of `{}` are not the sum of its lines",
                statement.team
            ));
        }
    }
    Ok(())
}

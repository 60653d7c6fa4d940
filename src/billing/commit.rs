//! A computed day committed to the store in one transaction, and a billed day read back as
//! stored: a billed day is reproduced, never recomputed (B15).

use chrono::NaiveDate;
use rayon::prelude::*;

use super::error::BillingError;
use super::reconcile::Summary;
use super::replay::SeatUsage;
use super::run::DayReport;
use super::statement::Statement;
use crate::balance::Balance;
use crate::money::Amount;
use crate::store::{CarriedRow, DayRows, StatementRow, Store, StoreError};

/// A day computed and reconciled, not yet committed.
pub struct Computed {
    pub report: DayReport,
    /// The last `usage_events` row the run saw: the day settles every event up to it.
    pub max_rowid: i64,
    /// Tokens each seat cycle's quota covered on the day.
    pub seat_usage: Vec<SeatUsage>,
    /// What the day hands the next night, per Team.
    pub carried: Vec<CarriedRow>,
    /// The highest id of the adjustments its statements bill (-1: none).
    pub adjustments_through: i64,
}

/// Writes the day's statements, seat usage and summary in one transaction; the store's first
/// billed day also fixes its window of `window_days` (B21).
pub fn commit(
    store: &mut Store,
    computed: &Computed,
    window_days: u32,
) -> Result<(), BillingError> {
    let report = &computed.report;
    // Compact in the store (files and views print it pretty), serialized on every core.
    let statements = report
        .statements
        .par_iter()
        .map(|statement| {
            Ok(StatementRow {
                team: statement.team.to_string(),
                body: serde_json::to_string(statement)
                    .map_err(BillingError::json(statement.team.as_str()))?,
                credits_spent: taken(statement, Balance::Credits)?,
                wallet_spent: taken(statement, Balance::Wallet)?,
            })
        })
        .collect::<Result<Vec<_>, BillingError>>()?;
    let summary = serde_json::to_string(&report.summary).map_err(BillingError::json("summary"))?;
    store.commit_day(&DayRows {
        day: report.summary.day,
        statements: &statements,
        seat_usage: &computed.seat_usage,
        max_rowid: computed.max_rowid,
        summary: &summary,
        window_days,
        carried: &computed.carried,
        adjustments_through: computed.adjustments_through,
    })?;
    Ok(())
}

/// What `statement` took from `balance` (spend and adjustments), exact.
fn taken(statement: &Statement, balance: Balance) -> Result<rust_decimal::Decimal, BillingError> {
    statement
        .taken(balance)
        .map(Amount::decimal)
        .map_err(BillingError::money(statement.team.as_str()))
}

/// The stored run of `day`, if it was billed.
pub fn reproduce(store: &Store, day: NaiveDate) -> Result<Option<DayReport>, BillingError> {
    let Some(run) = store.stored_run(day)? else {
        return Ok(None);
    };
    let summary: Summary =
        serde_json::from_str(&run.summary).map_err(BillingError::json("summary"))?;
    let statements = run
        .statements
        .iter()
        .map(|(team, body)| serde_json::from_str(body).map_err(BillingError::json(team)))
        .collect::<Result<_, _>>()?;
    Ok(Some(DayReport {
        statements,
        summary,
        reproduced: true,
        written_to: None,
    }))
}

/// The stored statement of one Team and day.
pub fn statement_of(
    store: &Store,
    day: NaiveDate,
    team: &str,
) -> Result<Option<Statement>, BillingError> {
    store
        .statement_body(day, team)?
        .map(|body| serde_json::from_str(&body).map_err(BillingError::json(team)))
        .transpose()
}

/// Hands `each` the stored statements of the days `from` through `to` (of `team` only, if
/// given), in day and Team order, one at a time; `each`'s error ends the reading.
pub fn each_statement<E: From<BillingError>>(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    team: Option<&str>,
    mut each: impl FnMut(Statement) -> Result<(), E>,
) -> Result<(), E> {
    store
        .each_statement(from, to, team, |_, team, body| {
            let statement = serde_json::from_str(body)
                .map_err(|e| Handed(E::from(BillingError::json(team)(e))))?;
            each(statement).map_err(Handed)
        })
        .map_err(|Handed(error)| error)
}

/// The error of a reader handed statements, or the store's as a [`BillingError`].
struct Handed<E>(E);

impl<E: From<BillingError>> From<StoreError> for Handed<E> {
    fn from(error: StoreError) -> Self {
        Handed(E::from(BillingError::Store(error)))
    }
}

//! Billing operators and adjustments (B24). An adjustment is appended with the decision that
//! allowed it and never changed; the day whose statements bill it is recorded in
//! `adjustments_billed` by that day's commit ([`mark_billed`]).

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::{Connection, params};
use gatekeeper::Decision;
use rust_decimal::Decimal;

use super::records::audit;
use super::{Store, StoreError, execute, query_error, query_row};
use crate::ids::{TeamId, UserId};

/// An adjustment to record.
#[derive(Debug, Clone)]
pub struct NewAdjustment<'a> {
    pub team: &'a TeamId,
    /// The billed day it corrects.
    pub corrects_day: NaiveDate,
    /// `charges`, `credits` or `wallet`.
    pub applies_to: &'a str,
    /// In cents: at most two decimals.
    pub amount: Decimal,
    pub reason: &'a str,
    /// Who asked: an operator, or whoever was denied.
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

/// An adjustment no day has billed yet, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAdjustment {
    pub id: i64,
    pub team: String,
    pub corrects_day: NaiveDate,
    pub applies_to: String,
    pub amount: Decimal,
    pub reason: String,
}

impl Store {
    /// Makes `id` a billing operator; whether it was not one already.
    pub fn add_operator(&mut self, id: &UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let added = execute(
            self.conn(),
            "INSERT INTO operators VALUES (?, ?) ON CONFLICT DO NOTHING",
            params![id.as_str(), at],
        )
        .map_err(query_error(format!("cannot add the operator `{id}`")))?;
        Ok(added == 1)
    }

    /// Whether `id` is a billing operator.
    pub fn is_operator(&self, id: &str) -> Result<bool, StoreError> {
        query_row(
            self.conn(),
            "SELECT count(*) > 0 FROM operators WHERE operator_id = ?",
            [id],
            |r| r.get(0),
        )
        .map_err(query_error("cannot read the operators"))
    }

    /// Whether `day` has been billed.
    pub fn is_billed(&self, day: NaiveDate) -> Result<bool, StoreError> {
        query_row(
            self.conn(),
            "SELECT count(*) > 0 FROM billing_runs WHERE day = ?",
            [day],
            |r| r.get(0),
        )
        .map_err(query_error("cannot read the billed days"))
    }

    /// Records the decision on `adjustment` in `audit_log` and, when allowed, the adjustment,
    /// in one transaction; returns its id when recorded.
    pub fn record_adjustment(
        &mut self,
        adjustment: &NewAdjustment<'_>,
        decision: &Decision,
    ) -> Result<Option<i64>, StoreError> {
        let what = format!("cannot record an adjustment of `{}`", adjustment.team);
        let tx = self
            .conn_mut()
            .transaction()
            .map_err(query_error(what.clone()))?;
        let recorded = record(&tx, adjustment, decision).map_err(query_error(what.clone()))?;
        tx.commit().map_err(query_error(what))?;
        Ok(recorded)
    }

    /// Every adjustment no day has billed, in the order they were made.
    pub fn pending_adjustments(&self) -> Result<Vec<PendingAdjustment>, StoreError> {
        let what = "cannot read the adjustments";
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT adjustment_id, team_id, corrects_day, applies_to, amount::VARCHAR, reason
                 FROM adjustments
                 WHERE adjustment_id NOT IN (SELECT adjustment_id FROM adjustments_billed)
                 ORDER BY adjustment_id",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, NaiveDate>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(query_error(what))?;
        rows.map(|row| {
            let (id, team, corrects_day, applies_to, amount, reason) =
                row.map_err(query_error(what))?;
            let amount = amount.parse().map_err(|e| StoreError::Corrupt {
                table: "adjustments",
                message: format!("adjustment {id}: {e}"),
            })?;
            Ok(PendingAdjustment {
                id,
                team,
                corrects_day,
                applies_to,
                amount,
                reason,
            })
        })
        .collect()
    }
}

fn record(
    tx: &Connection,
    adjustment: &NewAdjustment<'_>,
    decision: &Decision,
) -> duckdb::Result<Option<i64>> {
    let a = adjustment;
    audit(tx, a.at, a.actor, a.team, "adjust_statement", decision)?;
    if !decision.is_allowed() {
        return Ok(None);
    }
    let id: i64 = query_row(tx, "SELECT nextval('adjustment_seq')", [], |r| r.get(0))?;
    execute(
        tx,
        "INSERT INTO adjustments VALUES (?, ?, ?, ?, ?::DECIMAL(18, 2), ?, ?, ?)",
        params![
            id,
            a.team.as_str(),
            a.corrects_day,
            a.applies_to,
            a.amount.to_string(),
            a.reason,
            a.actor,
            a.at
        ],
    )?;
    Ok(Some(id))
}

/// Records, in a day's commit, that `day` billed every adjustment up to `through` (the highest
/// id its run read) that no earlier day billed.
pub(super) fn mark_billed(tx: &Connection, day: NaiveDate, through: i64) -> duckdb::Result<usize> {
    execute(
        tx,
        "INSERT INTO adjustments_billed
         SELECT adjustment_id, ? FROM adjustments
         WHERE adjustment_id <= ?
           AND adjustment_id NOT IN (SELECT adjustment_id FROM adjustments_billed)",
        params![day, through],
    )
}

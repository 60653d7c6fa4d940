//! Billed days: each day's statements, the seat usage it billed and its run summary, written
//! in one transaction and read back as stored. Bodies and summaries are opaque JSON here;
//! `billing` encodes and decodes them.

use chrono::NaiveDate;
use duckdb::{OptionalExt, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, adjustments, query_error, query_row, window, window_ids};
use crate::calendar;

/// Tokens one seat used in one cycle (B9, S4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUsage {
    /// The Team.
    pub team: String,
    /// The tier.
    pub tier: String,
    /// The seat number.
    pub seat: i64,
    /// The cycle's first day.
    pub cycle_start: NaiveDate,
    /// Tokens.
    pub tokens: i64,
}

/// One Team's statement of a day, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementRow {
    /// The Team.
    pub team: String,
    /// The statement as JSON.
    pub body: String,
    /// What it billed to the Credits pool.
    pub credits_spent: Decimal,
    /// What it billed to the wallet.
    pub wallet_spent: Decimal,
}

/// One Team's carry at the end of a billed day, as stored (JSON; `billing::carry`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarriedRow {
    pub team: String,
    pub body: String,
}

/// A billed day, as stored.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The run's summary as JSON.
    pub summary: String,
    /// Each Team's statement as JSON, by Team id.
    pub statements: Vec<(String, String)>,
}

/// Everything a billed day writes.
#[derive(Debug)]
pub struct DayRows<'a> {
    /// The day.
    pub day: NaiveDate,
    /// Its statements.
    pub statements: &'a [StatementRow],
    /// What each seat used of its cycle on the day.
    pub seat_usage: &'a [SeatUsage],
    /// The last `usage_events` row the run saw: it settles every event up to it.
    pub max_rowid: i64,
    /// The run's summary as JSON.
    pub summary: &'a str,
    /// W, fixed by the store's first billed day (B21).
    pub window_days: u32,
    /// What the day hands the next night, per Team; it replaces the previous day's.
    pub carried: &'a [CarriedRow],
    /// The highest adjustment id the run read: the day bills every adjustment up to it that
    /// no earlier day billed (B24); -1 when there were none.
    pub adjustments_through: i64,
}

impl Store {
    /// Commits a billed day in one transaction; the first also fixes the store's window (B21).
    pub fn commit_day(&mut self, rows: &DayRows<'_>) -> Result<(), StoreError> {
        self.commit_days(std::slice::from_ref(rows))
    }

    /// Commits billed days, in order, in one transaction: all of them or none.
    pub fn commit_days(&mut self, days: &[DayRows<'_>]) -> Result<(), StoreError> {
        let what = "cannot commit the billing run";
        let tx = self.conn_mut().transaction().map_err(query_error(what))?;
        for rows in days {
            append_day(&tx, rows).map_err(query_error(what))?;
        }
        tx.commit().map_err(query_error(what))
    }

    /// Hands `each` the stored statements of the days `from` through `to` (of `team` only, if
    /// given) as `day, team, body`, in day and Team order, one at a time.
    pub fn each_statement<E: From<StoreError>>(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        team: Option<&str>,
        mut each: impl FnMut(NaiveDate, &str, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let what = "cannot read stored statements";
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT day, team_id, body FROM statements
                 WHERE day BETWEEN ? AND ? AND team_id = coalesce(?, team_id)
                 ORDER BY day, team_id",
            )
            .map_err(query_error(what))?;
        let mut rows = stmt
            .query(params![from, to, team])
            .map_err(query_error(what))?;
        while let Some(row) = rows.next().map_err(query_error(what))? {
            let read = |i| row.get::<_, String>(i).map_err(query_error(what));
            let day = row.get(0).map_err(query_error(what))?;
            each(day, &read(1)?, &read(2)?)?;
        }
        Ok(())
    }

    /// The summary (JSON) of the run of `day`, if it was billed.
    fn run_summary(&self, day: NaiveDate) -> duckdb::Result<Option<String>> {
        query_row(
            self.conn(),
            "SELECT summary FROM billing_runs WHERE day = ?",
            params![day],
            |r| r.get(0),
        )
        .optional()
    }

    /// The stored run of `day`, if it was billed.
    pub fn stored_run(&self, day: NaiveDate) -> Result<Option<StoredRun>, StoreError> {
        let what = "cannot read stored statements";
        let summary = self.run_summary(day).map_err(query_error(what))?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT team_id, body FROM statements WHERE day = ? ORDER BY team_id")
            .map_err(query_error(what))?;
        let statements = stmt
            .query_map(params![day], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(query_error(what))?
            .collect::<Result<_, _>>()
            .map_err(query_error(what))?;
        Ok(Some(StoredRun {
            summary,
            statements,
        }))
    }

    /// Everything `day`'s commit wrote but its carry: its statements as stored, the seat
    /// usage it billed and its summary (JSON). Empty if `day` was not billed.
    pub fn billed_rows(
        &self,
        day: NaiveDate,
    ) -> Result<(Vec<StatementRow>, Vec<SeatUsage>, String), StoreError> {
        let what = "cannot read a billed day";
        let summary = self.run_summary(day).map_err(query_error(what))?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT team_id, body, credits_spent::VARCHAR, wallet_spent::VARCHAR
                 FROM statements WHERE day = ? ORDER BY team_id",
            )
            .map_err(query_error(what))?;
        let statements = stmt
            .query_map(params![day], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(query_error(what))?
            .map(|row| {
                let (team, body, credits, wallet) = row.map_err(query_error(what))?;
                let decimal = |text: String| {
                    text.parse::<Decimal>().map_err(|e| StoreError::Corrupt {
                        table: "statements",
                        message: format!("Team `{team}`: amount `{text}`: {e}"),
                    })
                };
                Ok(StatementRow {
                    credits_spent: decimal(credits)?,
                    wallet_spent: decimal(wallet)?,
                    team,
                    body,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT team_id, tier, seat, cycle_start, tokens FROM seat_usage
                 WHERE billed_day = ? ORDER BY ALL",
            )
            .map_err(query_error(what))?;
        let seat_usage = stmt
            .query_map(params![day], seat_usage_row)
            .map_err(query_error(what))?
            .collect::<Result<_, _>>()
            .map_err(query_error(what))?;
        Ok((statements, seat_usage, summary.unwrap_or_default()))
    }

    /// The stored statement body of one Team and day.
    pub fn statement_body(&self, day: NaiveDate, team: &str) -> Result<Option<String>, StoreError> {
        query_row(
            self.conn(),
            "SELECT body FROM statements WHERE day = ? AND team_id = ?",
            params![day, team],
            |r| r.get(0),
        )
        .optional()
        .map_err(query_error("cannot read the statement"))
    }

    /// Tokens each seat used in each cycle, on days billed before `day`.
    /// Each Team's carry at the end of `day`, if `day` is the latest billed day and was
    /// committed with one.
    pub fn carried(&self, day: NaiveDate) -> Result<Vec<CarriedRow>, StoreError> {
        let what = "cannot read the carried state";
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT team_id, body FROM carried_state WHERE day = ?")
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map(params![day], |r| {
                Ok(CarriedRow {
                    team: r.get(0)?,
                    body: r.get(1)?,
                })
            })
            .map_err(query_error(what))?;
        rows.collect::<Result<_, _>>().map_err(query_error(what))
    }

    /// Commits `day` (`YYYY-MM-DD`) as billed without statements, settling every row stored
    /// so far.
    #[cfg(test)]
    pub(crate) fn bill_empty_day(&mut self, day: &str) {
        let max_rowid: i64 = self
            .conn()
            .query_row("SELECT max(rowid) FROM usage_events", [], |r| r.get(0))
            .unwrap();
        self.commit_empty_day(day, max_rowid, super::DEFAULT_WINDOW_DAYS);
    }

    /// Commits `day` (`YYYY-MM-DD`) as billed without statements, by a run that saw the rows
    /// through `max_rowid`, with a window of `window_days`.
    #[cfg(test)]
    pub(crate) fn commit_empty_day(&mut self, day: &str, max_rowid: i64, window_days: u32) {
        self.commit_day(&DayRows {
            carried: &[],
            day: day.parse().unwrap(),
            statements: &[],
            seat_usage: &[],
            max_rowid,
            summary: "{}",
            window_days,
            adjustments_through: -1,
        })
        .unwrap();
    }

    /// Deletes every carry, so the next night folds every history from the first record.
    #[cfg(test)]
    pub(crate) fn forget_carried_state(&self) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM carried_state", [])
            .map_err(query_error("cannot delete the carried state"))?;
        Ok(())
    }

    pub fn prior_seat_usage(&self, day: NaiveDate) -> Result<Vec<SeatUsage>, StoreError> {
        let what = "cannot read seat usage";
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT team_id, tier, seat, cycle_start, sum(tokens)::BIGINT
                 FROM seat_usage WHERE billed_day < ? GROUP BY ALL ORDER BY ALL",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map(params![day], seat_usage_row)
            .map_err(query_error(what))?;
        rows.collect::<Result<_, _>>().map_err(query_error(what))
    }
}

/// Appends one billed day's rows in the transaction `tx`.
fn append_day(tx: &duckdb::Transaction<'_>, rows: &DayRows<'_>) -> duckdb::Result<()> {
    {
        let mut statements = tx.appender("statements")?;
        for statement in rows.statements {
            statements.append_row(params![
                rows.day,
                statement.team,
                statement.body,
                statement.credits_spent.to_string(),
                statement.wallet_spent.to_string()
            ])?;
        }
        let mut seat_usage = tx.appender("seat_usage")?;
        for usage in rows.seat_usage {
            seat_usage.append_row(params![
                usage.team,
                usage.tier,
                usage.seat,
                usage.cycle_start,
                rows.day,
                usage.tokens
            ])?;
        }
    }
    tx.execute("DELETE FROM carried_state", [])?;
    {
        let mut carried = tx.appender("carried_state")?;
        for row in rows.carried {
            carried.append_row(params![rows.day, row.team, row.body])?;
        }
    }
    window::fix(tx, rows.day, rows.window_days)?;
    adjustments::mark_billed(tx, rows.day, rows.adjustments_through)?;
    let seen_before: i64 = tx.query_row(
        "SELECT coalesce(max(max_rowid), -1) FROM billing_runs",
        [],
        |r| r.get(0),
    )?;
    let day_number = calendar::day_number(rows.day);
    window_ids::add(
        tx,
        seen_before,
        rows.max_rowid,
        day_number,
        rows.window_days,
    )?;
    window_ids::prune(tx, day_number, rows.window_days)?;
    tx.execute(
        "INSERT INTO billing_runs VALUES (?, ?, ?, ?)",
        params![rows.day, day_number, rows.max_rowid, rows.summary],
    )?;
    Ok(())
}

/// A `SeatUsage` from a row of `team_id, tier, seat, cycle_start, tokens`.
fn seat_usage_row(r: &duckdb::Row<'_>) -> duckdb::Result<SeatUsage> {
    Ok(SeatUsage {
        team: r.get(0)?,
        tier: r.get(1)?,
        seat: r.get(2)?,
        cycle_start: r.get(3)?,
        tokens: r.get(4)?,
    })
}

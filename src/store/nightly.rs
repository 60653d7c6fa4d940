//! What an operator reads about the nightly job: billed days, the first Team record, events
//! not yet settled, and how each `billing run` ended.

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::{OptionalExt, params};
use gatekeeper::Region;
use serde::Serialize;

use super::sql::{team_of_key, usage_day};
use super::window::{DEFAULT_WINDOW_DAYS, window_start};
use super::{Store, StoreError, query_error, query_row, stored_region};
use crate::calendar;

/// Usage events no billing run has settled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsettled {
    /// How many.
    pub count: u64,
    /// The earliest usage day among them (B3), if any has a time.
    pub oldest_usage_day: Option<NaiveDate>,
    /// Those of billed days: the next run bills them as late usage (B14).
    pub late: u64,
    /// Those more than W days before the next day to bill: it quarantines them as `too_late`
    /// (B21).
    pub too_late: u64,
}

/// How one `billing run` ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The day it billed through.
    pub through_day: NaiveDate,
    /// Its exit status.
    pub exit_status: i32,
    /// Days it billed.
    pub days_billed: u32,
    /// Days it reproduced.
    pub days_reproduced: u32,
    /// The error, or empty.
    pub message: String,
}

impl Store {
    /// The earliest Team record per region. (Usage events are not asked: they never start
    /// the billed calendar.)
    pub fn earliest_team_records(&self) -> Result<Vec<(Region, DateTime<Utc>)>, StoreError> {
        let what = "cannot find the first Team record";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.region, min(r.occurred_at) FROM team_records r JOIN teams t USING (team_id)
                 GROUP BY t.region",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, DateTime<Utc>>(1)?))
            })
            .map_err(query_error(what))?;
        let mut earliest = Vec::new();
        for row in rows {
            let (region, at) = row.map_err(query_error(what))?;
            let region = stored_region(&region)?;
            earliest.push((region, at));
        }
        Ok(earliest)
    }

    /// The latest billed day, if any: days up to it are closed (B19). A day outside the
    /// calendar tokenplan takes is an error (a store edited by hand).
    pub fn latest_billed_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let latest = query_row(&self.conn, "SELECT max(day) FROM billing_runs", [], |r| {
            r.get::<_, Option<NaiveDate>>(0)
        })
        .map_err(query_error("cannot read the billed days"))?;
        latest
            .map(calendar::check_day)
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                table: "billing_runs",
                message: e.to_string(),
            })
    }

    /// The events no run has settled. Billed days form one unbroken run (B18), so the
    /// latest run settled every event it saw (`rowid <= max_rowid`) of a day up to its own.
    pub fn unsettled(&self) -> Result<Unsettled, StoreError> {
        let what = "cannot count the events not yet settled";
        let latest: Option<(NaiveDate, i64)> = query_row(
            &self.conn,
            "SELECT day, max_rowid FROM billing_runs ORDER BY day DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(query_error(what))?;
        // Rows after the latest run's, and of the others those whose time may fall after its
        // day in some zone: two scans DuckDB's zone maps bound, not one over every row.
        let (day, max_rowid, after) = match latest {
            Some((day, max_rowid)) => (
                calendar::day_number(day),
                max_rowid,
                calendar::day_span(day.succ_opt().unwrap_or(day)).0,
            ),
            None => (i64::MIN, -1, DateTime::UNIX_EPOCH),
        };
        let offset = calendar::zone(Region::Domestic).local_minus_utc();
        let usage_day = usage_day(
            "e.ts",
            &format!("CASE WHEN t.region = 'domestic' THEN {offset}::BIGINT * 1000000 ELSE 0 END"),
        );
        let window_days = self.window()?.map_or(DEFAULT_WINDOW_DAYS, |w| w.days);
        let too_late_before = window_start(day.saturating_add(1), window_days);
        let (count, oldest, late, too_late): (i64, Option<i64>, i64, i64) = query_row(
            &self.conn,
            &format!(
                "WITH scanned AS (
                     SELECT rowid AS rid, ts, key_id FROM usage_events WHERE rowid > ?
                     UNION ALL
                     SELECT rowid, ts, key_id FROM usage_events WHERE rowid <= ? AND ts >= ?),
                 e AS (
                     SELECT e.rid, {usage_day} AS usage_day
                     FROM scanned e
                     LEFT JOIN payg_keys p ON p.key_id = e.key_id
                     LEFT JOIN teams t ON t.team_id = {team})
                 SELECT count(*), min(usage_day), count(*) FILTER (WHERE usage_day <= ?),
                        count(*) FILTER (WHERE usage_day < ?)
                 FROM e WHERE rid > ? OR usage_day > ?",
                team = team_of_key("e.key_id", "p.team_id"),
            ),
            params![
                max_rowid,
                max_rowid,
                after,
                day,
                too_late_before,
                max_rowid,
                day
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(query_error(what))?;
        Ok(Unsettled {
            count: u64::try_from(count).unwrap_or_default(),
            oldest_usage_day: oldest.and_then(calendar::from_day_number),
            late: u64::try_from(late).unwrap_or_default(),
            too_late: u64::try_from(too_late).unwrap_or_default(),
        })
    }

    /// Records how a `billing run` ended.
    pub fn record_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO billing_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    attempt.started_at,
                    attempt.finished_at,
                    attempt.through_day,
                    attempt.exit_status,
                    attempt.days_billed,
                    attempt.days_reproduced,
                    attempt.message
                ],
            )
            .map(drop)
            .map_err(query_error("cannot record the billing run"))
    }

    /// The latest recorded `billing run`, and the end of the latest one that exited 0.
    pub fn last_attempts(&self) -> Result<(Option<Attempt>, Option<DateTime<Utc>>), StoreError> {
        let what = "cannot read the recorded billing runs";
        let last = query_row(
            &self.conn,
            "SELECT started_at, finished_at, through_day, exit_status, days_billed, days_reproduced, message
             FROM billing_attempts ORDER BY finished_at DESC LIMIT 1",
            [],
            |r| {
                Ok(Attempt {
                    started_at: r.get(0)?,
                    finished_at: r.get(1)?,
                    through_day: r.get(2)?,
                    exit_status: r.get(3)?,
                    days_billed: r.get(4)?,
                    days_reproduced: r.get(5)?,
                    message: r.get(6)?,
                })
            },
        )
        .optional()
        .map_err(query_error(what))?;
        let success = query_row(
            &self.conn,
            "SELECT max(finished_at) FROM billing_attempts WHERE exit_status = 0",
            [],
            |r| r.get::<_, Option<DateTime<Utc>>>(0),
        )
        .map_err(query_error(what))?;
        Ok((last, success))
    }
}

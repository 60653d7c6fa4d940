//! Reads what a billing day needs from the store: the events to settle (as Arrow batches into
//! polars), the Teams and their records, and the seats' usage of earlier days.

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::params;
use polars::prelude::DataFrame;

use super::arrow_bridge;
use super::replay::{Record, SeatUsage};
use crate::store::{Store, StoreError, TeamRow, query_error};
use crate::teams::Operation;

/// Days since 1970-01-01.
pub fn day_number(day: NaiveDate) -> i64 {
    (day - NaiveDate::default()).num_days()
}

/// The events to settle on `day`, with their Team and usage day, in a polars frame with
/// columns `row_id, event_id, ts_us, key_id, model, input_tokens, output_tokens, team_id,
/// usage_day, seen_before`; and the highest rowid considered.
pub fn events(store: &Store, day: NaiveDate) -> Result<(Option<DataFrame>, i64), StoreError> {
    let what = "cannot read usage events";
    let conn = store.conn();
    let max_rowid: i64 = conn
        .query_row(
            "SELECT coalesce(max(rowid), -1) FROM usage_events",
            [],
            |r| r.get(0),
        )
        .map_err(query_error(what))?;
    // An event is settled when a run's day covers its usage day and the run had seen its row
    // (`usage_events` is append-only: rowids grow with insertion).
    let sql = "
        WITH keyed AS (
            SELECT e.rowid AS row_id, e.event_id, epoch_us(e.ts) AS ts_us, e.key_id, e.model,
                   e.input_tokens, e.output_tokens,
                   coalesce(p.team_id, CASE WHEN e.key_id LIKE 'tp:%:%' THEN split_part(e.key_id, ':', 2) END) AS team_id
            FROM usage_events e LEFT JOIN payg_keys p ON p.key_id = e.key_id
            WHERE e.rowid <= ?
        ), dated AS (
            SELECT k.*,
                   (k.ts_us + CASE WHEN t.region = 'domestic' THEN 28800000000 ELSE 0 END) // 86400000000 AS usage_day
            FROM keyed k LEFT JOIN teams t ON t.team_id = k.team_id
        ), flagged AS (
            SELECT d.*, EXISTS (
                SELECT 1 FROM billing_runs r
                WHERE d.row_id <= r.max_rowid AND (d.usage_day IS NULL OR d.usage_day <= r.day_number)
            ) AS settled
            FROM dated d
        )
        SELECT row_id, event_id, ts_us, key_id, model, input_tokens, output_tokens, team_id, usage_day,
               coalesce(event_id IN (SELECT event_id FROM flagged WHERE settled AND event_id IS NOT NULL), false) AS seen_before
        FROM flagged
        WHERE NOT settled AND (usage_day IS NULL OR usage_day <= ?)";
    let mut stmt = conn.prepare(sql).map_err(query_error(what))?;
    let batches: Vec<RecordBatch> = stmt
        .stream_arrow(params![max_rowid, day_number(day)])
        .map_err(query_error(what))?
        .collect::<Result<_, _>>()
        .map_err(query_error(what))?;
    let frame = arrow_bridge::to_frame(&batches).map_err(|e| StoreError::Corrupt {
        table: "usage_events",
        message: format!("cannot move events into polars: {e}"),
    })?;
    Ok((frame, max_rowid))
}

/// Every Team with its records up to `until`, in time order.
pub fn teams(
    store: &Store,
    until: DateTime<Utc>,
) -> Result<Vec<(TeamRow, Vec<Record>)>, StoreError> {
    let what = "cannot read Team histories";
    let mut teams: Vec<(TeamRow, Vec<Record>)> = store
        .teams()?
        .into_iter()
        .map(|row| (row, Vec::new()))
        .collect();
    let mut stmt = store
        .conn()
        .prepare("SELECT team_id, occurred_at, actor, payload FROM team_records WHERE occurred_at < ? ORDER BY team_id, occurred_at, seq")
        .map_err(query_error(what))?;
    let rows = stmt
        .query_map(params![until], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, DateTime<Utc>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(query_error(what))?;
    let index: std::collections::HashMap<String, usize> = teams
        .iter()
        .enumerate()
        .map(|(i, (row, _))| (row.id.clone(), i))
        .collect();
    for row in rows {
        let (team, at, actor, payload) = row.map_err(query_error(what))?;
        let operation: Operation =
            serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
                table: "team_records",
                message: format!("Team `{team}` at {at}: {e}"),
            })?;
        if let Some(&i) = index.get(&team) {
            teams[i].1.push(Record {
                at,
                actor,
                operation,
            });
        }
    }
    Ok(teams)
}

/// Tokens each seat used in each cycle, on days billed before `day`.
pub fn prior_seat_usage(store: &Store, day: NaiveDate) -> Result<Vec<SeatUsage>, StoreError> {
    let what = "cannot read seat usage";
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT team_id, tier, seat, cycle_start, sum(tokens)::BIGINT
             FROM seat_usage WHERE billed_day < ? GROUP BY ALL ORDER BY ALL",
        )
        .map_err(query_error(what))?;
    let rows = stmt
        .query_map(params![day], |r| {
            Ok(SeatUsage {
                team: r.get(0)?,
                tier: r.get(1)?,
                seat: r.get(2)?,
                cycle_start: r.get(3)?,
                tokens: r.get(4)?,
            })
        })
        .map_err(query_error(what))?;
    rows.collect::<Result<_, _>>().map_err(query_error(what))
}

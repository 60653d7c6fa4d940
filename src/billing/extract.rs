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

/// Rows per chunk of events handed to polars; a chunk ends at a Team boundary.
pub const CHUNK_ROWS: usize = 1 << 20;

/// DuckDB's memory while sorting the day's events by Team; beyond it, DuckDB spills to disk.
const DUCKDB_MEMORY_LIMIT: &str = "1GB";

/// What reading the events found.
#[derive(Debug, Clone, Copy)]
pub struct EventsRead {
    /// Events handed over.
    pub events: u64,
    /// The highest rowid considered; the run settles events up to it.
    pub max_rowid: i64,
}

/// Streams the events to settle on `day` to `each_chunk` as polars frames of whole Teams,
/// about [`CHUNK_ROWS`] rows each, with columns `row_id, event_id, ts_us, key_id, model,
/// input_tokens, output_tokens, team_id, usage_day, seen_before, repeated`.
///
/// An event is settled when a run's day covers its usage day and the run had seen its row
/// (`usage_events` is append-only: rowids grow with insertion). `seen_before`: its id was
/// settled before; `repeated`: an earlier event of this run has its id (B12 order).
pub fn events<E: From<StoreError>>(
    store: &Store,
    day: NaiveDate,
    chunk_rows: usize,
    mut each_chunk: impl FnMut(DataFrame) -> Result<(), E>,
) -> Result<EventsRead, E> {
    let what = "cannot read usage events";
    let conn = store.conn();
    conn.execute_batch(&format!("SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'"))
        .map_err(query_error(what))?;
    let max_rowid: i64 = conn
        .query_row(
            "SELECT coalesce(max(rowid), -1) FROM usage_events",
            [],
            |r| r.get(0),
        )
        .map_err(query_error(what))?;
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
        ), flagged AS MATERIALIZED (
            SELECT d.*, EXISTS (
                SELECT 1 FROM billing_runs r
                WHERE d.row_id <= r.max_rowid AND (d.usage_day IS NULL OR d.usage_day <= r.day_number)
            ) AS settled
            FROM dated d
        ), unsettled AS (
            SELECT * FROM flagged WHERE NOT settled AND (usage_day IS NULL OR usage_day <= ?)
        )
        SELECT row_id, event_id, ts_us, key_id, model, input_tokens, output_tokens, team_id, usage_day,
               coalesce(event_id IN (SELECT event_id FROM flagged WHERE settled AND event_id IS NOT NULL), false) AS seen_before,
               event_id IS NOT NULL
                 AND row_number() OVER (PARTITION BY event_id ORDER BY ts_us NULLS LAST, row_id) > 1 AS repeated
        FROM unsettled
        ORDER BY team_id NULLS LAST";
    let mut stmt = conn.prepare(sql).map_err(query_error(what))?;
    let stream = stmt
        .stream_arrow(params![max_rowid, day_number(day)])
        .map_err(query_error(what))?;
    let mut chunk = Chunker::new(chunk_rows);
    let mut events = 0;
    for batch in stream {
        let batch = batch.map_err(query_error(what))?;
        events += batch.num_rows() as u64;
        if let Some(full) = chunk.push(batch) {
            each_chunk(frame(&full)?)?;
        }
    }
    if !chunk.batches.is_empty() {
        each_chunk(frame(&chunk.batches)?)?;
    }
    Ok(EventsRead { events, max_rowid })
}

fn frame(batches: &[RecordBatch]) -> Result<DataFrame, StoreError> {
    arrow_bridge::to_frame(batches)
        .map_err(|e| StoreError::Corrupt {
            table: "usage_events",
            message: format!("cannot move events into polars: {e}"),
        })?
        .ok_or_else(|| StoreError::Corrupt {
            table: "usage_events",
            message: "an empty chunk".into(),
        })
}

/// Collects batches sorted by Team into chunks that end at a Team boundary.
struct Chunker {
    limit: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
    last_team: Option<String>,
}

impl Chunker {
    fn new(limit: usize) -> Self {
        Chunker {
            limit,
            batches: Vec::new(),
            rows: 0,
            last_team: None,
        }
    }

    /// Adds a batch; returns a full chunk once `limit` rows are reached and a new Team starts.
    fn push(&mut self, batch: RecordBatch) -> Option<Vec<RecordBatch>> {
        let n = batch.num_rows();
        if n == 0 {
            return None;
        }
        let cut = if self.rows >= self.limit {
            (0..n).find(|&i| team_at(&batch, i) != self.last_team)
        } else {
            None
        };
        self.last_team = team_at(&batch, n - 1);
        match cut {
            None => {
                self.batches.push(batch);
                self.rows += n;
                None
            }
            Some(cut) => {
                let mut full = std::mem::take(&mut self.batches);
                if cut > 0 {
                    full.push(batch.slice(0, cut));
                }
                self.batches.push(batch.slice(cut, n - cut));
                self.rows = n - cut;
                Some(full)
            }
        }
    }
}

/// The `team_id` of a row (DuckDB exports VARCHAR as Utf8 or Utf8View).
fn team_at(batch: &RecordBatch, row: usize) -> Option<String> {
    use duckdb::arrow::array::{Array, StringArray, StringViewArray};
    let column = batch.column_by_name("team_id")?;
    if column.is_null(row) {
        return None;
    }
    if let Some(strings) = column.as_any().downcast_ref::<StringArray>() {
        return Some(strings.value(row).to_owned());
    }
    column
        .as_any()
        .downcast_ref::<StringViewArray>()
        .map(|s| s.value(row).to_owned())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use duckdb::arrow::array::{ArrayRef, StringArray};
    use duckdb::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(teams: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "team_id",
            DataType::Utf8,
            true,
        )]));
        let column: ArrayRef = Arc::new(StringArray::from(teams.to_vec()));
        RecordBatch::try_new(schema, vec![column]).unwrap()
    }

    fn teams(chunk: &[RecordBatch]) -> Vec<Option<String>> {
        chunk
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |i| team_at(b, i)))
            .collect()
    }

    #[test]
    fn chunks_end_at_team_boundaries() {
        let mut chunker = Chunker::new(3);
        assert!(chunker.push(batch(&[Some("a"), Some("a")])).is_none());
        assert!(
            chunker.push(batch(&[Some("a"), Some("b")])).is_none(),
            "under the limit"
        );
        // Limit reached: the chunk closes where `b` ends, inside this batch.
        let full = chunker
            .push(batch(&[Some("b"), Some("c"), Some("c")]))
            .unwrap();
        let a = Some("a".to_owned());
        let b = Some("b".to_owned());
        assert_eq!(teams(&full), vec![a.clone(), a.clone(), a, b.clone(), b]);
        // A batch of one Team never splits it; unknown Teams (null) come last.
        assert!(chunker.push(batch(&[Some("c")])).is_none());
        let full = chunker.push(batch(&[None, None])).unwrap();
        assert_eq!(teams(&full).len(), 3);
        assert_eq!(teams(&chunker.batches), vec![None, None]);
    }
}

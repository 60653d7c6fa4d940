//! Appends to `usage_events`: imported files, each row stored once (an exact repeat of a
//! stored row is skipped; which events repeat an id is the billing run's to decide, B21).

use chrono::{DateTime, Utc};
use duckdb::{Connection, params};

use super::{Store, StoreError, query_error};

/// One event to store, as read from a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent<'a> {
    /// Its line or row in its file: of exact repeats, the first is stored.
    pub line: usize,
    /// `event_id`.
    pub event_id: &'a str,
    /// `ts`.
    pub ts: DateTime<Utc>,
    /// `key_id`.
    pub key_id: &'a str,
    /// `model`.
    pub model: &'a str,
    /// `input_tokens`.
    pub input_tokens: i64,
    /// `output_tokens`.
    pub output_tokens: i64,
    /// `ingested_at`: the file's, else the import's clock.
    pub ingested_at: DateTime<Utc>,
}

impl Store {
    /// Stores the events of several files in one transaction, returning how many of each
    /// file's were stored; exact repeats (same id, time, key, model and token counts) of a row
    /// already stored, earlier in a file or in an earlier file are skipped.
    pub fn import_events(&mut self, files: &[Vec<NewEvent<'_>>]) -> Result<Vec<usize>, StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(query_error("cannot start the import"))?;
        let stored = files
            .iter()
            .map(|events| import_file(&tx, events))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()
            .map_err(query_error("cannot commit the import"))?;
        Ok(stored)
    }

    /// Stores a second copy of the event `event_id`, as a gateway that repeats itself might
    /// (the demo's duplicate).
    pub fn repeat_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO usage_events SELECT * FROM usage_events WHERE event_id = ?",
                [event_id],
            )
            .map_err(query_error(format!("cannot repeat the event `{event_id}`")))?;
        Ok(())
    }

    /// Stores events `(event_id, UTC day, key)` at noon, in order, of model `m`, 1 token in
    /// and out.
    #[cfg(test)]
    pub(crate) fn insert_noon_events(&self, events: &[(&str, &str, &str)]) {
        for (id, day, key) in events {
            self.conn
                .execute(
                    &format!(
                        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
                         VALUES (?, TIMESTAMPTZ '{day} 12:00:00+00', ?, 'm', 1, 1)"
                    ),
                    duckdb::params![id, key],
                )
                .unwrap();
        }
    }

    /// Stores `n` events of an unknown key on 2026-11-23.
    #[cfg(test)]
    pub(crate) fn insert_test_events(&self, n: usize) {
        self.conn
            .execute_batch(&format!(
                "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
                 SELECT 'e' || i, TIMESTAMPTZ '2026-11-23 10:00:00+00', 'k', 'm', 1, 1
                 FROM range({n}) t(i)"
            ))
            .unwrap();
    }
}

/// Stores one file's events inside the import's transaction; returns how many were stored.
/// The stored rows compared are those of the file's time range only (a bound on `ts` that
/// DuckDB's zone maps prune), so the cost does not grow with the store's age.
fn import_file(tx: &Connection, events: &[NewEvent<'_>]) -> Result<usize, StoreError> {
    let (Some(from), Some(to)) = (
        events.iter().map(|e| e.ts).min(),
        events.iter().map(|e| e.ts).max(),
    ) else {
        return Ok(0);
    };
    let staging = "cannot stage the import";
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS import_staging (line BIGINT, event_id VARCHAR, ts_us BIGINT, key_id VARCHAR, model VARCHAR, input_tokens BIGINT, output_tokens BIGINT, ingested_us BIGINT);
         DELETE FROM import_staging;",
    )
    .map_err(query_error(staging))?;
    {
        let mut appender = tx
            .appender("import_staging")
            .map_err(query_error(staging))?;
        for event in events {
            appender
                .append_row(params![
                    event.line as i64,
                    event.event_id,
                    event.ts.timestamp_micros(),
                    event.key_id,
                    event.model,
                    event.input_tokens,
                    event.output_tokens,
                    event.ingested_at.timestamp_micros()
                ])
                .map_err(query_error(staging))?;
        }
        appender.flush().map_err(query_error(staging))?;
    }
    tx.execute(
        &format!(
            "INSERT INTO usage_events
             WITH stored AS (
                 SELECT event_id, epoch_us(ts) AS ts_us, key_id, model, input_tokens, output_tokens
                 FROM usage_events
                 WHERE ts >= make_timestamp({from})::TIMESTAMPTZ
                   AND ts <= make_timestamp({to})::TIMESTAMPTZ
             )
             SELECT event_id, make_timestamp(ts_us)::TIMESTAMPTZ, key_id, model, input_tokens, output_tokens,
                    make_timestamp(ingested_us)::TIMESTAMPTZ
             FROM import_staging s
             WHERE NOT EXISTS (
                 SELECT 1 FROM stored u
                 WHERE u.event_id = s.event_id AND u.ts_us = s.ts_us AND u.key_id = s.key_id
                   AND u.model = s.model AND u.input_tokens = s.input_tokens
                   AND u.output_tokens = s.output_tokens
             )
             QUALIFY row_number() OVER (
                 PARTITION BY event_id, ts_us, key_id, model, input_tokens, output_tokens ORDER BY line
             ) = 1
             ORDER BY line",
            from = from.timestamp_micros(),
            to = to.timestamp_micros(),
        ),
        [],
    )
    .map_err(query_error("cannot store the events"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(
        line: usize,
        event_id: &'a str,
        key_id: &'a str,
        input_tokens: i64,
    ) -> NewEvent<'a> {
        let ts = "2026-11-23T10:00:00Z".parse().unwrap();
        NewEvent {
            line,
            event_id,
            ts,
            key_id,
            model: "m",
            input_tokens,
            output_tokens: 0,
            ingested_at: ts,
        }
    }

    #[test]
    fn b21_only_an_exact_repeat_of_a_row_is_skipped() {
        let mut store = Store::open_in_memory().unwrap();
        let first = vec![event(1, "e1", "north-k1", 1), event(2, "e1", "north-k1", 1)];
        assert_eq!(
            store.import_events(std::slice::from_ref(&first)).unwrap(),
            [1]
        );
        let second = vec![
            event(1, "e1", "south-k1", 1),
            event(2, "e1", "north-k1", 2),
            event(3, "e1", "north-k1", 1),
        ];
        // Another key's, or other token counts: stored, for the run to decide (B21).
        assert_eq!(store.import_events(&[second, first]).unwrap(), [2, 0]);
    }

    #[test]
    fn an_empty_file_stores_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.import_events(&[Vec::new()]).unwrap(), [0]);
    }
}

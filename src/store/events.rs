//! Appends to `usage_events`: imported files, each event id stored once.

use chrono::{DateTime, Utc};
use duckdb::{Connection, params};

use super::{Store, StoreError, query_error};

/// One event to store, as read from a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent<'a> {
    /// Its line or row in its file: of events that share an id, the first is stored.
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
    /// file's were stored; event ids already stored, repeated in a file or in an earlier file
    /// are skipped.
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
fn import_file(tx: &Connection, events: &[NewEvent<'_>]) -> Result<usize, StoreError> {
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
        "INSERT INTO usage_events
         SELECT event_id, make_timestamp(ts_us)::TIMESTAMPTZ, key_id, model, input_tokens, output_tokens,
                make_timestamp(ingested_us)::TIMESTAMPTZ
         FROM import_staging s
         WHERE NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.event_id = s.event_id)
         QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY line) = 1
         ORDER BY line",
        [],
    )
    .map_err(query_error("cannot store the events"))
}

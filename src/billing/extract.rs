//! Reads the events a billing day settles: selected by the store (keyed by the run's integer
//! codes) and streamed as Arrow batches into polars.

use std::collections::HashMap;

use chrono::NaiveDate;
use duckdb::arrow::record_batch::RecordBatch;
use polars::prelude::DataFrame;

use super::arrow_bridge;
use super::lookup::Lookup;
use crate::store::{RunCodes, Settlement, Store, StoreError};

/// Rows per chunk of events handed to polars.
pub const CHUNK_ROWS: usize = 1 << 20;

/// The events a run settles, read as polars frames.
pub struct DayEvents<'a> {
    settlement: Settlement<'a>,
}

impl<'a> DayEvents<'a> {
    /// Has the store select the events to settle on `day`, keyed by `lookup`'s codes, with
    /// duplicates decided within a window of `window_days` (B21).
    #[expect(
        clippy::expect_used,
        reason = "Lookup::new codes each key's Team with the key"
    )]
    pub fn prepare(
        store: &'a Store,
        day: NaiveDate,
        window_days: u32,
        lookup: &Lookup,
    ) -> Result<Self, StoreError> {
        let team_codes: HashMap<&str, u32> = lookup
            .teams
            .iter()
            .zip(0..)
            .map(|((team, _), code)| (team.as_str(), code))
            .collect();
        let codes = RunCodes {
            keys: lookup
                .keys
                .iter()
                .map(|key| {
                    let team = *team_codes
                        .get(key.team.as_str())
                        .expect("Lookup::new codes each key's Team with the key");
                    (key.id.as_str(), team, key.offset_us)
                })
                .collect(),
            teams: lookup
                .teams
                .iter()
                .map(|(team, offset_us)| (team.as_str(), *offset_us))
                .collect(),
            models: lookup.models.iter().map(String::as_str).collect(),
        };
        Ok(DayEvents {
            settlement: store.settlement(day, window_days, &codes)?,
        })
    }

    /// The highest rowid the run sees; it settles the events up to it.
    pub fn max_rowid(&self) -> i64 {
        self.settlement.max_rowid()
    }

    /// Streams the events to settle to `each_chunk`, about `chunk_rows` rows per frame, with
    /// the columns of [`crate::store::LEAN_COLUMNS`]; returns how many were read. `each_chunk`
    /// runs on a thread of its own, one chunk behind: DuckDB reads the next chunk while polars
    /// reduces this one.
    pub fn stream<E: From<StoreError> + Send>(
        &self,
        chunk_rows: usize,
        each_chunk: impl FnMut(DataFrame) -> Result<(), E> + Send,
    ) -> Result<u64, E> {
        std::thread::scope(|scope| {
            let (chunks, received) = std::sync::mpsc::sync_channel(1);
            let reducer = scope.spawn(move || received.into_iter().try_for_each(each_chunk));
            let read = (|| -> Result<u64, E> {
                let (mut events, mut batches, mut rows) = (0, Vec::new(), 0);
                self.settlement.each_batch(|batch| -> Result<bool, E> {
                    events += batch.num_rows() as u64;
                    rows += batch.num_rows();
                    batches.push(batch);
                    if rows >= chunk_rows {
                        if chunks.send(frame(&std::mem::take(&mut batches))?).is_err() {
                            // The reducer failed; its error is the one to report.
                            return Ok(false);
                        }
                        rows = 0;
                    }
                    Ok(true)
                })?;
                if !batches.is_empty() {
                    // An error here means the reducer failed, and is reported below.
                    let _ = chunks.send(frame(&batches)?);
                }
                Ok(events)
            })();
            drop(chunks);
            let reduced = reducer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            reduced?;
            read
        })
    }

    /// Finds the run's events that repeat an event id (B13), given the id hashes the run saw
    /// twice, and returns them with the columns of [`DayEvents::stream`]; `None` when there are
    /// none. Later reads flag them in a `duplicate` column.
    pub fn duplicates(&self, hashes_seen_twice: &[u64]) -> Result<Option<DataFrame>, StoreError> {
        frame_of(&self.settlement.duplicates(hashes_seen_twice)?)
    }

    /// The events to settle of `keys`, with the columns of [`DayEvents::stream`], `row_id`,
    /// and `duplicate`.
    pub fn of_keys(&self, keys: &[u32]) -> Result<Option<DataFrame>, StoreError> {
        frame_of(&self.settlement.of_keys(keys)?)
    }

    /// `row_id, event_id` of the events `rows`.
    pub fn event_ids(&self, rows: &[i64]) -> Result<DataFrame, StoreError> {
        frame_of(&self.settlement.event_ids(rows)?)?.ok_or_else(|| StoreError::Corrupt {
            table: "usage_events",
            message: format!("{} event ids are missing", rows.len()),
        })
    }
}

/// The batches as one frame; `None` for no batch.
fn frame_of(batches: &[RecordBatch]) -> Result<Option<DataFrame>, StoreError> {
    if batches.is_empty() {
        return Ok(None);
    }
    frame(batches).map(Some)
}

/// The batches as one frame, each column in one contiguous chunk: DuckDB's batches are small
/// (2,048 rows), and polars works faster on a few long chunks.
fn frame(batches: &[RecordBatch]) -> Result<DataFrame, StoreError> {
    let mut frame = arrow_bridge::to_frame(batches)
        .map_err(|e| StoreError::Corrupt {
            table: "usage_events",
            message: format!("cannot move events into polars: {e}"),
        })?
        .ok_or_else(|| StoreError::Corrupt {
            table: "usage_events",
            message: "an empty chunk".into(),
        })?;
    frame.rechunk_mut_par();
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEFAULT_WINDOW_DAYS;

    /// A store with `n` events of an unknown key, prepared for a run.
    fn store_with_events(n: usize) -> Store {
        let store = Store::open_in_memory().unwrap();
        store.insert_test_events(n);
        store
    }

    #[test]
    fn every_event_streams_to_the_reducer_in_chunks() {
        let store = store_with_events(5000);
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let events =
            DayEvents::prepare(&store, day, DEFAULT_WINDOW_DAYS, &Lookup::default()).unwrap();
        let mut chunks = Vec::new();
        let read = events
            .stream(1, |chunk| -> Result<(), StoreError> {
                chunks.push(chunk.height());
                Ok(())
            })
            .unwrap();
        assert_eq!(read, 5000);
        assert_eq!(chunks.iter().sum::<usize>(), 5000);
        assert!(chunks.len() > 1, "DuckDB's batches make several chunks");
    }

    #[test]
    fn a_reducer_error_stops_the_read_and_is_the_error_reported() {
        let store = store_with_events(5000);
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let events =
            DayEvents::prepare(&store, day, DEFAULT_WINDOW_DAYS, &Lookup::default()).unwrap();
        let mut calls = 0;
        let error = events
            .stream(1, |_| {
                calls += 1;
                Err(StoreError::Corrupt {
                    table: "usage_events",
                    message: "reducer failed".into(),
                })
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(error.to_string().contains("reducer failed"), "{error}");
    }
}

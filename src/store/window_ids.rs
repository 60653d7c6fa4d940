//! `window_ids`: the id hash and instant of every event the runs so far saw, kept for the
//! window's duplicate search (B13, B21) so that a night probes 16 bytes per event of the
//! window instead of hashing every event id again, and pruned as days leave the window.
//!
//! Invariant: the rows here are those of `usage_events` at or below the highest `max_rowid`
//! of `billing_runs` that have an id and a time no earlier than 2W + 2 days before the latest
//! billed day (rows may be here that no run settled yet: the search checks settlement on its
//! few candidates), or the table is invalidated (an empty probe). The hash is DuckDB's
//! `hash(event_id)`; the hash of [`PROBE`] is stored beside it, and a night that finds the
//! table invalidated or hashed by another DuckDB rebuilds it first.

use duckdb::Connection;

use super::sql::DAY_US;

/// The text whose hash tells whether `window_ids` was hashed by this DuckDB.
const PROBE: &str = "tokenplan window ids";

/// The first instant (µs) of the ids kept once `day` (a day number) is billed with a window of
/// `window_days`: a later run's search reads from W + 1 days before its earliest event of its
/// window, itself at most W days before the run's day.
fn kept_from_us(day: i64, window_days: u32) -> i64 {
    (day - 2 * i64::from(window_days) - 2) * DAY_US
}

/// Adds to `window_ids` the rows of `usage_events` after `after_rowid` through
/// `through_rowid` that are kept once `day` is billed, in the caller's transaction.
pub(super) fn add(
    conn: &Connection,
    after_rowid: i64,
    through_rowid: i64,
    day: i64,
    window_days: u32,
) -> duckdb::Result<usize> {
    conn.execute(
        &format!(
            "INSERT INTO window_ids
             SELECT rowid, epoch_us(ts), hash(event_id) FROM usage_events
             WHERE rowid > {after_rowid} AND rowid <= {through_rowid}
               AND event_id IS NOT NULL AND epoch_us(ts) >= {kept_from_us}",
            kept_from_us = kept_from_us(day, window_days)
        ),
        [],
    )
}

/// Removes the day of ids that billing `day` leaves behind (billed days follow each other,
/// B18, and [`add`] never adds older ones): only that day's rows are read, however long the
/// table's history of deletions.
pub(super) fn prune(conn: &Connection, day: i64, window_days: u32) -> duckdb::Result<usize> {
    conn.execute(
        &format!(
            "DELETE FROM window_ids WHERE ts_us >= {} AND ts_us < {}",
            kept_from_us(day - 1, window_days),
            kept_from_us(day, window_days)
        ),
        [],
    )
}

/// Empties `window_ids` of the database `db` and forgets which DuckDB hashed them, in the
/// caller's transaction, so that [`Store::ensure_window_ids`] rebuilds them once it committed:
/// for a transaction that renumbers or copies rows (DuckDB numbers a transaction's own rows
/// only when it commits).
pub(super) fn invalidate(conn: &Connection, db: &str) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "DELETE FROM {db}.window_ids; DELETE FROM {db}.window_ids_hash;"
    ))
}

/// Refills `window_ids` from `usage_events` and the billed runs, and records this DuckDB's
/// hash of [`PROBE`], in the caller's transaction.
fn rebuild(conn: &Connection) -> duckdb::Result<()> {
    invalidate(conn, "main")?;
    let (through, latest, window_days): (i64, Option<i64>, Option<u32>) = conn.query_row(
        "SELECT (SELECT coalesce(max(max_rowid), -1) FROM billing_runs),
                (SELECT max(day_number) FROM billing_runs),
                (SELECT any_value(days) FROM billing_window)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let (Some(latest), Some(window_days)) = (latest, window_days) {
        add(conn, -1, through, latest, window_days)?;
    }
    conn.execute(
        &format!("INSERT INTO window_ids_hash VALUES (hash('{PROBE}'))"),
        [],
    )
    .map(drop)
}

/// Whether `window_ids` was hashed by this DuckDB.
pub(super) fn hashed_here(conn: &Connection) -> duckdb::Result<bool> {
    conn.query_row(
        &format!("SELECT coalesce(any_value(probe) = hash('{PROBE}'), false) FROM window_ids_hash"),
        [],
        |r| r.get(0),
    )
}

impl super::Store {
    /// Rebuilds `window_ids`, in one transaction, when they were invalidated or another DuckDB
    /// hashed them (DuckDB does not promise its `hash` across versions).
    pub(super) fn ensure_window_ids(&self) -> Result<(), super::StoreError> {
        let what = "cannot rebuild the window's event ids";
        let conn = self.conn();
        if hashed_here(conn).map_err(super::query_error(what))? {
            return Ok(());
        }
        tracing::info!("hashing the event ids of the window");
        conn.execute_batch("BEGIN TRANSACTION")
            .map_err(super::query_error(what))?;
        let rebuilt = rebuild(conn).and_then(|()| conn.execute_batch("COMMIT"));
        if rebuilt.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        rebuilt.map_err(super::query_error(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn rows(store: &Store) -> Vec<i64> {
        store
            .conn()
            .prepare("SELECT row_id FROM window_ids ORDER BY row_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap()
    }

    #[test]
    fn b21_a_commit_adds_the_rows_its_run_saw_and_prunes_those_no_later_search_reads() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO usage_events (event_id, ts) VALUES
                     ('a', TIMESTAMPTZ '2026-01-01 10:00:00+00'),
                     (NULL, TIMESTAMPTZ '2026-01-01 11:00:00+00'),
                     ('untimed', NULL),
                     ('b', TIMESTAMPTZ '2026-01-02 10:00:00+00'),
                     ('unseen', TIMESTAMPTZ '2026-01-02 11:00:00+00')",
            )
            .unwrap();
        store.commit_empty_day("2026-01-02", 3, 1);
        assert_eq!(
            rows(&store),
            [0, 3],
            "rows with an id and a time the run saw"
        );
        // Billing 2026-01-06 with W = 1: a later search reads from 2026-01-02 (2W + 2 days
        // before) on.
        store.commit_empty_day("2026-01-06", 4, 1);
        assert_eq!(rows(&store), [3, 4]);
    }

    #[test]
    fn a_store_new_or_upgraded_has_its_ids_hashed_by_its_first_night() {
        let store = Store::open_in_memory().unwrap();
        assert!(!hashed_here(store.conn()).unwrap());
        store.ensure_window_ids().unwrap();
        assert!(hashed_here(store.conn()).unwrap());
    }

    #[test]
    fn b21_ids_hashed_by_another_duckdb_are_hashed_again() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO usage_events (event_id, ts) VALUES ('a', TIMESTAMPTZ '2026-01-01 10:00:00+00')",
            )
            .unwrap();
        store.commit_empty_day("2026-01-01", 0, 35);
        store
            .conn()
            .execute_batch(
                "UPDATE window_ids_hash SET probe = probe + 1; UPDATE window_ids SET id_hash = 0",
            )
            .unwrap();
        assert!(!hashed_here(store.conn()).unwrap());
        store.ensure_window_ids().unwrap();
        assert!(hashed_here(store.conn()).unwrap());
        let hashed: bool = store
            .conn()
            .query_row("SELECT id_hash = hash('a') FROM window_ids", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(hashed);
    }
}

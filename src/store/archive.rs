//! The store's side of the archive (B22): which settled events of old UTC days may leave,
//! each day's rows as Arrow, the files recorded, and the one transaction that records a batch
//! of files and removes their events.
//!
//! Removing rows must not change which of the others are settled. Settlement goes by rowid
//! (`rowid <= max_rowid` of a run), and DuckDB's rowids are positions: a checkpoint after a
//! `DELETE` compacts row groups and renumbers the rows after the deleted ones, and the next
//! append may reuse rowids of deleted rows at the end, so an event not yet settled could fall
//! at or below a run's `max_rowid` and never be billed. So the archive never deletes in place:
//! it rebuilds `usage_events` without the archived rows, in order (rowids `0..n`), and rebases
//! each run's `max_rowid` to the new numbering, in the transaction that records the files.
//! Its cost is a copy of the rows kept (the window's events), whatever the store's age.

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{Connection, params};
use serde::Serialize;

use super::sql::usage_day;
use super::{Store, StoreError, query_error, query_row, window_ids};
use crate::calendar;

/// The events an archive may move: settled by a billing run (`rowid <= settled_upto`, the
/// highest `max_rowid`), with a time before the UTC day `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archivable {
    pub settled_upto: i64,
    /// The first UTC day whose events stay.
    pub before: NaiveDate,
}

/// A UTC day with events to archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayToArchive {
    /// The UTC day of the events' `ts`.
    pub day: NaiveDate,
    /// Its events to archive.
    pub rows: u64,
    /// The number of its file: 0, or one more than the day's files archived before.
    pub part: u32,
}

/// A Parquet file the archive wrote, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedFile {
    /// The UTC day of its events' `ts`.
    pub day: NaiveDate,
    /// Its number among the day's files.
    pub part: u32,
    /// Where it was written: a directory or `s3://bucket/prefix`.
    pub location: String,
    /// Its name under the location.
    pub file: String,
    pub rows: u64,
    /// The SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// When the archive that wrote it started.
    pub archived_at: DateTime<Utc>,
}

/// What the archive holds, for `billing status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveSummary {
    /// UTC days with archived events.
    pub days: u64,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub events: u64,
    /// The locations written to.
    pub locations: Vec<String>,
}

/// The UTC day of `ts`, as a `DATE` (a cast would take the session's time zone).
fn utc_day() -> String {
    format!("DATE '1970-01-01' + ({})::INTEGER", usage_day("ts", "0"))
}

/// The `WHERE` condition of the rows an archive moves.
fn archived_rows(archivable: &Archivable) -> String {
    format!(
        "rowid <= {} AND ts < make_timestamp({})::TIMESTAMPTZ",
        archivable.settled_upto,
        utc_start(archivable.before)
    )
}

/// The `WHERE` condition of the rows an archive keeps: the others, events without a time
/// among them.
fn kept_rows(archivable: &Archivable) -> String {
    format!(
        "rowid > {} OR ts IS NULL OR ts >= make_timestamp({})::TIMESTAMPTZ",
        archivable.settled_upto,
        utc_start(archivable.before)
    )
}

/// The first instant of a UTC day, in microseconds since the epoch.
fn utc_start(day: NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_micros()
}

impl Store {
    /// The events an archive may move whose time is before the UTC day `before`: none before
    /// any day is billed.
    pub fn archivable(&self, before: NaiveDate) -> Result<Option<Archivable>, StoreError> {
        let settled_upto: Option<i64> = query_row(
            self.conn(),
            "SELECT max(max_rowid) FROM billing_runs",
            [],
            |r| r.get(0),
        )
        .map_err(query_error("cannot read the billed days"))?;
        Ok(settled_upto.map(|settled_upto| Archivable {
            settled_upto,
            before,
        }))
    }

    /// The UTC days with events to archive, oldest first.
    pub fn days_to_archive(
        &self,
        archivable: &Archivable,
    ) -> Result<Vec<DayToArchive>, StoreError> {
        let what = "cannot find the days to archive";
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "WITH days AS (
                     SELECT {} AS day, count(*) AS events FROM usage_events
                     WHERE {} GROUP BY ALL)
                 SELECT day, events, coalesce(max(f.part) + 1, 0) FROM days
                 LEFT JOIN archived_files f USING (day) GROUP BY ALL ORDER BY day",
                utc_day(),
                archived_rows(archivable)
            ))
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, NaiveDate>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(query_error(what))?;
        let mut days = Vec::new();
        for row in rows {
            let (day, rows, part) = row.map_err(query_error(what))?;
            let corrupt = |message: String| StoreError::Corrupt {
                table: "archived_files",
                message,
            };
            days.push(DayToArchive {
                day,
                rows: u64::try_from(rows).map_err(|_| corrupt(format!("{rows} rows")))?,
                part: u32::try_from(part).map_err(|_| corrupt(format!("part {part}")))?,
            });
        }
        Ok(days)
    }

    /// Hands the events to archive of the UTC day `day`, every column of `usage_events`, to
    /// `each`, one Arrow batch at a time, in the table's order.
    pub fn each_event_to_archive<E: From<StoreError>>(
        &self,
        archivable: &Archivable,
        day: NaiveDate,
        mut each: impl FnMut(RecordBatch) -> Result<(), E>,
    ) -> Result<(), E> {
        let what = format!("cannot read the events of {day} to archive");
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT * FROM usage_events WHERE {}
                 AND ts >= make_timestamp(?)::TIMESTAMPTZ AND ts < make_timestamp(?)::TIMESTAMPTZ",
                archived_rows(archivable)
            ))
            .map_err(query_error(&what))?;
        let batches = stmt
            .stream_arrow(params![utc_start(day), utc_start(calendar::next_day(day))])
            .map_err(query_error(&what))?;
        for batch in batches {
            each(batch.map_err(query_error(&what))?)?;
        }
        Ok(())
    }

    /// In one transaction: records `files` (the days of `archivable`, each written and
    /// verified) and removes their events, refusing a day whose events no longer number its
    /// file's rows; then hashes the window's ids again for the rows' new numbers (a night
    /// does it if this is killed first).
    pub fn commit_archive(
        &mut self,
        archivable: &Archivable,
        files: &[ArchivedFile],
    ) -> Result<(), StoreError> {
        let what = "cannot commit the archive";
        let tx = self.conn_mut().transaction().map_err(query_error(what))?;
        check_rows(&tx, archivable, files)?;
        {
            let mut recorded = tx.appender("archived_files").map_err(query_error(what))?;
            for file in files {
                recorded
                    .append_row(params![
                        file.day,
                        file.part,
                        file.location,
                        file.file,
                        file.rows,
                        file.sha256,
                        file.archived_at
                    ])
                    .map_err(query_error(what))?;
            }
        }
        rebase_runs(&tx, archivable).map_err(query_error(what))?;
        rebuild_without(&tx, archivable).map_err(query_error(what))?;
        window_ids::invalidate(&tx, "main").map_err(query_error(what))?;
        tx.commit().map_err(query_error(what))?;
        self.ensure_window_ids()
    }

    /// Every file the archive recorded, by day and part.
    pub fn archived_files(&self) -> Result<Vec<ArchivedFile>, StoreError> {
        let what = "cannot read the archived files";
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT day, part, location, file, rows, sha256, archived_at FROM archived_files
                 ORDER BY day, part",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ArchivedFile {
                    day: r.get(0)?,
                    part: r.get(1)?,
                    location: r.get(2)?,
                    file: r.get(3)?,
                    rows: r.get(4)?,
                    sha256: r.get(5)?,
                    archived_at: r.get(6)?,
                })
            })
            .map_err(query_error(what))?;
        rows.collect::<Result<_, _>>().map_err(query_error(what))
    }

    /// What the archive holds.
    pub fn archive_summary(&self) -> Result<ArchiveSummary, StoreError> {
        let what = "cannot read the archived files";
        let (days, first_day, last_day, events) = query_row(
            self.conn(),
            "SELECT count(DISTINCT day), min(day), max(day), coalesce(sum(rows), 0)::BIGINT
             FROM archived_files",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )
        .map_err(query_error(what))?;
        let locations = self
            .conn()
            .prepare("SELECT DISTINCT location FROM archived_files ORDER BY location")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .map_err(query_error(what))?;
        let corrupt = |message: String| StoreError::Corrupt {
            table: "archived_files",
            message,
        };
        Ok(ArchiveSummary {
            days: u64::try_from(days).map_err(|_| corrupt(format!("{days} days")))?,
            first_day,
            last_day,
            events: u64::try_from(events).map_err(|_| corrupt(format!("{events} events")))?,
            locations,
        })
    }
}

/// Refuses the archive unless each day's events to remove are exactly its file's rows.
fn check_rows(
    tx: &Connection,
    archivable: &Archivable,
    files: &[ArchivedFile],
) -> Result<(), StoreError> {
    let what = "cannot count the events to archive";
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {}, count(*) FROM usage_events WHERE {} GROUP BY ALL ORDER BY ALL",
            utc_day(),
            archived_rows(archivable)
        ))
        .map_err(query_error(what))?;
    let stored: Vec<(NaiveDate, u64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(query_error(what))?
        .collect::<Result<_, _>>()
        .map_err(query_error(what))?;
    let written: Vec<(NaiveDate, u64)> = files.iter().map(|f| (f.day, f.rows)).collect();
    if stored != written {
        return Err(StoreError::Corrupt {
            table: "usage_events",
            message: format!(
                "the events to archive changed while they were written: {stored:?} in the store, {written:?} in the files"
            ),
        });
    }
    Ok(())
}

/// Rebases every run's `max_rowid` to the numbering [`rebuild_without`] makes: the rows kept
/// at or below it, less one. Each kept row is counted at the first `max_rowid` at or above it
/// (an as-of join), the counts summed in order; a `max_rowid` with no row counted at it takes
/// the sum at the one below.
fn rebase_runs(tx: &Connection, archivable: &Archivable) -> duckdb::Result<()> {
    tx.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE archive_rebased AS
         WITH marks AS (SELECT DISTINCT max_rowid AS mark FROM billing_runs),
              kept AS (SELECT rowid AS row_id FROM usage_events WHERE {kept}),
              counted AS (SELECT mark, count(*) AS rows
                          FROM kept ASOF JOIN marks ON kept.row_id <= marks.mark GROUP BY mark)
         SELECT mark, sum(rows) OVER (ORDER BY mark) - 1 AS max_rowid FROM counted;
         UPDATE billing_runs SET max_rowid = coalesce(
             (SELECT max(b.max_rowid) FROM archive_rebased b WHERE b.mark <= billing_runs.max_rowid),
             -1);
         DROP TABLE archive_rebased;",
        kept = kept_rows(archivable)
    ))
}

/// Replaces `usage_events` with a table of the same definition (and indexes) holding its rows
/// but the archived ones, in order: DuckDB keeps insertion order, so a kept row's new rowid is
/// the number of kept rows before it.
fn rebuild_without(tx: &Connection, archivable: &Archivable) -> duckdb::Result<()> {
    let definition = |catalog: &str| -> duckdb::Result<Vec<String>> {
        tx.prepare(&format!(
            "SELECT sql FROM {catalog} WHERE database_name = current_database()
             AND schema_name = 'main' AND table_name = 'usage_events' AND sql IS NOT NULL"
        ))?
        .query_map([], |r| r.get(0))?
        .collect()
    };
    let table = definition("duckdb_tables()")?;
    let indexes = definition("duckdb_indexes()")?;
    let create = table.concat().replacen(
        "CREATE TABLE usage_events(",
        "CREATE TABLE usage_events_kept(",
        1,
    );
    tx.execute_batch(&format!(
        "RESET preserve_insertion_order;
         {create}
         INSERT INTO usage_events_kept SELECT * FROM usage_events WHERE {kept};
         DROP TABLE usage_events;
         ALTER TABLE usage_events_kept RENAME TO usage_events;
         {indexes}",
        kept = kept_rows(archivable),
        indexes = indexes.join(";\n"),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// A store with events `e0..e11` two a UTC day from 2026-01-01, then `late` (of 2026-01-01)
    /// and `untimed`, settled by runs of 2026-01-05 (`e0..e7`) and 2026-01-06 (those and
    /// `late` and `untimed`), then `e12` and `e13` (of 2026-01-01 and 2026-01-07) that no run
    /// saw yet.
    fn store() -> Store {
        let store = Store::open_in_memory().unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO usage_events (event_id, ts, key_id)
                 SELECT 'e' || i, make_timestamp(epoch_us(TIMESTAMPTZ '2026-01-01 10:00:00+00')
                                                 + i // 2 * 86400000000)::TIMESTAMPTZ, 'k'
                 FROM range(12) t(i);
                 INSERT INTO usage_events (event_id, ts, key_id) VALUES
                     ('late', TIMESTAMPTZ '2026-01-01 23:00:00+00', 'k'), ('untimed', NULL, 'k');
                 INSERT INTO billing_runs VALUES ('2026-01-05', 0, 7, '{}'), ('2026-01-06', 0, 13, '{}');
                 INSERT INTO usage_events (event_id, ts, key_id) VALUES
                     ('e12', TIMESTAMPTZ '2026-01-01 12:00:00+00', 'k'),
                     ('e13', TIMESTAMPTZ '2026-01-07 12:00:00+00', 'k');",
            )
            .unwrap();
        store
    }

    /// Each event with the runs (their days) whose `max_rowid` is at or above its row.
    fn settled_by(store: &Store) -> BTreeMap<String, String> {
        store
            .conn()
            .prepare(
                "SELECT e.event_id, coalesce(string_agg(r.day::VARCHAR, ' ' ORDER BY r.day), '')
                 FROM usage_events e LEFT JOIN billing_runs r ON e.rowid <= r.max_rowid
                 GROUP BY ALL",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn files(days: &[DayToArchive]) -> Vec<ArchivedFile> {
        days.iter()
            .map(|d| ArchivedFile {
                day: d.day,
                part: d.part,
                location: "/archive".into(),
                file: format!("day={}/events-{}.parquet", d.day, d.part),
                rows: d.rows,
                sha256: "00".into(),
                archived_at: DateTime::default(),
            })
            .collect()
    }

    #[test]
    fn archiving_leaves_every_kept_event_settled_by_the_same_runs_and_new_rows_unsettled() {
        let mut store = store();
        let archivable = store.archivable(day("2026-01-03")).unwrap().unwrap();
        assert_eq!(archivable.settled_upto, 13);
        let days = store.days_to_archive(&archivable).unwrap();
        assert_eq!(
            days,
            [
                DayToArchive {
                    day: day("2026-01-01"),
                    rows: 3,
                    part: 0
                },
                DayToArchive {
                    day: day("2026-01-02"),
                    rows: 2,
                    part: 0
                },
            ]
        );
        let mut before = settled_by(&store);
        store.commit_archive(&archivable, &files(&days)).unwrap();
        for gone in ["e0", "e1", "e2", "e3", "late"] {
            before.remove(gone);
        }
        assert_eq!(
            settled_by(&store),
            before,
            "untimed, e12 and e13 among them"
        );
        store
            .conn()
            .execute_batch("CHECKPOINT; INSERT INTO usage_events (event_id) VALUES ('new')")
            .unwrap();
        assert_eq!(settled_by(&store)["new"], "");
        assert_eq!(store.archived_files().unwrap(), files(&days));
    }

    #[test]
    fn a_day_archived_again_takes_the_next_part_and_the_summary_counts_both() {
        let mut store = store();
        let archivable = store.archivable(day("2026-01-02")).unwrap().unwrap();
        let first = store.days_to_archive(&archivable).unwrap();
        store.commit_archive(&archivable, &files(&first)).unwrap();
        // A later run settles e12, of the archived day.
        store
            .conn()
            .execute_batch("INSERT INTO billing_runs VALUES ('2026-01-07', 0, 99, '{}')")
            .unwrap();
        let archivable = store.archivable(day("2026-01-02")).unwrap().unwrap();
        let again = store.days_to_archive(&archivable).unwrap();
        assert_eq!(
            again,
            [DayToArchive {
                day: day("2026-01-01"),
                rows: 1,
                part: 1
            }]
        );
        store.commit_archive(&archivable, &files(&again)).unwrap();
        let summary = store.archive_summary().unwrap();
        assert_eq!(
            (summary.days, summary.events, summary.locations),
            (1, 4, vec!["/archive".to_owned()])
        );
    }

    #[test]
    fn an_archive_whose_events_changed_since_they_were_written_commits_nothing() {
        let mut store = store();
        let archivable = store.archivable(day("2026-01-03")).unwrap().unwrap();
        let mut written = files(&store.days_to_archive(&archivable).unwrap());
        written[0].rows -= 1;
        assert!(matches!(
            store.commit_archive(&archivable, &written),
            Err(StoreError::Corrupt {
                table: "usage_events",
                ..
            })
        ));
        assert_eq!(store.archived_files().unwrap(), []);
        assert_eq!(settled_by(&store).len(), 16);
    }

    #[test]
    fn the_rebuilt_table_keeps_its_default_and_indexes() {
        let mut store = store();
        store
            .conn()
            .execute_batch("CREATE INDEX events_by_key ON usage_events (key_id)")
            .unwrap();
        let archivable = store.archivable(day("2026-01-03")).unwrap().unwrap();
        let days = store.days_to_archive(&archivable).unwrap();
        store.commit_archive(&archivable, &files(&days)).unwrap();
        let indexes: i64 = query_row(
            store.conn(),
            "SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'usage_events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
        assert_eq!(indexes, 1);
        store
            .conn()
            .execute_batch("INSERT INTO usage_events (event_id) VALUES ('new')")
            .unwrap();
        let stamped: bool = query_row(
            store.conn(),
            "SELECT ingested_at IS NOT NULL FROM usage_events WHERE event_id = 'new'",
            [],
            |r| r.get(0),
        )
        .unwrap();
        assert!(stamped);
    }
}

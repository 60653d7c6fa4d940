//! `billing archive` (B22): the settled events of UTC days older than the window leave the
//! store for zstd Parquet files, `day=YYYY-MM-DD/events-PART.parquet` under a directory or
//! `s3://bucket/prefix`; and `--verify` reads every recorded file back against its record.
//!
//! Each day's file is written, read back and checked (row count and SHA-256) before anything is
//! deleted; then one store transaction records the files and removes their events. A file's name
//! depends only on its day and on the files recorded before it, so an archive killed at any
//! instant is completed by the next run, which writes the same names again: nothing is lost,
//! nothing doubled. Events without a time have no day: they stay in the store (settled, as
//! malformed).

use std::collections::BTreeSet;
use std::io::Cursor;

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::arrow::record_batch::RecordBatch;
use polars::io::parquet::write::BatchedWriter;
use polars::prelude::{ParquetCompression, ParquetReader, ParquetWriter, PolarsError, SerReader};
use serde::Serialize;

use super::arrow_bridge;
use crate::objects::{Objects, ObjectsError, sha256_hex};
use crate::store::{Archivable, ArchivedFile, DayToArchive, Store, StoreError};

/// Rows per Parquet row group: DuckDB's batches are gathered to about this many.
const ROW_GROUP_ROWS: usize = 1 << 19;

/// The object written and deleted to find out whether a location can be written.
const PROBE: &str = ".tokenplan-write-probe";

/// An archive that failed; nothing was deleted from the store.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The location can't be written (found before anything is read or deleted).
    #[error("the archive location cannot be written; nothing was archived")]
    Unwritable(#[source] ObjectsError),
    /// Writing or reading a file failed.
    #[error("nothing was archived")]
    Objects(#[from] ObjectsError),
    /// A day's events can't be written as Parquet.
    #[error("cannot write the events of {day} as Parquet; nothing was archived")]
    Parquet {
        day: NaiveDate,
        #[source]
        source: PolarsError,
    },
    /// A file read back right after it was written is not what was written.
    #[error("`{file}` read back {problem}; nothing was archived")]
    ReadBack { file: String, problem: Problem },
}

/// How a file differs from what was written or recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum Problem {
    /// There is no such file.
    Missing,
    /// Its bytes are not those recorded.
    Changed { sha256: String },
    /// Its bytes are those recorded, but not its rows.
    Rows { rows: u64 },
    /// Its bytes are those recorded, but not Parquet.
    Unreadable { error: String },
    /// A file under `day=…/` that no archive recorded (one written by an archive killed before
    /// its commit, to a location no later run wrote to).
    Unrecorded,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::Changed { sha256 } => write!(f, "changed (sha256 {sha256})"),
            Problem::Rows { rows } => write!(f, "with {rows} rows"),
            Problem::Unreadable { error } => write!(f, "unreadable as Parquet ({error})"),
            Problem::Unrecorded => f.write_str("not recorded"),
        }
    }
}

/// One UTC day's file, archived by this run: one JSON line on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedDay {
    /// The UTC day of its events' `ts`.
    pub day: NaiveDate,
    /// Events moved.
    pub rows: u64,
    /// The file: its location and name.
    pub file: String,
    pub sha256: String,
}

/// The first UTC day whose events stay in the store, given the latest billed day and the
/// window of W days. B22 lets an event leave when its usage day is more than W days before
/// the latest billed day; the usage day is in its Team's zone (B3: UTC, or UTC+08:00 for a
/// domestic Team), so an event of the UTC day `d` has a usage day of `d` or `d + 1`. A UTC day
/// leaves whole, then, when `d + 1` is more than W days before the latest billed day: `d` is
/// before `latest − W − 1` (the calendar's first day when that is before it: nothing leaves).
pub fn first_kept_day(latest: NaiveDate, window_days: u32) -> NaiveDate {
    latest
        .checked_sub_days(chrono::Days::new(u64::from(window_days) + 1))
        .unwrap_or(NaiveDate::MIN)
}

/// Archives every UTC day whose settled events may leave the store to `objects`, hearing
/// `each` for each day once all are committed; nothing when no day is billed.
pub fn archive(
    store: &mut Store,
    objects: &Objects,
    now: DateTime<Utc>,
    mut each: impl FnMut(&ArchivedDay),
) -> Result<(), ArchiveError> {
    check_writable(objects)?;
    let Some(archivable) = archivable(store)? else {
        tracing::info!("no day is billed: nothing to archive");
        return Ok(());
    };
    let days = store.days_to_archive(&archivable)?;
    tracing::info!(
        "{} UTC day(s) before {} to archive to {}",
        days.len(),
        archivable.before,
        objects.url()
    );
    if days.is_empty() {
        return Ok(());
    }
    let mut files = Vec::with_capacity(days.len());
    for day in &days {
        files.push(write_day(store, objects, &archivable, day, now)?);
    }
    tracing::info!("committing the archive of {} day(s)", files.len());
    store.commit_archive(&archivable, &files)?;
    tracing::info!("committed the archive of {} day(s)", files.len());
    for file in &files {
        each(&ArchivedDay {
            day: file.day,
            rows: file.rows,
            file: format!("{}/{}", file.location, file.file),
            sha256: file.sha256.clone(),
        });
    }
    Ok(())
}

/// The events that may leave the store: those settled, of UTC days before
/// [`first_kept_day`]; none when no day is billed.
fn archivable(store: &Store) -> Result<Option<Archivable>, ArchiveError> {
    let Some(latest) = store.latest_billed_day()? else {
        return Ok(None);
    };
    let window = store.window()?.ok_or(StoreError::Corrupt {
        table: "billing_window",
        message: format!("days are billed through {latest} but no window was fixed"),
    })?;
    Ok(store.archivable(first_kept_day(latest, window.days))?)
}

/// Writes a probe object and deletes it.
fn check_writable(objects: &Objects) -> Result<(), ArchiveError> {
    objects
        .put(PROBE, Vec::new())
        .and_then(|()| objects.delete(PROBE))
        .map_err(ArchiveError::Unwritable)
}

/// Writes one day's events as a Parquet file, reads it back and checks it.
fn write_day(
    store: &Store,
    objects: &Objects,
    archivable: &Archivable,
    day: &DayToArchive,
    now: DateTime<Utc>,
) -> Result<ArchivedFile, ArchiveError> {
    let file = format!("day={}/events-{}.parquet", day.day, day.part);
    let bytes = parquet_of_day(store, archivable, day.day, ROW_GROUP_ROWS)?;
    let sha256 = sha256_hex(&bytes);
    objects.put(&file, bytes)?;
    tracing::info!("{}: written {file} ({} events)", day.day, day.rows);
    let read_back = objects.get(&file)?;
    if let Some(problem) = check(read_back.as_deref(), &sha256, day.rows) {
        return Err(ArchiveError::ReadBack {
            file: format!("{}/{file}", objects.url()),
            problem,
        });
    }
    tracing::info!("{}: verified {file} (sha256 {sha256})", day.day);
    Ok(ArchivedFile {
        day: day.day,
        part: day.part,
        location: objects.url().to_owned(),
        file,
        rows: day.rows,
        sha256,
        archived_at: now,
    })
}

/// The events of `day` to archive as one zstd Parquet file, in row groups of DuckDB's batches
/// gathered to at least `row_group_rows` rows (the last one fewer).
fn parquet_of_day(
    store: &Store,
    archivable: &Archivable,
    day: NaiveDate,
    row_group_rows: usize,
) -> Result<Vec<u8>, ArchiveError> {
    let failed = |source| ArchiveError::Parquet { day, source };
    let mut bytes = Vec::new();
    let mut file = ParquetFile {
        unstarted: Some(&mut bytes),
        writer: None,
    };
    let mut pending: Vec<RecordBatch> = Vec::new();
    store.each_event_to_archive(archivable, day, |batch| -> Result<(), ArchiveError> {
        pending.push(batch);
        if pending.iter().map(RecordBatch::num_rows).sum::<usize>() >= row_group_rows {
            file.write(&mut pending).map_err(failed)?;
        }
        Ok(())
    })?;
    file.write(&mut pending).map_err(failed)?;
    file.finish().map_err(failed)?;
    Ok(bytes)
}

/// A zstd Parquet file written into memory one row group at a time; the first row group
/// gives the schema, and starts the writer.
struct ParquetFile<'a> {
    unstarted: Option<&'a mut Vec<u8>>,
    writer: Option<BatchedWriter<&'a mut Vec<u8>>>,
}

impl ParquetFile<'_> {
    /// Writes the batches `pending`, if any, as one row group, and empties it.
    fn write(&mut self, pending: &mut Vec<RecordBatch>) -> Result<(), PolarsError> {
        let Some(mut frame) = arrow_bridge::to_frame(pending)? else {
            return Ok(());
        };
        pending.clear();
        frame.rechunk_mut();
        if let Some(bytes) = self.unstarted.take() {
            let writer = ParquetWriter::new(bytes)
                .with_compression(ParquetCompression::Zstd(None))
                .batched(frame.schema())?;
            self.writer = Some(writer);
        }
        match &mut self.writer {
            Some(writer) => writer.write_batch(&frame),
            None => Ok(()),
        }
    }

    /// Writes the footer (of a file with at least one row group).
    fn finish(self) -> Result<(), PolarsError> {
        match self.writer {
            Some(writer) => writer.finish().map(drop),
            None => Ok(()),
        }
    }
}

/// How `bytes` (none: no file) differ from a file of `sha256` holding `rows` rows.
fn check(bytes: Option<&[u8]>, sha256: &str, rows: u64) -> Option<Problem> {
    let Some(bytes) = bytes else {
        return Some(Problem::Missing);
    };
    let found = sha256_hex(bytes);
    if found != sha256 {
        return Some(Problem::Changed { sha256: found });
    }
    match ParquetReader::new(Cursor::new(bytes)).num_rows() {
        Ok(counted) if counted as u64 == rows => None,
        Ok(counted) => Some(Problem::Rows {
            rows: counted as u64,
        }),
        Err(e) => Some(Problem::Unreadable {
            error: e.to_string(),
        }),
    }
}

/// A recorded file, or one under `day=…/` that no archive recorded, as `--verify` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub day: NaiveDate,
    /// Its location and name.
    pub file: String,
    /// How it differs from its record; none when it matches.
    #[serde(flatten)]
    pub problem: Option<Problem>,
}

/// Reads back every recorded file, from its recorded location or from `at`, and lists the
/// files under each location's `day=…/` directories that no archive recorded.
pub fn verify(store: &Store, at: Option<&Objects>) -> Result<Vec<Checked>, ArchiveError> {
    let files = store.archived_files()?;
    let mut checked = Vec::with_capacity(files.len());
    match at {
        Some(objects) => checked.extend(verify_at(objects, &files.iter().collect::<Vec<_>>())?),
        None => {
            let locations: BTreeSet<&str> = files.iter().map(|f| f.location.as_str()).collect();
            for location in locations {
                let recorded: Vec<&ArchivedFile> =
                    files.iter().filter(|f| f.location == location).collect();
                checked.extend(verify_at(&Objects::open(location)?, &recorded)?);
            }
        }
    }
    checked.sort_by(|a, b| (a.day, &a.file).cmp(&(b.day, &b.file)));
    Ok(checked)
}

/// Reads back the files `recorded` from `objects`, and lists those under its `day=…/`
/// directories that are not among them.
fn verify_at(objects: &Objects, recorded: &[&ArchivedFile]) -> Result<Vec<Checked>, ArchiveError> {
    let names: BTreeSet<&str> = recorded.iter().map(|f| f.file.as_str()).collect();
    let mut checked = Vec::with_capacity(recorded.len());
    for file in recorded {
        let bytes = objects.get(&file.file)?;
        checked.push(Checked {
            day: file.day,
            file: format!("{}/{}", objects.url(), file.file),
            problem: check(bytes.as_deref(), &file.sha256, file.rows),
        });
    }
    for name in objects.list("")? {
        let Some(day) = archive_day(&name) else {
            continue;
        };
        if !names.contains(name.as_str()) {
            checked.push(Checked {
                day,
                file: format!("{}/{name}", objects.url()),
                problem: Some(Problem::Unrecorded),
            });
        }
    }
    Ok(checked)
}

/// The day of a name under `day=YYYY-MM-DD/`, if it is one.
fn archive_day(name: &str) -> Option<NaiveDate> {
    let (directory, _) = name.split_once('/')?;
    directory.strip_prefix("day=")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use polars::prelude::{DataType, TimeUnit};

    use super::*;
    use crate::calendar::next_day;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_utc_day_leaves_when_the_day_after_it_is_more_than_the_window_before_the_latest() {
        let kept = first_kept_day(day("2026-02-10"), 35);
        assert_eq!(kept, day("2026-01-05"));
        // The last UTC day that leaves: its events' usage days are at most 2026-01-05, 36 days
        // before 2026-02-10.
        let last = kept.pred_opt().unwrap();
        assert_eq!((day("2026-02-10") - next_day(last)).num_days(), 36);
        // The first that stays has events of usage day 2026-01-06 (UTC+08:00), 35 days before.
        assert_eq!((day("2026-02-10") - next_day(kept)).num_days(), 35);
    }

    #[test]
    fn a_day_is_one_zstd_parquet_file_of_row_groups_with_every_column_of_usage_events() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_test_events(3000);
        store.commit_empty_day("2026-11-23", 2999, crate::store::DEFAULT_WINDOW_DAYS);
        let archivable = store.archivable(day("2026-11-24")).unwrap().unwrap();
        let bytes = parquet_of_day(&store, &archivable, day("2026-11-23"), 1000).unwrap();
        let mut reader = ParquetReader::new(Cursor::new(&bytes));
        let metadata = reader.get_metadata().unwrap();
        let row_groups = metadata.row_groups.len();
        assert!(row_groups > 1, "{row_groups} row group(s)");
        let compressions: Vec<String> = metadata.row_groups[0]
            .parquet_columns()
            .iter()
            .map(|c| format!("{:?}", c.compression()))
            .collect();
        assert!(compressions.iter().all(|c| c == "Zstd"), "{compressions:?}");
        let frame = reader.finish().unwrap();
        assert_eq!(frame.height(), 3000);
        let ids = frame.column("event_id").unwrap().str().unwrap();
        let mut ids: Vec<&str> = ids.iter().map(Option::unwrap).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3000, "each event once");
        let columns: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|c| c.as_str())
            .collect();
        let usage_events = [&crate::events::COLUMNS[..], &["ingested_at"]].concat();
        assert_eq!(columns, usage_events);
        assert!(matches!(
            frame.column("ts").unwrap().dtype(),
            DataType::Datetime(TimeUnit::Microseconds, Some(_))
        ));
        assert_eq!(check(Some(&bytes), &sha256_hex(&bytes), 3000), None);
        assert_eq!(
            check(Some(&bytes), &sha256_hex(&bytes), 2999),
            Some(Problem::Rows { rows: 3000 })
        );
        assert_eq!(check(None, "00", 3000), Some(Problem::Missing));
        assert!(matches!(
            check(Some(b"not parquet"), "00", 3000),
            Some(Problem::Changed { .. })
        ));
        let empty_sha = sha256_hex(b"");
        assert_eq!(
            empty_sha,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(matches!(
            check(Some(b""), &empty_sha, 0),
            Some(Problem::Unreadable { .. })
        ));
    }
}

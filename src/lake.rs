//! Usage events from a lake (`--events URL` on `billing run` and `billing plan`): Parquet files
//! under a directory or `s3://bucket/prefix`, partitioned as `day=YYYY-MM-DD/` by the UTC day
//! of their `ts`, with the columns of `usage_events`. Before a night, every file not taken yet
//! is read and checked as `events import` checks a file (and its rows against its partition),
//! then all of them are stored in one transaction and recorded with their size, entity tag and
//! SHA-256: a file is taken once, so the run that follows settles it once, and a file that
//! appears later for a billed day is late usage (B14). A file taken before that has changed
//! since (another size or tag) is an error, and nothing is taken: its events are billed already.

use chrono::{DateTime, NaiveDate, Utc};

use crate::events::{self, EventRow, ImportError};
use crate::objects::{Listed, Objects, ObjectsError, sha256_hex};
use crate::store::{LakeFile, Store, StoreError};

/// A lake that can't be taken from; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file can't be read, or has rows that can't be stored.
    #[error("`{lake}`: a file can't be taken, so nothing of the lake was")]
    File {
        lake: String,
        #[source]
        source: ImportError,
    },
    /// A Parquet file outside a `day=YYYY-MM-DD/` partition.
    #[error(
        "`{file}` in `{lake}` is not under a `day=YYYY-MM-DD/` partition, so nothing of the lake was taken"
    )]
    Partition { lake: String, file: String },
    /// A row whose UTC day is not its file's partition day.
    #[error(
        "`{file}` in `{lake}`: row {line} is of {found} (UTC), not of the partition's {day}, so nothing of the lake was taken"
    )]
    Misplaced {
        lake: String,
        file: String,
        line: usize,
        found: NaiveDate,
        day: NaiveDate,
    },
    /// A file taken before has changed since.
    #[error(
        "`{file}` in `{lake}` changed after its events were taken and billed, so nothing of the lake was taken"
    )]
    Changed { lake: String, file: String },
}

/// What taking from a lake did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Files taken now, and their rows.
    pub files: usize,
    pub rows: u64,
    /// Files taken by earlier runs, unchanged.
    pub known: usize,
}

/// Takes every file of `lake` not taken yet into `store`.
pub fn take(store: &mut Store, lake: &Objects, now: DateTime<Utc>) -> Result<Taken, LakeError> {
    let url = lake.url().to_owned();
    let known = store.lake_files(&url)?;
    let mut taken = Taken::default();
    let mut new = Vec::new();
    for listed in lake.listed("")? {
        if !listed.name.ends_with(".parquet") {
            tracing::debug!(file = listed.name, "not a Parquet file: left alone");
            continue;
        }
        match known.binary_search_by(|file| file.file.as_str().cmp(&listed.name)) {
            Ok(i) if known[i].size == listed.size && known[i].e_tag == listed.e_tag => {
                taken.known += 1;
            }
            Ok(_) => {
                return Err(LakeError::Changed {
                    lake: url,
                    file: listed.name,
                });
            }
            Err(_) => new.push(listed),
        }
    }
    let mut files = Vec::new();
    let mut rows = Vec::new();
    for listed in new {
        let (file, read) = read(lake, &url, listed, now)?;
        files.push(file);
        rows.push(read);
    }
    events::store(store, &rows, now)?;
    store.record_lake_files(&url, &files, now)?;
    taken.files = files.len();
    taken.rows = files.iter().map(|file| file.rows).sum();
    tracing::info!(
        lake = url,
        files = taken.files,
        rows = taken.rows,
        "took the lake's new files"
    );
    Ok(taken)
}

/// Reads and checks one new file.
fn read(
    lake: &Objects,
    url: &str,
    listed: Listed,
    now: DateTime<Utc>,
) -> Result<(LakeFile, Vec<EventRow>), LakeError> {
    let day = partition_day(&listed.name).ok_or_else(|| LakeError::Partition {
        lake: url.to_owned(),
        file: listed.name.clone(),
    })?;
    let bytes = lake.get(&listed.name)?.unwrap_or_default();
    let sha256 = sha256_hex(&bytes);
    let rows =
        events::read_parquet_bytes(&listed.name, bytes, now).map_err(|source| LakeError::File {
            lake: url.to_owned(),
            source,
        })?;
    if let Some(row) = rows.iter().find(|row| row.ts.date_naive() != day) {
        return Err(LakeError::Misplaced {
            lake: url.to_owned(),
            file: listed.name,
            line: row.line,
            found: row.ts.date_naive(),
            day,
        });
    }
    let file = LakeFile {
        rows: rows.len() as u64,
        file: listed.name,
        size: listed.size,
        e_tag: listed.e_tag,
        sha256,
    };
    Ok((file, rows))
}

/// The day of a file under `day=YYYY-MM-DD/`.
fn partition_day(name: &str) -> Option<NaiveDate> {
    let (directory, _) = name.rsplit_once('/')?;
    let partition = directory.rsplit('/').next()?;
    partition.strip_prefix("day=")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_of_the_day_of_its_partition() {
        let day = |name| partition_day(name).map(|d| d.to_string());
        assert_eq!(
            day("day=2026-11-23/a.parquet").as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(
            day("x/day=2026-11-23/a.parquet").as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(day("a.parquet"), None);
        assert_eq!(day("day=2026-13-01/a.parquet"), None);
        assert_eq!(day("day=2026-11-23/sub/a.parquet"), None);
    }
}

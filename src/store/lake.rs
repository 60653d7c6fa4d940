//! The files of a lake taken into `usage_events` (`lake_files`).

use chrono::{DateTime, Utc};
use duckdb::params;

use super::{Store, StoreError, query_error};

/// A lake's file as taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Its name under the lake.
    pub file: String,
    pub size: u64,
    pub e_tag: Option<String>,
    pub rows: u64,
    pub sha256: String,
}

impl Store {
    /// The files of the lake `lake` taken so far.
    pub fn lake_files(&self, lake: &str) -> Result<Vec<LakeFile>, StoreError> {
        let what = "cannot read the lake's files";
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT file, size, e_tag, rows, sha256 FROM lake_files WHERE lake = ? ORDER BY file",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map(params![lake], |r| {
                Ok(LakeFile {
                    file: r.get(0)?,
                    size: r.get(1)?,
                    e_tag: r.get(2)?,
                    rows: r.get(3)?,
                    sha256: r.get(4)?,
                })
            })
            .map_err(query_error(what))?;
        rows.collect::<Result<_, _>>().map_err(query_error(what))
    }

    /// Records `files` of `lake` as taken at `now`.
    pub fn record_lake_files(
        &mut self,
        lake: &str,
        files: &[LakeFile],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let what = "cannot record the lake's files";
        let tx = self.conn_mut().transaction().map_err(query_error(what))?;
        for file in files {
            tx.execute(
                "INSERT INTO lake_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    lake,
                    file.file,
                    file.size,
                    file.e_tag,
                    file.rows,
                    file.sha256,
                    now
                ],
            )
            .map_err(query_error(what))?;
        }
        tx.commit().map_err(query_error(what))
    }
}

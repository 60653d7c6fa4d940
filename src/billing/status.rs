//! `billing status`: the latest billed day, the days not yet billed up to yesterday, the
//! events not yet settled, the window, the archive, the spool files refused, and how the last
//! run ended.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::days::{default_day, next_to_bill};
use super::error::BillingError;
use crate::store::{ArchiveSummary, Attempt, DEFAULT_WINDOW_DAYS, Store, Unsettled};

/// What an operator checks in the morning.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The latest billed day (B18).
    pub latest_billed_day: Option<NaiveDate>,
    /// Days that have ended everywhere and are not billed yet, oldest first.
    pub unbilled_days: Vec<NaiveDate>,
    /// Usage events no run has settled yet.
    pub unsettled_events: Unsettled,
    /// The window W (B21).
    pub window: WindowStatus,
    /// What `billing archive` moved out of the store (B22).
    pub archive: ArchiveSummary,
    /// The spool files `events import` refused (when the spool directory is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_spool_files: Option<RefusedFiles>,
    /// How the last `billing run` ended.
    pub last_run: Option<Attempt>,
    /// When a run last exited 0.
    pub last_success: Option<DateTime<Utc>>,
}

impl Status {
    /// The store's status at `now`, with the refused files of `spool` when given.
    pub fn read(
        store: &Store,
        now: DateTime<Utc>,
        spool: Option<&Path>,
    ) -> Result<Status, BillingError> {
        let latest_billed_day = store.latest_billed_day()?;
        let yesterday = default_day(now);
        let unbilled_days = next_to_bill(store, latest_billed_day)?
            .map(|first| first.iter_days().take_while(|d| *d <= yesterday).collect())
            .unwrap_or_default();
        let (last_run, last_success) = store.last_attempts()?;
        Ok(Status {
            latest_billed_day,
            unbilled_days,
            unsettled_events: store.unsettled()?,
            window: WindowStatus::of(store)?,
            archive: store.archive_summary()?,
            refused_spool_files: spool.map(RefusedFiles::count).transpose()?,
            last_run,
            last_success,
        })
    }
}

/// The window W (B21): fixed on the first billed day, else the default that day will fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowStatus {
    pub days: u32,
    /// The first billed day, which fixed it; none before it.
    pub fixed_on: Option<NaiveDate>,
}

impl WindowStatus {
    fn of(store: &Store) -> Result<WindowStatus, BillingError> {
        Ok(match store.window()? {
            Some(window) => WindowStatus {
                days: window.days,
                fixed_on: Some(window.fixed_on),
            },
            None => WindowStatus {
                days: DEFAULT_WINDOW_DAYS,
                fixed_on: None,
            },
        })
    }
}

/// The files `jobs/nightly.sh` moved to the spool's `refused/` directory: each holds a row
/// `events import` refused, and waits for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedFiles {
    /// `SPOOL/refused`.
    pub directory: PathBuf,
    /// The files in it.
    pub count: u64,
}

impl RefusedFiles {
    /// Counts the files in `spool/refused`; none when the directory does not exist yet.
    pub fn count(spool: &Path) -> Result<RefusedFiles, BillingError> {
        let directory = spool.join("refused");
        let unreadable = |source| BillingError::Spool {
            path: directory.display().to_string(),
            source,
        };
        let count = match files_in(&directory) {
            Ok(count) => count,
            // The spool exists; nothing was ever refused.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && spool.is_dir() => 0,
            Err(e) => return Err(unreadable(e)),
        };
        Ok(RefusedFiles { directory, count })
    }
}

/// The regular files in `directory`.
fn files_in(directory: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    for entry in std::fs::read_dir(directory)? {
        if entry?.file_type()?.is_file() {
            count += 1;
        }
    }
    Ok(count)
}

//! A billed day's files, `out/DAY/TEAM.json` and `out/DAY/summary.json`, written atomically:
//! into a fresh hidden directory, then put in place by renames, so a crash leaves the previous
//! directory whole and the next run removes what it left.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::error::BillingError;
use super::run::DayReport;

/// `out` exists or can be made, and a file can be written in it: a run checks it before it
/// bills anything, so a wrong `--out` bills nothing rather than every day without its files.
pub fn check_writable(out: &Path) -> Result<(), BillingError> {
    std::fs::create_dir_all(out)
        .and_then(|()| {
            tempfile::NamedTempFile::new_in(out)
                .map_err(os_error)?
                .close()
        })
        .map_err(|source| BillingError::Unwritable {
            path: out.display().to_string(),
            source,
        })
}

/// Whether `out/day/` was written whole (its summary is the last file put in place).
pub fn written(out: &Path, day: NaiveDate) -> bool {
    out.join(day.to_string()).join("summary.json").exists()
}

/// Writes the files of `report` into a fresh directory, then puts it in place as `out/DAY`
/// with renames. Returns `out/DAY`.
pub fn write(out: &Path, report: &DayReport) -> Result<PathBuf, BillingError> {
    let day = report.summary.day.to_string();
    let files = |source| BillingError::Files {
        path: out.display().to_string(),
        source,
    };
    std::fs::create_dir_all(out).map_err(files)?;
    remove_leftovers(out).map_err(files)?;
    tracing::debug!(%day, "writing statement files");
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{day}."))
        .tempdir_in(out)
        .map_err(files)?;
    for statement in &report.statements {
        let body = statement
            .to_json()
            .map_err(BillingError::json(statement.team.as_str()))?;
        std::fs::write(
            staging.path().join(format!("{}.json", statement.team)),
            body,
        )
        .map_err(files)?;
    }
    let summary = serde_json::to_string_pretty(&report.summary)
        .map_err(BillingError::json("summary"))?
        + "\n";
    std::fs::write(staging.path().join("summary.json"), summary).map_err(files)?;
    let target = out.join(&day);
    let previous = out.join(format!(".{day}.previous"));
    if target.exists() {
        let _ = std::fs::remove_dir_all(&previous);
        std::fs::rename(&target, &previous).map_err(files)?;
    }
    std::fs::rename(staging.keep(), &target).map_err(files)?;
    let _ = std::fs::remove_dir_all(&previous);
    Ok(target)
}

/// Removes what an interrupted [`write`] left in `out`: its hidden staging directories
/// (`.DAY.XXXXXX`) and replaced days (`.DAY.previous`). Nothing else is touched.
fn remove_leftovers(out: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix('.')) else {
            continue;
        };
        let ours = rest
            .get(..10)
            .is_some_and(|day| day.parse::<NaiveDate>().is_ok())
            && rest.get(10..11) == Some(".");
        if ours && entry.file_type()?.is_dir() {
            tracing::info!(path = %entry.path().display(), "removing what an interrupted run left");
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// The operating system's error alone, without the name of the temporary file it was about:
/// the caller names the path the user gave.
pub fn os_error(error: std::io::Error) -> std::io::Error {
    match error.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => error,
    }
}

//! `tokenplan billing archive`: move old events to Parquet files (B22), or verify the files.

use std::collections::BTreeMap;

use tokenplan::billing::ArchiveError;
use tokenplan::objects::{Objects, ObjectsError};

use super::*;

/// What to do about a location that can't be used.
const LOCATION_HINT: &str = "pass --to (or TOKENPLAN_ARCHIVE) a directory this user can write, or s3://bucket/prefix with AWS_* credentials (AWS_ENDPOINT_URL and AWS_ALLOW_HTTP=true for a local server); nothing was deleted";

/// `billing archive --to URL`: archives every day older than the window, printing one JSON
/// line per day once all are committed.
pub(super) fn archive(cli: &Cli, to: &str) -> CommandResult {
    let mut store = open_existing_store(cli)?;
    let objects = open_location(to)?;
    let mut days = Vec::new();
    tokenplan::billing::archive(&mut store, &objects, chrono::Utc::now(), |day| {
        days.push(day.clone());
    })
    .map_err(|e| match e {
        ArchiveError::Unwritable(_) => Failure::input(e).hint(LOCATION_HINT),
        e => Failure::work(e).hint(
            "nothing was deleted from the store; run `tokenplan billing archive` again to archive the days",
        ),
    })?;
    for day in &days {
        out!("{}\n", serde_json::to_string(day).map_err(Failure::work)?);
    }
    if !cli.quiet {
        let events: u64 = days.iter().map(|d| d.rows).sum();
        eprintln!(
            "archived {} day(s), {events} event(s), to {}",
            days.len(),
            objects.url()
        );
    }
    Ok(Exit::Success)
}

/// `billing archive --verify [--to URL]`: reads every recorded file back (from `to` when
/// given), printing one JSON line per file; exit 1 naming the days that do not match.
pub(super) fn verify(cli: &Cli, to: Option<&str>) -> CommandResult {
    let store = open_read_only_store(cli)?;
    let at = to.map(open_location).transpose()?;
    let checked = tokenplan::billing::verify(&store, at.as_ref()).map_err(Failure::work)?;
    let mut problems: BTreeMap<chrono::NaiveDate, Vec<String>> = BTreeMap::new();
    for file in &checked {
        out!("{}\n", serde_json::to_string(file).map_err(Failure::work)?);
        if let Some(problem) = &file.problem {
            problems
                .entry(file.day)
                .or_default()
                .push(format!("`{}` {problem}", file.file));
        }
    }
    if problems.is_empty() {
        if !cli.quiet {
            eprintln!("{} archived file(s) match their record", checked.len());
        }
        return Ok(Exit::Success);
    }
    let days: Vec<String> = problems
        .iter()
        .map(|(day, files)| format!("{day}: {}", files.join(", ")))
        .collect();
    Err(Failure::work(ArchiveMismatch {
        days: problems.len(),
        which: days.join("; "),
    })
    .hint("restore the files from a copy, or pass --to where the archive was moved"))
}

/// Archived days whose files do not match the store's record.
#[derive(Debug, thiserror::Error)]
#[error("{days} archived day(s) do not match their record: {which}")]
struct ArchiveMismatch {
    days: usize,
    which: String,
}

/// The objects under `to`; a URL that can't be used is exit 2.
fn open_location(to: &str) -> Result<Objects, Failure> {
    Objects::open(to).map_err(|e: ObjectsError| Failure::input(e).hint(LOCATION_HINT))
}

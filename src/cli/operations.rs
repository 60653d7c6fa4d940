//! `tokenplan apply` and `tokenplan events import`.

use std::path::{Path, PathBuf};

use super::*;

/// Applies a scenario all or nothing (or, with `--keep-going`, every step that can be), and
/// prints one line per step once the store is settled: a closed stdout can't cut a write short.
pub(super) fn apply(cli: &Cli, scenario: &Path, keep_going: bool) -> CommandResult {
    let text = read_file(scenario)?;
    let file = scenario.display().to_string();
    let steps = teams::scenario::parse(&file, &text).map_err(Failure::input)?;
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let mut store = open_store(cli)?;
    let applied = Teams::new(&mut store, &gate, &prices)
        .apply_all(&steps, keep_going)
        .map_err(Failure::work)?;
    let (mut unexpected, mut invalid) = (0, 0);
    for (step, result) in steps.iter().zip(&applied.steps) {
        let number = result.number;
        let decision = match &result.decision {
            Ok(decision) => decision,
            Err(error) => {
                invalid += 1;
                eprintln!("error: `{file}` step {number}: {}", render(error));
                continue;
            }
        };
        let mark = match (decision.is_allowed(), step.expect_denied) {
            (true, false) => "ok",
            (false, true) => "ok (denied as expected)",
            (true, true) => "FAILED (expected denied)",
            (false, false) => "FAILED",
        };
        if !result.as_expected(step) {
            unexpected += 1;
        }
        out!(
            "step {number} {} {} {} {}: {mark}: {}\n",
            step.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            step.actor,
            step.operation.name(),
            step.operation.team(&step.actor),
            decision.explain()
        );
    }
    if !applied.stored {
        let number = applied.steps.last().map_or(0, |r| r.number);
        let how = if invalid > 0 {
            "could not be decided"
        } else {
            "ended against its expectation"
        };
        eprintln!("error: step {number} {how}, so nothing of `{file}` was stored");
        eprintln!(
            "hint: the file is applied all or nothing: fix step {number} and apply it again, or pass --keep-going to store the steps that can be"
        );
        return Ok(if invalid > 0 {
            Exit::Usage
        } else {
            Exit::Problems
        });
    }
    if invalid + unexpected > 0 {
        let mut problems = Vec::new();
        if invalid > 0 {
            problems.push(format!(
                "{invalid} step(s) could not be decided and were not stored"
            ));
        }
        if unexpected > 0 {
            problems.push(format!(
                "{unexpected} step(s) ended against their expectation"
            ));
        }
        eprintln!("error: {}", problems.join("; "));
        return Ok(if invalid > 0 {
            Exit::Usage
        } else {
            Exit::Problems
        });
    }
    if !cli.quiet {
        eprintln!("applied {} step(s) to {}", steps.len(), cli.db.display());
    }
    Ok(Exit::Success)
}

/// Reads and checks every file first; stores them all in one transaction only if none is
/// refused, and says per file what happened.
pub(super) fn import(cli: &Cli, files: &[PathBuf]) -> CommandResult {
    let now = chrono::Utc::now();
    let read: Vec<_> = files.iter().map(|file| events::read(file, now)).collect();
    let refused = read.iter().filter(|r| r.is_err()).count();
    if refused > 0 {
        for (file, result) in files.iter().zip(&read) {
            match result {
                Ok(rows) => eprintln!(
                    "{}: not stored: its {} row(s) are fine, but another file was refused",
                    file.display(),
                    rows.len()
                ),
                Err(error) => eprintln!("{}: refused: {}", file.display(), render(error)),
            }
        }
        return Err(Failure::input(anyhow::anyhow!(
            "{refused} of {} file(s) refused, so nothing was stored",
            files.len()
        ))
        .hint("the files of one import are stored all or nothing: fix the rows named above and import them again"));
    }
    let rows: Vec<_> = read.into_iter().flatten().collect();
    let mut store = open_store(cli)?;
    let summaries = events::store(&mut store, &rows, now).map_err(Failure::work)?;
    for (file, summary) in files.iter().zip(summaries) {
        out!(
            "{}: read {}, stored {}, skipped {} (event id already stored or repeated)\n",
            file.display(),
            summary.read,
            summary.stored,
            summary.skipped
        );
    }
    Ok(Exit::Success)
}

//! `tokenplan apply` and `tokenplan events import`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatekeeper::JsonLinesLog;

use tokenplan::ids::escaped;
use tokenplan::teams::{Outcome, Step};

use super::*;

/// Applies a scenario all or nothing (or, with `--keep-going`, every step that can be), and
/// prints one line per step once the store is settled: a closed stdout can't cut a write short.
/// Steps applied before store nothing and say so. With `decision_log`, every decision made is
/// appended to it as a JSON line, whether its step was stored or not.
pub(super) fn apply(
    cli: &Cli,
    scenario: &Path,
    keep_going: bool,
    decision_log: Option<&Path>,
) -> CommandResult {
    let text = read_file(scenario)?;
    let file = escaped(&scenario.display().to_string());
    let steps = teams::scenario::parse(&file, &text).map_err(Failure::input)?;
    let mut gate = gatekeeper(cli)?;
    let log = match decision_log {
        Some(path) => {
            let log = JsonLinesLog::append_to(path)
                .with_context(|| format!("cannot open the decision log `{}`", path.display()))
                .map_err(Failure::input)?;
            let log = Arc::new(log);
            gate = gate.with_decision_log(log.clone());
            Some((path, log))
        }
        None => None,
    };
    let prices = prices(cli)?;
    let mut store = open_store(cli)?;
    let applied = Teams::new(&mut store, &gate, &prices)
        .apply_all(&steps, keep_going)
        .map_err(Failure::work)?;
    if let Some((path, log)) = log {
        log.finish()
            .with_context(|| format!("cannot write the decision log `{}`", path.display()))
            .map_err(|e| {
                Failure::work(e).hint(
                    "the steps were decided all the same: `audit_log` in the store records every stored decision with its policy digest",
                )
            })?;
    }
    let (mut unexpected, mut invalid, mut repeated) = (0, 0, 0);
    let mut failed = Vec::new();
    for result in &applied.steps {
        let number = result.number;
        let step = &steps[number - 1];
        if !result.as_expected(step) {
            failed.push(number.to_string());
        }
        let (mark, said) = match &result.outcome {
            Ok(Outcome::Decided(decision)) => {
                if !result.as_expected(step) {
                    unexpected += 1;
                }
                (
                    decided_mark(decision, step, applied.stored),
                    decision.explain(),
                )
            }
            Ok(Outcome::AlreadyApplied { allowed }) => {
                repeated += 1;
                let then = if *allowed { "allowed" } else { "denied" };
                (
                    "already applied",
                    format!("{then} then; nothing stored now"),
                )
            }
            Err(error) => {
                invalid += 1;
                eprintln!("error: `{file}` step {number}: {}", escaped(&render(error)));
                continue;
            }
        };
        out!("{}: {mark}: {said}\n", step_heading(number, step));
    }
    if !applied.stored {
        let how = if invalid > 0 {
            "could not be decided"
        } else {
            "ended against its expectation"
        };
        let which = if failed.len() == 1 { "step" } else { "steps" };
        eprintln!(
            "error: {which} {} {how}, so nothing of `{file}` was stored",
            failed.join(", ")
        );
        if keep_going {
            eprintln!(
                "hint: a step dated in the future refuses the whole file, even with --keep-going: correct its `at` and apply the file again"
            );
        } else {
            eprintln!(
                "hint: the file is applied all or nothing: fix the step and apply it again, or pass --keep-going to store the steps that can be"
            );
        }
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
        let before = match repeated {
            0 => String::new(),
            n => format!("; {n} step(s) were applied before and stored nothing"),
        };
        eprintln!(
            "applied {} step(s) to {}{before}",
            steps.len() - repeated,
            cli.db.display()
        );
    }
    Ok(Exit::Success)
}

/// `step N INSTANT ACTOR OPERATION TEAM`: how a step's line starts.
fn step_heading(number: usize, step: &Step) -> String {
    format!(
        "step {number} {} {} {} {}",
        step.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        step.actor,
        step.operation.name(),
        step.operation
            .team()
            .map_or(step.actor.as_str(), TeamId::as_str),
    )
}

/// Decides every step of `scenario` against the store (an empty one when `--db` does not
/// exist) and prints, for each allowed purchase or seat addition, the line it would bill with
/// its working; stores nothing. Exit 0 when every step ends as expected, 1 when one does not,
/// 2 when one can't be decided.
pub(super) fn apply_dry_run(cli: &Cli, scenario: &Path) -> CommandResult {
    let text = read_file(scenario)?;
    let file = escaped(&scenario.display().to_string());
    let steps = teams::scenario::parse(&file, &text).map_err(Failure::input)?;
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let mut store = if cli.db.exists() {
        open_existing_store(cli)?
    } else {
        Store::open_in_memory().map_err(Failure::work)?
    };
    let results = Teams::new(&mut store, &gate, &prices)
        .dry_run(&steps, |step, before, after| {
            tokenplan::billing::preview(&step.operation, step.at, before, after, &prices)
        })
        .map_err(Failure::work)?;
    let (mut invalid, mut unexpected) = (0, 0);
    for (result, preview) in results {
        let number = result.number;
        let step = &steps[number - 1];
        let said = match &result.outcome {
            Ok(Outcome::Decided(decision)) => {
                let verdict = if decision.is_allowed() {
                    "would be allowed"
                } else {
                    "would be denied"
                };
                format!("{verdict}: {}", decision.explain())
            }
            Ok(Outcome::AlreadyApplied { .. }) => "applied before: nothing to do".to_owned(),
            Err(error) => {
                invalid += 1;
                eprintln!("error: `{file}` step {number}: {}", escaped(&render(error)));
                continue;
            }
        };
        if !result.as_expected(step) {
            unexpected += 1;
        }
        out!("{}: {said}\n", step_heading(number, step));
        if let Some(preview) = preview.transpose().map_err(Failure::input)?.flatten() {
            out!("  would bill {}\n", preview.working());
        }
    }
    if !cli.quiet {
        eprintln!(
            "dry run: {} step(s) decided against {}; nothing was stored",
            steps.len(),
            if cli.db.exists() {
                cli.db.display().to_string()
            } else {
                "an empty store".to_owned()
            }
        );
    }
    Ok(if invalid > 0 {
        Exit::Usage
    } else {
        Exit::verdict(unexpected == 0)
    })
}

/// How a decided step ended, and whether it was stored: `stored` is false when the file as a
/// whole was refused.
fn decided_mark(decision: &gatekeeper::Decision, step: &Step, stored: bool) -> &'static str {
    match (decision.is_allowed(), step.expect_denied, stored) {
        (true, false, true) => "ok",
        (false, true, true) => "ok (denied as expected)",
        (true, false, false) => "not stored (the file was refused)",
        (false, true, false) => "not stored (denied as expected; the file was refused)",
        (true, true, _) => "FAILED (expected denied)",
        (false, false, _) => "FAILED",
    }
}

/// Reads and checks every file first; stores them all in one transaction only if none is
/// refused, and says per file what happened.
pub(super) fn import(cli: &Cli, files: &[PathBuf]) -> CommandResult {
    let now = chrono::Utc::now();
    let read: Vec<_> = files.iter().map(|file| events::read(file, now)).collect();
    let refused = read.iter().filter(|r| r.is_err()).count();
    if refused > 0 {
        for (file, result) in files.iter().zip(&read) {
            let file = escaped(&file.display().to_string());
            match result {
                Ok(rows) => eprintln!(
                    "{file}: not stored: its {} row(s) are fine, but another file was refused",
                    rows.len()
                ),
                Err(error) => eprintln!("{file}: refused: {}", render(error)),
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
        let file = escaped(&file.display().to_string());
        out!(
            "{file}: read {}, stored {}, skipped {} (exact repeats of a row already stored or read)\n",
            summary.read,
            summary.stored,
            summary.skipped
        );
        if let Some(late) = summary.too_late.filter(|late| late.rows > 0) {
            eprintln!(
                "{file}: {} row(s) already too late for {}: more than {} days before it; stored, and quarantined as `too_late` when billed (B21)",
                late.rows, late.day, late.window_days
            );
        }
    }
    Ok(Exit::Success)
}

//! `tokenplan apply` and `tokenplan events import`.

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn apply(cli: &Cli, scenario: &Path, keep_going: bool) -> Outcome {
    let text = read_file(scenario)?;
    let steps =
        teams::scenario::parse(&scenario.display().to_string(), &text).map_err(Failure::input)?;
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let mut store = open_store(&cli.db)?;
    let mut teams = Teams::new(&mut store, &gate, &prices);
    let mut failed = 0;
    for (i, step) in steps.iter().enumerate() {
        let number = i + 1;
        let decision = teams
            .apply(&step.actor, &step.operation, step.at)
            .map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "`{}` step {number}: {e}",
                    scenario.display()
                ))
            })?;
        let as_expected = decision.is_allowed() != step.expect_denied;
        let mark = match (decision.is_allowed(), step.expect_denied) {
            (true, false) => "ok",
            (false, true) => "ok (denied as expected)",
            (true, true) => "FAILED (expected denied)",
            (false, false) => "FAILED",
        };
        println!(
            "step {number} {} {} {} {}: {mark}: {}",
            step.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            step.actor,
            step.operation.name(),
            step.operation.team(&step.actor),
            decision.explain()
        );
        if !as_expected {
            failed += 1;
            if !keep_going {
                eprintln!(
                    "error: step {number} ended against its expectation; stopping (use --keep-going to go on)"
                );
                return Ok(1);
            }
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} step(s) ended against their expectation");
        return Ok(1);
    }
    if !cli.quiet {
        eprintln!("applied {} step(s) to {}", steps.len(), cli.db.display());
    }
    Ok(0)
}

pub(super) fn import(cli: &Cli, files: &[PathBuf]) -> Outcome {
    let mut store = open_store(&cli.db)?;
    for file in files {
        let rows = events::read(file).map_err(|e| {
            Failure::input(e).hint(
                "fix the rows named above and import the file again; nothing of it was stored",
            )
        })?;
        let summary =
            events::store(&mut store, &rows, chrono::Utc::now()).map_err(Failure::work)?;
        println!(
            "{}: read {}, stored {}, skipped {} (event id already stored or repeated)",
            file.display(),
            summary.read,
            summary.stored,
            summary.skipped
        );
    }
    Ok(0)
}

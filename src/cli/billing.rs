//! `tokenplan billing ...`, `demo` and `generate`.

use std::path::Path;

use tokenplan::billing::BillingError;

use super::*;

/// Bills every unbilled day through `date` (B18), printing each day's summary as one JSON
/// line once the day is committed, with whether it was billed or reproduced. Whatever the
/// outcome, it is recorded in the store (when the store opened) and in `--metrics`.
pub(super) fn billing_run(
    cli: &Cli,
    date: Option<chrono::NaiveDate>,
    out: Option<&Path>,
    metrics_file: Option<&Path>,
) -> CommandResult {
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let mut metrics = tokenplan::billing::RunMetrics::default();
    let day = date.unwrap_or_else(|| tokenplan::billing::default_day(started));
    let mut store = None;
    let result = bill_through(cli, &mut store, day, started, out, &mut metrics);
    let status = match &result {
        Ok(status) => *status,
        Err(failure) => failure.status,
    };
    let finished = chrono::Utc::now();
    if let Some(store) = &store {
        let attempt = tokenplan::store::Attempt {
            started_at: started,
            finished_at: finished,
            through_day: day,
            exit_status: status.code(),
            days_billed: u32::try_from(metrics.days_billed).unwrap_or(u32::MAX),
            days_reproduced: u32::try_from(metrics.days_reproduced).unwrap_or(u32::MAX),
            message: match &result {
                Err(Failure { error: Some(e), .. }) => render(e.as_ref()),
                _ => String::new(),
            },
        };
        if let Err(e) = store.record_attempt(&attempt) {
            tracing::warn!("{}", render(&e));
        }
        match store.last_attempts() {
            Ok((_, success)) => metrics.last_success = success,
            Err(e) => tracing::warn!("{}", render(&e)),
        }
        match store.latest_billed_day() {
            Ok(latest) => {
                metrics.latest_billed_day =
                    latest.map(|d| tokenplan::calendar::day_start(d, gatekeeper::Region::Overseas));
            }
            Err(e) => tracing::warn!("{}", render(&e)),
        }
    }
    if let Some(path) = metrics_file {
        metrics.finished_at = Some(finished);
        metrics.exit_status = status.code();
        metrics.duration_seconds = clock.elapsed().as_secs_f64();
        if let Err(e) = metrics.write(path) {
            let what = format!("cannot write the metrics file `{}`", path.display());
            if result.is_ok() {
                return Err(Failure::input(anyhow::Error::new(e).context(what)));
            }
            // The run's own failure is the one to exit with.
            eprintln!("error: {what}: {e}");
        }
    }
    result
}

/// The run itself: opens the store into `store` (so the caller can record the outcome) and
/// bills through `day`, adding each day to `metrics`.
fn bill_through(
    cli: &Cli,
    store: &mut Option<Store>,
    day: chrono::NaiveDate,
    now: chrono::DateTime<chrono::Utc>,
    out: Option<&Path>,
    metrics: &mut tokenplan::billing::RunMetrics,
) -> CommandResult {
    let prices = prices(cli)?;
    let store = store.insert(open_existing_store(cli)?);
    let bar = progress(cli);
    let mut printed = Ok(());
    let result = tokenplan::billing::run(store, &prices, day, now, out, &bar, |report| {
        metrics.add(report);
        if printed.is_ok() {
            printed = print_day(cli, report, out);
        }
    });
    bar.finish_and_clear();
    result.map_err(|e| match e {
        BillingError::Unfinished { .. } => Failure::input(e)
            .hint("bill a day once it has ended everywhere; without --date, the run bills the latest such day"),
        BillingError::OutOfOrder { next, .. } => Failure::input(e).hint(format!(
            "run without --date, or with --date {next} or later, to bill every day from {next} on"
        )),
        BillingError::Skipped { .. } => Failure::input(e),
        BillingError::Files { .. } => Failure {
            status: Exit::FilesNotWritten,
            error: Some(e.into()),
            hint: Some("the day is billed in the store; free the space or fix the directory, then run `tokenplan billing run` again to write its files".to_owned()),
        },
        e => Failure::work(e),
    })?;
    printed?;
    Ok(Exit::Success)
}

/// One day's summary line on stdout, and what was done on stderr.
fn print_day(
    cli: &Cli,
    report: &tokenplan::billing::RunReport,
    out: Option<&Path>,
) -> Result<(), Failure> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        outcome: &'a str,
        #[serde(flatten)]
        summary: &'a tokenplan::billing::Summary,
    }
    let outcome = if report.reproduced {
        "reproduced"
    } else {
        "billed"
    };
    let line = serde_json::to_string(&Line {
        outcome,
        summary: &report.summary,
    })
    .map_err(Failure::work)?;
    out!("{line}\n");
    if !cli.quiet {
        let day = report.summary.day;
        eprintln!(
            "{day}: {outcome}: {} statement(s){}",
            report.statements.len(),
            out.map(|o| format!(" in {}", o.join(day.to_string()).display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `billing status`: what an operator checks in the morning.
pub(super) fn status(cli: &Cli, format: ShowFormat) -> CommandResult {
    let store = open_read_only_store(cli)?;
    let now = chrono::Utc::now();
    let status = tokenplan::billing::Status::read(&store, now).map_err(Failure::work)?;
    match format {
        ShowFormat::Json => out!(
            "{}\n",
            serde_json::to_string_pretty(&status).map_err(Failure::work)?
        ),
        ShowFormat::Table => out!("{}", tokenplan::render::status_table(&status)),
    }
    Ok(Exit::Success)
}

pub(super) fn show(
    cli: &Cli,
    day: chrono::NaiveDate,
    team: &str,
    actor: &str,
    format: ShowFormat,
) -> CommandResult {
    let gate = gatekeeper(cli)?;
    let store = open_read_only_store(cli)?;
    let statement = tokenplan::billing::statement_of(&store, day, team)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no statement of Team `{team}` for {day}")).hint("run `tokenplan billing run --date` for that day first; a Team with nothing to bill has no statement"))?;
    let end =
        tokenplan::calendar::day_end(day, statement.region) - chrono::Duration::microseconds(1);
    let state = tokenplan::teams::team_state(&store, team, end)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no Team `{team}`")))?;
    let visible =
        tokenplan::billing::view(&gate, &state, actor, &statement).map_err(Failure::work)?;
    match format {
        ShowFormat::Json => out!("{}", visible.to_json().map_err(Failure::work)?),
        ShowFormat::Table => out!("{}", tokenplan::render::statement_table(&visible)),
    }
    Ok(Exit::Success)
}

pub(super) fn demo(cli: &Cli, out: Option<&Path>) -> CommandResult {
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let dir = tempfile::tempdir().map_err(Failure::work)?;
    let mut store = Store::open(&dir.path().join("demo.duckdb")).map_err(Failure::work)?;
    let day = tokenplan::demo::load(&mut store, &gate, &prices).map_err(Failure::work)?;
    let bar = progress(cli);
    let report =
        tokenplan::billing::run_day(&mut store, &prices, day, chrono::Utc::now(), out, &bar);
    bar.finish_and_clear();
    let report = report.map_err(Failure::work)?;
    for statement in &report.statements {
        out!("{}\n", tokenplan::render::statement_table(statement));
    }
    out!("{}\n", tokenplan::render::summary_table(&report.summary));
    Ok(Exit::Success)
}

pub(super) fn generate(cli: &Cli, shape: tokenplan::generate::Shape) -> CommandResult {
    let mut store = open_store(cli)?;
    if !store.team_ids().map_err(Failure::work)?.is_empty() {
        return Err(
            Failure::input(anyhow::anyhow!("`{}` already has Teams", cli.db.display()))
                .hint("generate into a new --db file"),
        );
    }
    let bar = progress(cli);
    let started = std::time::Instant::now();
    let result = tokenplan::generate::generate(&mut store, shape, &bar);
    bar.finish_and_clear();
    result.map_err(Failure::work)?;
    if !cli.quiet {
        eprintln!(
            "generated {} Teams × {} members and {} events over {} day(s) ending {} in {:.1?}",
            shape.teams,
            shape.members,
            shape.events,
            shape.days,
            shape.last_day,
            started.elapsed()
        );
    }
    Ok(Exit::Success)
}

//! `tokenplan billing ...`, `demo` and `generate`.

use std::path::Path;

use tokenplan::billing::BillingError;

use super::*;

/// Bills every unbilled day through `date` (B18), printing each day's summary as one JSON
/// line once the day is committed, with whether it was billed or reproduced. `--out` and
/// `--metrics` are checked writable before anything is billed; a metrics file that can't be
/// written after that is exit 3, like statement files. Whatever the outcome, the metrics are
/// written and the same exit status is recorded in the store (when it opened), for `billing
/// status`.
pub(super) fn billing_run(
    cli: &Cli,
    date: Option<chrono::NaiveDate>,
    paths: RunPaths<'_>,
) -> CommandResult {
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let mut metrics = tokenplan::billing::RunMetrics::default();
    let day = date.unwrap_or_else(|| tokenplan::billing::default_day(started));
    let mut store = None;
    let mut result = bill_through(cli, &mut store, day, started, paths, &mut metrics);
    let finished = chrono::Utc::now();
    if let Some(path) = paths.metrics {
        metrics.finished_at = Some(finished);
        metrics.duration_seconds = clock.elapsed().as_secs_f64();
        result = write_metrics(cli, path, result, store.as_ref(), &mut metrics);
    }
    if let Some(store) = &store {
        record_attempt(store, started, finished, day, &metrics, &result);
    }
    result
}

/// The paths a `billing run` writes to, or reads besides the store.
#[derive(Clone, Copy)]
pub(super) struct RunPaths<'a> {
    /// `--out`.
    pub out: Option<&'a Path>,
    /// `--metrics`.
    pub metrics: Option<&'a Path>,
    /// `--spool`.
    pub spool: Option<&'a Path>,
}

/// A metrics file that can't be written: exit 2 when found before billing, 3 after.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file `{path}`")]
struct MetricsUnwritable {
    path: String,
    #[source]
    source: std::io::Error,
}

impl MetricsUnwritable {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        move |source| MetricsUnwritable {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Writes the run's outcome to `path`, with the last success and the latest billed day (from
/// the store when it opened, else carried from the previous metrics file). A write that fails
/// turns a successful run into exit 3.
fn write_metrics(
    cli: &Cli,
    path: &Path,
    result: CommandResult,
    store: Option<&Store>,
    metrics: &mut tokenplan::billing::RunMetrics,
) -> CommandResult {
    let status = exit_status(&result);
    metrics.exit_status = status.code();
    match store {
        Some(store) => carry_from_store(store, metrics),
        None => metrics.carry_from(path),
    }
    if status == Exit::Success {
        metrics.last_success = metrics.finished_at;
    }
    let Err(error) = metrics.write(path).map_err(MetricsUnwritable::at(path)) else {
        return result;
    };
    match result {
        Ok(_) => Err(Failure {
            status: Exit::FilesNotWritten,
            error: Some(error.into()),
            hint: Some(
                "the days are billed in the store; free the space or fix the directory: the next run writes the metrics again"
                    .to_owned(),
            ),
        }),
        Err(failure) => {
            // The run's own failure is the one to exit with; a metrics file found unwritable
            // before billing is that failure, already told.
            let told = failure
                .error
                .as_ref()
                .is_some_and(|e| e.downcast_ref::<MetricsUnwritable>().is_some());
            if !told {
                print_error(cli.log_format, &anyhow::Error::new(error), None);
            }
            Err(failure)
        }
    }
}

/// The exit status a command result ends with.
fn exit_status(result: &CommandResult) -> Exit {
    match result {
        Ok(status) => *status,
        Err(failure) => failure.status,
    }
}

/// The last success and the latest billed day as the store records them.
fn carry_from_store(store: &Store, metrics: &mut tokenplan::billing::RunMetrics) {
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

/// Records how the run ended, for `billing status`: the exit status the metrics report.
fn record_attempt(
    store: &Store,
    started: chrono::DateTime<chrono::Utc>,
    finished: chrono::DateTime<chrono::Utc>,
    day: chrono::NaiveDate,
    metrics: &tokenplan::billing::RunMetrics,
    result: &CommandResult,
) {
    let attempt = tokenplan::store::Attempt {
        started_at: started,
        finished_at: finished,
        through_day: day,
        exit_status: exit_status(result).code(),
        days_billed: u32::try_from(metrics.days_billed).unwrap_or(u32::MAX),
        days_reproduced: u32::try_from(metrics.days_reproduced).unwrap_or(u32::MAX),
        message: match result {
            Err(Failure { error: Some(e), .. }) => render(e.as_ref()),
            _ => String::new(),
        },
    };
    if let Err(e) = store.record_attempt(&attempt) {
        tracing::warn!("{}", render(&e));
    }
}

/// The run itself: counts the refused spool files, opens the store into `store` (so the
/// caller can record the outcome), checks that `--metrics` can be written, and bills through
/// `day`, adding each day to `metrics`.
fn bill_through(
    cli: &Cli,
    store: &mut Option<Store>,
    day: chrono::NaiveDate,
    now: chrono::DateTime<chrono::Utc>,
    paths: RunPaths<'_>,
    metrics: &mut tokenplan::billing::RunMetrics,
) -> CommandResult {
    if let Some(spool) = paths.spool {
        let refused = tokenplan::billing::RefusedFiles::count(spool).map_err(spool_failure)?;
        metrics.refused_spool_files = Some(refused.count);
    }
    let store = store.insert(open_existing_store(cli)?);
    if let Some(path) = paths.metrics {
        tokenplan::billing::RunMetrics::check_writable(path)
            .map_err(MetricsUnwritable::at(path))
            .map_err(|e| {
                Failure::input(e)
                    .hint("create the directory or pass another --metrics; nothing was billed")
            })?;
    }
    let prices = prices(cli)?;
    let bar = progress(cli);
    let mut printed = Ok(());
    let result = tokenplan::billing::run(store, &prices, day, now, paths.out, &bar, |report| {
        metrics.add(report);
        if printed.is_ok() {
            printed = print_day(cli, report);
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
        BillingError::Unwritable { .. } => {
            Failure::input(e).hint("create the directory or pass another --out")
        }
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

/// A spool directory whose refused files can't be counted: exit 2.
fn spool_failure(error: BillingError) -> Failure {
    Failure::input(error).hint("check --spool (or TOKENPLAN_SPOOL): the gateway's spool directory")
}

/// One day's summary line on stdout, and what was done on stderr: where its files are, only
/// once they are written.
fn print_day(cli: &Cli, report: &tokenplan::billing::RunReport) -> Result<(), Failure> {
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
        eprintln!(
            "{}: {outcome}: {} statement(s){}",
            report.summary.day,
            report.statements.len(),
            report
                .written_to
                .as_ref()
                .map(|dir| format!(" in {}", dir.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `billing status`: what an operator checks in the morning.
pub(super) fn status(cli: &Cli, format: ShowFormat, spool: Option<&Path>) -> CommandResult {
    let store = open_read_only_store(cli)?;
    let now = chrono::Utc::now();
    let status = tokenplan::billing::Status::read(&store, now, spool).map_err(|e| match e {
        BillingError::Spool { .. } => spool_failure(e),
        e => Failure::work(e),
    })?;
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
    let view = tokenplan::billing::view(&gate, &state, actor, &statement).map_err(Failure::work)?;
    match format {
        ShowFormat::Json => out!("{}", view.statement.to_json().map_err(Failure::work)?),
        ShowFormat::Table => out!("{}", statement_table(cli, &view)?),
    }
    Ok(Exit::Success)
}

/// A statement as a table, with the unit prices of the price list (`--prices`): one that does
/// not give the amounts billed is refused rather than shown beside them.
fn statement_table(cli: &Cli, view: &tokenplan::billing::View) -> Result<String, Failure> {
    let prices = prices(cli)?;
    let unit_prices = tokenplan::billing::UnitPrice::of_lines(&prices, &view.statement)
        .map_err(|e| {
            Failure::input(e).hint(
                "pass the --prices the day was billed with; --format json shows the statement without unit prices",
            )
        })?;
    Ok(tokenplan::render::statement_table(view, &unit_prices))
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
        let view = tokenplan::billing::View {
            statement: statement.clone(),
            whose: tokenplan::billing::Whose::Team,
        };
        out!("{}\n", statement_table(cli, &view)?);
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

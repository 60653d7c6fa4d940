//! `tokenplan billing ...`, `demo` and `generate`.

use std::path::Path;

use tokenplan::billing::{Attempt, BillingError, DayReport, Days, Observer, RunOptions, Stage};

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
    paths: RunArgs<'_>,
) -> CommandResult {
    attempted(cli, date, paths.metrics, |store, attempt| {
        bill_through(cli, store, attempt, paths)
    })
}

/// Runs `work`, an attempt to bill through `date` (`billing run`, `billing commit`), which
/// opens the store into its first argument; then writes the metrics to `metrics` and records
/// the outcome in the store (when it opened), for `billing status`.
pub(super) fn attempted(
    cli: &Cli,
    date: Option<chrono::NaiveDate>,
    metrics: Option<&Path>,
    work: impl FnOnce(&mut Option<Store>, &mut Attempt) -> CommandResult,
) -> CommandResult {
    let mut attempt = Attempt::start(chrono::Utc::now(), date);
    let mut store = None;
    let mut result = work(&mut store, &mut attempt);
    let mut ended = attempt.end(chrono::Utc::now());
    if let Some(path) = metrics {
        let written = ended.write_metrics(path, store.as_ref(), exit_status(&result).code());
        result = metrics_written(cli, written, result);
    }
    if let Some(store) = &store {
        let message = match &result {
            Err(Failure { error: Some(e), .. }) => render(e.as_ref()),
            _ => String::new(),
        };
        if let Err(e) = ended.record(store, exit_status(&result).code(), message) {
            tracing::warn!("{}", render(&e));
        }
    }
    result
}

/// What a `billing run` was given besides its day: where it writes, what it reads besides the
/// store, and the window to fix (B21).
#[derive(Clone, Copy)]
pub(super) struct RunArgs<'a> {
    pub out: Option<&'a Path>,
    pub metrics: Option<&'a Path>,
    pub spool: Option<&'a Path>,
    pub window: Option<u32>,
    pub events: Option<&'a str>,
}

/// The run's result once its metrics were `written`: a metrics file that can't be written
/// turns a successful run into exit 3; a failed run keeps its own failure, and the metrics
/// error is told too unless it is that failure.
fn metrics_written(
    cli: &Cli,
    written: Result<(), tokenplan::billing::MetricsUnwritable>,
    result: CommandResult,
) -> CommandResult {
    let Err(error) = written else {
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
            let told = failure.error.as_ref().is_some_and(|e| {
                matches!(e.downcast_ref::<BillingError>(), Some(BillingError::Metrics(_)))
            });
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

/// The run itself: counts the refused spool files, opens the store into `store` (so the
/// caller can record the outcome), and bills through the attempt's day.
fn bill_through(
    cli: &Cli,
    store: &mut Option<Store>,
    attempt: &mut Attempt,
    paths: RunArgs<'_>,
) -> CommandResult {
    if let Some(spool) = paths.spool {
        attempt.count_refused(spool).map_err(spool_failure)?;
    }
    let store = store.insert(open_existing_store(cli)?);
    if let Some(lake) = paths.events {
        take_lake(cli, store, lake)?;
    }
    let prices = prices(cli)?;
    let options = RunOptions {
        prices: &prices,
        days: Days::Through(attempt.through_day()),
        now: attempt.started_at(),
        out: paths.out,
        metrics: paths.metrics,
        window: paths.window,
    };
    let mut printer = Printer {
        cli,
        bar: Bar(progress(cli)),
        printed: Ok(()),
    };
    let result = tokenplan::billing::run(store, &options, &mut attempt.counting(&mut printer));
    printer.bar.0.finish_and_clear();
    result.map_err(billing_failure)?;
    printer.printed?;
    Ok(Exit::Success)
}

/// Takes the new files of the lake `url` into `store` before a night (`--events`).
pub(super) fn take_lake(cli: &Cli, store: &mut Store, url: &str) -> Result<(), Failure> {
    use tokenplan::lake::LakeError;
    use tokenplan::objects::ObjectsError;
    let lake = tokenplan::objects::Objects::open(url).map_err(|e| {
        Failure::input(e)
            .hint("pass --events a directory, or s3://bucket/prefix with AWS_* credentials")
    })?;
    let taken = tokenplan::lake::take(store, &lake, chrono::Utc::now()).map_err(|e| match e {
        LakeError::Objects(ObjectsError::Object { .. }) => Failure {
            status: Exit::Busy,
            error: Some(e.into()),
            hint: Some("the lake could not be read; run again".to_owned()),
        },
        LakeError::Objects(_) | LakeError::File { .. } | LakeError::Partition { .. } | LakeError::Misplaced { .. } => {
            Failure::input(e).hint("fix or move the file named; nothing was taken or billed")
        }
        LakeError::Changed { .. } => Failure::work(e).hint(
            "a file taken is billed: never rewrite it; put corrections in a new file; nothing was taken or billed",
        ),
        LakeError::Store(_) => Failure::work(e),
    })?;
    if !cli.quiet {
        eprintln!(
            "took {} new file(s), {} event(s), from {} ({} taken before)",
            taken.files,
            taken.rows,
            lake.url(),
            taken.known
        );
    }
    Ok(())
}

/// The failure a run's error ends the command with, and what to do about it.
pub(super) fn billing_failure(e: BillingError) -> Failure {
    match e {
        BillingError::Unfinished { .. } => Failure::input(e)
            .hint("bill a day once it has ended everywhere; without --date, the run bills the latest such day"),
        BillingError::OutOfOrder { next, .. } => Failure::input(e).hint(format!(
            "run without --date, or with --date {next} or later, to bill every day from {next} on"
        )),
        BillingError::Skipped { .. } => Failure::input(e),
        BillingError::WindowFixed { fixed, .. } => Failure::input(e).hint(format!(
            "run without --window, or with --window {}: a store's window never changes",
            fixed.days
        )),
        BillingError::Unwritable { .. } => {
            Failure::input(e).hint("create the directory or pass another --out")
        }
        BillingError::Metrics(_) => Failure::input(e)
            .hint("create the directory or pass another --metrics; nothing was billed"),
        BillingError::Files { .. } => Failure {
            status: Exit::FilesNotWritten,
            error: Some(e.into()),
            hint: Some("the day is billed in the store; free the space or fix the directory, then run `tokenplan billing run` again to write its files".to_owned()),
        },
        e => Failure::work(e),
    }
}

/// A spool directory whose refused files can't be counted: exit 2.
fn spool_failure(error: BillingError) -> Failure {
    Failure::input(error).hint("check --spool (or TOKENPLAN_SPOOL): the gateway's spool directory")
}

/// The progress bar, showing the stage a run is at.
pub(super) struct Bar(pub(super) indicatif::ProgressBar);

impl Observer for Bar {
    fn stage(&mut self, stage: Stage) {
        self.0.set_message(stage.to_string());
    }
}

/// The progress bar, and each day printed as it is done.
pub(super) struct Printer<'a> {
    pub(super) cli: &'a Cli,
    pub(super) bar: Bar,
    /// How printing went: after a failure, nothing more is printed.
    pub(super) printed: Result<(), Failure>,
}

impl Observer for Printer<'_> {
    fn stage(&mut self, stage: Stage) {
        self.bar.stage(stage);
    }

    fn day(&mut self, report: &DayReport) {
        if self.printed.is_ok() {
            self.printed = print_day(self.cli, report);
        }
    }
}

/// One day's summary line on stdout, and what was done on stderr: where its files are, only
/// once they are written.
fn print_day(cli: &Cli, report: &DayReport) -> Result<(), Failure> {
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
    format: StatementFormat,
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
        StatementFormat::Json => out!("{}", view.statement.to_json().map_err(Failure::work)?),
        StatementFormat::Table => out!("{}", statement_table(cli, &view)?),
        StatementFormat::Csv => {
            return super::export::rows_to_stdout(&tokenplan::billing::export_rows(
                &view.statement,
            ));
        }
    }
    Ok(Exit::Success)
}

/// Writes the invoice of `team`'s `month` as `actor` may see it to `out`.
pub(super) fn invoice(
    cli: &Cli,
    team: &str,
    month: tokenplan::billing::Month,
    actor: &str,
    out: &Path,
) -> CommandResult {
    use std::io::Write as _;

    use tokenplan::billing::InvoiceError;
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let store = open_read_only_store(cli)?;
    let invoice = tokenplan::billing::invoice(&store, &gate, &prices, team, month, actor).map_err(
        |e| match e {
            InvoiceError::OtherPrices { .. } => {
                Failure::input(e).hint("pass the --prices the month was billed with")
            }
            InvoiceError::UnknownTeam(_) => Failure::input(e),
            InvoiceError::Empty { .. } => Failure::input(e)
                .hint("a Team has a statement only on the days it had something billed"),
            other => Failure::work(other),
        },
    )?;
    let page = tokenplan::invoice_page::page(&invoice).map_err(Failure::work)?;
    super::export::write_file(out, |file| {
        file.write_all(page.as_bytes())
            .with_context(|| format!("cannot write `{}`", out.display()))
            .map_err(Failure::input)
    })?;
    if !cli.quiet {
        eprintln!(
            "wrote the invoice of Team {team} for {month} ({} statement(s)) to {}",
            invoice.days.len(),
            out.display()
        );
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
    let options = RunOptions {
        prices: &prices,
        days: Days::Only(day),
        now: chrono::Utc::now(),
        out,
        metrics: None,
        window: None,
    };
    let mut bar = Bar(progress(cli));
    let report = tokenplan::billing::run(&mut store, &options, &mut bar);
    bar.0.finish_and_clear();
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

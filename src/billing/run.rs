//! One billing run, the story of a night read top to bottom: decide the days, then for each
//! day replay the histories, read the day's events and reduce them, fund, group, price,
//! assemble (with the adjustments not yet billed), reconcile, commit, and write the files.
//! Every read of the store is a call here (or in `days`, `commit`, `extract` and `adjust`,
//! which this calls); the stages in between compute on what they are handed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};

use super::adjust;
use super::assemble;
use super::carry::{self, Ledger};
use super::commit::{self, Computed};
use super::days::{self, Days, Step};
use super::error::BillingError;
use super::extract::{self, DayEvents};
use super::files;
use super::fund::{Funded, Funding};
use super::group;
use super::lookup::Lookup;
use super::metrics::RunMetrics;
use super::price::Priced;
use super::reconcile::{self, Summary};
use super::reduce::{Reduced, Reducer};
use super::replay::Histories;
use super::statement::Statement;
use crate::calendar;
use crate::prices::Prices;
use crate::store::{DEFAULT_WINDOW_DAYS, Store};

/// What a run bills, with which prices, and where it writes.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    pub prices: &'a Prices,
    pub days: Days,
    /// The time the run takes as now: a day is billed once it has ended (B20).
    pub now: DateTime<Utc>,
    /// Where each day's files go (`out/DAY/`); checked writable before anything is billed.
    pub out: Option<&'a Path>,
    /// The metrics file written when the run ends ([`super::Ended::write_metrics`]); checked
    /// writable before anything is billed.
    pub metrics: Option<&'a Path>,
    /// W, in days, to fix when the store's first day is billed (B21; default
    /// [`DEFAULT_WINDOW_DAYS`]); once fixed, a different W is refused.
    pub window: Option<u32>,
}

/// Sees a run's progress, and each day's report. `Send`: stages are reported from the thread
/// that reduces the events too.
pub trait Observer: Send {
    /// The run has reached `stage`.
    fn stage(&mut self, stage: Stage) {
        let _ = stage;
    }

    /// A day's report, once the day is committed (or reproduced) and its files written or
    /// failed to be.
    fn day(&mut self, report: &DayReport) {
        let _ = report;
    }
}

/// Observes nothing.
impl Observer for () {}

/// Where a run is, as a person reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Replaying,
    Reading,
    /// So many events read and reduced.
    Read(usize),
    FindingDuplicates,
    FundingInOrder,
    Assembling,
    Committing,
    WritingFiles,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Replaying => f.write_str("replaying Team histories"),
            Stage::Reading => f.write_str("reading usage events"),
            Stage::Read(events) => write!(f, "read {events} events"),
            Stage::FindingDuplicates => f.write_str("finding duplicate events"),
            Stage::FundingInOrder => f.write_str("funding seats over quota in order"),
            Stage::Assembling => f.write_str("assembling statements"),
            Stage::Committing => f.write_str("committing"),
            Stage::WritingFiles => f.write_str("writing files"),
        }
    }
}

/// What a run did with one day.
#[derive(Debug, Clone)]
pub struct DayReport {
    /// The statements, by Team.
    pub statements: Vec<Statement>,
    pub summary: Summary,
    /// Whether the day had been billed already (and was reproduced).
    pub reproduced: bool,
    /// The directory its files were written to (`out/DAY`), once they are.
    pub written_to: Option<PathBuf>,
}

/// Bills or reproduces the days of `options` ([`days::plan`]) in order, writing each to
/// `out/DAY/` when asked; `observer` sees each day's report. Returns the last day's report: a
/// catch-up keeps one day's statements in memory at a time, however long the gap.
pub fn run(
    store: &mut Store,
    options: &RunOptions<'_>,
    observer: &mut impl Observer,
) -> Result<DayReport, BillingError> {
    if let Some(metrics) = options.metrics {
        RunMetrics::check_writable(metrics)?;
    }
    let plan = days::plan(store, options.days, options.now, options.out)?;
    if let Some(out) = options.out {
        files::check_writable(out)?;
    }
    let window_days = window_days(store, options.window)?;
    let mut night = Night {
        store,
        options,
        observer,
        window_days,
        through: plan.last.day(),
        resumed: None,
    };
    for step in plan.earlier {
        night.day(step)?;
    }
    night.day(plan.last)
}

/// W (B21): the store's, else `asked` or the default, which the store's first billed day fixes.
pub(super) fn window_days(store: &Store, asked: Option<u32>) -> Result<u32, BillingError> {
    match (store.window()?, asked) {
        (Some(fixed), Some(asked)) if fixed.days != asked => {
            Err(BillingError::WindowFixed { asked, fixed })
        }
        (Some(fixed), _) => Ok(fixed.days),
        (None, asked) => Ok(asked.unwrap_or(DEFAULT_WINDOW_DAYS)),
    }
}

/// Bills `days`, each the next day to bill, in order, committing each and writing no files:
/// a shard's run on its cut of the store (B23), the days decided by the plan.
pub(super) fn bill_days(
    store: &mut Store,
    options: &RunOptions<'_>,
    window_days: u32,
    days: &[NaiveDate],
    observer: &mut impl Observer,
) -> Result<(), BillingError> {
    let Some(&through) = days.last() else {
        return Ok(());
    };
    let mut night = Night {
        store,
        options,
        observer,
        window_days,
        through,
        resumed: None,
    };
    for &day in days {
        night.day(Step::Bill(day))?;
    }
    Ok(())
}

/// Writes a committed (or reproduced) day's files to `out/DAY/` when asked, and hands its
/// report to `observer`: the day is billed whether or not its files could be written, so it is
/// reported either way, then a write error is returned.
pub(super) fn deliver(
    report: &mut DayReport,
    out: Option<&Path>,
    observer: &mut impl Observer,
) -> Result<(), BillingError> {
    let Some(out) = out else {
        observer.day(report);
        return Ok(());
    };
    observer.stage(Stage::WritingFiles);
    let written = files::write(out, report);
    report.written_to = written.as_ref().ok().cloned();
    observer.day(report);
    written.map(drop)
}

/// A run under way.
struct Night<'a, O> {
    store: &'a mut Store,
    options: &'a RunOptions<'a>,
    observer: &'a mut O,
    /// W (B21): the store's, else the default its first billed day fixes.
    window_days: u32,
    /// The run's last day.
    through: NaiveDate,
    /// Every Team's history through the run's last day, and its ledger, read by the first
    /// day billed.
    resumed: Option<(Histories, Ledger)>,
}

impl<O: Observer> Night<'_, O> {
    /// Bills or reproduces one day, and writes its files.
    fn day(&mut self, step: Step) -> Result<DayReport, BillingError> {
        tracing::info!(day = %step.day(), "billing day");
        let mut report = match step {
            Step::Reproduce { day, latest } => {
                commit::reproduce(self.store, day)?.ok_or(BillingError::Skipped { day, latest })?
            }
            Step::Bill(day) => self.bill(day)?,
        };
        deliver(&mut report, self.options.out, self.observer)?;
        Ok(report)
    }

    /// Computes `day` and commits it.
    fn bill(&mut self, day: NaiveDate) -> Result<DayReport, BillingError> {
        let computed = self.compute(day)?;
        // Fault injection for the crash test: stop between computing and committing.
        if std::env::var_os("TOKENPLAN_FAIL_BEFORE_COMMIT").is_some() {
            return Err(BillingError::Interrupted);
        }
        self.observer.stage(Stage::Committing);
        tracing::debug!(%day, "committing");
        let started = Instant::now();
        commit::commit(self.store, &computed, self.window_days)?;
        tracing::info!(elapsed = ?started.elapsed(), statements = computed.report.statements.len(), "committed");
        Ok(computed.report)
    }

    /// The statements and summary of `day`, reconciled.
    fn compute(&mut self, day: NaiveDate) -> Result<Computed, BillingError> {
        let started = Instant::now();
        let (store, prices) = (&*self.store, self.options.prices);
        self.observer.stage(Stage::Replaying);
        let (histories, ledger) = match &mut self.resumed {
            Some(resumed) => resumed,
            None => self
                .resumed
                .insert(carry::resume(store, day, self.through, self.window_days)?),
        };
        let replays = histories.day(day, prices)?;
        tracing::info!(elapsed = ?started.elapsed(), teams = replays.len(), "replayed Team histories");
        let lookup = Lookup::new(&replays, prices, &ledger.seat_usage())?;
        let settlement = DayEvents::prepare(store, day, self.window_days, &lookup)?;
        tracing::debug!(elapsed = ?started.elapsed(), "copied the events to settle");
        let day_number = calendar::day_number(day);
        let reducer = Reducer::new(&lookup, day_number, self.window_days)?;
        let (events_read, reduced) = reduce(&settlement, reducer, self.observer, started)?;
        self.observer.stage(Stage::FundingInOrder);
        let funded = fund(&settlement, reduced, &lookup, started)?;
        let grouped = group::group(funded, day_number)?;
        let mut priced = Priced::new(&grouped, &lookup, prices, &replays, day_number)?;
        tracing::info!(elapsed = ?started.elapsed(), "funded and priced usage");
        self.observer.stage(Stage::Assembling);
        let mut adjustments = adjust::pending(store)?;
        let statements = assemble::statements(
            day,
            &replays,
            &mut priced,
            ledger.spent(),
            &mut adjustments.by_team,
        )?;
        let summary = reconcile::summarize(day, events_read, &priced, &statements, started)?;
        reconcile::reconcile(&summary, &priced, &statements)?;
        // The run stops at the first error, so the ledger can take the day before it commits.
        ledger.add_day(day, self.window_days, &statements, &priced.seat_usage)?;
        let carried = ledger.carry(&replays)?;
        Ok(Computed {
            report: DayReport {
                statements,
                summary,
                reproduced: false,
                written_to: None,
            },
            max_rowid: settlement.max_rowid(),
            seat_usage: priced.seat_usage,
            carried,
            adjustments_through: adjustments.through,
        })
    }
}

/// Reads the day's events from `settlement` and reduces them, chunk by chunk, then finds the
/// events that repeat an id and moves them to the duplicates. Returns how many were read.
fn reduce(
    settlement: &DayEvents<'_>,
    mut reducer: Reducer<'_>,
    observer: &mut impl Observer,
    started: Instant,
) -> Result<(u64, Reduced), BillingError> {
    observer.stage(Stage::Reading);
    let mut reduced = 0;
    let events_read = settlement.stream(chunk_rows(), |chunk| -> Result<(), BillingError> {
        reduced += chunk.height();
        reducer.add(chunk)?;
        tracing::debug!(reduced, elapsed = ?started.elapsed(), "reduced a chunk");
        observer.stage(Stage::Read(reduced));
        Ok(())
    })?;
    tracing::info!(elapsed = ?started.elapsed(), events_read, "read and reduced usage events");
    observer.stage(Stage::FindingDuplicates);
    if let Some(duplicates) = settlement.duplicates(&reducer.hashes_seen_twice())? {
        tracing::info!(duplicates = duplicates.height(), "found duplicate events");
        reducer.correct(duplicates)?;
    }
    tracing::info!(elapsed = ?started.elapsed(), "found duplicate events");
    Ok((events_read, reducer.finish()?))
}

/// Funds `reduced` on its sums, then the seat cycles the day crosses event by event, their
/// events read again from `settlement` a batch at a time (and the ids of those that share an
/// instant).
fn fund(
    settlement: &DayEvents<'_>,
    reduced: Reduced,
    lookup: &Lookup,
    started: Instant,
) -> Result<Funded, BillingError> {
    let (mut funding, crossed) = Funding::on_sums(reduced, lookup, chunk_rows())?;
    for batch in &crossed {
        let events = settlement.of_keys(&batch.keys)?;
        tracing::debug!(elapsed = ?started.elapsed(), keys = batch.keys.len(), "read the events of seats over quota");
        let Some(events) = events else {
            continue;
        };
        let seated = funding.seated(events, batch)?;
        let ids = match seated.tied() {
            [] => None,
            tied => Some(settlement.event_ids(tied)?),
        };
        funding.in_order(seated, ids)?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "funded usage");
    Ok(funding.finish()?)
}

/// Rows per polars chunk, and per batch of events read again: [`extract::CHUNK_ROWS`], or
/// `TOKENPLAN_CHUNK_ROWS` (tests use small chunks to prove the results do not depend on them).
fn chunk_rows() -> usize {
    std::env::var("TOKENPLAN_CHUNK_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(extract::CHUNK_ROWS)
}

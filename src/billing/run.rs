//! One billing run: bill a day, reconcile, and commit statements to the store and files
//! atomically; a day already billed is reproduced from the store, byte for byte (B13-B15).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use gatekeeper::Region;
use indicatif::ProgressBar;
use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::assemble::{self, Aggregates};
use super::classify::{Classifier, Outcome, Quarantine};
use super::extract::{self, DayEvents};
use super::lookup::Lookup;
use super::replay::{Replay, ReplayError, Replayer, SeatUsage};
use super::statement::{Statement, StatementLine};
use crate::calendar;
use crate::ids::{self, IdKind};
use crate::prices::{Currency, Prices};
use crate::store::{DayRows, StatementRow, Store, StoreError};
use crate::teams;

/// A run that could not bill its day; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run was stopped before committing (fault injection); nothing was written.
    #[error("interrupted before committing; nothing was written")]
    Interrupted,
    /// A Team subscribes to a tier the price list does not price.
    #[error(
        "Team `{team}` subscribes to tier `{tier}`, which the price list does not price; nothing was written"
    )]
    Unpriced {
        /// The Team.
        team: String,
        /// The tier.
        tier: String,
    },
    /// A Team's stored history can't be folded (a store edited by hand).
    #[error("the history of Team `{team}` can't be replayed; nothing was written")]
    History {
        /// The Team.
        team: String,
        /// Why.
        #[source]
        source: crate::teams::Overflow,
    },
    /// An amount of a Team's statement does not fit in a decimal.
    #[error("an amount of Team `{team}` is too large to compute; nothing was written")]
    Money {
        /// The Team.
        team: String,
        /// The operation.
        #[source]
        source: crate::money::Overflow,
    },
    /// The day's total in one currency does not fit in a decimal.
    #[error("the total in {currency} of {day} is too large to compute; nothing was written")]
    DayTotal {
        /// The day.
        day: NaiveDate,
        /// The currency.
        currency: Currency,
        /// The operation.
        #[source]
        source: crate::money::Overflow,
    },
    /// A Team id in the store breaks rule T7 (a store edited by hand or by an older version):
    /// it would name a file outside `--out`.
    #[error("the store holds a Team whose id breaks rule T7; nothing was written")]
    TeamId(#[source] crate::ids::IdError),
    /// The day has not ended in every region's billing zone (B20).
    #[error("{day} has not ended in every region's billing zone: it ends at {ends} (rule B20)")]
    Unfinished {
        /// The day.
        day: NaiveDate,
        /// When it has ended everywhere.
        ends: DateTime<Utc>,
    },
    /// Billing `day` would leave earlier days unbilled (B18).
    #[error("{day} can't be billed before {next}: billed days form one unbroken run (rule B18)")]
    OutOfOrder {
        /// The day asked for.
        day: NaiveDate,
        /// The next day to bill.
        next: NaiveDate,
    },
    /// A day before the latest billed day that was never billed (a store from before B18).
    #[error(
        "{day} was never billed, and days up to {latest} are closed: it can only be reproduced (rule B18)"
    )]
    Skipped {
        /// The day asked for.
        day: NaiveDate,
        /// The latest billed day.
        latest: NaiveDate,
    },
    /// The day's keys and seats can't be coded for polars.
    #[error("cannot build the day's lookup tables; nothing was written")]
    Lookup(#[from] super::lookup::LookupError),
    /// The aggregation failed.
    #[error("aggregating usage failed")]
    Polars(#[from] polars::prelude::PolarsError),
    /// The classified usage can't be named or priced.
    #[error("cannot assemble the day's statements; nothing was written")]
    Assemble(#[from] super::assemble::AssembleError),
    /// The run's counts or sums do not add up (B13).
    #[error("reconciliation failed for {day}: {message}; nothing was written")]
    Reconciliation {
        /// The day.
        day: NaiveDate,
        /// What does not add up.
        message: String,
    },
    /// Statement files could not be written; the day is billed in the store.
    #[error("cannot write statements to `{path}`")]
    Files {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The `--out` directory can't be written, found before billing anything.
    #[error("cannot write statements to `{path}`; nothing was billed")]
    Unwritable {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The spool's `refused/` directory can't be read.
    #[error("cannot count the refused spool files in `{path}`")]
    Spool {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A statement could not be serialized or read back.
    #[error("the statement of Team `{team}` can't be written or read as JSON")]
    Statement {
        team: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a run did (`summary.json`): every event read is counted once in billed, unfunded,
/// duplicates or quarantined (B13); `late` counts the billed or unfunded events of earlier days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The billing day.
    pub day: NaiveDate,
    /// Events read.
    pub events_read: u64,
    /// Billed (plan, Credits or pay-as-you-go).
    pub billed: u64,
    /// Funded by nothing (B10).
    pub unfunded: u64,
    /// Repeated event ids (B13).
    pub duplicates: u64,
    /// Quarantined, per reason.
    pub quarantined: BTreeMap<Quarantine, u64>,
    /// Usage of earlier days billed now (B14).
    pub late: u64,
    /// Statements written.
    pub statements: u64,
    /// Statement totals per currency.
    pub totals: BTreeMap<Currency, String>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
}

/// The result of `billing run` for one day.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The statements, by Team.
    pub statements: Vec<Statement>,
    /// The summary.
    pub summary: Summary,
    /// Whether the day had been billed already (and was reproduced).
    pub reproduced: bool,
    /// The directory its files were written to (`out/DAY`), once they are.
    pub written_to: Option<PathBuf>,
}

/// The latest day that has ended in every region's billing zone: yesterday in UTC.
pub fn default_day(now: DateTime<Utc>) -> NaiveDate {
    let today = calendar::billing_day(now, Region::Overseas);
    today.pred_opt().unwrap_or(today)
}

/// Refuses a day that has not ended everywhere at `now` (B20).
fn check_ended(day: NaiveDate, now: DateTime<Utc>) -> Result<(), BillingError> {
    let (_, ends) = calendar::day_span(day);
    if now < ends {
        return Err(BillingError::Unfinished { day, ends });
    }
    Ok(())
}

/// The first day a store's history needs billed: the earliest billing day of any Team record,
/// in its Team's zone. Usage events never start the calendar: an event before every Team
/// record has no key to bill (`unknown_key`), and one stamped far in the past would otherwise
/// make the first run bill every day since.
pub(super) fn first_day(store: &Store) -> Result<Option<NaiveDate>, BillingError> {
    Ok(store
        .earliest_team_records()?
        .into_iter()
        .map(|(region, at)| calendar::billing_day(at, region))
        .min())
}

/// The days a run through `day` bills or reproduces, in order: a billed day alone is
/// reproduced (B15); otherwise every day after the latest billed day (with none billed, from
/// the first day with any Team record) up to `day` (B18), once `day` has ended (B20).
pub fn days_through(
    store: &Store,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<NaiveDate>, BillingError> {
    let first = match store.latest_billed_day()? {
        Some(latest) if day <= latest => return Ok(vec![day]),
        Some(latest) => calendar::next_day(latest),
        None => first_day(store)?.map_or(day, |first| first.min(day)),
    };
    check_ended(day, now)?;
    Ok(first.iter_days().take_while(|d| *d <= day).collect())
}

/// Bills or reproduces every day of [`days_through`] `day`, in order, writing each to
/// `out/DAY/` when `out` is given (checked writable before anything is billed); `each_day`
/// sees each day's report once it is committed and its files written, or failed to be.
/// Returns the last day's report (none when every day was already billed and written): a
/// catch-up keeps one day's statements in memory at a time, however long the gap.
pub fn run(
    store: &mut Store,
    prices: &Prices,
    day: NaiveDate,
    now: DateTime<Utc>,
    out: Option<&Path>,
    progress: &ProgressBar,
    mut each_day: impl FnMut(&RunReport),
) -> Result<Option<RunReport>, BillingError> {
    let mut days = days_through(store, day, now)?;
    if let Some(out) = out {
        check_writable(out)?;
    }
    // A run stopped after committing but before its files were written (a kill, a full disk)
    // left the latest billed day without files: write them first.
    if let (Some(out), Some(latest)) = (out, store.latest_billed_day()?)
        && days.first().is_some_and(|first| *first > latest)
        && !out.join(latest.to_string()).join("summary.json").exists()
    {
        days.insert(0, latest);
    }
    let mut last = None;
    let mut histories = Histories::through(day);
    for day in &days {
        let mut report = bill_day(store, prices, *day, now, &mut histories, progress)?;
        let written = out
            .map(|out| write_day(out, &mut report, progress))
            .transpose();
        // The day is billed whether or not its files could be written: it is reported.
        each_day(&report);
        written?;
        last = Some(report);
    }
    Ok(last)
}

/// Bills `day`, which must be the next day to bill (B18) and over (B20), or reproduces it if
/// billed (B15); writes `out/day/` when `out` is given.
pub fn run_day(
    store: &mut Store,
    prices: &Prices,
    day: NaiveDate,
    now: DateTime<Utc>,
    out: Option<&Path>,
    progress: &ProgressBar,
) -> Result<RunReport, BillingError> {
    let mut report = bill_day(
        store,
        prices,
        day,
        now,
        &mut Histories::through(day),
        progress,
    )?;
    if let Some(out) = out {
        write_day(out, &mut report, progress)?;
    }
    Ok(report)
}

/// Bills `day` into the store (after the checks of [`run_day`]), or reads it back if billed.
fn bill_day(
    store: &mut Store,
    prices: &Prices,
    day: NaiveDate,
    now: DateTime<Utc>,
    histories: &mut Histories,
    progress: &ProgressBar,
) -> Result<RunReport, BillingError> {
    tracing::info!(%day, "billing day");
    let report = match stored(store, day)? {
        Some(report) => report,
        None => {
            check_ended(day, now)?;
            check_next(store, day)?;
            let computed = compute(store, prices, day, histories, progress)?;
            // Fault injection for the crash test: stop between computing and committing.
            if std::env::var_os("TOKENPLAN_FAIL_BEFORE_COMMIT").is_some() {
                return Err(BillingError::Interrupted);
            }
            progress.set_message("committing");
            tracing::debug!(%day, "committing");
            let started = Instant::now();
            commit(store, &computed)?;
            tracing::info!(elapsed = ?started.elapsed(), statements = computed.report.statements.len(), "committed");
            computed.report
        }
    };
    Ok(report)
}

/// Writes the files of a billed day under `out`, and records where in the report.
fn write_day(
    out: &Path,
    report: &mut RunReport,
    progress: &ProgressBar,
) -> Result<(), BillingError> {
    progress.set_message("writing files");
    report.written_to = Some(write_files(out, report)?);
    Ok(())
}

/// `out` exists or can be made, and a file can be written in it: a run checks it before it
/// bills anything, so a wrong `--out` bills nothing rather than every day without its files.
fn check_writable(out: &Path) -> Result<(), BillingError> {
    std::fs::create_dir_all(out)
        .and_then(|()| {
            tempfile::NamedTempFile::new_in(out)
                .map_err(super::metrics::os_error)?
                .close()
        })
        .map_err(|source| BillingError::Unwritable {
            path: out.display().to_string(),
            source,
        })
}

/// Every Team's history through the last day of a run, read from the store once (by the
/// first day that is billed, not reproduced) and replayed day after day.
struct Histories {
    through: NaiveDate,
    replayers: Option<Vec<Replayer>>,
}

impl Histories {
    fn through(day: NaiveDate) -> Self {
        Histories {
            through: day,
            replayers: None,
        }
    }

    /// The replayers, reading every history on the first call.
    fn replayers(&mut self, store: &Store) -> Result<&mut Vec<Replayer>, BillingError> {
        if self.replayers.is_none() {
            self.replayers = Some(read_histories(store, self.through)?);
        }
        Ok(self.replayers.get_or_insert_default())
    }
}

/// Every Team's history through `day`, each Team id checked against rule T7 (it becomes a
/// file name).
fn read_histories(store: &Store, day: NaiveDate) -> Result<Vec<Replayer>, BillingError> {
    let started = Instant::now();
    let until = calendar::day_end(day, Region::Overseas);
    let teams = teams::histories(store, until)?;
    for (row, _) in &teams {
        ids::check(IdKind::Team, &row.id).map_err(BillingError::TeamId)?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "read Team histories");
    Ok(teams
        .into_iter()
        .map(|(row, records)| Replayer::new(row, records))
        .collect())
}

/// `day` is the next day to bill: the day after the latest billed day or, with none billed,
/// a day no later than the first with any Team record (B18).
fn check_next(store: &Store, day: NaiveDate) -> Result<(), BillingError> {
    let next = match store.latest_billed_day()? {
        Some(latest) if day <= latest => {
            return Err(BillingError::Skipped { day, latest });
        }
        Some(latest) => calendar::next_day(latest),
        None => match first_day(store)? {
            Some(first) if day > first => first,
            _ => return Ok(()),
        },
    };
    if day != next {
        return Err(BillingError::OutOfOrder { day, next });
    }
    Ok(())
}

fn compute(
    store: &Store,
    prices: &Prices,
    day: NaiveDate,
    histories: &mut Histories,
    progress: &ProgressBar,
) -> Result<Computed, BillingError> {
    let started = Instant::now();
    progress.set_message("replaying Team histories");
    let replays: BTreeMap<String, Replay> = histories
        .replayers(store)?
        .par_iter_mut()
        .map(|replayer| {
            let team = replayer.team().id.clone();
            match replayer.day(day, prices) {
                Ok(replay) => Ok((team, replay)),
                Err(ReplayError::Overflow(source)) => Err(BillingError::History { team, source }),
                Err(ReplayError::Unpriced { tier }) => Err(BillingError::Unpriced { team, tier }),
                Err(ReplayError::Charge(source)) => Err(BillingError::Money { team, source }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .collect();
    // Every tier a Team subscribes to must be priced: a missing price would bill nothing (the
    // replay already refused a charge for one).
    for (team, replay) in &replays {
        for tier in replay.state.subscriptions.keys() {
            if !prices.tiers.contains_key(tier) {
                return Err(BillingError::Unpriced {
                    team: team.clone(),
                    tier: tier.clone(),
                });
            }
        }
    }
    tracing::info!(elapsed = ?started.elapsed(), teams = replays.len(), "replayed Team histories");
    let prior = store.prior_seat_usage(day)?;
    let lookup = Lookup::new(&replays, prices, &prior)?;
    let events = DayEvents::prepare(store, day, &lookup)?;
    tracing::debug!(elapsed = ?started.elapsed(), "copied the events to settle");
    progress.set_message("reading usage events");
    let day_number = calendar::day_number(day);
    let mut classifier = Classifier::new(&lookup, day_number)?;
    let chunk_rows = chunk_rows();
    let mut reduced = 0;
    let events_read = events.stream(chunk_rows, |chunk| -> Result<(), BillingError> {
        reduced += chunk.height();
        classifier.add(chunk)?;
        tracing::debug!(reduced, elapsed = ?started.elapsed(), "reduced a chunk");
        progress.set_message(format!("read {reduced} events"));
        Ok(())
    })?;
    tracing::info!(elapsed = ?started.elapsed(), events_read, "read and reduced usage events");
    progress.set_message("finding duplicate events");
    let hashes = classifier.hashes_seen_twice();
    if let Some(duplicates) = events.duplicates(&hashes)? {
        tracing::info!(duplicates = duplicates.height(), "found duplicate events");
        classifier.correct(duplicates)?;
    }
    tracing::info!(elapsed = ?started.elapsed(), "found duplicate events");
    progress.set_message("funding seats over quota in order");
    let classified = classifier.finish(
        chunk_rows,
        |keys| -> Result<_, BillingError> {
            let events = events.of_keys(keys)?;
            tracing::debug!(elapsed = ?started.elapsed(), keys = keys.len(), "read the events of seats over quota");
            Ok(events)
        },
        |rows| -> Result<_, BillingError> { Ok(events.event_ids(rows)?) },
    )?;
    tracing::debug!(elapsed = ?started.elapsed(), "funded usage");
    let currency_of = |team: &str| replays.get(team).map(|r| Currency::of(r.state.region));
    let Aggregates {
        mut usage,
        mut unfunded,
        counts,
        late,
        seat_usage,
    } = Aggregates::new(&classified, &lookup, prices, &currency_of, day_number)?;
    tracing::info!(elapsed = ?started.elapsed(), "funded and priced usage");
    progress.set_message("assembling statements");
    let spent = store.spent_before(day, None)?;
    let statements: Vec<Statement> = replays
        .iter()
        .filter_map(|(team, replay)| {
            assemble::statement(
                day,
                replay,
                usage.remove(team).unwrap_or_default(),
                unfunded.remove(team).unwrap_or_default(),
                spent.get(team).copied().unwrap_or_default(),
            )
            .transpose()
        })
        .collect::<Result<_, _>>()?;
    let summary = summarize(day, events_read, &counts, late, &statements, started)?;
    reconcile(day, &summary, &counts, &statements, &usage, &unfunded)?;
    let max_rowid = events.max_rowid();
    Ok(Computed {
        report: RunReport {
            statements,
            summary,
            reproduced: false,
            written_to: None,
        },
        max_rowid,
        seat_usage,
    })
}

/// A computed run: its report, and what is committed beside the statements.
struct Computed {
    report: RunReport,
    max_rowid: i64,
    seat_usage: Vec<SeatUsage>,
}

fn summarize(
    day: NaiveDate,
    events_read: u64,
    counts: &BTreeMap<Outcome, u64>,
    late: u64,
    statements: &[Statement],
    started: Instant,
) -> Result<Summary, BillingError> {
    let count = |outcome: Outcome| counts.get(&outcome).copied().unwrap_or(0);
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for statement in statements {
        let currency = statement.currency;
        let total = totals.entry(currency).or_default();
        *total = crate::money::add(*total, statement.totals.total).map_err(|source| {
            BillingError::DayTotal {
                day,
                currency,
                source,
            }
        })?;
    }
    Ok(Summary {
        day,
        events_read,
        billed: count(Outcome::Plan) + count(Outcome::Credits) + count(Outcome::Payg),
        unfunded: count(Outcome::Unfunded),
        duplicates: count(Outcome::Duplicate),
        quarantined: counts
            .iter()
            .filter_map(|(outcome, n)| outcome.quarantine().map(|reason| (reason, *n)))
            .collect(),
        late,
        statements: statements.len() as u64,
        totals: totals
            .into_iter()
            .map(|(c, t)| (c, format!("{:.2}", t)))
            .collect(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Counts add up to the events read, every event billed or unfunded is on a statement, and
/// every total is the sum of its lines (B7, B13).
fn reconcile(
    day: NaiveDate,
    summary: &Summary,
    counts: &BTreeMap<Outcome, u64>,
    statements: &[Statement],
    unassigned_usage: &BTreeMap<String, Vec<StatementLine>>,
    unassigned_unfunded: &BTreeMap<String, Vec<super::statement::Unfunded>>,
) -> Result<(), BillingError> {
    let fail = |message: String| Err(BillingError::Reconciliation { day, message });
    let settled = summary.billed
        + summary.unfunded
        + summary.duplicates
        + summary.quarantined.values().sum::<u64>();
    if settled != summary.events_read || counts.values().sum::<u64>() != summary.events_read {
        return fail(format!(
            "{} events read but {settled} settled",
            summary.events_read
        ));
    }
    if !unassigned_usage.is_empty() || !unassigned_unfunded.is_empty() {
        let teams: Vec<&String> = unassigned_usage
            .keys()
            .chain(unassigned_unfunded.keys())
            .collect();
        return fail(format!(
            "usage of unknown Team(s) {teams:?} has no statement"
        ));
    }
    let on_statements: u64 = statements
        .iter()
        .flat_map(|s| s.lines.iter().filter_map(StatementLine::usage))
        .map(|u| u.events)
        .sum();
    let unfunded: u64 = statements
        .iter()
        .flat_map(|s| s.unfunded.iter())
        .map(|u| u.events)
        .sum();
    if on_statements != summary.billed || unfunded != summary.unfunded {
        return fail(format!(
            "{} billed and {} unfunded events, but statements carry {on_statements} and {unfunded}",
            summary.billed, summary.unfunded
        ));
    }
    for statement in statements {
        if super::statement::Totals::of(&statement.lines).as_ref() != Ok(&statement.totals) {
            return fail(format!(
                "totals of `{}` are not the sum of its lines",
                statement.team
            ));
        }
    }
    Ok(())
}

/// Rows per polars chunk: [`extract::CHUNK_ROWS`], or `TOKENPLAN_CHUNK_ROWS` (tests use small
/// chunks to prove the results do not depend on them).
fn chunk_rows() -> usize {
    std::env::var("TOKENPLAN_CHUNK_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(extract::CHUNK_ROWS)
}

/// The stored run of `day`, if it was billed.
fn stored(store: &Store, day: NaiveDate) -> Result<Option<RunReport>, BillingError> {
    let Some(run) = store.stored_run(day)? else {
        return Ok(None);
    };
    let summary: Summary = serde_json::from_str(&run.summary).map_err(json_error("summary"))?;
    let statements = run
        .statements
        .iter()
        .map(|(team, body)| serde_json::from_str(body).map_err(json_error(team)))
        .collect::<Result<_, _>>()?;
    Ok(Some(RunReport {
        statements,
        summary,
        reproduced: true,
        written_to: None,
    }))
}

/// The stored statement of one Team and day.
pub fn statement_of(
    store: &Store,
    day: NaiveDate,
    team: &str,
) -> Result<Option<Statement>, BillingError> {
    store
        .statement_body(day, team)?
        .map(|body| serde_json::from_str(&body).map_err(json_error(team)))
        .transpose()
}

/// A statement or summary (of `team`) that cannot be written or read as JSON.
fn json_error(team: &str) -> impl FnOnce(serde_json::Error) -> BillingError {
    let team = team.to_owned();
    move |source| BillingError::Statement { team, source }
}

/// Writes the run's statements, seat usage and summary in one transaction.
fn commit(store: &mut Store, computed: &Computed) -> Result<(), BillingError> {
    let report = &computed.report;
    // Compact in the store (files and views print it pretty), serialized on every core.
    let statements = report
        .statements
        .par_iter()
        .map(|statement| {
            Ok(StatementRow {
                team: statement.team.clone(),
                body: serde_json::to_string(statement).map_err(json_error(&statement.team))?,
                credits_spent: statement.totals.credits,
                wallet_spent: statement.totals.payg,
            })
        })
        .collect::<Result<Vec<_>, BillingError>>()?;
    let summary = serde_json::to_string(&report.summary).map_err(json_error("summary"))?;
    store.commit_day(&DayRows {
        day: report.summary.day,
        statements: &statements,
        seat_usage: &computed.seat_usage,
        max_rowid: computed.max_rowid,
        summary: &summary,
    })?;
    Ok(())
}

/// Writes `out/day/TEAM.json` and `out/day/summary.json` into a fresh directory, then puts it
/// in place with renames: a crash leaves the previous directory. Returns `out/day`.
fn write_files(out: &Path, report: &RunReport) -> Result<PathBuf, BillingError> {
    let day = report.summary.day.to_string();
    let files = |source| BillingError::Files {
        path: out.display().to_string(),
        source,
    };
    // Every file name is a checked Team id: no statement can land outside `out/day/`.
    for statement in &report.statements {
        ids::check(IdKind::Team, &statement.team).map_err(BillingError::TeamId)?;
    }
    std::fs::create_dir_all(out).map_err(files)?;
    remove_leftovers(out).map_err(files)?;
    tracing::debug!(%day, "writing statement files");
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{day}."))
        .tempdir_in(out)
        .map_err(files)?;
    for statement in &report.statements {
        let body = statement.to_json().map_err(json_error(&statement.team))?;
        std::fs::write(
            staging.path().join(format!("{}.json", statement.team)),
            body,
        )
        .map_err(files)?;
    }
    let summary =
        serde_json::to_string_pretty(&report.summary).map_err(json_error("summary"))? + "\n";
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

/// Removes what an interrupted [`write_files`] left in `out`: its hidden staging directories
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_the_default_day_is_yesterday_in_utc_which_has_ended_in_both_zones() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(
            default_day(at("2026-11-24T00:30:00Z")).to_string(),
            "2026-11-23"
        );
        assert_eq!(
            default_day(at("2026-11-24T20:00:00Z")).to_string(),
            "2026-11-23"
        );
    }
}

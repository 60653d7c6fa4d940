//! `billing commit`: where the store is, put the shards' outputs together and commit the
//! planned days in one transaction, once every shard of the plan is there, whole, and the
//! counts add up (B13, B23); then write the files as `billing run` does.

use std::path::Path;

use super::super::commit::reproduce;
use super::super::files;
use super::super::reconcile::Summary;
use super::super::run::{DayReport, Observer, deliver};
use super::error::ShardError;
use super::stage::{self, DayOutput, Plan, ShardOutput};
use crate::objects::Objects;
use crate::store::{DayRows, Store};

/// Where a commit writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitOptions<'a> {
    /// Where each day's files go (`out/DAY/`); checked writable before anything is committed.
    pub out: Option<&'a Path>,
}

/// Commits the stage's plan; `observer` sees each day's report. Committing a plan whose days
/// are billed already commits nothing and reports them as reproduced (B15).
pub fn commit(
    store: &mut Store,
    stage: &Objects,
    options: &CommitOptions<'_>,
    observer: &mut impl Observer,
) -> Result<Vec<DayReport>, ShardError> {
    let plan = stage::plan(stage)?;
    if let Some(out) = options.out {
        files::check_writable(out)?;
    }
    let latest = store.latest_billed_day()?;
    let committed_already = plan.days.last().is_some_and(|last| Some(*last) <= latest);
    if !committed_already {
        if latest != plan.latest_billed {
            return Err(ShardError::Stale {
                planned_after: plan.latest_billed,
                latest,
            });
        }
        let outputs = outputs(stage, &plan)?;
        let days = put_together(&plan, outputs)?;
        let rows: Vec<DayRows<'_>> = days
            .iter()
            .zip(&plan.days)
            .map(|(day, &date)| DayRows {
                day: date,
                statements: &day.statements,
                seat_usage: &day.seat_usage,
                max_rowid: plan.max_rowid,
                summary: &day.summary,
                window_days: plan.window_days,
                carried: &day.carried,
                adjustments_through: plan.adjustments_through,
            })
            .collect();
        store.commit_days(&rows)?;
        tracing::info!(days = rows.len(), "committed");
    }
    // As `billing run` does: the latest billed day's files first, if a run stopped before
    // writing them.
    let unwritten = plan
        .latest_billed
        .filter(|latest| options.out.is_some_and(|out| !files::written(out, *latest)));
    let mut reports = Vec::new();
    for &day in unwritten.iter().chain(&plan.days) {
        let Some(mut report) = reproduce(store, day)? else {
            continue;
        };
        report.reproduced = committed_already || Some(day) == unwritten;
        deliver(&mut report, options.out, observer)?;
        reports.push(report);
    }
    Ok(reports)
}

/// One day of every shard put together, with the carry when it is the plan's last.
struct WholeDay {
    summary: String,
    statements: Vec<crate::store::StatementRow>,
    seat_usage: Vec<crate::store::SeatUsage>,
    carried: Vec<crate::store::CarriedRow>,
}

/// Every shard's output, checked against the plan: present, of this plan, whole.
fn outputs(stage: &Objects, plan: &Plan) -> Result<Vec<ShardOutput>, ShardError> {
    let of = u32::try_from(plan.shards.len()).unwrap_or(u32::MAX);
    plan.shards
        .iter()
        .map(|planned| {
            let index = planned.index;
            let name = stage::output(index, of);
            let incomplete = |why: String| ShardError::Incomplete { index, of, why };
            let output: ShardOutput = match stage::get_json(stage, &name) {
                Ok(Some(output)) => output,
                Ok(None) => return Err(ShardError::Missing { index, of, name }),
                Err(ShardError::Unreadable { source, .. }) => {
                    return Err(incomplete(format!(
                        "`{name}` can't be read (cut short?): {source}"
                    )));
                }
                Err(e) => return Err(e),
            };
            if output.plan != plan.id {
                return Err(ShardError::OtherPlan {
                    index,
                    of,
                    found: output.plan,
                    plan: plan.id.clone(),
                });
            }
            if output.input_sha256 != planned.sha256 || output.input_events != planned.events {
                return Err(incomplete(format!(
                    "it read {} events, of {} planned",
                    output.input_events, planned.events
                )));
            }
            let days: Vec<_> = output.days.iter().map(|day| day.day).collect();
            if days != plan.days || output.index != index || output.of != of {
                return Err(incomplete(format!(
                    "it billed {days:?} as shard {} of {}, not the plan's days",
                    output.index, output.of
                )));
            }
            Ok(output)
        })
        .collect()
}

/// The plan's days, each put together from every shard's.
fn put_together(plan: &Plan, outputs: Vec<ShardOutput>) -> Result<Vec<WholeDay>, ShardError> {
    let mut days: Vec<WholeDay> = plan
        .days
        .iter()
        .map(|_| WholeDay {
            summary: String::new(),
            statements: Vec::new(),
            seat_usage: Vec::new(),
            carried: Vec::new(),
        })
        .collect();
    let mut summaries: Vec<Vec<Summary>> = plan.days.iter().map(|_| Vec::new()).collect();
    for output in outputs {
        let (index, of) = (output.index, output.of);
        for ((whole, summaries), day) in days.iter_mut().zip(&mut summaries).zip(output.days) {
            let DayOutput {
                summary,
                statements,
                seat_usage,
                ..
            } = day;
            let summary: Summary =
                serde_json::from_str(&summary).map_err(|e| ShardError::Incomplete {
                    index,
                    of,
                    why: format!("its summary of {} can't be read: {e}", day.day),
                })?;
            summaries.push(summary);
            whole.statements.extend(statements);
            whole.seat_usage.extend(seat_usage);
        }
        if let Some(last) = days.last_mut() {
            last.carried.extend(output.carried);
        }
    }
    for ((whole, summaries), &day) in days.iter_mut().zip(summaries).zip(&plan.days) {
        let counts = |message: String| ShardError::Counts { day, message };
        let summary = Summary::of_shards(summaries)
            .map_err(counts)?
            .ok_or_else(|| counts("no shard".to_owned()))?;
        if !summary.adds_up() {
            return Err(counts(format!(
                "{} events read, but not as many billed, unfunded, duplicates and quarantined",
                summary.events_read
            )));
        }
        if summary.statements != whole.statements.len() as u64 {
            return Err(counts(format!(
                "{} statements counted, {} written",
                summary.statements,
                whole.statements.len()
            )));
        }
        whole.statements.sort_by(|a, b| a.team.cmp(&b.team));
        whole.summary = serde_json::to_string(&summary).map_err(|e| counts(e.to_string()))?;
    }
    Ok(days)
}

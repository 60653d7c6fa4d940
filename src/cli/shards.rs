//! `tokenplan billing plan`, `billing shard` and `billing commit`: a night across machines
//! (B23).

use tokenplan::billing::{CommitOptions, PlanOptions, ShardError};
use tokenplan::objects::{Objects, ObjectsError};

use super::billing::{Bar, Printer, attempted, billing_failure, take_lake};
use super::*;

/// What to do about a stage that can't be used.
const STAGE_HINT: &str = "pass --stage a directory this user can write, or s3://bucket/prefix with AWS_* credentials (AWS_ENDPOINT_URL and AWS_ALLOW_HTTP=true for a local server)";

/// `billing plan`: decides the days, cuts each shard's store into the stage, and prints the
/// plan as one JSON line.
pub(super) fn plan(
    cli: &Cli,
    date: Option<chrono::NaiveDate>,
    stage: &str,
    shards: u32,
    window: Option<u32>,
    events: Option<&str>,
) -> CommandResult {
    let mut store = open_existing_store(cli)?;
    if let Some(lake) = events {
        take_lake(cli, &mut store, lake)?;
    }
    let stage = open_stage(stage)?;
    let (name, text) = price_list(cli)?;
    let now = chrono::Utc::now();
    let options = PlanOptions {
        through: date.unwrap_or_else(|| tokenplan::billing::default_day(now)),
        now,
        window,
        shards,
        prices: (&name, &text),
    };
    let planned = tokenplan::billing::plan(&store, &stage, &options).map_err(shard_failure)?;
    #[derive(serde::Serialize)]
    struct Line<'a> {
        plan: &'a str,
        days: &'a [chrono::NaiveDate],
        shards: Vec<serde_json::Value>,
    }
    let line = Line {
        plan: &planned.id,
        days: &planned.days,
        shards: planned
            .shards
            .iter()
            .map(|s| serde_json::json!({"index": s.index, "events": s.events, "bytes": s.bytes}))
            .collect(),
    };
    out!("{}\n", serde_json::to_string(&line).map_err(Failure::work)?);
    if !cli.quiet {
        match (planned.days.first(), planned.days.last()) {
            (Some(first), Some(last)) => eprintln!(
                "planned {first} to {last} in {} shard(s) in {}: run `tokenplan billing shard --stage {} --index K` for each K, then `tokenplan billing commit --stage {}`",
                planned.shards.len(),
                stage.url(),
                stage.url(),
                stage.url()
            ),
            _ => eprintln!("nothing to bill: {} is billed already", options.through),
        }
    }
    Ok(Exit::Success)
}

/// `billing shard`: bills one shard of the stage's plan; prints what it did as one JSON line.
pub(super) fn shard(cli: &Cli, stage: &str, index: Option<u32>, of: Option<u32>) -> CommandResult {
    let index = match index {
        Some(index) => index,
        None => job_completion_index().map_err(shard_failure)?,
    };
    let stage = open_stage(stage)?;
    let mut bar = Bar(progress(cli));
    let done = tokenplan::billing::shard(&stage, index, of, &mut bar);
    bar.0.finish_and_clear();
    let done = done.map_err(shard_failure)?;
    out!(
        "{}\n",
        serde_json::json!({"index": done.index, "of": done.of, "days": done.days, "events": done.events})
    );
    if !cli.quiet {
        eprintln!(
            "shard {} of {}: billed {} day(s) of {} event(s)",
            done.index,
            done.of,
            done.days.len(),
            done.events
        );
    }
    Ok(Exit::Success)
}

/// `billing commit`: puts the shards together and commits the plan's days, printing one
/// summary line per day as `billing run` does; metrics and the attempt as `billing run`.
pub(super) fn commit(
    cli: &Cli,
    stage: &str,
    out: Option<&Path>,
    metrics: Option<&Path>,
) -> CommandResult {
    attempted(cli, None, metrics, |store, attempt| {
        let stage = open_stage(stage)?;
        let store = store.insert(open_existing_store(cli)?);
        let mut printer = Printer {
            cli,
            bar: Bar(progress(cli)),
            printed: Ok(()),
        };
        let committed = tokenplan::billing::commit(
            store,
            &stage,
            &CommitOptions { out },
            &mut attempt.counting(&mut printer),
        );
        printer.bar.0.finish_and_clear();
        let reports = committed.map_err(shard_failure)?;
        printer.printed?;
        if !cli.quiet && reports.is_empty() {
            eprintln!("nothing to commit: the plan has no day to bill");
        }
        Ok(Exit::Success)
    })
}

/// The shard index of an Indexed Job's pod.
fn job_completion_index() -> Result<u32, ShardError> {
    let value = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| ShardError::NoIndex)?;
    value
        .trim()
        .parse()
        .map_err(|_| ShardError::BadIndex { value })
}

/// The price list of `--prices` (or the bundled one): its name and text, for the plan.
fn price_list(cli: &Cli) -> Result<(String, String), Failure> {
    match &cli.prices {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::input(
                    anyhow::Error::new(e).context(format!("cannot read `{}`", path.display())),
                )
            })?;
            Ok((path.display().to_string(), text))
        }
        None => Ok((
            tokenplan::prices::BUNDLED_NAME.to_owned(),
            tokenplan::prices::BUNDLED.to_owned(),
        )),
    }
}

fn open_stage(url: &str) -> Result<Objects, Failure> {
    Objects::open(url).map_err(|e: ObjectsError| Failure::input(e).hint(STAGE_HINT))
}

/// The failure a plan, shard or commit ends with: 75 where retrying may help (the stage could
/// not be reached), 2 for what the operator gave, 1 for a night that can't be committed.
fn shard_failure(e: ShardError) -> Failure {
    match e {
        ShardError::Billing(e) => billing_failure(e),
        ShardError::Objects(ObjectsError::Object { .. }) => Failure {
            status: Exit::Busy,
            error: Some(e.into()),
            hint: Some("the stage could not be reached or written; run the same command again".to_owned()),
        },
        ShardError::Objects(_) => Failure::input(e).hint(STAGE_HINT),
        ShardError::NoShards
        | ShardError::NoIndex
        | ShardError::BadIndex { .. }
        | ShardError::Index { .. }
        | ShardError::Of { .. }
        | ShardError::Prices(_) => Failure::input(e),
        ShardError::NoPlan { .. } => {
            Failure::input(e).hint("run `tokenplan billing plan --stage` with the same stage first")
        }
        ShardError::Missing { index, .. } => Failure::work(e).hint(format!(
            "run `tokenplan billing shard --index {index}` on this stage, then commit again; nothing was committed"
        )),
        ShardError::Input { .. } | ShardError::OtherPlan { .. } | ShardError::Incomplete { .. } => {
            Failure::work(e).hint("run that shard again on this stage, or plan again and run every shard; nothing was committed")
        }
        ShardError::Stale { .. } => Failure::work(e)
            .hint("plan again (`tokenplan billing plan`) and run the shards of the new plan; nothing was committed"),
        e => Failure::work(e),
    }
}

//! `billing plan`: where the store is, decide the days (B18, B20) and cut, for each shard, the
//! store its run reads; put the cuts in the stage, then the plan.

use chrono::{DateTime, NaiveDate, Utc};

use super::super::days::{self, Days, Step};
use super::super::run::window_days;
use super::error::ShardError;
use super::shard_of;
use super::stage::{self, Plan, PlannedShard, PriceList};
use crate::objects::{Objects, sha256_hex};
use crate::prices::Prices;
use crate::store::{Cut, Store};

/// What a plan is asked.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions<'a> {
    /// The day to bill through (B18).
    pub through: NaiveDate,
    /// The time taken as now: a day is billed once it has ended (B20).
    pub now: DateTime<Utc>,
    /// W to fix if the store has none yet (B21).
    pub window: Option<u32>,
    /// How many shards.
    pub shards: u32,
    /// The price list: its name and text, checked here and carried to every shard.
    pub prices: (&'a str, &'a str),
}

/// A plan put in the stage.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: String,
    /// The days to bill; none when the day asked is billed already.
    pub days: Vec<NaiveDate>,
    pub shards: Vec<PlannedShard>,
}

/// Plans the night through `options.through` in `stage`.
pub fn plan(
    store: &Store,
    stage: &Objects,
    options: &PlanOptions<'_>,
) -> Result<Planned, ShardError> {
    if options.shards == 0 {
        return Err(ShardError::NoShards);
    }
    let (name, text) = options.prices;
    Prices::parse(name, text)?;
    let steps = days::plan(store, Days::Through(options.through), options.now, None)?;
    let days: Vec<NaiveDate> = steps
        .earlier
        .iter()
        .chain([&steps.last])
        .filter_map(|step| match step {
            Step::Bill(day) => Some(*day),
            Step::Reproduce { .. } => None,
        })
        .collect();
    let window_days = window_days(store, options.window)?;
    let latest_billed = store.latest_billed_day()?;
    let made_at = Utc::now();
    let (shards, max_rowid, adjustments_through) = match (days.first(), days.last()) {
        (Some(&first), Some(&last)) => cut(store, stage, options.shards, first, last, window_days)?,
        _ => (
            (0..options.shards)
                .map(|index| PlannedShard {
                    index,
                    events: 0,
                    bytes: 0,
                    sha256: String::new(),
                })
                .collect(),
            -1,
            -1,
        ),
    };
    let id = sha256_hex(
        format!(
            "{made_at:?} {latest_billed:?} {days:?} {max_rowid} {}",
            options.shards
        )
        .as_bytes(),
    )[..16]
        .to_owned();
    let plan = Plan {
        id,
        made_at,
        latest_billed,
        days,
        window_days,
        max_rowid,
        adjustments_through,
        prices: PriceList {
            name: name.to_owned(),
            text: text.to_owned(),
        },
        shards,
    };
    // Last: a stage holds a plan only once every input it names is in place.
    stage::put_json(stage, stage::PLAN, &plan)?;
    Ok(Planned {
        id: plan.id,
        days: plan.days,
        shards: plan.shards,
    })
}

/// Cuts the store of each of `of` shards for the days `first` to `last` and puts it in the
/// stage; returns them, the highest rowid they settle up to and the highest adjustment id they
/// bill up to.
fn cut(
    store: &Store,
    stage: &Objects,
    of: u32,
    first: NaiveDate,
    last: NaiveDate,
    window_days: u32,
) -> Result<(Vec<PlannedShard>, i64, i64), ShardError> {
    let teams = store.team_ids()?;
    let shards: Vec<(&str, u32)> = teams
        .iter()
        .map(|team| (team.as_str(), shard_of(team, of)))
        .collect();
    let selected = store.select_for_shards(&Cut {
        first,
        last,
        window_days,
        shards: &shards,
    })?;
    let dir = tempfile::tempdir().map_err(ShardError::io("make a directory for the cuts"))?;
    let mut planned = Vec::new();
    for index in 0..of {
        let path = dir.path().join(format!("shard-{index}.duckdb"));
        let events = selected.cut(index, &path)?;
        let bytes =
            std::fs::read(&path).map_err(ShardError::io(format!("read `{}`", path.display())))?;
        std::fs::remove_file(&path)
            .map_err(ShardError::io(format!("remove `{}`", path.display())))?;
        let name = stage::input(index, of);
        tracing::info!(shard = index, events, bytes = bytes.len(), "cut {name}");
        planned.push(PlannedShard {
            index,
            events,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
        stage.put(&name, bytes)?;
    }
    Ok((planned, selected.max_rowid, selected.adjustments_through))
}

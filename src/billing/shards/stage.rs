//! What a stage holds, under fixed names: the plan (`plan.json`, written last), each shard's
//! input (`input/shard-K-of-N.duckdb`, a cut of the store) and each shard's output
//! (`output/shard-K-of-N.json`, written whole in one put: a retried index overwrites it).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::error::ShardError;
use crate::objects::Objects;
use crate::store::{CarriedRow, SeatUsage, StatementRow};

/// The plan's object.
pub const PLAN: &str = "plan.json";

/// The input of shard `index` of `of`.
pub fn input(index: u32, of: u32) -> String {
    format!("input/shard-{index}-of-{of}.duckdb")
}

/// The output of shard `index` of `of`.
pub fn output(index: u32, of: u32) -> String {
    format!("output/shard-{index}-of-{of}.json")
}

/// What `billing plan` decided, and what each shard reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Names this plan among every plan of the stage: its shards' outputs carry it.
    pub id: String,
    pub made_at: DateTime<Utc>,
    /// The latest billed day when the plan was made: the commit refuses a store that billed
    /// more since.
    pub latest_billed: Option<NaiveDate>,
    /// The days to bill, in order (B18); none when the day asked was billed already.
    pub days: Vec<NaiveDate>,
    /// W (B21), the store's or the one its first billed day fixes.
    pub window_days: u32,
    /// The store's highest rowid: the days settle the events up to it.
    pub max_rowid: i64,
    /// The highest adjustment id not yet billed when the plan was made (-1: none): the first
    /// day bills the adjustments up to it (B24); one made later waits for the next night.
    pub adjustments_through: i64,
    /// The price list: its name and text.
    pub prices: PriceList,
    pub shards: Vec<PlannedShard>,
}

/// A price list as the plan carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceList {
    pub name: String,
    pub text: String,
}

/// One shard's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedShard {
    /// Teams whose bucket modulo the number of shards is this.
    pub index: u32,
    /// Its events (of `usage_events` in the cut).
    pub events: u64,
    /// The cut's size and SHA-256.
    pub bytes: u64,
    pub sha256: String,
}

/// What one shard committed to its cut, for the commit to put together.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardOutput {
    /// The plan's id.
    pub plan: String,
    pub index: u32,
    pub of: u32,
    /// The events of the cut it read, and the cut's SHA-256: the whole planned input.
    pub input_events: u64,
    pub input_sha256: String,
    /// Each planned day, in order.
    pub days: Vec<DayOutput>,
    /// What the last day hands the next night, per Team.
    pub carried: Vec<CarriedRow>,
}

/// One day of one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayOutput {
    pub day: NaiveDate,
    /// The shard's summary (JSON).
    pub summary: String,
    pub statements: Vec<StatementRow>,
    pub seat_usage: Vec<SeatUsage>,
}

/// Puts `value` as JSON at `name`.
pub fn put_json<T: Serialize>(stage: &Objects, name: &str, value: &T) -> Result<(), ShardError> {
    let bytes = serde_json::to_vec(value).map_err(|source| ShardError::Unreadable {
        name: name.to_owned(),
        stage: stage.url().to_owned(),
        source,
    })?;
    Ok(stage.put(name, bytes)?)
}

/// The JSON at `name`, if there is an object there.
pub fn get_json<T: for<'de> Deserialize<'de>>(
    stage: &Objects,
    name: &str,
) -> Result<Option<T>, ShardError> {
    let Some(bytes) = stage.get(name)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ShardError::Unreadable {
            name: name.to_owned(),
            stage: stage.url().to_owned(),
            source,
        })
}

/// The stage's plan.
pub fn plan(stage: &Objects) -> Result<Plan, ShardError> {
    get_json(stage, PLAN)?.ok_or_else(|| ShardError::NoPlan {
        stage: stage.url().to_owned(),
    })
}

//! Why a plan, a shard or a commit could not do its part; nothing was committed.

use chrono::NaiveDate;

use super::super::BillingError;
use crate::objects::ObjectsError;
use crate::prices::PricesError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Billing(#[from] BillingError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Prices(#[from] PricesError),
    /// `--shards` or `--of` is 0.
    #[error("a plan needs at least one shard")]
    NoShards,
    /// The stage holds no plan.
    #[error("`{stage}` holds no plan")]
    NoPlan { stage: String },
    /// An object of the stage is not what its name says: cut short, or not ours.
    #[error("`{name}` in `{stage}` can't be read")]
    Unreadable {
        name: String,
        stage: String,
        #[source]
        source: serde_json::Error,
    },
    /// Neither `--index` nor `$JOB_COMPLETION_INDEX`.
    #[error("no shard index: pass --index, or set `JOB_COMPLETION_INDEX`")]
    NoIndex,
    /// `$JOB_COMPLETION_INDEX` is not a number.
    #[error("`JOB_COMPLETION_INDEX` is `{value}`, not a shard index")]
    BadIndex { value: String },
    /// The index is not one of the plan's shards.
    #[error("shard {index} is not one of the plan's {of} shards (0 to {})", of.saturating_sub(1))]
    Index { index: u32, of: u32 },
    /// `--of` differs from the plan's number of shards.
    #[error("--of {asked} differs from the plan, made for {planned} shards")]
    Of { asked: u32, planned: u32 },
    /// A shard's input is missing or is not the one the plan wrote.
    #[error("the input of shard {index}, `{name}`, is {what}")]
    Input {
        index: u32,
        name: String,
        what: &'static str,
    },
    /// A shard of the plan has written nothing.
    #[error("shard {index} of {of} is missing: `{name}` is not in the stage")]
    Missing { index: u32, of: u32, name: String },
    /// A shard's output is of another plan.
    #[error("shard {index} of {of} is of another plan (`{found}`, not `{plan}`)")]
    OtherPlan {
        index: u32,
        of: u32,
        found: String,
        plan: String,
    },
    /// A shard's output does not cover its whole input, or its days are not the plan's.
    #[error("shard {index} of {of} is incomplete: {why}")]
    Incomplete { index: u32, of: u32, why: String },
    /// The store billed days since the plan was made.
    #[error(
        "the plan was made when the latest billed day was {}; it is now {}",
        shown(*planned_after), shown(*latest)
    )]
    Stale {
        planned_after: Option<NaiveDate>,
        latest: Option<NaiveDate>,
    },
    /// The shards' counts do not add up (B13).
    #[error("the shards' counts of {day} do not add up: {message}")]
    Counts { day: NaiveDate, message: String },
    /// A local file of the plan or a shard can't be written or read.
    #[error("cannot {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A latest billed day as told: none before the first.
fn shown(day: Option<NaiveDate>) -> String {
    day.map_or_else(|| "none".to_owned(), |day| day.to_string())
}

impl ShardError {
    /// A local file operation `what` that failed.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShardError {
        let what = what.into();
        move |source| ShardError::Io { what, source }
    }
}

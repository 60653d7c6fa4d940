//! Classifies and funds a run's events with lazy polars (B9-B14), aggregating first and ordering
//! only where order decides.
//!
//! Each chunk is reduced to quarantine counts and to token sums per key interval, model and
//! usage day. Funding then works on those sums: a seat cycle whose earlier usage plus the run's
//! stays below its quota covers every event, one already at its quota covers none, and only the
//! cycles the run crosses need their events in B12 order, read again and funded one by one
//! by cumulative sum.

use polars::prelude::*;

use super::id_hashes::IdHashes;
use super::lookup::{Funding, Lookup};

/// A single event with more tokens than this, input and output together, is quarantined as
/// absurd (B13).
pub const ABSURD_TOKENS: i64 = 100_000_000;

/// Scans of the store's events for seat cycles the run crosses, at most.
const MAX_REREADS: usize = 4;

/// Reduced frames kept before [`Classifier::compact`] merges them.
const COMPACT_AFTER: usize = 4;

/// How an event settled (B13); a code in polars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Covered by the holder's seat.
    Plan = 0,
    /// Paid from the Credits pool.
    Credits = 1,
    /// Paid from the wallet.
    Payg = 2,
    /// Funded by nothing (B10).
    Unfunded = 3,
    /// Repeats an event id.
    Duplicate = 4,
    /// A field is missing.
    Malformed = 5,
    /// Negative token counts.
    NegativeTokens = 6,
    /// Token counts over [`ABSURD_TOKENS`].
    AbsurdTokens = 7,
    /// The model has no price.
    UnknownModel = 8,
    /// The key had no state at the event's time.
    UnknownKey = 9,
    /// The pay-as-you-go key was deleted before the event.
    KeyDeleted = 10,
}

impl Outcome {
    /// Whether the event is usage: billed to a seat, Credits or the wallet, or unfunded.
    pub fn is_usage(self) -> bool {
        matches!(
            self,
            Outcome::Plan | Outcome::Credits | Outcome::Payg | Outcome::Unfunded
        )
    }

    const ALL: [Outcome; 11] = [
        Outcome::Plan,
        Outcome::Credits,
        Outcome::Payg,
        Outcome::Unfunded,
        Outcome::Duplicate,
        Outcome::Malformed,
        Outcome::NegativeTokens,
        Outcome::AbsurdTokens,
        Outcome::UnknownModel,
        Outcome::UnknownKey,
        Outcome::KeyDeleted,
    ];

    /// The outcome of a polars code.
    pub fn of_code(code: i32) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| *o as i32 == code)
    }

    /// Why the event is quarantined, if it is.
    pub fn quarantine(self) -> Option<Quarantine> {
        match self {
            Outcome::Plan
            | Outcome::Credits
            | Outcome::Payg
            | Outcome::Unfunded
            | Outcome::Duplicate => None,
            Outcome::Malformed => Some(Quarantine::Malformed),
            Outcome::NegativeTokens => Some(Quarantine::NegativeTokens),
            Outcome::AbsurdTokens => Some(Quarantine::AbsurdTokens),
            Outcome::UnknownModel => Some(Quarantine::UnknownModel),
            Outcome::UnknownKey => Some(Quarantine::UnknownKey),
            Outcome::KeyDeleted => Some(Quarantine::KeyDeleted),
        }
    }

    fn lit(self) -> Expr {
        lit(self as i32)
    }
}

/// Why an event is quarantined (B13), named as in run summaries and metrics. Variants are in
/// the order of their names, so counts keyed by reason keep the order they had as strings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Quarantine {
    /// Token counts over [`ABSURD_TOKENS`].
    AbsurdTokens,
    /// The pay-as-you-go key was deleted before the event.
    KeyDeleted,
    /// A field is missing.
    Malformed,
    /// Negative token counts.
    NegativeTokens,
    /// The key had no state at the event's time.
    UnknownKey,
    /// The model has no price.
    UnknownModel,
}

impl Quarantine {
    /// The reason's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Quarantine::AbsurdTokens => "absurd_tokens",
            Quarantine::KeyDeleted => "key_deleted",
            Quarantine::Malformed => "malformed",
            Quarantine::NegativeTokens => "negative_tokens",
            Quarantine::UnknownKey => "unknown_key",
            Quarantine::UnknownModel => "unknown_model",
        }
    }
}

/// The aggregated results, keyed by the run's codes.
pub struct Classified {
    /// `key_code, user_code, tier_code, outcome, model_code, usage_day, events, input_tokens,
    /// output_tokens`: one row per line of usage billed (the tier only on plan lines) or
    /// unfunded.
    pub lines: DataFrame,
    /// `outcome, late, events`: events per outcome and lateness.
    pub counts: DataFrame,
    /// `seat_code, tokens`: tokens each seat cycle's quota covered.
    pub seat_usage: DataFrame,
}

/// Classifies a run's events chunk by chunk, then funds them.
pub struct Classifier<'a> {
    lookup: &'a Lookup,
    funding: LazyFrame,
    seats: LazyFrame,
    day: i64,
    quarantined: Vec<DataFrame>,
    usage: Vec<DataFrame>,
    /// The id hashes of the events reduced, to find repeated ids.
    id_hashes: IdHashes,
}

/// The outcome an event has whatever its key's state: a duplicate, or quarantined for its own
/// fields; null when funding decides.
fn outcome_of_fields() -> Expr {
    let malformed = [
        col("ts_us"),
        col("key_code"),
        col("model_code"),
        col("input_tokens"),
        col("output_tokens"),
    ]
    .into_iter()
    .map(Expr::is_null)
    .fold(col("id_hash").is_null(), Expr::or);
    // Either count alone over the limit decides before their sum is needed, so the sum of two
    // counts at most the limit each cannot overflow where it decides.
    let tokens_over = |limit: i64| {
        col("input_tokens")
            .gt(lit(limit))
            .or(col("output_tokens").gt(lit(limit)))
            .or(tokens().gt(lit(limit)))
    };
    when(col("duplicate"))
        .then(Outcome::Duplicate.lit())
        .when(malformed)
        .then(Outcome::Malformed.lit())
        .when(
            col("input_tokens")
                .lt(lit(0))
                .or(col("output_tokens").lt(lit(0))),
        )
        .then(Outcome::NegativeTokens.lit())
        .when(tokens_over(ABSURD_TOKENS))
        .then(Outcome::AbsurdTokens.lit())
        .when(col("model_code").eq(lit(-1)))
        .then(Outcome::UnknownModel.lit())
        .when(col("key_code").eq(lit(-1)))
        .then(Outcome::UnknownKey.lit())
        .otherwise(lit(NULL).cast(DataType::Int32))
}

fn sums() -> [Expr; 3] {
    [
        len().cast(DataType::Int64).alias("events"),
        col("input_tokens").sum().alias("input_tokens"),
        col("output_tokens").sum().alias("output_tokens"),
    ]
}

fn summed() -> [Expr; 3] {
    [
        col("events").sum(),
        col("input_tokens").sum(),
        col("output_tokens").sum(),
    ]
}

fn tokens() -> Expr {
    col("input_tokens") + col("output_tokens")
}

fn collect_all(frames: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    let Some(first) = frames.first() else {
        return Ok(Vec::new());
    };
    let optimizations = first.get_current_optimizations();
    let plans = frames.into_iter().map(|frame| frame.logical_plan).collect();
    LazyFrame::collect_all_with_engine(plans, Engine::Auto, optimizations)
}

impl<'a> Classifier<'a> {
    /// A classifier for the run of `day` (days since the epoch).
    pub fn new(lookup: &'a Lookup, day: i64) -> PolarsResult<Self> {
        Ok(Classifier {
            lookup,
            funding: lookup.funding_frame()?.lazy(),
            seats: lookup.seats_frame()?.lazy(),
            day,
            // Typed empty frames, so a day without events has the same columns.
            quarantined: vec![df!(
                "outcome" => Vec::<i32>::new(),
                "late" => Vec::<bool>::new(),
                "events" => Vec::<i64>::new(),
            )?],
            usage: vec![df!(
                "iv_code" => Vec::<i32>::new(),
                "model_code" => Vec::<i32>::new(),
                "usage_day" => Vec::<i64>::new(),
                "events" => Vec::<i64>::new(),
                "input_tokens" => Vec::<i64>::new(),
                "output_tokens" => Vec::<i64>::new(),
            )?],
            id_hashes: IdHashes::default(),
        })
    }

    fn late(&self) -> Expr {
        col("usage_day")
            .lt(lit(self.day))
            .fill_null(lit(false))
            .alias("late")
    }

    /// `events` with `iv_code`, their key's interval at their time (found by binary search in
    /// the run's intervals, which tile time for every key; `-1` without a known key or time,
    /// which quarantines the event anyway), and `outcome` from their fields.
    fn with_intervals(&self, events: DataFrame) -> PolarsResult<LazyFrame> {
        let keys = events.column("key_code")?.i32()?;
        let times = events.column("ts_us")?.i64()?;
        let interval = |key: Option<i32>, ts: Option<i64>| {
            key.zip(ts)
                .and_then(|(key, ts)| self.lookup.interval_of(key, ts))
                .unwrap_or(-1)
        };
        let intervals: Vec<i32> = match (keys.cont_slice(), times.cont_slice()) {
            (Ok(keys), Ok(times)) => keys
                .iter()
                .zip(times)
                .map(|(&key, &ts)| interval(Some(key), Some(ts)))
                .collect(),
            _ => keys
                .iter()
                .zip(times.iter())
                .map(|(key, ts)| interval(key, ts))
                .collect(),
        };
        let intervals = Int32Chunked::from_vec("iv_code".into(), intervals);
        Ok(events
            .hstack(&[intervals.into_column()])?
            .lazy()
            .with_column(outcome_of_fields().alias("outcome")))
    }

    /// Quarantine counts (`outcome, late, events`) and token sums (`iv_code, model_code,
    /// usage_day` and [`sums`]) of `events`, all of them duplicates or none.
    fn reduce(&self, events: DataFrame, duplicates: bool) -> PolarsResult<[DataFrame; 2]> {
        let flag = Column::new_scalar(
            "duplicate".into(),
            Scalar::from(duplicates),
            events.height(),
        );
        let events = self.with_intervals(events.hstack(&[flag])?)?;
        let quarantined = events
            .clone()
            .filter(col("outcome").is_not_null())
            .group_by([col("outcome"), self.late()])
            .agg([len().cast(DataType::Int64).alias("events")]);
        let usage = events
            .filter(col("outcome").is_null())
            .group_by([col("iv_code"), col("model_code"), col("usage_day")])
            .agg(sums());
        let mut frames = collect_all(vec![quarantined, usage])?.into_iter();
        Ok([next(&mut frames)?, next(&mut frames)?])
    }

    /// Reduces one chunk of events (columns of [`super::extract::DayEvents::stream`]) as if
    /// none repeated an id; [`Classifier::correct`] then moves those that do.
    pub fn add(&mut self, chunk: DataFrame) -> PolarsResult<()> {
        self.id_hashes.extend(chunk.column("id_hash")?.u64()?);
        let [quarantined, usage] = self.reduce(chunk, false)?;
        self.quarantined.push(quarantined);
        self.usage.push(usage);
        self.compact()
    }

    /// Merges the sums reduced so far once they are several frames, so they stay about the
    /// size of one day's lines however many events stream past.
    fn compact(&mut self) -> PolarsResult<()> {
        if self.usage.len() < COMPACT_AFTER {
            return Ok(());
        }
        let usage = concat_frames(&self.usage)?
            .group_by([col("iv_code"), col("model_code"), col("usage_day")])
            .agg(summed());
        let quarantined = concat_frames(&self.quarantined)?
            .group_by([col("outcome"), col("late")])
            .agg([col("events").sum()]);
        let mut frames = collect_all(vec![usage, quarantined])?.into_iter();
        self.usage = vec![next(&mut frames)?];
        self.quarantined = vec![next(&mut frames)?];
        Ok(())
    }

    /// The id hashes that the events reduced so far share with another event: only these can
    /// be repeated ids.
    pub fn hashes_seen_twice(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.id_hashes).seen_twice()
    }

    /// Moves `duplicates` (reduced by [`Classifier::add`] as if unrepeated) to the duplicates:
    /// their reduced sums are subtracted and they are counted again as duplicates (B13).
    pub fn correct(&mut self, duplicates: DataFrame) -> PolarsResult<()> {
        let negated = |frame: DataFrame, columns: &[&str]| {
            frame
                .lazy()
                .with_columns(columns.iter().map(|c| -col(*c)).collect::<Vec<_>>())
                .collect()
        };
        let [quarantined, usage] = self.reduce(duplicates.clone(), false)?;
        self.quarantined.push(negated(quarantined, &["events"])?);
        self.usage.push(negated(
            usage,
            &["events", "input_tokens", "output_tokens"],
        )?);
        let [quarantined, usage] = self.reduce(duplicates, true)?;
        self.quarantined.push(quarantined);
        self.usage.push(usage);
        Ok(())
    }

    /// Funds the reduced usage; `events_of_keys` reads again, in full, the events of the keys
    /// whose seat cycles the run crosses, at most about `batch_rows` events at a time, and
    /// `event_ids` the ids of those that share an instant.
    pub fn finish<E: From<PolarsError>>(
        self,
        batch_rows: usize,
        mut events_of_keys: impl FnMut(&[u32]) -> Result<Option<DataFrame>, E>,
        mut event_ids: impl FnMut(&[i64]) -> Result<DataFrame, E>,
    ) -> Result<Classified, E> {
        let (decided, crossing) = self.fund_sums()?;
        let mut usage = vec![decided.lazy().select(usage_columns())];
        // Each batch is read again from the store in one scan: at most [`MAX_REREADS`] of
        // them, larger than `batch_rows` if need be (a batch closes only past its share, so
        // the largest cycle's headroom keeps the count within the bound).
        let events = crossing.column("events")?.i64()?;
        let count = |n: Option<i64>| usize::try_from(n.unwrap_or(0)).unwrap_or(usize::MAX);
        let batch_rows =
            batch_rows.max(count(events.sum()).div_ceil(MAX_REREADS) + count(events.max()));
        for batch in batches(&crossing, batch_rows)? {
            let keys = self.lookup.keys_of_seats(&batch);
            if let Some(events) = events_of_keys(&keys)? {
                usage.push(self.fund_in_order(events, &batch, &mut event_ids)?);
            }
        }
        Ok(self.results(concat(usage, UnionArgs::default())?)?)
    }

    /// The usage funded from its sums (`iv_code, model_code, usage_day, outcome` and sums),
    /// and the seat cycles the run crosses (`seat_code, events`), whose events need order.
    fn fund_sums(&self) -> PolarsResult<(DataFrame, DataFrame)> {
        // Corrections for duplicates can leave sums of no events.
        let usage = concat_frames(&self.usage)?
            .group_by([col("iv_code"), col("model_code"), col("usage_day")])
            .agg(summed())
            .filter(col("events").gt(lit(0)))
            .join_on(self.funding.clone(), "iv_code", JoinType::Left)
            .cache();
        // Each seat cycle: its quota against its earlier usage and the run's.
        let cycles = usage
            .clone()
            .filter(col("seat_code").is_not_null())
            .group_by([col("seat_code")])
            .agg([tokens().sum().alias("run_tokens"), col("events").sum()])
            .join_on(self.seats.clone(), "seat_code", JoinType::Inner)
            .with_columns([
                (col("prior") + col("run_tokens"))
                    .lt(col("quota"))
                    .alias("covered"),
                col("prior").lt(col("quota")).alias("open"),
            ]);
        let decided = usage
            .join_on(
                cycles
                    .clone()
                    .select([col("seat_code"), col("covered"), col("open")]),
                "seat_code",
                JoinType::Left,
            )
            .with_column(
                when(col("funding").eq(lit(Funding::Unknown as i32)))
                    .then(Outcome::UnknownKey.lit())
                    .when(col("funding").eq(lit(Funding::Deleted as i32)))
                    .then(Outcome::KeyDeleted.lit())
                    .when(col("funding").eq(lit(Funding::Payg as i32)))
                    .then(Outcome::Payg.lit())
                    .when(col("covered").fill_null(lit(false)))
                    .then(Outcome::Plan.lit())
                    .when(col("open").fill_null(lit(false)))
                    .then(lit(NULL).cast(DataType::Int32))
                    .when(col("access"))
                    .then(Outcome::Credits.lit())
                    .otherwise(Outcome::Unfunded.lit())
                    .alias("outcome"),
            )
            .filter(col("outcome").is_not_null());
        let crossing = cycles
            .filter(col("covered").not().and(col("open")))
            .select([col("seat_code"), col("events")])
            .sort(["seat_code"], SortMultipleOptions::default());
        let mut frames = collect_all(vec![decided, crossing])?.into_iter();
        Ok((next(&mut frames)?, next(&mut frames)?))
    }

    /// Counts, seat usage and statement lines of the funded usage.
    fn results(&self, usage: LazyFrame) -> PolarsResult<Classified> {
        let usage = usage.cache();
        let counts = concat(
            [
                concat_frames(&self.quarantined)?,
                usage
                    .clone()
                    .group_by([col("outcome"), self.late()])
                    .agg([col("events").sum()]),
            ],
            UnionArgs::default(),
        )?
        .group_by([col("outcome"), col("late")])
        .agg([col("events").sum()])
        .filter(col("events").gt(lit(0)))
        .sort(["outcome", "late"], SortMultipleOptions::default());
        let seat_usage = usage
            .clone()
            .filter(col("outcome").eq(Outcome::Plan.lit()))
            .join_on(self.funding.clone(), "iv_code", JoinType::Inner)
            .group_by([col("seat_code")])
            .agg([tokens().sum().alias("tokens")])
            .sort(["seat_code"], SortMultipleOptions::default());
        let lines = usage
            .filter(
                col("outcome")
                    .eq(Outcome::Plan.lit())
                    .or(col("outcome").eq(Outcome::Credits.lit()))
                    .or(col("outcome").eq(Outcome::Payg.lit()))
                    .or(col("outcome").eq(Outcome::Unfunded.lit())),
            )
            .join_on(self.funding.clone(), "iv_code", JoinType::Inner)
            .with_column(
                when(col("outcome").eq(Outcome::Plan.lit()))
                    .then(col("tier_code"))
                    .otherwise(lit(NULL).cast(DataType::Int32))
                    .alias("tier_code"),
            )
            .group_by([
                col("key_code"),
                col("user_code"),
                col("tier_code"),
                col("outcome"),
                col("model_code"),
                col("usage_day"),
            ])
            .agg(summed());
        let mut frames = collect_all(vec![lines, counts, seat_usage])?.into_iter();
        Ok(Classified {
            lines: next(&mut frames)?,
            counts: next(&mut frames)?,
            seat_usage: next(&mut frames)?,
        })
    }

    /// Funds the events of crossed seat cycles `seats` one by one in B12 order: an event is
    /// covered while the cycle's usage before it is below the quota (B9), else Credits if
    /// access is on, else unfunded (B10). Only events that share their instant with another
    /// need their ids (`event_ids` reads them, `row_id, event_id`) to be put in order.
    fn fund_in_order<E: From<PolarsError>>(
        &self,
        events: DataFrame,
        seats: &[i32],
        event_ids: &mut impl FnMut(&[i64]) -> Result<DataFrame, E>,
    ) -> Result<LazyFrame, E> {
        let batch = DataFrame::new_infer_height(vec![Column::new("seat_code".into(), seats)])?;
        let events = self
            .with_intervals(events)?
            .filter(col("outcome").is_null())
            .join_on(self.funding.clone(), "iv_code", JoinType::Inner)
            .join_on(batch.lazy(), "seat_code", JoinType::Inner)
            .collect()?;
        let tied = events
            .clone()
            .lazy()
            .filter(len().over([col("ts_us")])?.gt(lit(1)))
            .select([col("row_id")])
            .collect()?;
        let tied: Vec<i64> = tied.column("row_id")?.i64()?.iter().flatten().collect();
        // Tied events get their id's rank, so the sort below stays on integers.
        let ranks = if tied.is_empty() {
            df!("row_id" => Vec::<i64>::new(), "id_rank" => Vec::<IdxSize>::new())?
        } else {
            event_ids(&tied)?
                .lazy()
                .sort(["event_id"], SortMultipleOptions::default())
                .with_row_index("id_rank", Some(1))
                .select([col("row_id"), col("id_rank")])
                .collect()?
        };
        Ok(events
            .lazy()
            .join_on(ranks.lazy(), "row_id", JoinType::Left)
            .join_on(self.seats.clone(), "seat_code", JoinType::Inner)
            .sort(
                ["ts_us", "id_rank", "row_id"],
                SortMultipleOptions::default().with_nulls_last(false),
            )
            .with_column(
                (col("prior") + tokens().cum_sum(false).over([col("seat_code")])? - tokens())
                    .alias("usage_before"),
            )
            .with_column(
                when(col("usage_before").lt(col("quota")))
                    .then(Outcome::Plan.lit())
                    .when(col("access"))
                    .then(Outcome::Credits.lit())
                    .otherwise(Outcome::Unfunded.lit())
                    .alias("outcome"),
            )
            .group_by([
                col("iv_code"),
                col("model_code"),
                col("usage_day"),
                col("outcome"),
            ])
            .agg(sums())
            .select(usage_columns()))
    }
}

/// Joins on one column of the same name on both sides.
trait JoinOn {
    fn join_on(self, other: LazyFrame, column: &str, how: JoinType) -> LazyFrame;
}

impl JoinOn for LazyFrame {
    fn join_on(self, other: LazyFrame, column: &str, how: JoinType) -> LazyFrame {
        self.join(other, [col(column)], [col(column)], JoinArgs::new(how))
    }
}

fn usage_columns() -> [Expr; 7] {
    [
        col("iv_code"),
        col("model_code"),
        col("usage_day"),
        col("outcome"),
        col("events"),
        col("input_tokens"),
        col("output_tokens"),
    ]
}

fn concat_frames(frames: &[DataFrame]) -> PolarsResult<LazyFrame> {
    concat(
        frames.iter().map(|f| f.clone().lazy()).collect::<Vec<_>>(),
        UnionArgs::default(),
    )
}

fn next(frames: &mut impl Iterator<Item = DataFrame>) -> PolarsResult<DataFrame> {
    frames
        .next()
        .ok_or_else(|| PolarsError::ComputeError("a result is missing".into()))
}

/// Seat cycles in batches of about `rows` events; a cycle is never split.
fn batches(crossing: &DataFrame, rows: usize) -> PolarsResult<Vec<Vec<i32>>> {
    let seats = crossing.column("seat_code")?.i32()?;
    let events = crossing.column("events")?.i64()?;
    let mut batches: Vec<Vec<i32>> = Vec::new();
    let mut in_batch = 0;
    for (seat, n) in seats.iter().zip(events.iter()) {
        let (Some(seat), n) = (seat, usize::try_from(n.unwrap_or(0)).unwrap_or(0)) else {
            continue;
        };
        match batches.last_mut() {
            Some(batch) if in_batch + n <= rows => batch.push(seat),
            _ => {
                batches.push(vec![seat]);
                in_batch = 0;
            }
        }
        in_batch += n;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b13_an_event_over_the_absurd_limit_in_input_and_output_together_is_quarantined() {
        let limit = ABSURD_TOKENS;
        let frame = df!(
            "duplicate" => [false; 5],
            "id_hash" => [1u64; 5],
            "ts_us" => [0i64; 5],
            "key_code" => [0i32; 5],
            "model_code" => [0i32; 5],
            "input_tokens" => [limit, limit / 2 + 1, limit / 2, i64::MAX, 0],
            "output_tokens" => [0i64, limit / 2, limit / 2, i64::MAX, limit + 1],
        )
        .unwrap();
        let outcomes = frame
            .lazy()
            .select([outcome_of_fields().alias("outcome")])
            .collect()
            .unwrap();
        let absurd = Some(Outcome::AbsurdTokens as i32);
        assert_eq!(
            outcomes.column("outcome").unwrap().i32().unwrap().to_vec(),
            [None, absurd, None, absurd, absurd]
        );
    }

    #[test]
    fn crossed_cycles_are_batched_whole() {
        let crossing = df!(
            "seat_code" => [1i32, 2, 3, 4],
            "events" => [3i64, 3, 5, 1],
        )
        .unwrap();
        assert_eq!(batches(&crossing, 6).unwrap(), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(batches(&crossing, 1).unwrap().len(), 4);
    }

    mod funding_by_sums_equals_funding_event_by_event {
        use std::collections::BTreeMap;

        use chrono::NaiveDate;
        use proptest::prelude::*;

        use super::*;
        use crate::billing::lookup::code;
        use crate::billing::replay::{KeyInterval, KeyKind, SeatUsage};
        use crate::prices::Prices;

        const SWITCH_US: i64 = 50;

        /// Whether key `key` (0: `a`, 1: `b`) holds the seat at `ts`.
        fn seated(ts: i64, key: usize) -> bool {
            (key == 0) == (ts < SWITCH_US)
        }

        /// Keys `a` and `b` share seat 1: `a` holds it until [`SWITCH_US`], then `b` (S4).
        /// Whoever holds it has Credits access; the other has none.
        fn lookup(quota: i64, prior: i64) -> Lookup {
            let cycle = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
            let interval = |key: &str, from_us, to_us, seated: bool| KeyInterval {
                key_id: key.into(),
                user: key.into(),
                from_us,
                to_us,
                kind: KeyKind::TokenPlan {
                    seat: seated.then(|| ("plus".to_owned(), 1, cycle)),
                    credits_access: seated,
                },
            };
            let replay = crate::billing::replay::with_intervals(vec![
                interval("a", 0, SWITCH_US, true),
                interval("a", SWITCH_US, i64::MAX, false),
                interval("b", 0, SWITCH_US, false),
                interval("b", SWITCH_US, i64::MAX, true),
            ]);
            let mut prices = Prices::bundled().unwrap();
            prices.tiers.get_mut("plus").unwrap().quota_tokens = quota;
            let prior = SeatUsage {
                team: "t".into(),
                tier: "plus".into(),
                seat: 1,
                cycle_start: cycle,
                tokens: prior,
            };
            Lookup::new(
                &BTreeMap::from([("t".to_owned(), replay)]),
                &prices,
                &[prior],
            )
            .unwrap()
        }

        /// The id of event `i`: unique, in an order unlike the rows'.
        fn id(i: usize) -> String {
            format!("id{:03}", (i * 37 + 11) % 101)
        }

        /// `(ts, key, tokens)` per event, as the extract's frame, ids from [`id`].
        fn frame(events: &[(i64, usize, i64)], lookup: &Lookup) -> DataFrame {
            let key_code = |key: usize| {
                let id = ["a", "b"][key];
                code(lookup.keys.iter().position(|k| k.id == id).unwrap())
            };
            let n = events.len();
            df!(
                "row_id" => (0..n as i64).collect::<Vec<_>>(),
                "event_id" => (0..n).map(id).collect::<Vec<_>>(),
                "ts_us" => events.iter().map(|e| e.0).collect::<Vec<_>>(),
                "key_code" => events.iter().map(|e| key_code(e.1)).collect::<Vec<_>>(),
                "model_code" => vec![0i32; n],
                "input_tokens" => events.iter().map(|e| e.2).collect::<Vec<_>>(),
                "output_tokens" => vec![0i64; n],
                "usage_day" => vec![20_575i64; n],
                "id_hash" => (0..n as u64).collect::<Vec<_>>(),
                "duplicate" => vec![false; n],
            )
            .unwrap()
        }

        /// Events and input tokens per outcome.
        fn per_outcome(usage: &DataFrame) -> BTreeMap<i32, (i64, i64)> {
            let mut sums = BTreeMap::new();
            for row in 0..usage.height() {
                let cell = |c: &str| {
                    usage
                        .column(c)
                        .unwrap()
                        .get(row)
                        .unwrap()
                        .try_extract::<i64>()
                        .unwrap()
                };
                let entry = sums.entry(cell("outcome") as i32).or_insert((0, 0));
                entry.0 += cell("events");
                entry.1 += cell("input_tokens");
            }
            sums
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
            #[test]
            fn b9_b10_b12_s4_funding_from_sums_equals_funding_event_by_event_in_order(
                events in proptest::collection::vec((0i64..100, 0usize..2, 0i64..4), 0..40),
                prior in 0i64..20,
                quota_offset in -12i64..3,
                chunk in 1usize..20,
                batch_rows in 1usize..80,
            ) {
                // Quotas near what the seat's events use, where crossing (and ties) happen.
                let seat_tokens: i64 = events
                    .iter()
                    .filter(|&&(ts, key, _)| seated(ts, key))
                    .map(|e| e.2)
                    .sum();
                let quota = (prior + seat_tokens + quota_offset).max(0);
                let lookup = lookup(quota, prior);
                let all = frame(&events, &lookup);
                let mut classifier = Classifier::new(&lookup, 20_575).unwrap();
                for start in (0..events.len()).step_by(chunk) {
                    classifier.add(all.slice(start as i64, chunk).drop_many(["row_id", "event_id", "duplicate"])).unwrap();
                }
                let ids = all.select(["row_id", "event_id"]).unwrap();
                let classified = classifier
                    .finish(
                        batch_rows,
                        |_| Ok::<_, PolarsError>(Some(all.drop("event_id").unwrap())),
                        |rows| {
                            let rows = DataFrame::new_infer_height(vec![Column::new("row_id".into(), rows)])?;
                            ids.clone().lazy().join_on(rows.lazy(), "row_id", JoinType::Inner).collect()
                        },
                    )
                    .unwrap();

                // The reference: every event in B12 order, against the seat's running usage.
                let mut order: Vec<usize> = (0..events.len()).collect();
                order.sort_by_key(|&i| (events[i].0, id(i)));
                let mut used = prior;
                let mut expected: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
                for i in order {
                    let (ts, key, tokens) = events[i];
                    let outcome = if !seated(ts, key) {
                        Outcome::Unfunded
                    } else if used < quota {
                        used += tokens;
                        Outcome::Plan
                    } else {
                        Outcome::Credits
                    };
                    let entry = expected.entry(outcome as i32).or_insert((0, 0));
                    entry.0 += 1;
                    entry.1 += tokens;
                }
                prop_assert_eq!(per_outcome(&classified.lines), expected);
            }
        }
    }

    #[test]
    fn outcome_codes_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::of_code(outcome as i32), Some(outcome));
        }
    }
}

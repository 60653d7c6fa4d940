//! The first stage over the events (B13): each chunk reduced, with lazy polars, to quarantine
//! counts and to token sums per key interval, model and usage day, as if no event repeated an
//! id; the events found to repeat one are then moved to the duplicates, exactly, since sums
//! are linear.

use polars::prelude::*;

use super::columns::{
    self, DUPLICATE, EVENTS, ID_HASH, INPUT_TOKENS, IV_CODE, KEY_CODE, LATE, MODEL_CODE, OUTCOME,
    OUTPUT_TOKENS, TS_US, USAGE_DAY,
};
use super::error::BillingError;
use super::frames::{collect_all, concat_frames, summed, sums, tokens};
use super::id_hashes::IdHashes;
use super::lookup::Lookup;
use super::outcome::{ABSURD_TOKENS, Outcome};

/// Reduced frames kept before [`Reducer::compact`] merges them.
const COMPACT_AFTER: usize = 4;

/// A run's events reduced so far.
pub struct Reducer<'a> {
    lookup: &'a Lookup,
    /// The day billed, as a day number.
    day: i64,
    /// The first usage day of the window (B21): an earlier event is too late.
    window_start: i64,
    /// `outcome, late, events` of the quarantined and duplicate events.
    quarantined: Vec<DataFrame>,
    /// `iv_code, model_code, usage_day` and [`sums`] of the other events.
    usage: Vec<DataFrame>,
    /// The id hashes of the events reduced, to find repeated ids.
    id_hashes: IdHashes,
}

/// A run's events reduced: what funding starts from.
pub struct Reduced {
    /// `iv_code, model_code, usage_day` and [`sums`]: the usage funding decides.
    pub usage: LazyFrame,
    /// `outcome, late, events`: the events settled by their own fields, or as duplicates.
    pub quarantined: LazyFrame,
}

/// Whether the rows' usage day is before `day` (B14).
pub fn late(day: i64) -> Expr {
    col(USAGE_DAY)
        .lt(lit(day))
        .fill_null(lit(false))
        .alias(LATE)
}

/// The outcome an event has whatever its key's state: a duplicate, or quarantined for its own
/// fields; null when funding decides.
fn outcome_of_fields() -> Expr {
    let malformed = [
        col(TS_US),
        col(KEY_CODE),
        col(MODEL_CODE),
        col(INPUT_TOKENS),
        col(OUTPUT_TOKENS),
    ]
    .into_iter()
    .map(Expr::is_null)
    .fold(col(ID_HASH).is_null(), Expr::or);
    // Either count alone over the limit decides before their sum is needed, so the sum of two
    // counts at most the limit each cannot overflow where it decides.
    let tokens_over = |limit: i64| {
        col(INPUT_TOKENS)
            .gt(lit(limit))
            .or(col(OUTPUT_TOKENS).gt(lit(limit)))
            .or(tokens().gt(lit(limit)))
    };
    when(col(DUPLICATE))
        .then(Outcome::Duplicate.lit())
        .when(malformed)
        .then(Outcome::Malformed.lit())
        .when(
            col(INPUT_TOKENS)
                .lt(lit(0))
                .or(col(OUTPUT_TOKENS).lt(lit(0))),
        )
        .then(Outcome::NegativeTokens.lit())
        .when(tokens_over(ABSURD_TOKENS))
        .then(Outcome::AbsurdTokens.lit())
        .when(col(MODEL_CODE).eq(lit(-1)))
        .then(Outcome::UnknownModel.lit())
        .when(col(KEY_CODE).eq(lit(-1)))
        .then(Outcome::UnknownKey.lit())
        .otherwise(lit(NULL).cast(DataType::Int32))
}

/// `events` with `iv_code`, their key's interval at their time (found by binary search in
/// the run's intervals, which tile time for every key; `-1` without a known key or time,
/// which quarantines the event anyway), and `outcome` from their fields.
pub fn with_intervals(lookup: &Lookup, events: DataFrame) -> PolarsResult<LazyFrame> {
    let keys = events.column(KEY_CODE)?.i32()?;
    let times = events.column(TS_US)?.i64()?;
    let interval = |key: Option<i32>, ts: Option<i64>| {
        key.zip(ts)
            .and_then(|(key, ts)| lookup.interval_of(key, ts))
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
    let intervals = Int32Chunked::from_vec(IV_CODE.into(), intervals);
    Ok(events
        .hstack(&[intervals.into_column()])?
        .lazy()
        .with_column(outcome_of_fields().alias(OUTCOME)))
}

impl<'a> Reducer<'a> {
    /// A reducer for the run of `day` (a day number), with a window of `window_days` (B21).
    pub fn new(lookup: &'a Lookup, day: i64, window_days: u32) -> PolarsResult<Self> {
        Ok(Reducer {
            lookup,
            day,
            window_start: crate::store::window_start(day, window_days),
            // Typed empty frames, so a day without events has the same columns.
            quarantined: vec![df!(
                OUTCOME => Vec::<i32>::new(),
                LATE => Vec::<bool>::new(),
                EVENTS => Vec::<i64>::new(),
            )?],
            usage: vec![df!(
                IV_CODE => Vec::<i32>::new(),
                MODEL_CODE => Vec::<i32>::new(),
                USAGE_DAY => Vec::<i64>::new(),
                EVENTS => Vec::<i64>::new(),
                INPUT_TOKENS => Vec::<i64>::new(),
                OUTPUT_TOKENS => Vec::<i64>::new(),
            )?],
            id_hashes: IdHashes::default(),
        })
    }

    /// Quarantine counts (`outcome, late, events`) and token sums (`iv_code, model_code,
    /// usage_day` and [`sums`]) of `events`, all of them duplicates or none.
    fn reduce(&self, events: DataFrame, duplicates: bool) -> PolarsResult<[DataFrame; 2]> {
        let flag = Column::new_scalar(DUPLICATE.into(), Scalar::from(duplicates), events.height());
        // Too late before anything else (see `outcome`).
        let events = with_intervals(self.lookup, events.hstack(&[flag])?)?.with_column(
            when(col(USAGE_DAY).lt(lit(self.window_start)))
                .then(Outcome::TooLate.lit())
                .otherwise(col(OUTCOME))
                .alias(OUTCOME),
        );
        let quarantined = events
            .clone()
            .filter(col(OUTCOME).is_not_null())
            .group_by([col(OUTCOME), late(self.day)])
            .agg([len().cast(DataType::Int64).alias(EVENTS)]);
        let usage = events
            .filter(col(OUTCOME).is_null())
            .group_by([col(IV_CODE), col(MODEL_CODE), col(USAGE_DAY)])
            .agg(sums());
        collect_all([quarantined, usage])
    }

    /// Reduces one chunk of events (columns [`columns::EVENT`]) as if none repeated an id;
    /// [`Reducer::correct`] then moves those that do.
    pub fn add(&mut self, chunk: DataFrame) -> Result<(), BillingError> {
        columns::expect(&chunk, "reduce", &columns::EVENT)?;
        self.id_hashes.extend(chunk.column(ID_HASH)?.u64()?);
        let [quarantined, usage] = self.reduce(chunk, false)?;
        self.quarantined.push(quarantined);
        self.usage.push(usage);
        Ok(self.compact()?)
    }

    /// Merges the sums reduced so far once they are several frames, so they stay about the
    /// size of one day's lines however many events stream past.
    fn compact(&mut self) -> PolarsResult<()> {
        if self.usage.len() < COMPACT_AFTER {
            return Ok(());
        }
        let usage = concat_frames(&self.usage)?
            .group_by([col(IV_CODE), col(MODEL_CODE), col(USAGE_DAY)])
            .agg(summed());
        let quarantined = concat_frames(&self.quarantined)?
            .group_by([col(OUTCOME), col(LATE)])
            .agg([col(EVENTS).sum()]);
        let [usage, quarantined] = collect_all([usage, quarantined])?;
        self.usage = vec![usage];
        self.quarantined = vec![quarantined];
        Ok(())
    }

    /// The id hashes that the events reduced so far share with another event: only these can
    /// be repeated ids.
    pub fn hashes_seen_twice(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.id_hashes).seen_twice()
    }

    /// Moves `duplicates` (columns [`columns::EVENT`], reduced by [`Reducer::add`] as if
    /// unrepeated) to the duplicates: their reduced sums are subtracted and they are counted
    /// again as duplicates (B13).
    pub fn correct(&mut self, duplicates: DataFrame) -> Result<(), BillingError> {
        columns::expect(&duplicates, "reduce", &columns::EVENT)?;
        let negated = |frame: DataFrame, columns: &[&str]| {
            frame
                .lazy()
                .with_columns(columns.iter().map(|c| -col(*c)).collect::<Vec<_>>())
                .collect()
        };
        let [quarantined, usage] = self.reduce(duplicates.clone(), false)?;
        self.quarantined.push(negated(quarantined, &[EVENTS])?);
        self.usage
            .push(negated(usage, &[EVENTS, INPUT_TOKENS, OUTPUT_TOKENS])?);
        let [quarantined, usage] = self.reduce(duplicates, true)?;
        self.quarantined.push(quarantined);
        self.usage.push(usage);
        Ok(())
    }

    /// The events reduced, duplicates corrected.
    pub fn finish(self) -> PolarsResult<Reduced> {
        Ok(Reduced {
            usage: concat_frames(&self.usage)?,
            quarantined: concat_frames(&self.quarantined)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b21_an_event_more_than_w_days_before_the_day_is_too_late_before_anything_else() {
        const DAY: i64 = 100;
        let lookup = Lookup::default();
        let mut reducer = Reducer::new(&lookup, DAY, 35).unwrap();
        let events = df!(
            TS_US => [Some(0i64), Some(0), Some(0), None],
            KEY_CODE => [-1i32, -1, -1, -1],
            MODEL_CODE => [-1i32, -1, -1, -1],
            INPUT_TOKENS => [1i64, -1, 1, 1],
            OUTPUT_TOKENS => [1i64, 1, 1, 1],
            USAGE_DAY => [Some(DAY - 36), Some(DAY - 36), Some(DAY - 35), None],
            ID_HASH => [1u64, 2, 3, 4],
        )
        .unwrap();
        reducer.add(events.clone()).unwrap();
        // Found to repeat an id: too late all the same, never a duplicate.
        reducer.correct(events.slice(0, 1)).unwrap();
        let counts = reducer
            .finish()
            .unwrap()
            .quarantined
            .group_by([col(OUTCOME)])
            .agg([col(EVENTS).sum()])
            .sort([OUTCOME], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let outcome = |o: Outcome| Some(o as i32);
        assert_eq!(
            counts.column(OUTCOME).unwrap().i32().unwrap().to_vec(),
            [
                outcome(Outcome::Malformed),
                outcome(Outcome::UnknownModel),
                outcome(Outcome::TooLate),
            ]
        );
        assert_eq!(
            counts.column(EVENTS).unwrap().i64().unwrap().to_vec(),
            [Some(1), Some(1), Some(2)]
        );
    }

    #[test]
    fn b13_an_event_over_the_absurd_limit_in_input_and_output_together_is_quarantined() {
        let limit = ABSURD_TOKENS;
        let frame = df!(
            DUPLICATE => [false; 5],
            ID_HASH => [1u64; 5],
            TS_US => [0i64; 5],
            KEY_CODE => [0i32; 5],
            MODEL_CODE => [0i32; 5],
            INPUT_TOKENS => [limit, limit / 2 + 1, limit / 2, i64::MAX, 0],
            OUTPUT_TOKENS => [0i64, limit / 2, limit / 2, i64::MAX, limit + 1],
        )
        .unwrap();
        let outcomes = frame
            .lazy()
            .select([outcome_of_fields().alias(OUTCOME)])
            .collect()
            .unwrap();
        let absurd = Some(Outcome::AbsurdTokens as i32);
        assert_eq!(
            outcomes.column(OUTCOME).unwrap().i32().unwrap().to_vec(),
            [None, absurd, None, absurd, absurd]
        );
    }
}

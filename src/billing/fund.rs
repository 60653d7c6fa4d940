//! Funding of the reduced usage (B9, B10, B12, S4), on sums wherever order cannot matter: a
//! seat cycle whose earlier usage plus the run's stays below its quota covers every event,
//! one already at its quota covers none. Only the cycles the run crosses need their events in
//! B12 order: the caller reads those events again, batch by batch, and they are funded one by
//! one by cumulative sum. Nothing here reads the store: what must be read again is returned
//! as key codes and row ids, and the frames read are handed back.

use polars::prelude::*;

use super::columns::{
    self, ACCESS, EVENT_ID, EVENTS, FUNDING, IV_CODE, MODEL_CODE, OUTCOME, PRIOR, QUOTA, ROW_ID,
    SEAT_CODE, TS_US, USAGE_DAY,
};
use super::error::BillingError;
use super::frames::{JoinOn as _, collect_all, summed, sums, tokens, usage_columns};
use super::lookup::{self, Lookup};
use super::outcome::Outcome;
use super::reduce::{Reduced, with_intervals};

/// Scans of the store's events for seat cycles the run crosses, at most.
const MAX_REREADS: usize = 4;

/// A seat cycle's tokens in the run.
const RUN_TOKENS: &str = "run_tokens";
/// Whether a seat cycle's quota covers all its usage, earlier and the run's.
const COVERED: &str = "covered";
/// Whether a seat cycle's quota was not reached before the run.
const OPEN: &str = "open";
/// A tied event's rank by id (B12).
const ID_RANK: &str = "id_rank";
/// A seat cycle's usage before an event.
const USAGE_BEFORE: &str = "usage_before";

/// Usage funded so far.
pub struct Funding<'a> {
    lookup: &'a Lookup,
    /// [`Lookup::funding_frame`].
    intervals: LazyFrame,
    /// [`Lookup::seats_frame`].
    seats: LazyFrame,
    /// Frames of [`columns::USAGE`], each row with its outcome.
    funded: Vec<LazyFrame>,
    quarantined: LazyFrame,
}

/// Seat cycles the run crosses, whose events are read again in one scan: those of `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossed {
    /// Seat cycle codes.
    pub seats: Vec<i32>,
    /// The codes of the keys with an interval on one of `seats`.
    pub keys: Vec<u32>,
}

/// The events of a [`Crossed`] batch to fund in order.
pub struct Seated {
    events: DataFrame,
    /// The rows of events that share their instant with another: only their ids can order
    /// them (B12).
    tied: Vec<i64>,
}

impl Seated {
    /// The rows whose ids [`Funding::in_order`] needs: `row_id, event_id` of these.
    pub fn tied(&self) -> &[i64] {
        &self.tied
    }
}

/// The run's usage, every row with its outcome.
pub struct Funded {
    /// Frames of [`columns::USAGE`].
    pub usage: LazyFrame,
    /// `outcome, late, events` of the quarantined events and duplicates.
    pub quarantined: LazyFrame,
    /// [`Lookup::funding_frame`], which names each interval's key, user and seat.
    pub intervals: LazyFrame,
}

impl<'a> Funding<'a> {
    /// Funds `reduced` from its sums. Returns, besides, the seat cycles the run crosses in
    /// batches of about `batch_rows` events: at most [`MAX_REREADS`] of them, larger if need be
    /// (a batch closes only past its share, so the largest cycle's headroom keeps the count
    /// within the bound).
    pub fn on_sums(
        reduced: Reduced,
        lookup: &'a Lookup,
        batch_rows: usize,
    ) -> Result<(Self, Vec<Crossed>), BillingError> {
        let mut funding = Funding {
            lookup,
            intervals: lookup.funding_frame()?.lazy(),
            seats: lookup.seats_frame()?.lazy(),
            funded: Vec::new(),
            quarantined: reduced.quarantined,
        };
        let (decided, crossing) = funding.fund_sums(reduced.usage)?;
        let events = crossing.column(EVENTS)?.i64()?;
        let count = |n: Option<i64>| usize::try_from(n.unwrap_or(0)).unwrap_or(usize::MAX);
        let batch_rows =
            batch_rows.max(count(events.sum()).div_ceil(MAX_REREADS) + count(events.max()));
        let crossed = batches(&crossing, batch_rows)?
            .into_iter()
            .map(|seats| Crossed {
                keys: lookup.keys_of_seats(&seats),
                seats,
            })
            .collect();
        funding.funded.push(decided.lazy().select(usage_columns()));
        Ok((funding, crossed))
    }

    /// The usage funded from its sums (`iv_code, model_code, usage_day, outcome` and sums),
    /// and the seat cycles the run crosses (`seat_code, events`), whose events need order.
    fn fund_sums(&self, usage: LazyFrame) -> PolarsResult<(DataFrame, DataFrame)> {
        // Corrections for duplicates can leave sums of no events.
        let usage = usage
            .group_by([col(IV_CODE), col(MODEL_CODE), col(USAGE_DAY)])
            .agg(summed())
            .filter(col(EVENTS).gt(lit(0)))
            .join_on(self.intervals.clone(), IV_CODE, JoinType::Left)
            .cache();
        // Each seat cycle: its quota against its earlier usage and the run's.
        let cycles = usage
            .clone()
            .filter(col(SEAT_CODE).is_not_null())
            .group_by([col(SEAT_CODE)])
            .agg([tokens().sum().alias(RUN_TOKENS), col(EVENTS).sum()])
            .join_on(self.seats.clone(), SEAT_CODE, JoinType::Inner)
            .with_columns([
                (col(PRIOR) + col(RUN_TOKENS)).lt(col(QUOTA)).alias(COVERED),
                col(PRIOR).lt(col(QUOTA)).alias(OPEN),
            ]);
        let decided = usage
            .join_on(
                cycles
                    .clone()
                    .select([col(SEAT_CODE), col(COVERED), col(OPEN)]),
                SEAT_CODE,
                JoinType::Left,
            )
            .with_column(
                when(col(FUNDING).eq(lit(lookup::Funding::Unknown as i32)))
                    .then(Outcome::UnknownKey.lit())
                    .when(col(FUNDING).eq(lit(lookup::Funding::Deleted as i32)))
                    .then(Outcome::KeyDeleted.lit())
                    .when(col(FUNDING).eq(lit(lookup::Funding::Payg as i32)))
                    .then(Outcome::Payg.lit())
                    .when(col(COVERED).fill_null(lit(false)))
                    .then(Outcome::Plan.lit())
                    .when(col(OPEN).fill_null(lit(false)))
                    .then(lit(NULL).cast(DataType::Int32))
                    .when(col(ACCESS))
                    .then(Outcome::Credits.lit())
                    .otherwise(Outcome::Unfunded.lit())
                    .alias(OUTCOME),
            )
            .filter(col(OUTCOME).is_not_null());
        let crossing = cycles
            .filter(col(COVERED).not().and(col(OPEN)))
            .select([col(SEAT_CODE), col(EVENTS)])
            .sort([SEAT_CODE], SortMultipleOptions::default());
        let [decided, crossing] = collect_all([decided, crossing])?;
        Ok((decided, crossing))
    }

    /// The events of `batch`'s seat cycles among `events`, the run's events of its keys read
    /// again (columns [`columns::EVENT`] and [`columns::REREAD`]).
    pub fn seated(&self, events: DataFrame, batch: &Crossed) -> Result<Seated, BillingError> {
        columns::expect(&events, "fund", &columns::EVENT)?;
        columns::expect(&events, "fund", &columns::REREAD)?;
        let seats = DataFrame::new_infer_height(vec![Column::new(SEAT_CODE.into(), &batch.seats)])?;
        let events = with_intervals(self.lookup, events)?
            .filter(col(OUTCOME).is_null())
            .join_on(self.intervals.clone(), IV_CODE, JoinType::Inner)
            .join_on(seats.lazy(), SEAT_CODE, JoinType::Inner)
            .collect()?;
        let tied = events
            .clone()
            .lazy()
            .filter(len().over([col(TS_US)])?.gt(lit(1)))
            .select([col(ROW_ID)])
            .collect()?;
        let tied = tied.column(ROW_ID)?.i64()?.iter().flatten().collect();
        Ok(Seated { events, tied })
    }

    /// Funds `seated` one by one in B12 order: an event is covered while the cycle's usage
    /// before it is below the quota (B9), else Credits if access is on, else unfunded (B10).
    /// `ids` are `row_id, event_id` of [`Seated::tied`] (none when none is tied).
    pub fn in_order(&mut self, seated: Seated, ids: Option<DataFrame>) -> Result<(), BillingError> {
        // Tied events get their id's rank, so the sort below stays on integers.
        let ranks = match ids {
            None => df!(ROW_ID => Vec::<i64>::new(), ID_RANK => Vec::<IdxSize>::new())?,
            Some(ids) => {
                columns::expect(&ids, "fund", &columns::EVENT_IDS)?;
                ids.lazy()
                    .sort([EVENT_ID], SortMultipleOptions::default())
                    .with_row_index(ID_RANK, Some(1))
                    .select([col(ROW_ID), col(ID_RANK)])
                    .collect()?
            }
        };
        let funded = seated
            .events
            .lazy()
            .join_on(ranks.lazy(), ROW_ID, JoinType::Left)
            .join_on(self.seats.clone(), SEAT_CODE, JoinType::Inner)
            .sort(
                [TS_US, ID_RANK, ROW_ID],
                SortMultipleOptions::default().with_nulls_last(false),
            )
            .with_column(
                (col(PRIOR) + tokens().cum_sum(false).over([col(SEAT_CODE)])? - tokens())
                    .alias(USAGE_BEFORE),
            )
            .with_column(
                when(col(USAGE_BEFORE).lt(col(QUOTA)))
                    .then(Outcome::Plan.lit())
                    .when(col(ACCESS))
                    .then(Outcome::Credits.lit())
                    .otherwise(Outcome::Unfunded.lit())
                    .alias(OUTCOME),
            )
            .group_by([col(IV_CODE), col(MODEL_CODE), col(USAGE_DAY), col(OUTCOME)])
            .agg(sums())
            .select(usage_columns());
        self.funded.push(funded);
        Ok(())
    }

    /// Every row of the run's usage funded.
    pub fn finish(self) -> PolarsResult<Funded> {
        Ok(Funded {
            usage: concat(self.funded, UnionArgs::default())?,
            quarantined: self.quarantined,
            intervals: self.intervals,
        })
    }
}

/// Seat cycles in batches of about `rows` events; a cycle is never split.
fn batches(crossing: &DataFrame, rows: usize) -> PolarsResult<Vec<Vec<i32>>> {
    let seats = crossing.column(SEAT_CODE)?.i32()?;
    let events = crossing.column(EVENTS)?.i64()?;
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
    fn crossed_cycles_are_batched_whole() {
        let crossing = df!(
            SEAT_CODE => [1i32, 2, 3, 4],
            EVENTS => [3i64, 3, 5, 1],
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
        use crate::billing::columns::{DUPLICATE, ID_HASH, INPUT_TOKENS, KEY_CODE, OUTPUT_TOKENS};
        use crate::billing::group::group;
        use crate::billing::intervals::{KeyInterval, KeyKind};
        use crate::billing::lookup::code;
        use crate::billing::reduce::Reducer;
        use crate::billing::replay::SeatUsage;
        use crate::prices::Prices;

        const SWITCH_US: i64 = 50;
        const DAY: i64 = 20_575;

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

        /// `(ts, key, tokens)` per event, as the store reads them again, with `event_id` from
        /// [`id`].
        fn frame(events: &[(i64, usize, i64)], lookup: &Lookup) -> DataFrame {
            let key_code = |key: usize| {
                let id = ["a", "b"][key];
                code(lookup.keys.iter().position(|k| k.id == id).unwrap())
            };
            let n = events.len();
            df!(
                ROW_ID => (0..n as i64).collect::<Vec<_>>(),
                EVENT_ID => (0..n).map(id).collect::<Vec<_>>(),
                TS_US => events.iter().map(|e| e.0).collect::<Vec<_>>(),
                KEY_CODE => events.iter().map(|e| key_code(e.1)).collect::<Vec<_>>(),
                MODEL_CODE => vec![0i32; n],
                INPUT_TOKENS => events.iter().map(|e| e.2).collect::<Vec<_>>(),
                OUTPUT_TOKENS => vec![0i64; n],
                USAGE_DAY => vec![DAY; n],
                ID_HASH => (0..n as u64).collect::<Vec<_>>(),
                DUPLICATE => vec![false; n],
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
                let entry = sums.entry(cell(OUTCOME) as i32).or_insert((0, 0));
                entry.0 += cell(EVENTS);
                entry.1 += cell(INPUT_TOKENS);
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
                let mut reducer = Reducer::new(&lookup, DAY, crate::store::DEFAULT_WINDOW_DAYS).unwrap();
                for start in (0..events.len()).step_by(chunk) {
                    reducer.add(all.slice(start as i64, chunk).drop_many([ROW_ID, EVENT_ID, DUPLICATE])).unwrap();
                }
                let (mut funding, crossed) =
                    Funding::on_sums(reducer.finish().unwrap(), &lookup, batch_rows).unwrap();
                let ids = all.select([ROW_ID, EVENT_ID]).unwrap();
                for batch in &crossed {
                    // The store reads the events of the batch's keys again: here, all of them.
                    let seated = funding.seated(all.drop(EVENT_ID).unwrap(), batch).unwrap();
                    let tied = match seated.tied() {
                        [] => None,
                        rows => {
                            let rows = DataFrame::new_infer_height(vec![Column::new(ROW_ID.into(), rows)]).unwrap();
                            Some(ids.clone().lazy().join_on(rows.lazy(), ROW_ID, JoinType::Inner).collect().unwrap())
                        }
                    };
                    funding.in_order(seated, tied).unwrap();
                }
                let grouped = group(funding.finish().unwrap(), DAY).unwrap();

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
                prop_assert_eq!(per_outcome(&grouped.lines), expected);
            }
        }
    }
}

//! The run's lookup tables. Events reach polars with integer codes for their key and model, and
//! are joined and grouped on integers; codes become names again only on aggregated rows.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;

use super::columns::{
    ACCESS, FUNDING, IV_CODE, KEY_CODE, PRIOR, QUOTA, SEAT_CODE, TIER_CODE, USER_CODE,
};
use super::intervals::{KeyInterval, KeyKind};
use super::replay::{Replay, SeatUsage};
use crate::calendar;
use crate::prices::Prices;

/// What funds a key's events during an interval; a code in polars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// No state for the key at that time: its events are quarantined as an unknown key.
    Unknown = 0,
    /// A deleted pay-as-you-go key: quarantined.
    Deleted = 1,
    /// A live pay-as-you-go key: the wallet.
    Payg = 2,
    /// A Token Plan Key: the holder's seat, then Credits if access is on, else unfunded.
    TokenPlan = 3,
}

/// A key the replay knows.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub team: String,
    /// The Team's billing zone, as µs east of UTC (B3).
    pub offset_us: i64,
}

/// One stretch of a key's funding; a key's intervals tile all of time.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Index into [`Lookup::keys`].
    pub key: u32,
    /// Index into [`Lookup::users`] of the holder or creator (none for [`Funding::Unknown`]).
    pub user: Option<u32>,
    /// Start, µs since the epoch; it lasts until the key's next interval starts.
    pub from_us: i64,
    /// What funds events in it.
    pub funding: Funding,
    /// Index into [`Lookup::seats`] of the holder's seat cycle.
    pub seat: Option<u32>,
    pub credits_access: bool,
}

/// One seat in one cycle, as the run codes it (B9, S4); its quota and earlier usage are in
/// the seats frame.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeatCycle {
    pub team: String,
    pub tier: String,
    /// The seat number.
    pub seat: i64,
    /// The cycle's first day.
    pub cycle_start: NaiveDate,
}

/// The run's codes for keys, intervals, seat cycles and models.
#[derive(Debug, Default)]
pub struct Lookup {
    /// Keys by code.
    pub keys: Vec<Key>,
    /// Intervals by code.
    pub intervals: Vec<Interval>,
    /// Seat cycles by code.
    pub seats: Vec<SeatCycle>,
    /// Each seat cycle's tier, as an index into [`Lookup::tiers`].
    pub seat_tiers: Vec<u32>,
    /// Each seat cycle's quota, in tokens.
    pub quotas: Vec<i64>,
    /// Each seat cycle's tokens on earlier billed days.
    pub prior: Vec<i64>,
    /// Model names by code.
    pub models: Vec<String>,
    /// Holders and creators of keys, by code.
    pub users: Vec<String>,
    /// Tiers with a seat in an interval, by code.
    pub tiers: Vec<String>,
    /// Per key code, where its intervals start in [`Lookup::intervals`] (they are contiguous,
    /// in time order); one more entry ends the last key's.
    first_interval: Vec<usize>,
    /// Each interval's start, for binary search in a compact array.
    starts: Vec<i64>,
    /// Every Team's zone offset, µs east of UTC.
    pub teams: Vec<(String, i64)>,
}

impl Lookup {
    /// Codes for every key interval of `replays`, the seats they use, and the priced models.
    /// A run with more of them than polars' `i32` codes can number is refused.
    pub fn new(
        replays: &BTreeMap<String, Replay>,
        prices: &Prices,
        prior: &[SeatUsage],
    ) -> Result<Self, LookupError> {
        // Each key interval adds at most a key, a user, a seat cycle and two intervals (itself
        // and the gap before it), and each key one gap after: every table's size is below this.
        let bound = replays
            .values()
            .map(|r| r.intervals.iter().count())
            .sum::<usize>()
            .saturating_mul(4)
            .saturating_add(prices.models.len() + 1);
        if i32::try_from(bound).is_err() {
            return Err(LookupError::TooManyCodes { bound });
        }
        let mut lookup = Lookup {
            models: prices.models.keys().cloned().collect(),
            ..Lookup::default()
        };
        let mut key_codes: BTreeMap<&str, u32> = BTreeMap::new();
        let mut by_key: Vec<Vec<&KeyInterval>> = Vec::new();
        for (team, replay) in replays {
            let offset_us = offset_us(replay);
            lookup.teams.push((team.clone(), offset_us));
            for interval in replay.intervals.iter() {
                let code = *key_codes.entry(&interval.key_id).or_insert_with(|| {
                    lookup.keys.push(Key {
                        id: interval.key_id.clone(),
                        team: team.clone(),
                        offset_us,
                    });
                    by_key.push(Vec::new());
                    unsigned(lookup.keys.len() - 1)
                });
                by_key[code as usize].push(interval);
            }
        }
        let mut seat_codes: BTreeMap<SeatCycle, u32> = BTreeMap::new();
        let mut users: BTreeMap<String, u32> = BTreeMap::new();
        for (code, intervals) in by_key.iter_mut().enumerate() {
            let key = unsigned(code);
            let team = lookup.keys[code].team.clone();
            intervals.sort_by_key(|i| i.from_us);
            lookup.first_interval.push(lookup.intervals.len());
            let mut covered = i64::MIN;
            for interval in intervals.iter() {
                lookup.push_gap(key, covered, interval.from_us);
                let (funding, seat, credits_access) = match &interval.kind {
                    KeyKind::TokenPlan {
                        seat,
                        credits_access,
                    } => {
                        let seat = seat.as_ref().map(|(tier, seat, start)| {
                            let cycle = SeatCycle {
                                team: team.clone(),
                                tier: tier.clone(),
                                seat: i64::from(*seat),
                                cycle_start: *start,
                            };
                            let next = unsigned(seat_codes.len());
                            *seat_codes.entry(cycle).or_insert(next)
                        });
                        (Funding::TokenPlan, seat, *credits_access)
                    }
                    KeyKind::Payg => (Funding::Payg, None, false),
                    KeyKind::Deleted => (Funding::Deleted, None, false),
                };
                let user = codes_of(&mut users, &mut lookup.users, &interval.user);
                lookup.intervals.push(Interval {
                    key,
                    user: Some(user),
                    from_us: interval.from_us,
                    funding,
                    seat,
                    credits_access,
                });
                covered = interval.to_us;
            }
            lookup.push_gap(key, covered, i64::MAX);
        }
        lookup.first_interval.push(lookup.intervals.len());
        lookup.starts = lookup.intervals.iter().map(|i| i.from_us).collect();
        let mut seats: Vec<(u32, SeatCycle)> =
            seat_codes.into_iter().map(|(s, code)| (code, s)).collect();
        seats.sort_by_key(|(code, _)| *code);
        lookup.seats = seats.into_iter().map(|(_, seat)| seat).collect();
        let mut tiers: BTreeMap<String, u32> = BTreeMap::new();
        lookup.seat_tiers = lookup
            .seats
            .iter()
            .map(|s| codes_of(&mut tiers, &mut lookup.tiers, &s.tier))
            .collect();
        lookup.quotas = lookup
            .seats
            .iter()
            .map(|s| {
                prices
                    .tiers
                    .get(&s.tier)
                    .map(|t| t.quota_tokens)
                    .ok_or_else(|| LookupError::Unpriced {
                        team: s.team.clone(),
                        tier: s.tier.clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let earlier: BTreeMap<SeatCycle, i64> = prior
            .iter()
            .map(|p| {
                let cycle = SeatCycle {
                    team: p.team.clone(),
                    tier: p.tier.clone(),
                    seat: p.seat,
                    cycle_start: p.cycle_start,
                };
                (cycle, p.tokens)
            })
            .collect();
        lookup.prior = lookup
            .seats
            .iter()
            .map(|s| earlier.get(s).copied().unwrap_or(0))
            .collect();
        Ok(lookup)
    }

    fn push_gap(&mut self, key: u32, from_us: i64, to_us: i64) {
        if from_us < to_us {
            self.intervals.push(Interval {
                key,
                user: None,
                from_us,
                funding: Funding::Unknown,
                seat: None,
                credits_access: false,
            });
        }
    }

    /// The code of `key`'s interval that holds the instant `ts_us`, by binary search.
    pub fn interval_of(&self, key: i32, ts_us: i64) -> Option<i32> {
        let key = usize::try_from(key).ok()?;
        let (first, end) = (
            *self.first_interval.get(key)?,
            *self.first_interval.get(key + 1)?,
        );
        let starts = self.starts.get(first..end)?;
        let at = starts.partition_point(|&from_us| from_us <= ts_us);
        at.checked_sub(1).map(|i| code(first + i))
    }

    /// `iv_code, funding, seat_code, access, key_code, user_code, tier_code`: how an
    /// interval's events are funded, and what names its lines.
    pub fn funding_frame(&self) -> PolarsResult<DataFrame> {
        let ivs = &self.intervals;
        let index = |i: Option<u32>| i.map(|i| code(i as usize));
        df!(
            IV_CODE => codes(ivs.len()),
            FUNDING => ivs.iter().map(|i| i.funding as i32).collect::<Vec<_>>(),
            SEAT_CODE => ivs.iter().map(|i| index(i.seat)).collect::<Vec<_>>(),
            ACCESS => ivs.iter().map(|i| i.credits_access).collect::<Vec<_>>(),
            KEY_CODE => ivs.iter().map(|i| code(i.key as usize)).collect::<Vec<_>>(),
            USER_CODE => ivs.iter().map(|i| index(i.user)).collect::<Vec<_>>(),
            TIER_CODE => ivs
                .iter()
                .map(|i| index(i.seat.and_then(|s| self.seat_tiers.get(s as usize).copied())))
                .collect::<Vec<_>>(),
        )
    }

    /// `seat_code, quota, prior`: each seat cycle's quota and earlier usage.
    pub fn seats_frame(&self) -> PolarsResult<DataFrame> {
        df!(
            SEAT_CODE => codes(self.seats.len()),
            QUOTA => self.quotas.clone(),
            PRIOR => self.prior.clone(),
        )
    }

    /// The keys with an interval on one of `seats` (seat cycle codes).
    pub fn keys_of_seats(&self, seats: &[i32]) -> Vec<u32> {
        let seats: std::collections::BTreeSet<i32> = seats.iter().copied().collect();
        let keys: std::collections::BTreeSet<u32> = self
            .intervals
            .iter()
            .filter(|i| i.seat.is_some_and(|s| seats.contains(&code(s as usize))))
            .map(|i| i.key)
            .collect();
        keys.into_iter().collect()
    }
}

/// The code of `name`, given it one in `names` if it has none.
fn codes_of(known: &mut BTreeMap<String, u32>, names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(&code) = known.get(name) {
        return code;
    }
    names.push(name.to_owned());
    let code = unsigned(names.len() - 1);
    known.insert(name.to_owned(), code);
    code
}

/// A day whose lookup tables can't be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// More keys, intervals, seats, users or models than polars' `i32` codes can number.
    #[error("the run needs up to {bound} integer codes, more than polars' `i32` codes can number")]
    TooManyCodes {
        /// The bound on the codes the run would need.
        bound: usize,
    },
    /// A seat of a tier the price list does not price: its quota is unknown.
    #[error("Team `{team}` has a seat of tier `{tier}`, which the price list does not price")]
    Unpriced { team: String, tier: String },
}

/// An index as a polars code.
#[expect(
    clippy::expect_used,
    reason = "Lookup::new refuses a run whose tables could outgrow `i32`; every index is below"
)]
pub fn code(index: usize) -> i32 {
    i32::try_from(index).expect("Lookup::new bounds every table by i32::MAX")
}

/// An index as a code in the lookup's own tables.
#[expect(
    clippy::expect_used,
    reason = "Lookup::new refuses a run whose tables could outgrow `i32`; every index is below"
)]
fn unsigned(index: usize) -> u32 {
    u32::try_from(index).expect("Lookup::new bounds every table by i32::MAX")
}

fn codes(n: usize) -> Vec<i32> {
    (0..n).map(code).collect()
}

/// The Team's billing zone as µs east of UTC (B3).
fn offset_us(replay: &Replay) -> i64 {
    i64::from(calendar::zone(replay.state.region).local_minus_utc()) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_intervals_tile_all_of_time() {
        let interval = |from_us, to_us, kind| KeyInterval {
            key_id: "k".into(),
            user: "u".into(),
            from_us,
            to_us,
            kind,
        };
        let replay = crate::billing::replay::with_intervals(vec![
            interval(30, 40, KeyKind::Deleted),
            interval(10, 20, KeyKind::Payg),
        ]);
        let replays = BTreeMap::from([("t".to_owned(), replay)]);
        let lookup = Lookup::new(&replays, &Prices::bundled().unwrap(), &[]).unwrap();
        let tiles: Vec<(i64, Funding)> = lookup
            .intervals
            .iter()
            .map(|i| (i.from_us, i.funding))
            .collect();
        assert_eq!(
            tiles,
            vec![
                (i64::MIN, Funding::Unknown),
                (10, Funding::Payg),
                (20, Funding::Unknown),
                (30, Funding::Deleted),
                (40, Funding::Unknown),
            ]
        );
        let of = |ts| lookup.interval_of(0, ts);
        assert_eq!(
            [of(i64::MIN), of(9), of(10), of(19), of(20), of(39), of(40)],
            [
                Some(0),
                Some(0),
                Some(1),
                Some(1),
                Some(2),
                Some(3),
                Some(4)
            ]
        );
        assert_eq!(lookup.interval_of(1, 10), None, "no such key");
    }
}

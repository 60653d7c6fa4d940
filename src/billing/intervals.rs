//! What each key of a Team could spend, over time: its funding at each change of the Team's
//! state, kept as intervals as the history is replayed. Intervals that ended before the window
//! are dropped (B21): an event that old is too late whatever its key did then.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::teams::TeamState;

/// What a key could spend during `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInterval {
    pub key_id: String,
    /// The holder (Token Plan Key) or creator (pay-as-you-go key).
    pub user: String,
    /// Start, µs since the epoch.
    pub from_us: i64,
    /// End (exclusive), µs since the epoch; `i64::MAX` while open.
    pub to_us: i64,
    pub kind: KeyKind,
}

/// How a key's events are funded during an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// A Token Plan Key: its holder's seat, if any, then Credits if access is on.
    TokenPlan {
        /// `(tier, seat, cycle start)` of the holder's seat.
        seat: Option<(String, u32, NaiveDate)>,
        credits_access: bool,
    },
    /// A live pay-as-you-go key: the wallet.
    Payg,
    /// A deleted pay-as-you-go key: its events are quarantined.
    Deleted,
}

/// A Team's key intervals so far: those still open, and those closed since the window began.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyIntervals {
    /// In the order they closed.
    closed: Vec<KeyInterval>,
    /// By key id.
    open: BTreeMap<String, KeyInterval>,
}

impl KeyIntervals {
    /// Intervals as [`KeyIntervals::iter`] lists them.
    #[cfg(test)]
    pub fn from_all(intervals: Vec<KeyInterval>) -> Self {
        let (open, closed): (Vec<_>, Vec<_>) =
            intervals.into_iter().partition(|i| i.to_us == i64::MAX);
        KeyIntervals {
            closed,
            open: open.into_iter().map(|i| (i.key_id.clone(), i)).collect(),
        }
    }

    /// Takes `state`'s funding of each key from the instant `at` on: a key whose holder or
    /// funding changed closes its interval and opens another.
    pub fn observe(&mut self, state: &TeamState, at: DateTime<Utc>) {
        let at = at.timestamp_micros();
        let status = key_status(state);
        let changed: Vec<String> = self
            .open
            .iter()
            .filter(|(key, open)| {
                status
                    .get(key.as_str())
                    .is_none_or(|(user, kind)| &open.user != user || &open.kind != kind)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in changed {
            if let Some(mut interval) = self.open.remove(&key) {
                interval.to_us = at;
                if interval.to_us > interval.from_us {
                    self.closed.push(interval);
                }
            }
        }
        for (key, (user, kind)) in status {
            self.open.entry(key.clone()).or_insert(KeyInterval {
                key_id: key,
                user,
                from_us: at,
                to_us: i64::MAX,
                kind,
            });
        }
    }

    /// Drops the intervals that closed before the window of the run for `day` began, with a
    /// day to spare for the billing zones: no event they could fund is billed any more (B21).
    pub fn trim(&mut self, day: NaiveDate, window_days: u32) {
        let Some(first) = day.checked_sub_days(Days::new(u64::from(window_days) + 2)) else {
            return;
        };
        let cutoff = calendar::day_start(first, gatekeeper::Region::Overseas).timestamp_micros();
        self.closed.retain(|interval| interval.to_us > cutoff);
    }

    /// Every interval: the closed ones in the order they closed, then the open ones by key.
    pub fn iter(&self) -> impl Iterator<Item = &KeyInterval> {
        self.closed.iter().chain(self.open.values())
    }
}

/// Per key: its holder or creator and its funding at one instant.
fn key_status(state: &TeamState) -> BTreeMap<String, (String, KeyKind)> {
    let day = calendar::billing_day(state.at, state.region);
    let mut status = BTreeMap::new();
    for (user, member) in &state.members {
        let seat = state.seat_of(user).and_then(|(tier, seat)| {
            state
                .subscriptions
                .get(tier)
                .map(|sub| (tier.to_owned(), seat, sub.cycle(day).start))
        });
        status.insert(
            gatekeeper::TokenPlanKeyId::new(&state.id, user).to_string(),
            (
                user.clone(),
                KeyKind::TokenPlan {
                    seat,
                    credits_access: member.credits_access,
                },
            ),
        );
    }
    for (key, payg) in &state.payg_keys {
        let kind = if payg.deleted_at.is_some() {
            KeyKind::Deleted
        } else {
            KeyKind::Payg
        };
        status.insert(key.clone(), (payg.creator.clone(), kind));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatekeeper::Region;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an instant")
    }

    fn team(on: &str) -> TeamState {
        TeamState::new("t", Region::Overseas, false, "own", at(on))
    }

    /// The owner's key from the Team's creation, `created`, and again from `off`, when their
    /// Credits access is turned off.
    fn access_turned_off(created: &str, off: &str) -> KeyIntervals {
        let mut intervals = KeyIntervals::default();
        let mut state = team(created);
        intervals.observe(&state, state.at);
        let owner = state.members.get_mut("own").expect("the owner");
        owner.credits_access = false;
        intervals.observe(&state, at(off));
        intervals
    }

    fn all(intervals: &KeyIntervals) -> Vec<KeyInterval> {
        intervals.iter().cloned().collect()
    }

    #[test]
    fn a_change_closes_the_keys_it_changes_and_leaves_the_others_open() {
        let intervals = access_turned_off("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
        let all = all(&intervals);
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].from_us, all[0].to_us),
            (
                at("2026-11-01T00:00:00Z").timestamp_micros(),
                at("2026-11-02T00:00:00Z").timestamp_micros()
            )
        );
        assert_eq!(all[1].to_us, i64::MAX);
        assert_eq!(KeyIntervals::from_all(all.clone()), intervals);
    }

    #[test]
    fn b21_intervals_closed_before_the_window_are_dropped_and_open_ones_kept() {
        let mut intervals = access_turned_off("2026-10-01T00:00:00Z", "2026-10-10T00:00:00Z");
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 10, d).expect("a day");
        // The run of Oct 12 with W = 1 starts its window on Oct 11, and keeps the intervals
        // that end after Oct 9 (two days to spare); the run of Oct 13 those after Oct 10.
        intervals.trim(day(12), 1);
        assert_eq!(all(&intervals).len(), 2);
        intervals.trim(day(13), 1);
        assert_eq!(all(&intervals).len(), 1);
        assert_eq!(all(&intervals)[0].to_us, i64::MAX);
    }
}

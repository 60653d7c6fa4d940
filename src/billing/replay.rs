//! Replays each Team's history to the end of each billing day, one day after another: the state
//! of every key over time (for funding events, B9, B10, S4) and the subscription charges of the
//! day (B5, B6, B8). The histories are handed in; nothing here reads the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::error::BillingError;
use super::statement::StatementLine;
use crate::calendar;
use crate::ids::TeamId;
use crate::money::{self, Amount};
use crate::prices::{Currency, Prices};
pub use crate::store::SeatUsage;
use crate::store::TeamRow;
use crate::teams::{Operation, Overflow, Record, TeamState, split_addition};

/// A day of a Team's history that can't be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A top-up overflows a balance (a store edited by hand).
    #[error(transparent)]
    Overflow(#[from] Overflow),
    /// A subscription charge too large for an amount.
    #[error("a subscription charge is too large to compute")]
    Charge(#[from] money::Overflow),
    /// A charge for a tier the price list does not price.
    #[error("tier `{tier}` has no price")]
    Unpriced { tier: String },
}

/// What a key could spend during `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInterval {
    pub key_id: String,
    /// The holder (Token Plan Key) or creator (pay-as-you-go key).
    pub user: String,
    /// Start, µs since the epoch.
    pub from_us: i64,
    /// End (exclusive), µs since the epoch.
    pub to_us: i64,
    pub kind: KeyKind,
}

/// How a key's events are funded during an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// One Team replayed to the end of the day.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The Team.
    pub team: TeamId,
    /// The state at the end of the day.
    pub state: TeamState,
    /// Every key's funding over time.
    pub intervals: Vec<KeyInterval>,
    /// The day's subscription charges: `Subscription` and `Proration` lines.
    pub charges: Vec<StatementLine>,
    /// Whether a top-up happened on the day.
    pub topped_up_today: bool,
}

/// A replay of overseas Team `t` with only `intervals`, for tests of what follows the replay.
#[cfg(test)]
pub(crate) fn with_intervals(intervals: Vec<KeyInterval>) -> Replay {
    Replay {
        team: "t".parse().expect("a Team id"),
        state: TeamState::new(
            "t",
            gatekeeper::Region::Overseas,
            false,
            "t",
            DateTime::default(),
        ),
        intervals,
        charges: Vec::new(),
        topped_up_today: false,
    }
}

/// Every Team's history through the last day of a run, replayed day after day: each history
/// is read and folded once, however many days the run bills.
#[derive(Debug)]
pub struct Histories {
    replayers: Vec<Replayer>,
}

impl Histories {
    /// `teams`, each with its records in time order. Every Team id becomes a [`TeamId`]
    /// (rule T7): it names the Team's statement file.
    pub fn new(teams: Vec<(TeamRow, Vec<Record>)>) -> Result<Self, BillingError> {
        let replayers = teams
            .into_iter()
            .map(|(row, records)| {
                let id = TeamId::try_from(row.id.clone()).map_err(BillingError::TeamId)?;
                Ok(Replayer::new(id, row, records))
            })
            .collect::<Result<_, BillingError>>()?;
        Ok(Histories { replayers })
    }

    /// Every Team replayed to the end of `day`, by Team id, on every core; days come in
    /// increasing order. A Team subscribing to a tier the price list does not price is an
    /// error: it would bill nothing.
    pub fn day(
        &mut self,
        day: NaiveDate,
        prices: &Prices,
    ) -> Result<BTreeMap<String, Replay>, BillingError> {
        let replays: BTreeMap<String, Replay> = self
            .replayers
            .par_iter_mut()
            .map(|replayer| {
                let team = replayer.team().id.clone();
                match replayer.day(day, prices) {
                    Ok(replay) => Ok((team, replay)),
                    Err(ReplayError::Overflow(source)) => {
                        Err(BillingError::History { team, source })
                    }
                    Err(ReplayError::Unpriced { tier }) => {
                        Err(BillingError::Unpriced { team, tier })
                    }
                    Err(ReplayError::Charge(source)) => Err(BillingError::Money { team, source }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .collect();
        // The replay refused a charge for an unpriced tier; a subscription without a charge
        // today must be priced all the same.
        for (team, replay) in &replays {
            if let Some(tier) = replay
                .state
                .subscriptions
                .keys()
                .find(|tier| !prices.tiers.contains_key(*tier))
            {
                return Err(BillingError::Unpriced {
                    team: team.clone(),
                    tier: tier.clone(),
                });
            }
        }
        Ok(replays)
    }
}

/// One Team's history replayed day after day: each day goes on from where the previous one
/// ended, so billing a run of days folds each history once.
#[derive(Debug)]
pub struct Replayer {
    id: TeamId,
    team: TeamRow,
    /// The Team's records, in time order.
    records: Vec<Record>,
    /// The first record not applied yet.
    next: usize,
    state: TeamState,
    snapshots: Vec<(DateTime<Utc>, Status)>,
}

impl Replayer {
    /// `team`, whose id is `id`, at its creation, with its `records` in time order.
    pub fn new(id: TeamId, team: TeamRow, records: Vec<Record>) -> Self {
        let state = TeamState::new(
            &team.id,
            team.region,
            team.is_default,
            &team.owner,
            team.created_at,
        );
        let snapshots = vec![(team.created_at, key_status(&state))];
        Replayer {
            id,
            team,
            records,
            next: 0,
            state,
            snapshots,
        }
    }

    pub fn team(&self) -> &TeamRow {
        &self.team
    }

    /// Replays to the end of `day` in the Team's billing zone; days come in increasing order.
    pub fn day(&mut self, day: NaiveDate, prices: &Prices) -> Result<Replay, ReplayError> {
        let region = self.team.region;
        let currency = Currency::of(region);
        let seat_price = |tier: &str| -> Result<Decimal, ReplayError> {
            prices
                .tiers
                .get(tier)
                .map(|t| t.seat_price.get(currency))
                .ok_or_else(|| ReplayError::Unpriced {
                    tier: tier.to_owned(),
                })
        };
        let end = calendar::day_end(day, region);
        let (state, snapshots) = (&mut self.state, &mut self.snapshots);
        let mut additions: BTreeMap<String, u32> = BTreeMap::new();
        let mut charges = Vec::new();
        let mut topped_up_today = false;
        while let Some(record) = self.records.get(self.next).filter(|r| r.at < end) {
            advance(state, record.at, snapshots);
            let today = calendar::billing_day(record.at, region) == day;
            match &record.operation {
                Operation::BuySubscription { tier, seats, .. } if today => {
                    let cycle = calendar::cycle_of(calendar::billing_day(record.at, region), day);
                    charges.push(StatementLine::Subscription {
                        tier: tier.clone(),
                        seats: seats.get(),
                        period_start: cycle.start,
                        period_end: cycle.end,
                        amount: Amount::round(money::mul(
                            Decimal::from(seats.get()),
                            seat_price(tier)?,
                        )?),
                    });
                }
                Operation::AddSeats { tier, seats, .. } if today => {
                    let pending = state
                        .subscriptions
                        .get(tier)
                        .map_or(0, |s| s.pending_removal);
                    let (_, new) = split_addition(pending, seats.get());
                    *additions.entry(tier.clone()).or_default() += new;
                }
                Operation::TopUpCredits { .. } | Operation::TopUpWallet { .. } if today => {
                    topped_up_today = true;
                }
                _ => {}
            }
            state.apply(&record.actor, &record.operation, record.at)?;
            snapshots.push((record.at, key_status(state)));
            self.next += 1;
        }
        advance(state, end, snapshots);
        // Advanced to the end of `day`, and days come in order: every renewal up to `day` has
        // been applied, and only today's are billed.
        for renewal in state
            .take_renewals_through(day)
            .into_iter()
            .filter(|r| r.day == day && r.seats > 0)
        {
            charges.insert(
                0,
                StatementLine::Subscription {
                    tier: renewal.tier.clone(),
                    seats: renewal.seats,
                    period_start: renewal.cycle.start,
                    period_end: renewal.cycle.end,
                    amount: Amount::round(money::mul(
                        Decimal::from(renewal.seats),
                        seat_price(&renewal.tier)?,
                    )?),
                },
            );
        }
        for (tier, seats) in additions.into_iter().filter(|(_, seats)| *seats > 0) {
            let Some(sub) = state.subscriptions.get(&tier) else {
                continue;
            };
            let cycle = sub.cycle(day);
            let (days, cycle_days) = (cycle.days_left(day), cycle.days());
            let per_cycle = money::mul(Decimal::from(seats), seat_price(&tier)?)?;
            // A cycle is 28 to 31 days (B4); a zero divisor would be an error, not a default.
            let amount = money::div(
                money::mul(per_cycle, Decimal::from(days))?,
                Decimal::from(cycle_days),
            )?;
            charges.push(StatementLine::Proration {
                tier,
                seats,
                days,
                cycle_days,
                amount: Amount::round(amount),
            });
        }
        Ok(Replay {
            team: self.id.clone(),
            intervals: intervals(snapshots),
            state: state.clone(),
            charges,
            topped_up_today,
        })
    }
}

/// Applies renewals up to `until`, taking a snapshot at each.
fn advance(
    state: &mut TeamState,
    until: DateTime<Utc>,
    snapshots: &mut Vec<(DateTime<Utc>, Status)>,
) {
    while let Some(next) = state.next_renewal().filter(|next| *next <= until) {
        state.advance_to(next);
        snapshots.push((next, key_status(state)));
    }
}

/// Per key: its funding kind at one instant.
type Status = BTreeMap<String, (String, KeyKind)>;

fn key_status(state: &TeamState) -> Status {
    let day = calendar::billing_day(state.at, state.region);
    let mut status = Status::new();
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

/// Turns snapshots into non-overlapping intervals per key.
fn intervals(snapshots: &[(DateTime<Utc>, Status)]) -> Vec<KeyInterval> {
    let mut open: BTreeMap<&str, KeyInterval> = BTreeMap::new();
    let mut closed = Vec::new();
    for (at, status) in snapshots {
        let at_us = at.timestamp_micros();
        let keys: Vec<&str> = open.keys().copied().collect();
        for key in keys {
            let unchanged = status.get(key).is_some_and(|(user, kind)| {
                open.get(key)
                    .is_some_and(|iv| &iv.user == user && &iv.kind == kind)
            });
            if !unchanged && let Some(mut interval) = open.remove(key) {
                interval.to_us = at_us;
                if interval.to_us > interval.from_us {
                    closed.push(interval);
                }
            }
        }
        for (key, (user, kind)) in status {
            open.entry(key.as_str()).or_insert_with(|| KeyInterval {
                key_id: key.clone(),
                user: user.clone(),
                from_us: at_us,
                to_us: i64::MAX,
                kind: kind.clone(),
            });
        }
    }
    closed.extend(open.into_values());
    closed
}

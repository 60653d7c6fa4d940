//! Replays each Team's history to the end of each billing day, one day after another: the state
//! of every key over time (for funding events, B9, B10, S4) and the subscription charges of the
//! day (B5, B6, B8). The histories are handed in; nothing here reads the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rayon::prelude::*;
use rust_decimal::Decimal;

use super::error::BillingError;
use super::intervals::KeyIntervals;
use super::statement::StatementLine;
use crate::balance::Balance;
use crate::calendar::{self, Cycle};
use crate::ids::TeamId;
use crate::money::{self, Amount};
use crate::prices::{Currency, Prices};
pub use crate::store::SeatUsage;
use crate::store::TeamRow;
use crate::teams::{Operation, Overflow, Record, TeamState};

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

/// One Team replayed to the end of the day.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The Team.
    pub team: TeamId,
    /// The state at the end of the day.
    pub state: TeamState,
    /// Every key's funding over time, since the window began.
    pub intervals: KeyIntervals,
    /// The day's subscription charges: `Subscription` and `Proration` lines.
    pub charges: Vec<StatementLine>,
    /// The day's top-ups, in time order (B25).
    pub top_ups: Vec<TopUpMade>,
}

/// A top-up made on the day being replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpMade {
    pub balance: Balance,
    pub at: DateTime<Utc>,
    /// Exact, as topped up (up to six decimals).
    pub amount: Decimal,
}

/// The line of a purchase or renewal of `seats` of `tier` at `seat_price`: the whole `cycle`
/// (B5).
pub fn subscription_line(
    tier: &str,
    seats: u32,
    cycle: Cycle,
    seat_price: Decimal,
) -> Result<StatementLine, money::Overflow> {
    Ok(StatementLine::Subscription {
        tier: tier.to_owned(),
        seats,
        period_start: cycle.start,
        period_end: cycle.end,
        amount: Amount::round(money::mul(Decimal::from(seats), seat_price)?),
    })
}

/// The line of `seats` of `tier` added on `day` at `seat_price`: seats × price × days left in
/// `cycle` ÷ days in it (B6).
pub fn proration_line(
    tier: &str,
    seats: u32,
    day: NaiveDate,
    cycle: Cycle,
    seat_price: Decimal,
) -> Result<StatementLine, money::Overflow> {
    let (days, cycle_days) = (cycle.days_left(day), cycle.days());
    let per_cycle = money::mul(Decimal::from(seats), seat_price)?;
    // A cycle is 28 to 31 days (B4); a zero divisor would be an error, not a default.
    let amount = money::div(
        money::mul(per_cycle, Decimal::from(days))?,
        Decimal::from(cycle_days),
    )?;
    Ok(StatementLine::Proration {
        tier: tier.to_owned(),
        seats,
        period_start: Some(day),
        period_end: Some(cycle.end),
        days,
        cycle_days,
        amount: Amount::round(amount),
    })
}

/// A replay of overseas Team `t` with only `intervals`, for tests of what follows the replay.
#[cfg(test)]
pub(crate) fn with_intervals(intervals: Vec<super::intervals::KeyInterval>) -> Replay {
    Replay {
        team: "t".parse().expect("a Team id"),
        state: TeamState::new(
            "t",
            gatekeeper::Region::Overseas,
            false,
            "t",
            DateTime::default(),
        ),
        intervals: KeyIntervals::from_all(intervals),
        charges: Vec::new(),
        top_ups: Vec::new(),
    }
}

/// A Team's history to replay: where it starts, and its records after that, in time order.
#[derive(Debug)]
pub struct History {
    pub team: TeamRow,
    /// The state a night carried forward; `None`: the Team's creation.
    pub start: Option<Start>,
    pub records: Vec<Record>,
}

/// A Team's state and key intervals at the end of a billed day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Start {
    pub state: TeamState,
    pub intervals: KeyIntervals,
}

/// Every Team's history through the last day of a run, replayed day after day: each history
/// is read and folded once, however many days the run bills.
#[derive(Debug)]
pub struct Histories {
    replayers: Vec<Replayer>,
}

impl Histories {
    /// Every Team's `histories`, with a window of `window_days` (B21). Every Team id becomes a
    /// [`TeamId`] (rule T7): it names the Team's statement file.
    pub fn new(histories: Vec<History>, window_days: u32) -> Result<Self, BillingError> {
        let replayers = histories
            .into_iter()
            .map(|history| {
                let id = TeamId::try_from(history.team.id.clone()).map_err(BillingError::TeamId)?;
                Ok(Replayer::new(id, history, window_days))
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
    /// The Team's records not folded into its start, in time order.
    records: Vec<Record>,
    /// The first record not applied yet.
    next: usize,
    state: TeamState,
    intervals: KeyIntervals,
    /// W (B21): intervals that ended before the window are dropped.
    window_days: u32,
}

impl Replayer {
    /// `history`'s Team, whose id is `id`, from its start, with a window of `window_days`.
    pub fn new(id: TeamId, history: History, window_days: u32) -> Self {
        let History {
            team,
            start,
            records,
        } = history;
        let (state, intervals) = match start {
            Some(Start { state, intervals }) => (state, intervals),
            None => {
                let state = TeamState::new(
                    &team.id,
                    team.region,
                    team.is_default,
                    &team.owner,
                    team.created_at,
                );
                let mut intervals = KeyIntervals::default();
                intervals.observe(&state, team.created_at);
                (state, intervals)
            }
        };
        Replayer {
            id,
            team,
            records,
            next: 0,
            state,
            intervals,
            window_days,
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
        let (state, intervals) = (&mut self.state, &mut self.intervals);
        let mut additions: BTreeMap<String, u32> = BTreeMap::new();
        let mut charges = Vec::new();
        let mut top_ups = Vec::new();
        while let Some(record) = self.records.get(self.next).filter(|r| r.at < end) {
            advance(state, record.at, intervals);
            let today = calendar::billing_day(record.at, region) == day;
            match &record.operation {
                Operation::BuySubscription { tier, seats, .. } if today => {
                    let cycle = calendar::cycle_of(day, day);
                    charges.push(subscription_line(
                        tier,
                        seats.get(),
                        cycle,
                        seat_price(tier)?,
                    )?);
                }
                Operation::AddSeats { tier, seats, .. } if today => {
                    *additions.entry(tier.clone()).or_default() +=
                        state.new_seats(tier, seats.get());
                }
                Operation::TopUpCredits { amount, .. } if today => top_ups.push(TopUpMade {
                    balance: Balance::Credits,
                    at: record.at,
                    amount: amount.get(),
                }),
                Operation::TopUpWallet { amount, .. } if today => top_ups.push(TopUpMade {
                    balance: Balance::Wallet,
                    at: record.at,
                    amount: amount.get(),
                }),
                _ => {}
            }
            state.apply(&record.actor, &record.operation, record.at)?;
            intervals.observe(state, record.at);
            self.next += 1;
        }
        advance(state, end, intervals);
        // Advanced to the end of `day`, and days come in order: every renewal up to `day` has
        // been applied, and only today's are billed.
        for renewal in state
            .take_renewals_through(day)
            .into_iter()
            .filter(|r| r.day == day && r.seats > 0)
        {
            let price = seat_price(&renewal.tier)?;
            let line = subscription_line(&renewal.tier, renewal.seats, renewal.cycle, price)?;
            charges.insert(0, line);
        }
        for (tier, seats) in additions.into_iter().filter(|(_, seats)| *seats > 0) {
            let Some(sub) = state.subscriptions.get(&tier) else {
                continue;
            };
            let price = seat_price(&tier)?;
            charges.push(proration_line(&tier, seats, day, sub.cycle(day), price)?);
        }
        intervals.trim(day, self.window_days);
        Ok(Replay {
            team: self.id.clone(),
            intervals: intervals.clone(),
            state: state.clone(),
            charges,
            top_ups,
        })
    }
}

/// Applies renewals up to `until`, observing the keys' funding at each.
fn advance(state: &mut TeamState, until: DateTime<Utc>, intervals: &mut KeyIntervals) {
    while let Some(next) = state.next_renewal().filter(|next| *next <= until) {
        state.advance_to(next);
        intervals.observe(state, next);
    }
}

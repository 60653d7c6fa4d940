//! A Team's state at an instant: a fold over its records, renewals applied as time passes
//! (B4, B8). Pure: no store access.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use gatekeeper::{Region, Role};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::operation::Operation;
use crate::balance::Balance;
use crate::calendar::{self, Cycle};
use crate::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub role: Role,
    /// Whether their Credits access is on (C4: on unless turned off).
    pub credits_access: bool,
}

/// A seat's current holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    /// When the seat was assigned to them.
    pub since: DateTime<Utc>,
}

/// One tier's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The purchase's billing day; renewals follow from it (B4).
    pub anchor: NaiveDate,
    /// The seats, by stable seat number (S4: usage belongs to the seat).
    pub seats: BTreeSet<u32>,
    /// The next seat number to issue.
    pub next_seat: u32,
    /// Seats removed at the next renewal (O3).
    pub pending_removal: u32,
    /// Renewal canceled: the tier ends at the next renewal (D4).
    pub renewal_canceled: bool,
    /// Who holds which seat.
    pub holders: BTreeMap<u32, Holder>,
}

impl Subscription {
    /// Seats now, pending removals included.
    pub fn seat_count(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
    }

    /// Seats that will renew.
    pub fn renewing_seats(&self) -> u32 {
        if self.renewal_canceled {
            0
        } else {
            self.seat_count().saturating_sub(self.pending_removal)
        }
    }

    /// Seats no one holds.
    pub fn free_seats(&self) -> u32 {
        self.seat_count()
            .saturating_sub(u32::try_from(self.holders.len()).unwrap_or(u32::MAX))
    }

    /// The cycle containing `day`.
    pub fn cycle(&self, day: NaiveDate) -> Cycle {
        calendar::cycle_of(self.anchor, day)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaygKey {
    pub creator: String,
    /// When it was deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What happened at a renewal, for billing (B5, B8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    pub day: NaiveDate,
    pub tier: String,
    /// Seats that renewed (0 when the tier ended).
    pub seats: u32,
    /// The cycle that starts.
    pub cycle: Cycle,
}

/// A Team's state at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamState {
    pub id: String,
    pub region: Region,
    pub is_default: bool,
    /// Members by user id.
    pub members: BTreeMap<String, Member>,
    /// Subscriptions by tier.
    pub subscriptions: BTreeMap<String, Subscription>,
    /// Pay-as-you-go keys by id, deleted ones included.
    pub payg_keys: BTreeMap<String, PaygKey>,
    /// Credits topped up so far.
    pub credits_topped_up: Decimal,
    /// Wallet topped up so far.
    pub wallet_topped_up: Decimal,
    /// The instant this state is at.
    pub at: DateTime<Utc>,
    /// Renewals applied while advancing and not yet taken ([`TeamState::take_renewals_through`]),
    /// oldest first: billing takes them every day, so they do not pile up over a Team's life.
    pub renewals: Vec<Renewal>,
}

impl TeamState {
    /// Of `seats` added to `tier` now, those that are new: the others undo pending removals
    /// (O4).
    pub fn new_seats(&self, tier: &str, seats: u32) -> u32 {
        let pending = self
            .subscriptions
            .get(tier)
            .map_or(0, |s| s.pending_removal);
        split_addition(pending, seats).1
    }

    /// A new Team with its Owner.
    pub fn new(id: &str, region: Region, is_default: bool, owner: &str, at: DateTime<Utc>) -> Self {
        TeamState {
            id: id.to_owned(),
            region,
            is_default,
            members: BTreeMap::from([(
                owner.to_owned(),
                Member {
                    role: Role::Owner,
                    credits_access: true,
                },
            )]),
            subscriptions: BTreeMap::new(),
            payg_keys: BTreeMap::new(),
            credits_topped_up: Decimal::ZERO,
            wallet_topped_up: Decimal::ZERO,
            at,
            renewals: Vec::new(),
        }
    }

    /// Seats of every tier, pending removals included (T6).
    pub fn seat_count(&self) -> u32 {
        self.subscriptions
            .values()
            .map(Subscription::seat_count)
            .sum()
    }

    /// The tier and seat number a member holds, if any.
    pub fn seat_of(&self, user: &str) -> Option<(&str, u32)> {
        self.subscriptions.iter().find_map(|(tier, sub)| {
            sub.holders
                .iter()
                .find(|(_, h)| h.user == user)
                .map(|(seat, _)| (tier.as_str(), *seat))
        })
    }

    /// The member's live pay-as-you-go keys.
    pub fn live_keys_of(&self, user: &str) -> usize {
        self.payg_keys
            .values()
            .filter(|k| k.creator == user && k.deleted_at.is_none())
            .count()
    }

    /// The instant of the next renewal of any tier, after this state's time.
    pub fn next_renewal(&self) -> Option<DateTime<Utc>> {
        let today = calendar::billing_day(self.at, self.region);
        self.subscriptions
            .values()
            .map(|sub| calendar::day_start(sub.cycle(today).end, self.region))
            .min()
    }

    /// The renewals up to and including `day` applied since they were last taken, oldest
    /// first; later ones (advancing to a day's last instant applies the next day's) stay.
    pub fn take_renewals_through(&mut self, day: NaiveDate) -> Vec<Renewal> {
        let (through, later) = std::mem::take(&mut self.renewals)
            .into_iter()
            .partition(|r| r.day <= day);
        self.renewals = later;
        through
    }

    /// Applies every renewal up to and including the billing day of `at` (B4, B8), then
    /// moves the state to `at`.
    pub fn advance_to(&mut self, at: DateTime<Utc>) {
        let today = calendar::billing_day(at, self.region);
        let from = calendar::billing_day(self.at, self.region);
        let tiers: Vec<String> = self.subscriptions.keys().cloned().collect();
        let mut renewals = Vec::new();
        for tier in tiers {
            let mut cursor = from;
            while let Some(sub) = self.subscriptions.get_mut(&tier) {
                let day = sub.cycle(cursor).end;
                if day > today {
                    break;
                }
                let cycle = sub.cycle(day);
                if sub.renewal_canceled || sub.pending_removal >= sub.seat_count() {
                    self.subscriptions.remove(&tier);
                } else {
                    let removal = std::mem::take(&mut sub.pending_removal);
                    remove_seats(sub, removal);
                }
                let seats = self
                    .subscriptions
                    .get(&tier)
                    .map_or(0, Subscription::seat_count);
                renewals.push(Renewal {
                    day,
                    tier: tier.clone(),
                    seats,
                    cycle,
                });
                cursor = day;
            }
        }
        renewals.sort_by(|a, b| (a.day, &a.tier).cmp(&(b.day, &b.tier)));
        self.renewals.extend(renewals);
        self.at = self.at.max(at);
    }

    /// Applies an allowed operation by `actor` at `at` (already advanced to `at`). A top-up
    /// that would overflow its balance changes nothing and is an error.
    pub fn apply(
        &mut self,
        actor: &UserId,
        operation: &Operation,
        at: DateTime<Utc>,
    ) -> Result<(), Overflow> {
        let day = calendar::billing_day(at, self.region);
        match operation {
            Operation::CreateAccount { .. } | Operation::CreateTeam { .. } => {}
            Operation::Invite { user, role, .. } => {
                self.members.insert(
                    user.to_string(),
                    Member {
                        role: *role,
                        credits_access: true,
                    },
                );
            }
            Operation::RemoveMember { user, .. } => self.drop_member(user.as_str()),
            Operation::Leave { .. } => self.drop_member(actor.as_str()),
            Operation::ChangeRole { user, role, .. } => {
                if let Some(member) = self.members.get_mut(user.as_str()) {
                    member.role = *role;
                }
            }
            Operation::BuySubscription { tier, seats, .. } => {
                let seats = seats.get();
                self.subscriptions.insert(
                    tier.clone(),
                    Subscription {
                        anchor: day,
                        seats: (1..=seats).collect(),
                        next_seat: seats + 1,
                        pending_removal: 0,
                        renewal_canceled: false,
                        holders: BTreeMap::new(),
                    },
                );
            }
            Operation::AddSeats { tier, seats, .. } => {
                if let Some(sub) = self.subscriptions.get_mut(tier) {
                    let (_, new) = split_addition(sub.pending_removal, seats.get());
                    sub.pending_removal = sub.pending_removal.saturating_sub(seats.get());
                    for _ in 0..new {
                        sub.seats.insert(sub.next_seat);
                        sub.next_seat += 1;
                    }
                }
            }
            Operation::RemoveSeats { tier, seats, .. } => {
                if let Some(sub) = self.subscriptions.get_mut(tier) {
                    sub.pending_removal += seats.get();
                }
            }
            Operation::CancelRenewal { tier, .. } => {
                if let Some(sub) = self.subscriptions.get_mut(tier) {
                    sub.renewal_canceled = true;
                }
            }
            Operation::RestoreRenewal { .. } => {}
            Operation::AssignSeat { tier, user, .. } => {
                if let Some(sub) = self.subscriptions.get_mut(tier)
                    && let Some(seat) = sub
                        .seats
                        .iter()
                        .find(|s| !sub.holders.contains_key(s))
                        .copied()
                {
                    sub.holders.insert(
                        seat,
                        Holder {
                            user: user.to_string(),
                            since: at,
                        },
                    );
                }
            }
            Operation::UnassignSeat { user, .. } => self.release(user.as_str()),
            Operation::ReassignSeat { from, to, .. } => {
                for sub in self.subscriptions.values_mut() {
                    if let Some(holder) = sub.holders.values_mut().find(|h| h.user == from.as_str())
                    {
                        holder.user = to.to_string();
                        holder.since = at;
                    }
                }
            }
            Operation::TopUpCredits { amount, .. } => {
                self.credits_topped_up =
                    checked_add(self.credits_topped_up, amount.get(), Balance::Credits)?;
            }
            Operation::TopUpWallet { amount, .. } => {
                self.wallet_topped_up =
                    checked_add(self.wallet_topped_up, amount.get(), Balance::Wallet)?;
            }
            Operation::SetCreditsAccess { user, enabled, .. } => {
                if let Some(member) = self.members.get_mut(user.as_str()) {
                    member.credits_access = *enabled;
                }
            }
            Operation::CreatePaygKey { key, .. } => {
                self.payg_keys.insert(
                    key.to_string(),
                    PaygKey {
                        creator: actor.to_string(),
                        deleted_at: None,
                    },
                );
            }
            Operation::DeletePaygKey { key, .. } => {
                if let Some(k) = self.payg_keys.get_mut(key.as_str()) {
                    k.deleted_at = Some(at);
                }
            }
        }
        Ok(())
    }

    fn drop_member(&mut self, user: &str) {
        self.release(user);
        self.members.remove(user);
    }

    fn release(&mut self, user: &str) {
        for sub in self.subscriptions.values_mut() {
            sub.holders.retain(|_, h| h.user != user);
        }
    }
}

/// A top-up whose balance would not fit in a decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topping up `{amount}` would overflow the {balance} balance of `{topped_up}`")]
pub struct Overflow {
    pub balance: Balance,
    /// What was topped up before.
    pub topped_up: Decimal,
    pub amount: Decimal,
}

fn checked_add(topped_up: Decimal, amount: Decimal, balance: Balance) -> Result<Decimal, Overflow> {
    topped_up.checked_add(amount).ok_or(Overflow {
        balance,
        topped_up,
        amount,
    })
}

/// Seats added when `pending` are scheduled for removal: (removals undone, new seats) (O4).
pub fn split_addition(pending: u32, added: u32) -> (u32, u32) {
    let undone = pending.min(added);
    (undone, added - undone)
}

/// Removes `count` seats at a renewal: free seats first, then held seats, most recently
/// assigned first (B8).
fn remove_seats(sub: &mut Subscription, count: u32) {
    let mut order: Vec<(Option<DateTime<Utc>>, u32)> = sub
        .seats
        .iter()
        .map(|seat| (sub.holders.get(seat).map(|h| h.since), *seat))
        .collect();
    // Free seats (None) first, then the latest assignment; highest seat number breaks ties.
    order.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => b.1.cmp(&a.1),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x).then(b.1.cmp(&a.1)),
    });
    for (_, seat) in order.into_iter().take(count as usize) {
        sub.seats.remove(&seat);
        sub.holders.remove(&seat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teams::Seats;

    fn id<T: std::str::FromStr<Err: std::fmt::Debug>>(text: &str) -> T {
        text.parse().unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn team_with_seats(seats: u32) -> TeamState {
        let mut team = TeamState::new(
            "acme",
            Region::Overseas,
            false,
            "olga",
            t("2026-01-31T10:00:00Z"),
        );
        let buy = Operation::BuySubscription {
            team: id("acme"),
            tier: "plus".into(),
            seats: Seats::new(seats).unwrap(),
        };
        team.apply(&id("olga"), &buy, t("2026-01-31T10:00:00Z"))
            .unwrap();
        team
    }

    fn invite(team: &mut TeamState, user: &str, at: DateTime<Utc>) {
        let invite = Operation::Invite {
            team: id("acme"),
            user: id(user),
            role: Role::Reader,
        };
        team.apply(&id("olga"), &invite, at).unwrap();
    }

    fn assign(team: &mut TeamState, user: &str, at: DateTime<Utc>) {
        let assign = Operation::AssignSeat {
            team: id("acme"),
            tier: "plus".into(),
            user: id(user),
        };
        team.apply(&id("olga"), &assign, at).unwrap();
    }

    #[test]
    fn o3_b8_removal_applies_at_renewal_releasing_latest_holders_first() {
        let mut team = team_with_seats(3);
        for (i, user) in ["ann", "bob", "cat"].iter().enumerate() {
            let at = t(&format!("2026-02-0{}T00:00:00Z", i + 1));
            invite(&mut team, user, at);
            assign(&mut team, user, at);
        }
        team.apply(
            &id("olga"),
            &Operation::RemoveSeats {
                team: id("acme"),
                tier: "plus".into(),
                seats: Seats::new(2).unwrap(),
            },
            t("2026-02-10T00:00:00Z"),
        )
        .unwrap();
        team.advance_to(t("2026-02-27T23:59:59Z"));
        assert_eq!(team.seat_count(), 3, "removed seats stay until the renewal");
        team.advance_to(t("2026-02-28T00:00:00Z"));
        assert_eq!(team.seat_count(), 1);
        assert_eq!((team.seat_of("cat"), team.seat_of("bob")), (None, None));
        assert_eq!(team.seat_of("ann"), Some(("plus", 1)));
        assert_eq!(team.renewals[0].cycle.days(), 31);
    }

    #[test]
    fn o4_adding_seats_first_undoes_pending_removals() {
        let mut team = team_with_seats(5);
        team.apply(
            &id("olga"),
            &Operation::RemoveSeats {
                team: id("acme"),
                tier: "plus".into(),
                seats: Seats::new(3).unwrap(),
            },
            t("2026-02-01T00:00:00Z"),
        )
        .unwrap();
        team.apply(
            &id("olga"),
            &Operation::AddSeats {
                team: id("acme"),
                tier: "plus".into(),
                seats: Seats::new(4).unwrap(),
            },
            t("2026-02-02T00:00:00Z"),
        )
        .unwrap();
        let sub = &team.subscriptions["plus"];
        assert_eq!(
            (sub.seat_count(), sub.pending_removal, sub.renewing_seats()),
            (6, 0, 6)
        );
        assert_eq!(split_addition(3, 4), (3, 1));
    }

    #[test]
    fn d4_canceled_tier_ends_at_renewal() {
        let mut team = team_with_seats(2);
        team.apply(
            &id("olga"),
            &Operation::CancelRenewal {
                team: id("acme"),
                tier: "plus".into(),
            },
            t("2026-02-01T00:00:00Z"),
        )
        .unwrap();
        team.advance_to(t("2026-02-27T00:00:00Z"));
        assert!(team.subscriptions.contains_key("plus"));
        team.advance_to(t("2026-03-05T00:00:00Z"));
        assert!(team.subscriptions.is_empty());
        assert_eq!(team.renewals.len(), 1);
        assert_eq!(team.renewals[0].seats, 0);
    }

    #[test]
    fn s4_reassigned_seat_keeps_its_number() {
        let mut team = team_with_seats(1);
        let at = t("2026-02-01T00:00:00Z");
        for user in ["ann", "bob"] {
            invite(&mut team, user, at);
        }
        assign(&mut team, "ann", at);
        team.apply(
            &id("olga"),
            &Operation::ReassignSeat {
                team: id("acme"),
                from: id("ann"),
                to: id("bob"),
            },
            at,
        )
        .unwrap();
        assert_eq!(team.seat_of("bob"), Some(("plus", 1)));
        assert_eq!(team.seat_of("ann"), None);
    }
}

//! The facts the policies decide on, computed from a Team's state (DESIGN principle 1:
//! the code counts, the policies decide).

use gatekeeper::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Request, SubscriptionChange, Target, TeamFacts,
    TokenPlanKeyFacts, TokenPlanKeyId,
};

use super::operation::Operation;
use super::state::TeamState;
use crate::ids::UserId;

/// The Team's facts now.
pub fn team_facts(state: &TeamState) -> TeamFacts {
    TeamFacts {
        id: state.id.clone(),
        region: state.region,
        is_default: state.is_default,
        member_count: i64::try_from(state.members.len()).unwrap_or(i64::MAX),
        seat_count: i64::from(state.seat_count()),
    }
}

/// A pay-as-you-go key of the Team, with its creator (empty when the Team has no such key).
pub fn payg_key(state: &TeamState, key: &str) -> PaygKeyFacts {
    PaygKeyFacts {
        id: key.to_owned(),
        creator: state
            .payg_keys
            .get(key)
            .map(|k| k.creator.clone())
            .unwrap_or_default(),
    }
}

/// The key an id names in this Team: its Token Plan Key `tp:TEAM:USER`, or a pay-as-you-go key.
pub fn key_facts(state: &TeamState, key: &str) -> KeyFacts {
    match TokenPlanKeyId::parse(key) {
        Some(id) if id.team == state.id => KeyFacts::TokenPlan(token_plan_key(state, id.user)),
        _ => KeyFacts::Payg(payg_key(state, key)),
    }
}

/// The actor as the policies see them in this Team.
pub fn actor(state: &TeamState, user: &str) -> Actor {
    match state.members.get(user) {
        Some(member) => Actor::member(user, member.role),
        None => Actor::Outsider(user.to_owned()),
    }
}

/// A user the operation is about, with their membership.
pub fn target(state: &TeamState, user: &str) -> Target {
    match state.members.get(user) {
        Some(member) => Target::member(user, member.role, state.seat_of(user).is_some()),
        None => Target::outsider(user),
    }
}

/// A member's Token Plan Key.
pub fn token_plan_key(state: &TeamState, user: &str) -> TokenPlanKeyFacts {
    TokenPlanKeyFacts {
        holder: user.to_owned(),
        has_seat: state.seat_of(user).is_some(),
        credits_access: state.members.get(user).is_some_and(|m| m.credits_access),
    }
}

fn subscription_change(
    state: &TeamState,
    tier: &str,
    seats: u32,
    seats_after: u32,
) -> SubscriptionChange {
    let tiers = |canceled_only: bool| {
        state
            .subscriptions
            .iter()
            .filter(|(_, s)| !canceled_only || s.renewal_canceled)
            .map(|(t, _)| t.clone())
            .collect()
    };
    SubscriptionChange {
        tier: tier.to_owned(),
        seats: i64::from(seats),
        seats_after: i64::from(seats_after),
        subscribed_tiers: tiers(false),
        canceled_tiers: tiers(true),
        renewing_seats: state
            .subscriptions
            .get(tier)
            .map_or(0, |s| i64::from(s.renewing_seats())),
    }
}

/// The request for `operation` by `user` on a Team in `state` (already advanced to its time).
/// For `create_account` and `create_team`, `state` is the Team about to be created.
pub fn request(state: &TeamState, user: &UserId, operation: &Operation) -> Request {
    let target = |user: &UserId| target(state, user.as_str());
    let seats_now = state.seat_count();
    let action = match operation {
        Operation::CreateAccount { .. } => ActionRequest::CreateAccount,
        Operation::CreateTeam { .. } => ActionRequest::CreateTeam,
        Operation::Invite { user: u, role, .. } => ActionRequest::Invite {
            target: target(u),
            role: *role,
        },
        Operation::RemoveMember { user: u, .. } => {
            ActionRequest::RemoveMember { target: target(u) }
        }
        Operation::Leave { .. } => ActionRequest::Leave,
        Operation::ChangeRole { user: u, role, .. } => ActionRequest::ChangeRole {
            target: target(u),
            role: *role,
        },
        Operation::BuySubscription { tier, seats, .. } => {
            ActionRequest::BuySubscription(subscription_change(
                state,
                tier,
                seats.get(),
                seats_now.saturating_add(seats.get()),
            ))
        }
        Operation::AddSeats { tier, seats, .. } => {
            let new = state.new_seats(tier, seats.get());
            ActionRequest::AddSeats(subscription_change(
                state,
                tier,
                seats.get(),
                seats_now.saturating_add(new),
            ))
        }
        Operation::RemoveSeats { tier, seats, .. } => {
            ActionRequest::RemoveSeats(subscription_change(state, tier, seats.get(), seats_now))
        }
        Operation::CancelRenewal { tier, .. } => {
            ActionRequest::CancelRenewal(subscription_change(state, tier, 0, seats_now))
        }
        Operation::RestoreRenewal { tier, .. } => {
            ActionRequest::RestoreRenewal(subscription_change(state, tier, 0, seats_now))
        }
        Operation::AssignSeat { tier, user: u, .. } => ActionRequest::AssignSeat {
            target: target(u),
            tier: tier.clone(),
            free_seats: state
                .subscriptions
                .get(tier)
                .map_or(0, |s| i64::from(s.free_seats())),
        },
        Operation::UnassignSeat { user: u, .. } => {
            ActionRequest::UnassignSeat { target: target(u) }
        }
        Operation::ReassignSeat { from, to, .. } => ActionRequest::ReassignSeat {
            from: target(from),
            target: target(to),
        },
        Operation::TopUpCredits { .. } => ActionRequest::TopUpCredits,
        Operation::TopUpWallet { .. } => ActionRequest::TopUpWallet,
        Operation::SetCreditsAccess { user: u, .. } => {
            ActionRequest::SetCreditsAccess { target: target(u) }
        }
        Operation::CreatePaygKey { .. } => ActionRequest::CreatePaygKey {
            live_keys: i64::try_from(state.live_keys_of(user.as_str())).unwrap_or(i64::MAX),
        },
        Operation::DeletePaygKey { key, .. } => {
            ActionRequest::DeletePaygKey(payg_key(state, key.as_str()))
        }
    };
    let actor = match operation {
        Operation::CreateAccount { .. } | Operation::CreateTeam { .. } => {
            Actor::User(user.to_string())
        }
        _ => actor(state, user.as_str()),
    };
    Request::new(actor, team_facts(state), action)
}

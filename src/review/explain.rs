//! Requests for `policy explain`: an action named on the command line, against a Team's state.

use gatekeeper::{Action, ActionRequest, Request, Role};

use crate::teams::{
    Operation, TeamState, actor as actor_facts, key_facts, payg_key, request as operation_request,
    team_facts, token_plan_key,
};

/// The optional fields of an explained action.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// The user the action is about.
    pub target: Option<String>,
    /// A role.
    pub role: Option<Role>,
    /// A tier.
    pub tier: Option<String>,
    /// A seat count.
    pub seats: Option<u32>,
    /// A key id.
    pub key: Option<String>,
    /// The member a seat is reassigned from.
    pub from: Option<String>,
    /// What statements billed to the Team's Credits before the day asked about.
    pub credits_spent: rust_decimal::Decimal,
}

/// An action that can't be explained as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{action}` needs --{flag}")]
pub struct MissingField {
    /// The action.
    pub action: Action,
    /// The command-line flag it needs.
    pub flag: &'static str,
}

fn need<T: Clone>(
    value: &Option<T>,
    flag: &'static str,
    action: Action,
) -> Result<T, MissingField> {
    value.clone().ok_or(MissingField { action, flag })
}

/// The request `actor` would make for `action` in the Team of `state`.
pub fn request(
    state: &TeamState,
    actor: &str,
    action: Action,
    fields: &Fields,
) -> Result<Request, MissingField> {
    let team = state.id.clone();
    let target = || need(&fields.target, "target", action);
    let tier = || need(&fields.tier, "tier", action);
    let seats = || need(&fields.seats, "seats", action);
    let key = || need(&fields.key, "key", action);
    let role = || need(&fields.role, "role", action);
    let view = |action_request| {
        Ok(Request::new(
            actor_facts(state, actor),
            team_facts(state),
            action_request,
        ))
    };
    let operation = match action {
        Action::ViewBilling => return view(ActionRequest::ViewBilling),
        Action::ViewPaygKey => return view(ActionRequest::ViewPaygKey(payg_key(state, &key()?))),
        Action::ViewUsage => return view(ActionRequest::ViewUsage(key_facts(state, &key()?))),
        Action::UseTokenPlanKey => {
            return view(ActionRequest::UseTokenPlanKey {
                key: token_plan_key(state, actor),
                credits_available: state.credits_topped_up - fields.credits_spent
                    > rust_decimal::Decimal::ZERO,
            });
        }
        Action::CreateAccount => Operation::CreateAccount {
            region: state.region,
        },
        Action::CreateTeam => Operation::CreateTeam {
            team,
            region: state.region,
        },
        Action::Invite => Operation::Invite {
            team,
            user: target()?,
            role: role()?,
        },
        Action::RemoveMember => Operation::RemoveMember {
            team,
            user: target()?,
        },
        Action::Leave => Operation::Leave { team },
        Action::ChangeRole => Operation::ChangeRole {
            team,
            user: target()?,
            role: role()?,
        },
        Action::BuySubscription => Operation::BuySubscription {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        Action::AddSeats => Operation::AddSeats {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        Action::RemoveSeats => Operation::RemoveSeats {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        Action::CancelRenewal => Operation::CancelRenewal {
            team,
            tier: tier()?,
        },
        Action::RestoreRenewal => Operation::RestoreRenewal {
            team,
            tier: tier()?,
        },
        Action::AssignSeat => Operation::AssignSeat {
            team,
            tier: tier()?,
            user: target()?,
        },
        Action::UnassignSeat => Operation::UnassignSeat {
            team,
            user: target()?,
        },
        Action::ReassignSeat => Operation::ReassignSeat {
            team,
            from: need(&fields.from, "from", action)?,
            to: target()?,
        },
        Action::TopUpCredits => Operation::TopUpCredits {
            team,
            amount: rust_decimal::Decimal::ONE,
        },
        Action::TopUpWallet => Operation::TopUpWallet {
            team,
            amount: rust_decimal::Decimal::ONE,
        },
        Action::SetCreditsAccess => Operation::SetCreditsAccess {
            team,
            user: target()?,
            enabled: false,
        },
        Action::CreatePaygKey => Operation::CreatePaygKey { team, key: key()? },
        Action::DeletePaygKey => Operation::DeletePaygKey { team, key: key()? },
    };
    Ok(operation_request(state, actor, &operation))
}

/// Facts given on the command line instead of a store.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The actor's role (`None`: not a member).
    pub role: Option<Role>,
    /// The Team's region.
    pub region: gatekeeper::Region,
    /// Whether it is a Default Team.
    pub is_default: bool,
    /// Members, the actor and target included.
    pub members: usize,
    /// Seats of the tier (all free unless the target holds one).
    pub seats: u32,
    /// The tier of those seats.
    pub tier: String,
    /// The target's role, if the target is a member.
    pub target_role: Option<Role>,
    /// Whether the target holds a seat.
    pub target_seat: bool,
    /// The actor's live pay-as-you-go keys.
    pub live_keys: usize,
}

/// A Team state with exactly these facts, at the epoch.
pub fn state_from_facts(team: &str, actor: &str, target: Option<&str>, facts: &Facts) -> TeamState {
    use crate::teams::{Holder, Member, PaygKey, Subscription};
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let owner = if facts.role == Some(Role::Owner) {
        actor.to_owned()
    } else {
        "owner".to_owned()
    };
    let mut state = TeamState::new(team, facts.region, facts.is_default, &owner, at);
    let member = |role| Member {
        role,
        credits_access: true,
    };
    if let Some(role) = facts.role {
        state.members.insert(actor.to_owned(), member(role));
    }
    if let (Some(target), Some(role)) = (target, facts.target_role) {
        state.members.insert(target.to_owned(), member(role));
    }
    let mut filler = 0;
    while state.members.len() < facts.members {
        filler += 1;
        state
            .members
            .insert(format!("member-{filler}"), member(Role::Reader));
    }
    if facts.seats > 0 {
        let mut holders = std::collections::BTreeMap::new();
        if let (Some(target), true) = (target, facts.target_seat) {
            holders.insert(
                1,
                Holder {
                    user: target.to_owned(),
                    since: at,
                },
            );
        }
        state.subscriptions.insert(
            facts.tier.clone(),
            Subscription {
                anchor: at.date_naive(),
                seats: (1..=facts.seats).collect(),
                next_seat: facts.seats + 1,
                pending_removal: 0,
                renewal_canceled: false,
                holders,
            },
        );
    }
    for i in 0..facts.live_keys {
        state.payg_keys.insert(
            format!("key-{i}"),
            PaygKey {
                creator: actor.to_owned(),
                created_at: at,
                deleted_at: None,
            },
        );
    }
    state
}

//! Requests for `policy explain`: an action named on the command line, against a Team's state.

use gatekeeper::{ActionRequest, Request, Role};

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
    pub role: Option<String>,
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

fn need<T: Clone>(value: &Option<T>, flag: &str, action: &str) -> Result<T, String> {
    value
        .clone()
        .ok_or_else(|| format!("`{action}` needs --{flag}"))
}

/// The request `actor` would make for `action` in the Team of `state`.
pub fn request(
    state: &TeamState,
    actor: &str,
    action: &str,
    fields: &Fields,
) -> Result<Request, String> {
    let team = state.id.clone();
    let target = || need(&fields.target, "target", action);
    let tier = || need(&fields.tier, "tier", action);
    let seats = || need(&fields.seats, "seats", action);
    let key = || need(&fields.key, "key", action);
    let role = || -> Result<Role, String> { need(&fields.role, "role", action)?.parse() };
    let view = |action_request| {
        Ok(Request::new(
            actor_facts(state, actor),
            team_facts(state),
            action_request,
        ))
    };
    let operation = match action {
        "view_billing" => return view(ActionRequest::ViewBilling),
        "view_payg_key" => return view(ActionRequest::ViewPaygKey(payg_key(state, &key()?))),
        "view_usage" => return view(ActionRequest::ViewUsage(key_facts(state, &key()?))),
        "use_token_plan_key" => {
            return view(ActionRequest::UseTokenPlanKey {
                key: token_plan_key(state, actor),
                credits_available: state.credits_topped_up - fields.credits_spent
                    > rust_decimal::Decimal::ZERO,
            });
        }
        "invite" => Operation::Invite {
            team,
            user: target()?,
            role: role()?,
        },
        "remove_member" => Operation::RemoveMember {
            team,
            user: target()?,
        },
        "leave" => Operation::Leave { team },
        "change_role" => Operation::ChangeRole {
            team,
            user: target()?,
            role: role()?,
        },
        "buy_subscription" => Operation::BuySubscription {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        "add_seats" => Operation::AddSeats {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        "remove_seats" => Operation::RemoveSeats {
            team,
            tier: tier()?,
            seats: seats()?,
        },
        "cancel_renewal" => Operation::CancelRenewal {
            team,
            tier: tier()?,
        },
        "restore_renewal" => Operation::RestoreRenewal {
            team,
            tier: tier()?,
        },
        "assign_seat" => Operation::AssignSeat {
            team,
            tier: tier()?,
            user: target()?,
        },
        "unassign_seat" => Operation::UnassignSeat {
            team,
            user: target()?,
        },
        "reassign_seat" => Operation::ReassignSeat {
            team,
            from: need(&fields.from, "from", action)?,
            to: target()?,
        },
        "top_up_credits" => Operation::TopUpCredits {
            team,
            amount: rust_decimal::Decimal::ONE,
        },
        "top_up_wallet" => Operation::TopUpWallet {
            team,
            amount: rust_decimal::Decimal::ONE,
        },
        "set_credits_access" => Operation::SetCreditsAccess {
            team,
            user: target()?,
            enabled: false,
        },
        "create_payg_key" => Operation::CreatePaygKey { team, key: key()? },
        "delete_payg_key" => Operation::DeletePaygKey { team, key: key()? },
        other => {
            return Err(format!(
                "unknown action `{other}`; use a scenario operation (`invite`, `add_seats`, ...) or `view_billing`, `view_usage`, `view_payg_key`, `use_token_plan_key`"
            ));
        }
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

//! Requests for `policy explain`: an action named on the command line, against a Team's state.

use gatekeeper::{ActionRequest, KeyFacts, PaygKeyFacts, Request, Role};

use crate::teams::{
    Operation, TeamState, request as operation_request, team_facts, token_plan_key,
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
        let facts = operation_request(state, actor, &Operation::Leave { team: team.clone() });
        Ok(Request::new(facts.actor, team_facts(state), action_request))
    };
    let payg = |id: String| PaygKeyFacts {
        creator: state
            .payg_keys
            .get(&id)
            .map(|k| k.creator.clone())
            .unwrap_or_default(),
        id,
    };
    let operation = match action {
        "view_billing" => return view(ActionRequest::ViewBilling),
        "view_payg_key" => return view(ActionRequest::ViewPaygKey(payg(key()?))),
        "view_usage" => {
            let key = key()?;
            let facts = match key.strip_prefix(&format!("tp:{team}:")) {
                Some(holder) => KeyFacts::TokenPlan(token_plan_key(state, holder)),
                None => KeyFacts::Payg(payg(key)),
            };
            return view(ActionRequest::ViewUsage(facts));
        }
        "use_token_plan_key" => {
            return view(ActionRequest::UseTokenPlanKey {
                key: token_plan_key(state, actor),
                credits_available: state.credits_topped_up > rust_decimal::Decimal::ZERO,
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

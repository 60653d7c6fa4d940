//! A statement as one member may see it (V1, V2, B17): each part is shown only where the
//! gatekeeper allows it; the filter is the policies', not this code's.

use gatekeeper::{ActionRequest, Gatekeeper, KeyFacts, PaygKeyFacts};

use super::statement::{Statement, Totals};
use crate::teams::{TeamState, request as operation_request, team_facts, token_plan_key};

/// Why a statement can't be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The user is not a member and may see nothing.
    #[error("`{user}` may see nothing of Team `{team}`'s billing: {reason}")]
    Nothing {
        /// The user.
        user: String,
        /// The Team.
        team: String,
        /// The gatekeeper's explanation.
        reason: String,
    },
}

/// `statement` as `user` may see it, given the Team's state at the end of the day.
pub fn view(
    gate: &Gatekeeper,
    state: &TeamState,
    user: &str,
    statement: &Statement,
) -> Result<Statement, ViewError> {
    let actor = operation_request(
        state,
        user,
        &crate::teams::Operation::Leave {
            team: state.id.clone(),
        },
    )
    .actor;
    let allowed = |action| {
        gate.decide(&gatekeeper::Request::new(
            actor.clone(),
            team_facts(state),
            action,
        ))
    };
    let key_facts = |key: &str| match key.strip_prefix(&format!("tp:{}:", state.id)) {
        Some(holder) => KeyFacts::TokenPlan(token_plan_key(state, holder)),
        None => KeyFacts::Payg(PaygKeyFacts {
            id: key.to_owned(),
            creator: state
                .payg_keys
                .get(key)
                .map(|k| k.creator.clone())
                .unwrap_or_default(),
        }),
    };
    let sees_usage = |key: &str| allowed(ActionRequest::ViewUsage(key_facts(key))).is_allowed();
    let billing = allowed(ActionRequest::ViewBilling);
    if billing.is_allowed() {
        return Ok(statement.clone());
    }
    let lines: Vec<_> = statement
        .lines
        .iter()
        .filter(|line| line.usage().is_some_and(|u| sees_usage(&u.key)))
        .cloned()
        .collect();
    let unfunded: Vec<_> = statement
        .unfunded
        .iter()
        .filter(|u| sees_usage(&u.key))
        .cloned()
        .collect();
    if lines.is_empty() && unfunded.is_empty() && !state.members.contains_key(user) {
        return Err(ViewError::Nothing {
            user: user.to_owned(),
            team: state.id.clone(),
            reason: billing.explain(),
        });
    }
    Ok(Statement {
        totals: Totals::of(&lines),
        lines,
        unfunded,
        balances: None,
        overdrawn: Vec::new(),
        ..statement.clone()
    })
}

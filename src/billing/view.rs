//! A statement as one member may see it (V1, V2, B17): each part is shown only where the
//! gatekeeper allows it; the filter is the policies', not this code's.

use gatekeeper::{ActionRequest, Gatekeeper};

use super::statement::{Statement, Totals};
use crate::teams::{TeamState, actor, key_facts, team_facts};

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
    /// The totals of what the user may see do not fit in a decimal (a store edited by hand).
    #[error("the totals of Team `{team}`'s statement are too large to compute")]
    Money {
        /// The Team.
        team: String,
        /// The operation.
        #[source]
        source: crate::money::Overflow,
    },
}

/// `statement` as `user` may see it, given the Team's state at the end of the day.
pub fn view(
    gate: &Gatekeeper,
    state: &TeamState,
    user: &str,
    statement: &Statement,
) -> Result<Statement, ViewError> {
    let actor = actor(state, user);
    let allowed = |action| {
        gate.decide(&gatekeeper::Request::new(
            actor.clone(),
            team_facts(state),
            action,
        ))
    };
    let sees_usage =
        |key: &str| allowed(ActionRequest::ViewUsage(key_facts(state, key))).is_allowed();
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
        totals: Totals::of(&lines).map_err(|source| ViewError::Money {
            team: state.id.clone(),
            source,
        })?,
        lines,
        unfunded,
        balances: None,
        overdrawn: Vec::new(),
        ..statement.clone()
    })
}

//! Team operations: each step derives the Team's state at its time, asks the gatekeeper, and
//! appends the decision (and, when allowed, the change) to the store.

mod facts;
mod operation;
pub mod scenario;
mod state;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use gatekeeper::{Decision, Gatekeeper};

pub use facts::{actor, key_facts, payg_key, request, team_facts, token_plan_key};
pub use operation::{Operation, Step};
pub use state::{Holder, Member, PaygKey, Renewal, Subscription, TeamState, split_addition};

use crate::prices::Prices;
use crate::store::{Entry, Store, StoreError};

/// A step that can't be decided: it refers to something that doesn't exist, or breaks the
/// order of time. Nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A reference that does not resolve, or a field value the store can't take.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies operations to the store through the gatekeeper, keeping each touched Team's latest
/// state in memory so a long scenario never re-reads a Team's history.
pub struct Teams<'a> {
    store: &'a mut Store,
    gate: &'a Gatekeeper,
    prices: &'a Prices,
    states: HashMap<String, TeamState>,
    users: HashSet<String>,
}

impl<'a> Teams<'a> {
    /// Operations on `store`, decided by `gate`, with tiers checked against `prices`.
    pub fn new(store: &'a mut Store, gate: &'a Gatekeeper, prices: &'a Prices) -> Self {
        Teams {
            store,
            gate,
            prices,
            states: HashMap::new(),
            users: HashSet::new(),
        }
    }

    /// Decides and records one operation by `actor` at `at`.
    pub fn apply(
        &mut self,
        actor: &str,
        operation: &Operation,
        at: DateTime<Utc>,
    ) -> Result<Decision, ApplyError> {
        let team = operation.team(actor).to_owned();
        let mut state = self.state_for(actor, operation, &team, at)?;
        self.check_references(&state, operation)?;
        let decision = self.gate.decide(&request(&state, actor, operation));
        self.store.append(&Entry {
            at,
            actor,
            team: &team,
            operation,
            decision: &decision,
        })?;
        if decision.is_allowed() {
            state.apply(actor, operation, at);
        }
        self.states.insert(team, state);
        Ok(decision)
    }

    /// The Team's state at `at`: cached, read from the store, or (for the operations that
    /// create one) the Team about to exist.
    fn state_for(
        &mut self,
        actor: &str,
        operation: &Operation,
        team: &str,
        at: DateTime<Utc>,
    ) -> Result<TeamState, ApplyError> {
        let invalid = |m: String| Err(ApplyError::Invalid(m));
        let actor_exists = self.user_exists(actor)?;
        match operation {
            Operation::CreateAccount { region } => {
                if actor_exists {
                    return invalid(format!("`{actor}` already has an account"));
                }
                if self.store.team(team)?.is_some() {
                    return invalid(format!(
                        "a Team `{team}` already exists; choose another user id"
                    ));
                }
                return Ok(TeamState::new(team, *region, true, actor, at));
            }
            _ if !actor_exists => {
                return invalid(format!(
                    "`{actor}` has no account; add a `create_account` step for them first"
                ));
            }
            Operation::CreateTeam { region, .. } => {
                if self.store.team(team)?.is_some() {
                    return invalid(format!("Team `{team}` already exists"));
                }
                return Ok(TeamState::new(team, *region, false, actor, at));
            }
            _ => {}
        }
        // A cached state is at its Team's latest change; one read from the store is at `at`.
        let (mut state, last) = match self.states.remove(team) {
            Some(state) => {
                let last = state.at;
                (state, last)
            }
            None => match self.store.team_state(team, at)? {
                Some(state) => {
                    let last = self
                        .store
                        .last_change(team)?
                        .unwrap_or(state.at)
                        .max(state.at);
                    (state, last)
                }
                None => return invalid(format!("no Team `{team}`")),
            },
        };
        if at < last {
            self.states.insert(team.to_owned(), state);
            return invalid(format!(
                "`at` ({at}) is before Team `{team}`'s latest change ({last}); steps must be in time order"
            ));
        }
        state.advance_to(at);
        Ok(state)
    }

    /// Whether `user` has an account; accounts are never removed, so known ones are remembered.
    fn user_exists(&mut self, user: &str) -> Result<bool, StoreError> {
        if self.users.contains(user) {
            return Ok(true);
        }
        let exists = self.store.user_exists(user)?;
        if exists {
            self.users.insert(user.to_owned());
        }
        Ok(exists)
    }

    /// Users, tiers and keys the operation names must exist.
    fn check_references(
        &mut self,
        state: &TeamState,
        operation: &Operation,
    ) -> Result<(), ApplyError> {
        use Operation::*;
        let invalid = |m: String| Err(ApplyError::Invalid(m));
        match operation {
            Invite { user, .. }
            | RemoveMember { user, .. }
            | ChangeRole { user, .. }
            | AssignSeat { user, .. }
            | UnassignSeat { user, .. }
            | SetCreditsAccess { user, .. }
                if !self.user_exists(user)? =>
            {
                invalid(format!(
                    "no user `{user}`; they need an account (`create_account`)"
                ))
            }
            ReassignSeat { from, to, .. } => {
                for user in [from, to] {
                    if !self.user_exists(user)? {
                        return invalid(format!(
                            "no user `{user}`; they need an account (`create_account`)"
                        ));
                    }
                }
                Ok(())
            }
            BuySubscription { tier, .. }
            | AddSeats { tier, .. }
            | RemoveSeats { tier, .. }
            | CancelRenewal { tier, .. }
            | RestoreRenewal { tier, .. }
            | AssignSeat { tier, .. } => self
                .prices
                .tier(tier)
                .map(|_| ())
                .map_err(ApplyError::Invalid),
            CreatePaygKey { key, .. } => {
                if key.starts_with("tp:") {
                    return invalid(format!(
                        "key id `{key}` starts with `tp:`, which Token Plan Keys use"
                    ));
                }
                match self.store.payg_key_team(key)? {
                    Some(team) => invalid(format!(
                        "key id `{key}` is taken (Team `{team}`); choose another"
                    )),
                    None => Ok(()),
                }
            }
            DeletePaygKey { key, .. } => match state.payg_keys.get(key) {
                Some(k) if k.deleted_at.is_none() => Ok(()),
                Some(_) => invalid(format!("key `{key}` is already deleted")),
                None => invalid(format!("Team `{}` has no key `{key}`", state.id)),
            },
            _ => Ok(()),
        }
    }
}

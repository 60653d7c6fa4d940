//! Team operations: each step derives the Team's state at its time, asks the gatekeeper, and
//! appends the decision (and, when allowed, the change) to the store.

mod facts;
mod operation;
mod quantity;
mod record;
pub mod scenario;
mod state;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, SubsecRound as _, Utc};
use gatekeeper::{Decision, Gatekeeper, Region};

pub use facts::{actor, key_facts, payg_key, request, team_facts, token_plan_key};
pub use operation::{Operation, Step};
pub use quantity::{QuantityError, Seats, TopUp};
pub use record::{Record, histories, team_state};
pub use state::{Holder, Member, Overflow, PaygKey, Renewal, Subscription, TeamState};

use crate::calendar;
use crate::ids::{IdError, PaygKeyId, TeamId, UserId};
use crate::prices::Prices;
use crate::store::{Creates, Entry, StepIdentity, Store, StoreError};

/// How far after the clock a step may be dated: a clock a little ahead is tolerated, a step in
/// the future is not (every later step of its Team would be refused as out of order).
pub const CLOCK_TOLERANCE: Duration = Duration::minutes(5);

/// A step that can't be decided: it refers to something that doesn't exist, breaks the order of
/// time, or reuses another step's `id`. Nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `create_account` by a user who has one.
    #[error("`{0}` already has an account")]
    AccountExists(UserId),
    /// A step by a user without an account.
    #[error("`{0}` has no account; add a `create_account` step for them first")]
    NoAccount(UserId),
    /// A step that names a user without an account.
    #[error("no user `{0}`; they need an account (`create_account`)")]
    NoUser(UserId),
    #[error("no Team `{0}`")]
    NoTeam(TeamId),
    /// A new Team whose id is taken; `hint` ends the message.
    #[error("a Team `{team}` already exists{hint}")]
    TeamExists {
        team: TeamId,
        /// What to do instead, for a Default Team.
        hint: &'static str,
    },
    /// A step dated before its Team's latest change.
    #[error(
        "`at` ({at}) is before Team `{team}`'s latest change ({last}); steps must be in time order"
    )]
    OutOfOrder {
        at: DateTime<Utc>,
        team: TeamId,
        /// The Team's latest change.
        last: DateTime<Utc>,
    },
    /// A new key whose id another Team's key has.
    #[error("key id `{key}` is taken (Team `{team}`); choose another")]
    KeyTaken {
        key: PaygKeyId,
        /// The Team that has it.
        team: String,
    },
    #[error("key `{0}` is already deleted")]
    KeyDeleted(PaygKeyId),
    /// A key the Team does not have.
    #[error("Team `{team}` has no key `{key}`")]
    NoKey { team: String, key: PaygKeyId },
    /// A tier the price list does not have.
    #[error(transparent)]
    UnknownTier(#[from] crate::prices::UnknownTier),
    /// A `create_account` whose actor's id can't be their Default Team's (T7).
    #[error("`as`")]
    DefaultTeamId(#[source] IdError),
    /// A step dated outside the calendar tokenplan takes.
    #[error("`at`")]
    Calendar(#[source] calendar::OutsideCalendar),
    /// A step dated inside a day that is already billed (B19).
    #[error(
        "`at` ({at}) is inside {day}, which is billed and closed (rule B19): Team `{team}`'s days up to {day} end at {end}; date the step at or after {end}"
    )]
    ClosedDay {
        at: DateTime<Utc>,
        team: TeamId,
        /// The latest billed day.
        day: NaiveDate,
        /// The end of that day in the Team's billing zone.
        end: DateTime<Utc>,
    },
    /// A new Team's id that equals an existing one but for case (T7).
    #[error(
        "Team id `{team}` differs only in case from Team `{existing}`'s; ids that differ only in case are one id (rule T7): choose another"
    )]
    TeamIdTaken {
        /// The new id.
        team: TeamId,
        /// The existing Team's id.
        existing: String,
    },
    /// A step dated more than [`CLOCK_TOLERANCE`] after the clock.
    #[error(
        "`at` ({at}) is more than 5 minutes after the clock ({clock}); a step can't be dated in the future: every later step of its Team would be refused"
    )]
    Future {
        at: DateTime<Utc>,
        /// The clock when it was checked, to the second.
        clock: DateTime<Utc>,
    },
    /// An `id` already stored with another step.
    #[error(
        "`id` `{}` is already the id of another step (by `{}` at {}: `{}`); give this step an `id` of its own",
        crate::ids::escaped(id), stored.actor, stored.at, crate::ids::escaped(&stored.payload)
    )]
    IdReused {
        id: String,
        /// The step stored with it.
        stored: StepIdentity,
    },
    /// The step's amount would overflow a balance.
    #[error(transparent)]
    Overflow(#[from] Overflow),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`Teams::apply`] did with a step.
#[derive(Debug)]
pub enum Outcome {
    /// Decided now, and appended.
    Decided(Decision),
    /// A step of the same identity is stored: it was applied before, and nothing is stored now.
    AlreadyApplied {
        /// Whether it was allowed then.
        allowed: bool,
    },
}

impl Outcome {
    /// The decision made now; none for a step applied before.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Outcome::Decided(decision) => Some(decision),
            Outcome::AlreadyApplied { .. } => None,
        }
    }
}

/// How one step of [`Teams::apply_all`] ended.
#[derive(Debug)]
pub struct StepResult {
    /// The step's 1-based number.
    pub number: usize,
    /// What was done with it, or why it could not be decided (nothing of it is stored).
    pub outcome: Result<Outcome, ApplyError>,
}

impl StepResult {
    /// Whether the step ended as it expected: decided, and allowed unless `expect: denied`, or
    /// applied before.
    pub fn as_expected(&self, step: &Step) -> bool {
        match &self.outcome {
            Ok(Outcome::Decided(decision)) => decision.is_allowed() != step.expect_denied,
            Ok(Outcome::AlreadyApplied { .. }) => true,
            Err(_) => false,
        }
    }
}

/// What [`Teams::apply_all`] did.
#[derive(Debug)]
pub struct Applied {
    /// Each step tried, in order; without `keep_going`, up to the first that ended against
    /// its expectation. When a step is dated in the future, only the steps that are.
    pub steps: Vec<StepResult>,
    /// Whether the decisions were stored (one transaction); `false` stores nothing at all.
    pub stored: bool,
}

/// Applies operations to the store through the gatekeeper, keeping each touched Team's latest
/// state in memory so a long scenario never re-reads a Team's history.
pub struct Teams<'a> {
    store: &'a mut Store,
    gate: &'a Gatekeeper,
    prices: &'a Prices,
    states: HashMap<TeamId, TeamState>,
    users: HashSet<UserId>,
    /// The latest billed day, read once (B19).
    closed: Option<Option<NaiveDate>>,
    /// In a dry run, the state of the Team of the latest allowed step before it.
    before: Option<TeamState>,
    dry_run: bool,
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
            closed: None,
            before: None,
            dry_run: false,
        }
    }

    /// Decides every step in order, as [`Teams::apply_all`] with `keep_going` does, then stores
    /// nothing. For each allowed step, `preview` is handed the step and its Team's state before
    /// and after it; what it returns is beside the step's result.
    pub fn dry_run<P>(
        &mut self,
        steps: &[Step],
        mut preview: impl FnMut(&Step, &TeamState, &TeamState) -> P,
    ) -> Result<Vec<(StepResult, Option<P>)>, StoreError> {
        self.dry_run = true;
        self.store.begin()?;
        let mut results = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            self.before = None;
            let outcome = match self.apply(step) {
                Err(ApplyError::Store(e)) => {
                    self.abandon()?;
                    return Err(e);
                }
                outcome => outcome,
            };
            let after = step.team().ok().and_then(|team| self.states.get(&team));
            let previewed = match (&outcome, &self.before, after) {
                (Ok(Outcome::Decided(d)), Some(before), Some(after)) if d.is_allowed() => {
                    Some(preview(step, before, after))
                }
                _ => None,
            };
            let result = StepResult {
                number: i + 1,
                outcome,
            };
            results.push((result, previewed));
        }
        self.abandon()?;
        Ok(results)
    }

    /// Decides `steps` in order in one transaction. Without `keep_going`, the first step that
    /// can't be decided or ends against its expectation stops the run and nothing is stored,
    /// so a corrected file can simply be applied again. With `keep_going`, every step is
    /// tried, the ones that can't be decided are skipped, and the rest is stored. Steps
    /// applied before store nothing. A step dated in the future stores nothing of the file,
    /// with `keep_going` too: the whole file is likely misdated.
    pub fn apply_all(&mut self, steps: &[Step], keep_going: bool) -> Result<Applied, StoreError> {
        let future = future_steps(steps, Utc::now());
        if !future.is_empty() {
            return Ok(Applied {
                steps: future,
                stored: false,
            });
        }
        self.store.begin()?;
        let mut results = Vec::with_capacity(steps.len());
        let mut complete = true;
        for (i, step) in steps.iter().enumerate() {
            let outcome = match self.apply(step) {
                Err(ApplyError::Store(e)) => {
                    self.abandon()?;
                    return Err(e);
                }
                outcome => outcome,
            };
            let result = StepResult {
                number: i + 1,
                outcome,
            };
            let as_expected = result.as_expected(step);
            results.push(result);
            if !as_expected && !keep_going {
                complete = false;
                break;
            }
        }
        if complete {
            self.store.commit()?;
        } else {
            self.abandon()?;
        }
        Ok(Applied {
            steps: results,
            stored: complete,
        })
    }

    /// Rolls the transaction back and forgets what was cached from it.
    fn abandon(&mut self) -> Result<(), StoreError> {
        self.states.clear();
        self.users.clear();
        self.store.rollback()
    }

    /// Decides and records one step, unless a step of the same identity is stored (its `id`,
    /// or without one its Team, instant, actor and operation with its fields): then it stores
    /// nothing. The same `id` with another step is an error.
    pub fn apply(&mut self, step: &Step) -> Result<Outcome, ApplyError> {
        let team = step.team().map_err(ApplyError::DefaultTeamId)?;
        calendar::check_instant(step.at).map_err(ApplyError::Calendar)?;
        check_clock(step.at, Utc::now())?;
        let payload = serde_json::to_string(&step.operation).map_err(|e| StoreError::Corrupt {
            table: "team_records",
            message: e.to_string(),
        })?;
        let identity = StepIdentity {
            team: team.to_string(),
            // As precise as the store keeps instants.
            at: step.at.trunc_subsecs(6),
            actor: step.actor.to_string(),
            payload,
        };
        if let Some(allowed) = self.applied_before(step.id.as_deref(), &identity)? {
            return Ok(Outcome::AlreadyApplied { allowed });
        }
        self.decide(step, team, &identity.payload)
            .map(Outcome::Decided)
    }

    /// Whether the step of `identity` (or of `id`) is stored, and if so, whether it was
    /// allowed.
    fn applied_before(
        &self,
        id: Option<&str>,
        identity: &StepIdentity,
    ) -> Result<Option<bool>, ApplyError> {
        let Some(id) = id else {
            // A step after its Team's latest change, known when the Team is cached, is new.
            let later = |state: &TeamState| identity.at > state.at;
            if self.states.get(identity.team.as_str()).is_some_and(later) {
                return Ok(None);
            }
            return Ok(self.store.step_like(identity)?);
        };
        match self.store.step_with_id(id)? {
            None => Ok(None),
            Some((stored, allowed)) if stored == *identity => Ok(Some(allowed)),
            Some((stored, _)) => Err(ApplyError::IdReused {
                id: id.to_owned(),
                stored,
            }),
        }
    }

    /// Decides a new step in `team` and appends it with its identity (`payload`, the
    /// operation with its fields).
    fn decide(&mut self, step: &Step, team: TeamId, payload: &str) -> Result<Decision, ApplyError> {
        let (actor, operation, at) = (&step.actor, &step.operation, step.at);
        let mut state = self.state_for(actor, operation, &team, at)?;
        self.check_open(&team, state.region, at)?;
        self.check_references(&state, operation)?;
        let decision = self.gate.decide(&request(&state, actor, operation));
        if decision.is_allowed() {
            if self.dry_run {
                self.before = Some(state.clone());
            }
            // Before anything is stored: a top-up that would overflow fails here, leaving the
            // state as it was, and the step stores nothing.
            state.apply(actor, operation, at)?;
        }
        self.store.append(&Entry {
            at,
            actor,
            team: &team,
            operation: operation.name(),
            payload,
            creates: creates(operation),
            decision: &decision,
            step_id: step.id.as_deref(),
        })?;
        self.states.insert(team, state);
        Ok(decision)
    }

    /// A step dated inside a billed day would never be billed: it is refused (B19).
    fn check_open(
        &mut self,
        team: &TeamId,
        region: Region,
        at: DateTime<Utc>,
    ) -> Result<(), ApplyError> {
        let closed = match self.closed {
            Some(closed) => closed,
            None => *self.closed.insert(self.store.latest_billed_day()?),
        };
        let Some(day) = closed else { return Ok(()) };
        let end = calendar::day_end(day, region);
        if at < end {
            return Err(ApplyError::ClosedDay {
                at,
                team: team.clone(),
                day,
                end,
            });
        }
        Ok(())
    }

    /// The Team's state at `at`: cached, read from the store, or (for the operations that
    /// create one) the Team about to exist.
    fn state_for(
        &mut self,
        actor: &UserId,
        operation: &Operation,
        team: &TeamId,
        at: DateTime<Utc>,
    ) -> Result<TeamState, ApplyError> {
        let actor_exists = self.user_exists(actor)?;
        let new_team = |region, is_default| {
            TeamState::new(team.as_str(), region, is_default, actor.as_str(), at)
        };
        match operation {
            Operation::CreateAccount { region } => {
                if actor_exists {
                    return Err(ApplyError::AccountExists(actor.clone()));
                }
                self.check_new_team(team, "; choose another user id")?;
                return Ok(new_team(*region, true));
            }
            _ if !actor_exists => {
                return Err(ApplyError::NoAccount(actor.clone()));
            }
            Operation::CreateTeam { region, .. } => {
                self.check_new_team(team, "")?;
                return Ok(new_team(*region, false));
            }
            _ => {}
        }
        // A cached state is at its Team's latest change; one read from the store is at `at`.
        let (mut state, last) = match self.states.remove(team) {
            Some(state) => {
                let last = state.at;
                (state, last)
            }
            None => match team_state(&*self.store, team.as_str(), at)? {
                Some(state) => {
                    let last = self
                        .store
                        .last_change(team.as_str())?
                        .unwrap_or(state.at)
                        .max(state.at);
                    (state, last)
                }
                None => return Err(ApplyError::NoTeam(team.clone())),
            },
        };
        if at < last {
            self.states.insert(team.clone(), state);
            return Err(ApplyError::OutOfOrder {
                at,
                team: team.clone(),
                last,
            });
        }
        state.advance_to(at);
        Ok(state)
    }

    /// No Team has the id of a Team about to be created, in any case (T7); `hint` ends the
    /// message for the very same id.
    fn check_new_team(&self, team: &TeamId, hint: &'static str) -> Result<(), ApplyError> {
        match self.store.team_id_ignoring_case(team.as_str())? {
            None => Ok(()),
            Some(existing) if existing == team.as_str() => Err(ApplyError::TeamExists {
                team: team.clone(),
                hint,
            }),
            Some(existing) => Err(ApplyError::TeamIdTaken {
                team: team.clone(),
                existing,
            }),
        }
    }

    /// Whether `user` has an account; accounts are never removed, so known ones are remembered.
    fn user_exists(&mut self, user: &UserId) -> Result<bool, StoreError> {
        if self.users.contains(user) {
            return Ok(true);
        }
        let exists = self.store.user_exists(user.as_str())?;
        if exists {
            self.users.insert(user.clone());
        }
        Ok(exists)
    }

    /// Users, tiers and keys the operation names must exist.
    fn check_references(
        &mut self,
        state: &TeamState,
        operation: &Operation,
    ) -> Result<(), ApplyError> {
        match operation {
            Operation::Invite { user, .. }
            | Operation::RemoveMember { user, .. }
            | Operation::ChangeRole { user, .. }
            | Operation::AssignSeat { user, .. }
            | Operation::UnassignSeat { user, .. }
            | Operation::SetCreditsAccess { user, .. }
                if !self.user_exists(user)? =>
            {
                Err(ApplyError::NoUser(user.clone()))
            }
            Operation::ReassignSeat { from, to, .. } => {
                for user in [from, to] {
                    if !self.user_exists(user)? {
                        return Err(ApplyError::NoUser(user.clone()));
                    }
                }
                Ok(())
            }
            Operation::BuySubscription { tier, .. }
            | Operation::AddSeats { tier, .. }
            | Operation::RemoveSeats { tier, .. }
            | Operation::CancelRenewal { tier, .. }
            | Operation::RestoreRenewal { tier, .. }
            | Operation::AssignSeat { tier, .. } => {
                self.prices.tier(tier).map(|_| ()).map_err(ApplyError::from)
            }
            Operation::CreatePaygKey { key, .. } => match self.store.payg_key_team(key.as_str())? {
                Some(team) => Err(ApplyError::KeyTaken {
                    key: key.clone(),
                    team,
                }),
                None => Ok(()),
            },
            Operation::DeletePaygKey { key, .. } => match state.payg_keys.get(key.as_str()) {
                Some(k) if k.deleted_at.is_none() => Ok(()),
                Some(_) => Err(ApplyError::KeyDeleted(key.clone())),
                None => Err(ApplyError::NoKey {
                    team: state.id.clone(),
                    key: key.clone(),
                }),
            },
            _ => Ok(()),
        }
    }
}

/// The steps dated more than [`CLOCK_TOLERANCE`] after `clock`, refused.
fn future_steps(steps: &[Step], clock: DateTime<Utc>) -> Vec<StepResult> {
    steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            let refusal = check_clock(step.at, clock).err()?;
            Some(StepResult {
                number: i + 1,
                outcome: Err(refusal),
            })
        })
        .collect()
}

/// A step may be dated at most [`CLOCK_TOLERANCE`] after `clock`.
fn check_clock(at: DateTime<Utc>, clock: DateTime<Utc>) -> Result<(), ApplyError> {
    if at > clock + CLOCK_TOLERANCE {
        let clock = clock.trunc_subsecs(0);
        return Err(ApplyError::Future { at, clock });
    }
    Ok(())
}

/// The account, Team or key an allowed `operation` creates.
fn creates(operation: &Operation) -> Option<Creates<'_>> {
    match operation {
        Operation::CreateAccount { region } => Some(Creates::Account { region: *region }),
        Operation::CreateTeam { team, region } => Some(Creates::Team {
            team,
            region: *region,
        }),
        Operation::CreatePaygKey { team, key } => Some(Creates::PaygKey { team, key }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn id<T: std::str::FromStr<Err: std::fmt::Debug>>(text: &str) -> T {
        text.parse().unwrap()
    }

    #[test]
    fn a_library_call_with_an_idempotency_key_applies_once() {
        let gate = Gatekeeper::bundled().unwrap();
        let prices = Prices::bundled().unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let mut teams = Teams::new(&mut store, &gate, &prices);
        let account = Operation::CreateAccount {
            region: Region::Overseas,
        };
        let top_up = |amount: &str| Operation::TopUpWallet {
            team: id("own"),
            amount: TopUp::new(amount.parse().unwrap()).unwrap(),
        };
        let steps = [
            Step::new(id("own"), account, at("2026-01-01T00:00:00Z")),
            Step::new(id("own"), top_up("5"), at("2026-01-02T00:00:00Z")).with_id("request-1"),
        ];
        for step in &steps {
            assert!(matches!(teams.apply(step), Ok(Outcome::Decided(d)) if d.is_allowed()));
        }
        for step in &steps {
            assert!(matches!(
                teams.apply(step),
                Ok(Outcome::AlreadyApplied { allowed: true })
            ));
        }
        let retried_with_another_amount =
            Step::new(id("own"), top_up("6"), at("2026-01-02T00:00:00Z")).with_id("request-1");
        let refused = teams.apply(&retried_with_another_amount).unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("`id` `request-1` is already the id of another step"),
            "{refused}"
        );
        drop(teams);
        let state = team_state(&store, "own", at("2026-01-03T00:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(state.wallet_topped_up.to_string(), "5");
    }

    #[test]
    fn references_that_do_not_resolve_are_typed_refusals() {
        let gate = Gatekeeper::bundled().unwrap();
        let prices = Prices::bundled().unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let mut teams = Teams::new(&mut store, &gate, &prices);
        let leave = Operation::Leave { team: id("acme") };
        let refused = teams
            .apply(&Step::new(id("olga"), leave, at("2026-01-01T00:00:00Z")))
            .unwrap_err();
        assert!(matches!(&refused, ApplyError::NoAccount(user) if user.as_str() == "olga"));
        assert_eq!(
            refused.to_string(),
            "`olga` has no account; add a `create_account` step for them first"
        );
        let account = Operation::CreateAccount {
            region: Region::Overseas,
        };
        let create = Step::new(id("olga"), account, at("2026-01-01T00:00:00Z"));
        assert!(teams.apply(&create).is_ok());
        let again = Step::new(
            id("olga"),
            create.operation.clone(),
            at("2026-01-02T00:00:00Z"),
        );
        assert_eq!(
            teams.apply(&again).unwrap_err().to_string(),
            "`olga` already has an account"
        );
        let leave = Operation::Leave { team: id("acme") };
        let refused = teams
            .apply(&Step::new(id("olga"), leave, at("2026-01-03T00:00:00Z")))
            .unwrap_err();
        assert_eq!(refused.to_string(), "no Team `acme`");
        let top_up = Operation::TopUpWallet {
            team: id("olga"),
            amount: TopUp::new(Decimal::ONE).unwrap(),
        };
        let refused = teams
            .apply(&Step::new(id("olga"), top_up, at("2025-12-31T00:00:00Z")))
            .unwrap_err();
        assert!(
            matches!(refused, ApplyError::OutOfOrder { .. }),
            "{refused}"
        );
    }

    #[test]
    fn a_step_more_than_five_minutes_after_the_clock_is_refused() {
        let clock = at("2026-01-01T00:00:00Z");
        assert!(check_clock(clock + CLOCK_TOLERANCE, clock).is_ok());
        let late = clock + CLOCK_TOLERANCE + Duration::seconds(1);
        assert!(matches!(
            check_clock(late, clock),
            Err(ApplyError::Future { .. })
        ));
    }
}

//! The operations of a scenario (`do`), and the steps that carry them.

use chrono::{DateTime, Utc};
use gatekeeper::{Action, Region, Role};
use serde::{Deserialize, Serialize};

use super::quantity::{Seats, TopUp};
use crate::ids::IdKind;

/// One operation on the store, with its fields (interfaces.md, scenario files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// T1: the acting user's account and Default Team.
    CreateAccount {
        /// Region of the Default Team.
        #[serde(default = "overseas")]
        region: Region,
    },
    /// A new Team owned by the actor.
    CreateTeam {
        /// The Team id.
        team: String,
        region: Region,
    },
    /// Invite a user.
    Invite {
        team: String,
        /// The invited user.
        user: String,
        /// `admin` or `reader`.
        role: Role,
    },
    /// Remove a member.
    RemoveMember {
        team: String,
        /// The member.
        user: String,
    },
    /// The actor leaves.
    Leave { team: String },
    /// Change a member's role.
    ChangeRole {
        team: String,
        /// The member.
        user: String,
        /// The new role.
        role: Role,
    },
    /// Buy a tier's subscription.
    BuySubscription {
        team: String,
        tier: String,
        seats: Seats,
    },
    /// Add seats.
    AddSeats {
        team: String,
        tier: String,
        seats: Seats,
    },
    /// Remove seats (overseas: at the next renewal).
    RemoveSeats {
        team: String,
        tier: String,
        seats: Seats,
    },
    /// Cancel a tier's renewal (domestic).
    CancelRenewal { team: String, tier: String },
    /// Restore a tier's renewal (always refused, D5).
    RestoreRenewal { team: String, tier: String },
    /// Assign a seat of a tier.
    AssignSeat {
        team: String,
        tier: String,
        /// The member.
        user: String,
    },
    /// Take a member's seat back.
    UnassignSeat {
        team: String,
        /// The member.
        user: String,
    },
    /// Move a seat with its usage (S4).
    ReassignSeat {
        team: String,
        /// The member who holds it.
        from: String,
        /// The member who gets it.
        to: String,
    },
    /// Top up the Credits pool.
    TopUpCredits { team: String, amount: TopUp },
    /// Top up the pay-as-you-go wallet.
    TopUpWallet { team: String, amount: TopUp },
    /// Turn a member's Credits access on or off.
    SetCreditsAccess {
        team: String,
        /// The member.
        user: String,
        /// On or off.
        enabled: bool,
    },
    /// Create a pay-as-you-go key.
    CreatePaygKey {
        team: String,
        /// The new key's id.
        key: String,
    },
    /// Delete a pay-as-you-go key.
    DeletePaygKey { team: String, key: String },
}

fn overseas() -> Region {
    Region::Overseas
}

impl Operation {
    /// The schema action the operation asks for.
    pub fn action(&self) -> Action {
        match self {
            Operation::CreateAccount { .. } => Action::CreateAccount,
            Operation::CreateTeam { .. } => Action::CreateTeam,
            Operation::Invite { .. } => Action::Invite,
            Operation::RemoveMember { .. } => Action::RemoveMember,
            Operation::Leave { .. } => Action::Leave,
            Operation::ChangeRole { .. } => Action::ChangeRole,
            Operation::BuySubscription { .. } => Action::BuySubscription,
            Operation::AddSeats { .. } => Action::AddSeats,
            Operation::RemoveSeats { .. } => Action::RemoveSeats,
            Operation::CancelRenewal { .. } => Action::CancelRenewal,
            Operation::RestoreRenewal { .. } => Action::RestoreRenewal,
            Operation::AssignSeat { .. } => Action::AssignSeat,
            Operation::UnassignSeat { .. } => Action::UnassignSeat,
            Operation::ReassignSeat { .. } => Action::ReassignSeat,
            Operation::TopUpCredits { .. } => Action::TopUpCredits,
            Operation::TopUpWallet { .. } => Action::TopUpWallet,
            Operation::SetCreditsAccess { .. } => Action::SetCreditsAccess,
            Operation::CreatePaygKey { .. } => Action::CreatePaygKey,
            Operation::DeletePaygKey { .. } => Action::DeletePaygKey,
        }
    }

    /// The `do` name: the action's.
    pub fn name(&self) -> &'static str {
        self.action().as_str()
    }

    /// The user, Team and key ids the operation names, with their field names (T7).
    pub fn ids(&self) -> Vec<(&'static str, IdKind, &str)> {
        let mut ids = Vec::new();
        if !matches!(self, Operation::CreateAccount { .. }) {
            ids.push(("team", IdKind::Team, self.team("")));
        }
        match self {
            Operation::Invite { user, .. }
            | Operation::RemoveMember { user, .. }
            | Operation::ChangeRole { user, .. }
            | Operation::AssignSeat { user, .. }
            | Operation::UnassignSeat { user, .. }
            | Operation::SetCreditsAccess { user, .. } => {
                ids.push(("user", IdKind::User, user));
            }
            Operation::ReassignSeat { from, to, .. } => {
                ids.push(("from", IdKind::User, from));
                ids.push(("to", IdKind::User, to));
            }
            Operation::CreatePaygKey { key, .. } | Operation::DeletePaygKey { key, .. } => {
                ids.push(("key", IdKind::PaygKey, key));
            }
            _ => {}
        }
        ids
    }

    /// The Team the operation acts in; for `create_account`, the actor's Default Team.
    pub fn team<'a>(&'a self, actor: &'a str) -> &'a str {
        match self {
            Operation::CreateAccount { .. } => actor,
            Operation::CreateTeam { team, .. }
            | Operation::Invite { team, .. }
            | Operation::RemoveMember { team, .. }
            | Operation::Leave { team }
            | Operation::ChangeRole { team, .. }
            | Operation::BuySubscription { team, .. }
            | Operation::AddSeats { team, .. }
            | Operation::RemoveSeats { team, .. }
            | Operation::CancelRenewal { team, .. }
            | Operation::RestoreRenewal { team, .. }
            | Operation::AssignSeat { team, .. }
            | Operation::UnassignSeat { team, .. }
            | Operation::ReassignSeat { team, .. }
            | Operation::TopUpCredits { team, .. }
            | Operation::TopUpWallet { team, .. }
            | Operation::SetCreditsAccess { team, .. }
            | Operation::CreatePaygKey { team, .. }
            | Operation::DeletePaygKey { team, .. } => team,
        }
    }
}

/// One step: an operation, when, by whom, and whether a refusal is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's identity (`id`), an idempotency key: a step whose `id` is stored was applied
    /// already. Without one, its identity is its Team, instant, actor and operation with its
    /// fields.
    pub id: Option<String>,
    /// When (`at`).
    pub at: DateTime<Utc>,
    /// The acting user (`as`).
    pub actor: String,
    /// What (`do` and its fields).
    pub operation: Operation,
    /// `expect: denied`.
    pub expect_denied: bool,
}

impl Step {
    /// `operation` by `actor` at `at`, without an `id`, expected to be allowed.
    pub fn new(actor: impl Into<String>, operation: Operation, at: DateTime<Utc>) -> Step {
        Step {
            id: None,
            at,
            actor: actor.into(),
            operation,
            expect_denied: false,
        }
    }

    /// The same step identified by `id`.
    pub fn with_id(self, id: impl Into<String>) -> Step {
        Step {
            id: Some(id.into()),
            ..self
        }
    }
}

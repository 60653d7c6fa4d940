//! The operations of a scenario (`do`), and the steps that carry them.

use chrono::{DateTime, Utc};
use gatekeeper::{Action, Region, Role};
use serde::{Deserialize, Serialize};

use super::quantity::{Seats, TopUp};
use crate::ids::{IdError, IdKind, PaygKeyId, TeamId, UserId};

/// The fields of an operation that hold ids, and what each names: the same in every operation.
pub(super) const ID_FIELDS: [(&str, IdKind); 5] = [
    ("team", IdKind::Team),
    ("user", IdKind::User),
    ("from", IdKind::User),
    ("to", IdKind::User),
    ("key", IdKind::PaygKey),
];

/// One operation on the store, with its fields (interfaces.md, scenario files). Its ids are
/// checked (T7) and its quantities positive as it is made or deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// T1: the acting user's account and Default Team.
    CreateAccount {
        /// Region of the Default Team (default overseas).
        #[serde(default = "overseas")]
        region: Region,
    },
    /// A new Team owned by the actor.
    CreateTeam {
        team: TeamId,
        region: Region,
    },
    /// Invite a user as `admin` or `reader`.
    Invite {
        team: TeamId,
        user: UserId,
        role: Role,
    },
    RemoveMember {
        team: TeamId,
        user: UserId,
    },
    /// The actor leaves.
    Leave {
        team: TeamId,
    },
    /// Change a member's role.
    ChangeRole {
        team: TeamId,
        user: UserId,
        role: Role,
    },
    /// Buy a tier's subscription.
    BuySubscription {
        team: TeamId,
        tier: String,
        seats: Seats,
    },
    AddSeats {
        team: TeamId,
        tier: String,
        seats: Seats,
    },
    /// Remove seats (overseas: at the next renewal).
    RemoveSeats {
        team: TeamId,
        tier: String,
        seats: Seats,
    },
    /// Cancel a tier's renewal (domestic).
    CancelRenewal {
        team: TeamId,
        tier: String,
    },
    /// Restore a tier's renewal (always refused, D5).
    RestoreRenewal {
        team: TeamId,
        tier: String,
    },
    /// Assign a seat of a tier to a member.
    AssignSeat {
        team: TeamId,
        tier: String,
        user: UserId,
    },
    /// Take a member's seat back.
    UnassignSeat {
        team: TeamId,
        user: UserId,
    },
    /// Move a seat with its usage (S4) from the member who holds it to another.
    ReassignSeat {
        team: TeamId,
        from: UserId,
        to: UserId,
    },
    /// Top up the Credits pool.
    TopUpCredits {
        team: TeamId,
        amount: TopUp,
    },
    /// Top up the pay-as-you-go wallet.
    TopUpWallet {
        team: TeamId,
        amount: TopUp,
    },
    /// Turn a member's Credits access on or off.
    SetCreditsAccess {
        team: TeamId,
        user: UserId,
        enabled: bool,
    },
    /// Create a pay-as-you-go key of this id.
    CreatePaygKey {
        team: TeamId,
        key: PaygKeyId,
    },
    DeletePaygKey {
        team: TeamId,
        key: PaygKeyId,
    },
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

    /// The Team the operation acts in; none for `create_account`, whose Team is the actor's
    /// Default Team.
    pub fn team(&self) -> Option<&TeamId> {
        match self {
            Operation::CreateAccount { .. } => None,
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
            | Operation::DeletePaygKey { team, .. } => Some(team),
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
    pub actor: UserId,
    /// What (`do` and its fields).
    pub operation: Operation,
    /// `expect: denied`.
    pub expect_denied: bool,
}

impl Step {
    /// `operation` by `actor` at `at`, without an `id`, expected to be allowed.
    pub fn new(actor: UserId, operation: Operation, at: DateTime<Utc>) -> Step {
        Step {
            id: None,
            at,
            actor,
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

    /// The Team the step acts in: its operation's, or for `create_account` the actor's Default
    /// Team, refused when the actor's id can't be a Team's (T7).
    pub fn team(&self) -> Result<TeamId, IdError> {
        match self.operation.team() {
            Some(team) => Ok(team.clone()),
            None => self.actor.default_team(),
        }
    }
}

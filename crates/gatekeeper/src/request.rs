//! Typed requests: who acts, on which Team, doing what, with the facts the policies need.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::error::UnknownName;

/// A member's role in a Team (T4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The one Owner.
    Owner,
    /// An Admin.
    Admin,
    /// A Reader.
    Reader,
}

impl Role {
    /// Every role, Owner first.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Reader];

    /// The role's name in the policies and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Reader => "reader",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownName::new("role", s, "`owner`, `admin` or `reader`"))
    }
}

/// Where a Team is billed (B1, B3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// Billed in USD, days in UTC.
    Overseas,
    /// Billed in CNY, days in UTC+08:00.
    Domestic,
}

impl Region {
    /// Both regions.
    pub const ALL: [Region; 2] = [Region::Overseas, Region::Domestic];

    /// The region's name in the policies and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Overseas => "overseas",
            Region::Domestic => "domestic",
        }
    }
}

impl FromStr for Region {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|region| region.as_str() == s)
            .ok_or_else(|| UnknownName::new("region", s, "`overseas` or `domestic`"))
    }
}

/// The facts of the Team a request is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamFacts {
    /// The Team id.
    pub id: String,
    /// Its region.
    pub region: Region,
    /// Whether it is a user's Default Team (T2).
    pub is_default: bool,
    /// Members now, the Owner included (T5).
    pub member_count: i64,
    /// Seats of every tier, pending removals included (T6).
    pub seat_count: i64,
}

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A user outside any Team (creating an account or a Team).
    User(String),
    /// A user who is not a member of the request's Team: a principal outside it, which the
    /// policies' Team boundary (T4) denies.
    Outsider(String),
    /// A user acting in the request's Team, with their role there.
    Member {
        /// The user id.
        user: String,
        /// The user's role in the Team.
        role: Role,
    },
    /// A billing operator (B24): a principal of its own type, a member of no Team.
    Operator(String),
}

impl Actor {
    /// A member of the request's Team.
    pub fn member(user: impl Into<String>, role: Role) -> Self {
        Actor::Member {
            user: user.into(),
            role,
        }
    }

    /// The acting user's (or operator's) id.
    pub fn user(&self) -> &str {
        match self {
            Actor::User(user)
            | Actor::Outsider(user)
            | Actor::Member { user, .. }
            | Actor::Operator(user) => user,
        }
    }
}

/// The user an action is about, and their membership in the Team if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The user id.
    pub user: String,
    /// Their role, when they are a member.
    pub role: Option<Role>,
    /// Whether they hold a seat in the Team (members only).
    pub has_seat: bool,
}

impl Target {
    /// A user who is not a member of the Team.
    pub fn outsider(user: impl Into<String>) -> Self {
        Target {
            user: user.into(),
            role: None,
            has_seat: false,
        }
    }

    /// A member of the Team.
    pub fn member(user: impl Into<String>, role: Role, has_seat: bool) -> Self {
        Target {
            user: user.into(),
            role: Some(role),
            has_seat,
        }
    }
}

/// A change to the Team's subscriptions, with the counts the limits are stated over.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SubscriptionChange {
    /// The plan tier.
    pub tier: String,
    /// Seats the step asks for; 0 for renewal changes.
    pub seats: i64,
    /// Team-wide seats after the step, pending removals included (T6, O4).
    pub seats_after: i64,
    /// Tiers with a live subscription, canceled ones included until they end.
    pub subscribed_tiers: Vec<String>,
    /// Tiers whose renewal is canceled.
    pub canceled_tiers: Vec<String>,
    /// Seats of `tier` that will renew (O3).
    pub renewing_seats: i64,
}

/// A pay-as-you-go key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaygKeyFacts {
    /// The key id.
    pub id: String,
    /// The user who created it.
    pub creator: String,
}

/// The id of a member's Token Plan Key in a Team: `tp:TEAM:USER` (K1). The one place the
/// shape is written or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPlanKeyId<'a> {
    /// The Team.
    pub team: &'a str,
    /// The member who holds it.
    pub user: &'a str,
}

impl<'a> TokenPlanKeyId<'a> {
    /// The key of `user` in `team`.
    pub fn new(team: &'a str, user: &'a str) -> Self {
        TokenPlanKeyId { team, user }
    }

    /// The Team and user of `id`, if it has the shape `tp:TEAM:USER`.
    pub fn parse(id: &'a str) -> Option<Self> {
        let (team, user) = id.strip_prefix("tp:")?.split_once(':')?;
        Some(TokenPlanKeyId { team, user })
    }
}

impl std::fmt::Display for TokenPlanKeyId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tp:{}:{}", self.team, self.user)
    }
}

/// A member's Token Plan Key in the request's Team (its id is a [`TokenPlanKeyId`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPlanKeyFacts {
    /// The member who holds it.
    pub holder: String,
    /// Whether the holder has an assigned seat.
    pub has_seat: bool,
    /// Whether the holder's Credits access is on.
    pub credits_access: bool,
}

/// A key whose usage is viewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFacts {
    /// A pay-as-you-go key.
    Payg(PaygKeyFacts),
    /// A Token Plan Key.
    TokenPlan(TokenPlanKeyFacts),
}

/// The operation asked for, with its own facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionRequest {
    /// T1.
    CreateAccount,
    /// T4.
    CreateTeam,
    /// Invite a user with a role.
    Invite {
        /// The invited user.
        target: Target,
        /// The role offered.
        role: Role,
    },
    /// Remove a member.
    RemoveMember {
        /// The member removed.
        target: Target,
    },
    /// The actor leaves the Team.
    Leave,
    /// Change a member's role.
    ChangeRole {
        /// The member.
        target: Target,
        /// The new role.
        role: Role,
    },
    /// Buy a tier's subscription.
    BuySubscription(SubscriptionChange),
    /// Add seats to a tier.
    AddSeats(SubscriptionChange),
    /// Remove seats from a tier.
    RemoveSeats(SubscriptionChange),
    /// Cancel a tier's renewal.
    CancelRenewal(SubscriptionChange),
    /// Restore a tier's canceled renewal.
    RestoreRenewal(SubscriptionChange),
    /// Assign a seat of a tier to a member.
    AssignSeat {
        /// The member.
        target: Target,
        /// The tier.
        tier: String,
        /// Unassigned seats of the tier.
        free_seats: i64,
    },
    /// Take a member's seat back.
    UnassignSeat {
        /// The member.
        target: Target,
    },
    /// Move a seat, with its usage, from one member to another (S4).
    ReassignSeat {
        /// The member who holds the seat.
        from: Target,
        /// The member who gets it.
        target: Target,
    },
    /// C2.
    TopUpCredits,
    /// P2.
    TopUpWallet,
    /// Turn a member's Credits access on or off (C5).
    SetCreditsAccess {
        /// The member.
        target: Target,
    },
    /// Create a pay-as-you-go key (P3).
    CreatePaygKey {
        /// The actor's live keys in the Team before this one.
        live_keys: i64,
    },
    /// Delete a pay-as-you-go key (P5).
    DeletePaygKey(PaygKeyFacts),
    /// See a pay-as-you-go key (P5).
    ViewPaygKey(PaygKeyFacts),
    /// Serve a request made with a Token Plan Key (K2).
    UseTokenPlanKey {
        /// The key.
        key: TokenPlanKeyFacts,
        /// Whether the Credits pool has a positive balance.
        credits_available: bool,
    },
    /// See one key's usage (V1, V2).
    ViewUsage(KeyFacts),
    /// See the Team-wide parts of billing (V1, V2).
    ViewBilling,
    /// Correct an issued statement of the Team (B24).
    AdjustStatement,
}

impl ActionRequest {
    /// The schema action asked for.
    pub fn action(&self) -> Action {
        match self {
            ActionRequest::CreateAccount => Action::CreateAccount,
            ActionRequest::CreateTeam => Action::CreateTeam,
            ActionRequest::Invite { .. } => Action::Invite,
            ActionRequest::RemoveMember { .. } => Action::RemoveMember,
            ActionRequest::Leave => Action::Leave,
            ActionRequest::ChangeRole { .. } => Action::ChangeRole,
            ActionRequest::BuySubscription(_) => Action::BuySubscription,
            ActionRequest::AddSeats(_) => Action::AddSeats,
            ActionRequest::RemoveSeats(_) => Action::RemoveSeats,
            ActionRequest::CancelRenewal(_) => Action::CancelRenewal,
            ActionRequest::RestoreRenewal(_) => Action::RestoreRenewal,
            ActionRequest::AssignSeat { .. } => Action::AssignSeat,
            ActionRequest::UnassignSeat { .. } => Action::UnassignSeat,
            ActionRequest::ReassignSeat { .. } => Action::ReassignSeat,
            ActionRequest::TopUpCredits => Action::TopUpCredits,
            ActionRequest::TopUpWallet => Action::TopUpWallet,
            ActionRequest::SetCreditsAccess { .. } => Action::SetCreditsAccess,
            ActionRequest::CreatePaygKey { .. } => Action::CreatePaygKey,
            ActionRequest::DeletePaygKey(_) => Action::DeletePaygKey,
            ActionRequest::ViewPaygKey(_) => Action::ViewPaygKey,
            ActionRequest::UseTokenPlanKey { .. } => Action::UseTokenPlanKey,
            ActionRequest::ViewUsage(_) => Action::ViewUsage,
            ActionRequest::ViewBilling => Action::ViewBilling,
            ActionRequest::AdjustStatement => Action::AdjustStatement,
        }
    }

    /// The Cedar action's name.
    pub fn name(&self) -> &'static str {
        self.action().as_str()
    }
}

/// One authorization request: an actor, the Team, the action with its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who acts.
    pub actor: Actor,
    /// The Team acted in.
    pub team: TeamFacts,
    /// What is asked.
    pub action: ActionRequest,
}

impl Request {
    /// A request of `actor` in `team`.
    pub fn new(actor: Actor, team: TeamFacts, action: ActionRequest) -> Self {
        Request {
            actor,
            team,
            action,
        }
    }
}

//! Typed requests: who acts, on which Team, doing what, with the facts the policies need.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};
use serde::{Deserialize, Serialize};

use crate::error::RequestError;

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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "reader" => Ok(Role::Reader),
            other => Err(format!(
                "unknown role `{other}`; expected `owner`, `admin` or `reader`"
            )),
        }
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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overseas" => Ok(Region::Overseas),
            "domestic" => Ok(Region::Domestic),
            other => Err(format!(
                "unknown region `{other}`; expected `overseas` or `domestic`"
            )),
        }
    }
}

/// The facts of the Team a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Actor {
    /// A member of the request's Team.
    pub fn member(user: impl Into<String>, role: Role) -> Self {
        Actor::Member {
            user: user.into(),
            role,
        }
    }

    /// The acting user's id.
    pub fn user(&self) -> &str {
        match self {
            Actor::User(user) | Actor::Outsider(user) | Actor::Member { user, .. } => user,
        }
    }
}

/// The user an action is about, and their membership in the Team if any.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaygKeyFacts {
    /// The key id.
    pub id: String,
    /// The user who created it.
    pub creator: String,
}

/// A member's Token Plan Key in the request's Team (its id is `tp:TEAM:USER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPlanKeyFacts {
    /// The member who holds it.
    pub holder: String,
    /// Whether the holder has an assigned seat.
    pub has_seat: bool,
    /// Whether the holder's Credits access is on.
    pub credits_access: bool,
}

/// A key whose usage is viewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFacts {
    /// A pay-as-you-go key.
    Payg(PaygKeyFacts),
    /// A Token Plan Key.
    TokenPlan(TokenPlanKeyFacts),
}

/// The operation asked for, with its own facts.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl ActionRequest {
    /// The Cedar action's name.
    pub fn name(&self) -> &'static str {
        use ActionRequest::*;
        match self {
            CreateAccount => "create_account",
            CreateTeam => "create_team",
            Invite { .. } => "invite",
            RemoveMember { .. } => "remove_member",
            Leave => "leave",
            ChangeRole { .. } => "change_role",
            BuySubscription(_) => "buy_subscription",
            AddSeats(_) => "add_seats",
            RemoveSeats(_) => "remove_seats",
            CancelRenewal(_) => "cancel_renewal",
            RestoreRenewal(_) => "restore_renewal",
            AssignSeat { .. } => "assign_seat",
            UnassignSeat { .. } => "unassign_seat",
            ReassignSeat { .. } => "reassign_seat",
            TopUpCredits => "top_up_credits",
            TopUpWallet => "top_up_wallet",
            SetCreditsAccess { .. } => "set_credits_access",
            CreatePaygKey { .. } => "create_payg_key",
            DeletePaygKey(_) => "delete_payg_key",
            ViewPaygKey(_) => "view_payg_key",
            UseTokenPlanKey { .. } => "use_token_plan_key",
            ViewUsage(_) => "view_usage",
            ViewBilling => "view_billing",
        }
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

/// The entity type names of the schema, parsed once.
pub(crate) struct EntityTypes {
    user: EntityTypeName,
    role: EntityTypeName,
    region: EntityTypeName,
    team: EntityTypeName,
    member: EntityTypeName,
    payg_key: EntityTypeName,
    token_plan_key: EntityTypeName,
    action: EntityTypeName,
}

impl EntityTypes {
    pub(crate) fn new() -> Result<Self, String> {
        let parse = |name: &str| EntityTypeName::from_str(name).map_err(|e| e.to_string());
        Ok(EntityTypes {
            user: parse("User")?,
            role: parse("Role")?,
            region: parse("Region")?,
            team: parse("Team")?,
            member: parse("Member")?,
            payg_key: parse("PaygKey")?,
            token_plan_key: parse("TokenPlanKey")?,
            action: parse("Action")?,
        })
    }

    fn uid(&self, ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn uid_expr(&self, ty: &EntityTypeName, id: &str) -> RestrictedExpression {
        RestrictedExpression::new_entity_uid(self.uid(ty, id))
    }
}

/// The Cedar form of a request, ready for the authorizer.
pub(crate) struct CedarRequest {
    pub(crate) request: cedar_policy::Request,
    pub(crate) entities: Entities,
}

impl Request {
    /// Builds the Cedar request and the entities it needs, checked against `schema`.
    pub(crate) fn to_cedar(
        &self,
        types: &EntityTypes,
        schema: &Schema,
    ) -> Result<CedarRequest, RequestError> {
        let action = self.action.name();
        let entity_error = |e: &dyn std::fmt::Display| RequestError::Entity {
            action,
            message: e.to_string(),
        };
        let team_uid = types.uid(&types.team, &self.team.id);
        let team = Entity::new(
            team_uid.clone(),
            HashMap::from([
                (
                    "region".to_owned(),
                    types.uid_expr(&types.region, self.team.region.as_str()),
                ),
                (
                    "is_default".to_owned(),
                    RestrictedExpression::new_bool(self.team.is_default),
                ),
                (
                    "member_count".to_owned(),
                    RestrictedExpression::new_long(self.team.member_count),
                ),
                (
                    "seat_count".to_owned(),
                    RestrictedExpression::new_long(self.team.seat_count),
                ),
            ]),
            HashSet::new(),
        )
        .map_err(|e| entity_error(&e))?;

        let mut entities = vec![team];
        let principal = match &self.actor {
            Actor::User(user) => types.uid(&types.user, user),
            Actor::Member { .. } | Actor::Outsider(_) => {
                let user = self.actor.user();
                // An outsider has no parent Team and the least role; the boundary denies it.
                let (role, parents) = match &self.actor {
                    Actor::Member { role, .. } => (*role, HashSet::from([team_uid.clone()])),
                    _ => (Role::Reader, HashSet::new()),
                };
                let uid = types.uid(&types.member, &format!("{user}@{}", self.team.id));
                let member = Entity::new(
                    uid.clone(),
                    HashMap::from([
                        ("user".to_owned(), types.uid_expr(&types.user, user)),
                        (
                            "role".to_owned(),
                            types.uid_expr(&types.role, role.as_str()),
                        ),
                    ]),
                    parents,
                )
                .map_err(|e| entity_error(&e))?;
                entities.push(member);
                uid
            }
        };

        let resource = match &self.action {
            ActionRequest::DeletePaygKey(key)
            | ActionRequest::ViewPaygKey(key)
            | ActionRequest::ViewUsage(KeyFacts::Payg(key)) => {
                let (uid, entity) = self.payg_key_entity(types, &team_uid, key);
                entities.push(entity.map_err(|e| entity_error(&e))?);
                uid
            }
            ActionRequest::UseTokenPlanKey { key, .. }
            | ActionRequest::ViewUsage(KeyFacts::TokenPlan(key)) => {
                let (uid, entity) = self.token_plan_key_entity(types, &team_uid, key);
                entities.push(entity.map_err(|e| entity_error(&e))?);
                uid
            }
            _ => team_uid,
        };

        let context =
            Context::from_pairs(self.context_pairs(types)).map_err(|e| entity_error(&e))?;
        let action_uid = types.uid(&types.action, action);
        let request =
            cedar_policy::Request::new(principal, action_uid, resource, context, Some(schema))
                .map_err(|e| RequestError::Schema {
                    action,
                    message: e.to_string(),
                })?;
        let entities =
            // The entities come from the typed builder above; the request (principal, action,
            // resource, context) is checked against the schema, and a policy that meets an
            // ill-typed attribute errors, which denies.
            Entities::from_entities(entities, None).map_err(|e| RequestError::Schema {
                action,
                message: e.to_string(),
            })?;
        Ok(CedarRequest { request, entities })
    }

    fn payg_key_entity(
        &self,
        types: &EntityTypes,
        team: &EntityUid,
        key: &PaygKeyFacts,
    ) -> (
        EntityUid,
        Result<Entity, cedar_policy::EntityAttrEvaluationError>,
    ) {
        let uid = types.uid(&types.payg_key, &key.id);
        let entity = Entity::new(
            uid.clone(),
            HashMap::from([
                (
                    "team".to_owned(),
                    RestrictedExpression::new_entity_uid(team.clone()),
                ),
                (
                    "creator".to_owned(),
                    types.uid_expr(&types.user, &key.creator),
                ),
            ]),
            HashSet::new(),
        );
        (uid, entity)
    }

    fn token_plan_key_entity(
        &self,
        types: &EntityTypes,
        team: &EntityUid,
        key: &TokenPlanKeyFacts,
    ) -> (
        EntityUid,
        Result<Entity, cedar_policy::EntityAttrEvaluationError>,
    ) {
        let id = format!("tp:{}:{}", self.team.id, key.holder);
        let uid = types.uid(&types.token_plan_key, &id);
        let entity = Entity::new(
            uid.clone(),
            HashMap::from([
                (
                    "team".to_owned(),
                    RestrictedExpression::new_entity_uid(team.clone()),
                ),
                (
                    "holder".to_owned(),
                    types.uid_expr(&types.user, &key.holder),
                ),
                (
                    "has_seat".to_owned(),
                    RestrictedExpression::new_bool(key.has_seat),
                ),
                (
                    "credits_access".to_owned(),
                    RestrictedExpression::new_bool(key.credits_access),
                ),
            ]),
            HashSet::new(),
        );
        (uid, entity)
    }

    fn context_pairs(&self, types: &EntityTypes) -> Vec<(String, RestrictedExpression)> {
        let target = |t: &Target| {
            let mut fields = vec![
                ("user".to_owned(), types.uid_expr(&types.user, &t.user)),
                (
                    "is_member".to_owned(),
                    RestrictedExpression::new_bool(t.role.is_some()),
                ),
            ];
            if let Some(role) = t.role {
                fields.push((
                    "role".to_owned(),
                    types.uid_expr(&types.role, role.as_str()),
                ));
                fields.push((
                    "has_seat".to_owned(),
                    RestrictedExpression::new_bool(t.has_seat),
                ));
            }
            // Field names are distinct literals, so the record cannot be rejected.
            RestrictedExpression::new_record(fields)
                .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
        };
        let strings = |items: &[String]| {
            RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            )
        };
        let role = |r: Role| types.uid_expr(&types.role, r.as_str());
        use ActionRequest::*;
        match &self.action {
            Invite { target: t, role: r } | ChangeRole { target: t, role: r } => {
                vec![("target".into(), target(t)), ("role".into(), role(*r))]
            }
            RemoveMember { target: t }
            | UnassignSeat { target: t }
            | SetCreditsAccess { target: t } => {
                vec![("target".into(), target(t))]
            }
            BuySubscription(c) | AddSeats(c) | RemoveSeats(c) | CancelRenewal(c)
            | RestoreRenewal(c) => vec![
                (
                    "tier".into(),
                    RestrictedExpression::new_string(c.tier.clone()),
                ),
                ("seats".into(), RestrictedExpression::new_long(c.seats)),
                (
                    "seats_after".into(),
                    RestrictedExpression::new_long(c.seats_after),
                ),
                ("subscribed_tiers".into(), strings(&c.subscribed_tiers)),
                ("canceled_tiers".into(), strings(&c.canceled_tiers)),
                (
                    "renewing_seats".into(),
                    RestrictedExpression::new_long(c.renewing_seats),
                ),
            ],
            AssignSeat {
                target: t,
                tier,
                free_seats,
            } => vec![
                ("target".into(), target(t)),
                (
                    "tier".into(),
                    RestrictedExpression::new_string(tier.clone()),
                ),
                (
                    "free_seats".into(),
                    RestrictedExpression::new_long(*free_seats),
                ),
            ],
            ReassignSeat { from, target: t } => {
                vec![("from".into(), target(from)), ("target".into(), target(t))]
            }
            CreatePaygKey { live_keys } => {
                vec![(
                    "live_keys".into(),
                    RestrictedExpression::new_long(*live_keys),
                )]
            }
            UseTokenPlanKey {
                credits_available, ..
            } => vec![(
                "credits_available".into(),
                RestrictedExpression::new_bool(*credits_available),
            )],
            CreateAccount | CreateTeam | Leave | TopUpCredits | TopUpWallet | DeletePaygKey(_)
            | ViewPaygKey(_) | ViewUsage(_) | ViewBilling => Vec::new(),
        }
    }
}

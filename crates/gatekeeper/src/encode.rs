//! The Cedar form of a typed [`Request`]: entities for the Team, the principal and the key,
//! the context of the action, checked against the schema.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};

use crate::error::RequestError;
use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Request, Role, Target, TokenPlanKeyFacts,
    TokenPlanKeyId,
};

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
        let entity_error = |source| RequestError::Entity {
            action,
            source: Box::new(source),
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
        .map_err(entity_error)?;

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
                .map_err(entity_error)?;
                entities.push(member);
                uid
            }
        };

        let resource = match &self.action {
            ActionRequest::DeletePaygKey(key)
            | ActionRequest::ViewPaygKey(key)
            | ActionRequest::ViewUsage(KeyFacts::Payg(key)) => {
                let (uid, entity) = self.payg_key_entity(types, &team_uid, key);
                entities.push(entity.map_err(entity_error)?);
                uid
            }
            ActionRequest::UseTokenPlanKey { key, .. }
            | ActionRequest::ViewUsage(KeyFacts::TokenPlan(key)) => {
                let (uid, entity) = self.token_plan_key_entity(types, &team_uid, key);
                entities.push(entity.map_err(entity_error)?);
                uid
            }
            _ => team_uid,
        };

        let context = Context::from_pairs(self.context_pairs(types)).map_err(|source| {
            RequestError::Context {
                action,
                source: Box::new(source),
            }
        })?;
        let action_uid = types.uid(&types.action, action);
        let request =
            cedar_policy::Request::new(principal, action_uid, resource, context, Some(schema))
                .map_err(|source| RequestError::Schema {
                    action,
                    source: Box::new(source),
                })?;
        let entities =
            // The entities come from the typed builder above; the request (principal, action,
            // resource, context) is checked against the schema, and a policy that meets an
            // ill-typed attribute errors, which denies.
            Entities::from_entities(entities, None)
                .map_err(|source| RequestError::Entities {
                    action,
                    source: Box::new(source),
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
        let id = TokenPlanKeyId::new(&self.team.id, &key.holder).to_string();
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
        match &self.action {
            ActionRequest::Invite { target: t, role: r }
            | ActionRequest::ChangeRole { target: t, role: r } => {
                vec![("target".into(), target(t)), ("role".into(), role(*r))]
            }
            ActionRequest::RemoveMember { target: t }
            | ActionRequest::UnassignSeat { target: t }
            | ActionRequest::SetCreditsAccess { target: t } => {
                vec![("target".into(), target(t))]
            }
            ActionRequest::BuySubscription(c)
            | ActionRequest::AddSeats(c)
            | ActionRequest::RemoveSeats(c)
            | ActionRequest::CancelRenewal(c)
            | ActionRequest::RestoreRenewal(c) => vec![
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
            ActionRequest::AssignSeat {
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
            ActionRequest::ReassignSeat { from, target: t } => {
                vec![("from".into(), target(from)), ("target".into(), target(t))]
            }
            ActionRequest::CreatePaygKey { live_keys } => {
                vec![(
                    "live_keys".into(),
                    RestrictedExpression::new_long(*live_keys),
                )]
            }
            ActionRequest::UseTokenPlanKey {
                credits_available, ..
            } => vec![(
                "credits_available".into(),
                RestrictedExpression::new_bool(*credits_available),
            )],
            ActionRequest::CreateAccount
            | ActionRequest::CreateTeam
            | ActionRequest::Leave
            | ActionRequest::TopUpCredits
            | ActionRequest::TopUpWallet
            | ActionRequest::DeletePaygKey(_)
            | ActionRequest::ViewPaygKey(_)
            | ActionRequest::ViewUsage(_)
            | ActionRequest::ViewBilling => Vec::new(),
        }
    }
}

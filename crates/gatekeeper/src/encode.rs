//! The Cedar form of typed [`Request`]s: entities for the Team, the principal and the key, the
//! context of the action, checked against the schema.
//!
//! What the typed builder makes unnecessary is done once: entity type names and the uids of
//! roles, regions and actions are built when the policies load, and a request's conformance to
//! the schema is checked once per *shape*. Everything the schema's request check looks at (the
//! action, the principal's and resource's types, the context's fields and their types, and the
//! ids of enumerated entity types such as roles) is fixed by the shape; the rest of a request is
//! ids of open entity types, numbers, strings and booleans, which the check accepts whatever
//! their value. So a shape the schema accepted once is accepted again, and its requests skip
//! the check; a shape it rejects is checked, and denied, every time.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
    SchemaFragment,
};

use crate::action::Action;
use crate::error::RequestError;
use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, Target, TeamFacts,
    TokenPlanKeyFacts, TokenPlanKeyId,
};

/// The entity types whose ids come from callers (user, Team and key ids): shapes decide
/// conformance only while none of them is enumerated in the schema.
const OPEN_TYPES: [&str; 5] = ["User", "Team", "Member", "PaygKey", "TokenPlanKey"];

/// Request shapes: see [`shape`].
const SHAPES: usize = 1 << 14;

/// Turns typed requests into Cedar's, for one schema.
pub(crate) struct Encoder {
    user: EntityTypeName,
    team: EntityTypeName,
    member: EntityTypeName,
    payg_key: EntityTypeName,
    token_plan_key: EntityTypeName,
    /// By [`Role`] discriminant.
    roles: Vec<EntityUid>,
    /// By [`Region`] discriminant.
    regions: Vec<EntityUid>,
    /// By [`Action`] discriminant.
    actions: Vec<EntityUid>,
    /// Shapes the schema accepted; `None` when shapes do not decide conformance for this
    /// schema (an id type is enumerated), and every request is checked.
    accepted: Option<Box<[AtomicBool]>>,
}

/// The Cedar form of one request.
pub(crate) struct CedarRequest {
    pub(crate) request: cedar_policy::Request,
    pub(crate) entities: Entities,
}

/// The Cedar form of a page of requests by one actor in one Team: one entity store for all.
pub(crate) struct CedarPage {
    pub(crate) requests: Vec<Result<cedar_policy::Request, RequestError>>,
    pub(crate) entities: Entities,
}

impl Encoder {
    /// The encoder for `schema`, whose text is `schema_text`.
    pub(crate) fn new(schema_text: &str) -> Result<Self, String> {
        let parse = |name: &str| EntityTypeName::from_str(name).map_err(|e| e.to_string());
        let uid = |ty: &EntityTypeName, id: &str| {
            EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
        };
        let (role, region, action) = (parse("Role")?, parse("Region")?, parse("Action")?);
        Ok(Encoder {
            user: parse("User")?,
            team: parse("Team")?,
            member: parse("Member")?,
            payg_key: parse("PaygKey")?,
            token_plan_key: parse("TokenPlanKey")?,
            roles: Role::ALL.iter().map(|r| uid(&role, r.as_str())).collect(),
            regions: Region::ALL
                .iter()
                .map(|r| uid(&region, r.as_str()))
                .collect(),
            actions: Action::ALL
                .iter()
                .map(|a| uid(&action, a.as_str()))
                .collect(),
            accepted: (!enumerates_open_types(schema_text)?)
                .then(|| (0..SHAPES).map(|_| AtomicBool::new(false)).collect()),
        })
    }

    fn uid(&self, ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn user_expr(&self, id: &str) -> RestrictedExpression {
        RestrictedExpression::new_entity_uid(self.uid(&self.user, id))
    }

    fn role_expr(&self, role: Role) -> RestrictedExpression {
        RestrictedExpression::new_entity_uid(self.roles[role as usize].clone())
    }

    /// One request and the entities it needs, checked against `schema`.
    pub(crate) fn request(
        &self,
        request: &Request,
        schema: &Schema,
    ) -> Result<CedarRequest, RequestError> {
        let action = request.action.name();
        let (team_uid, team) = self.team_entity(&request.team, action)?;
        let (principal, member) =
            self.principal(&request.actor, &request.team, &team_uid, action)?;
        let (resource, key) = self.resource(&request.action, &request.team, &team_uid, action)?;
        let entities = [Some(team), member, key].into_iter().flatten();
        let entities =
            Entities::from_entities(entities, None).map_err(|source| RequestError::Entities {
                action,
                source: Box::new(source),
            })?;
        let request =
            self.cedar_request(&request.actor, &request.action, principal, resource, schema)?;
        Ok(CedarRequest { request, entities })
    }

    /// A page of requests of `actor` in `team`, sharing one entity store. A request whose key
    /// appears twice in the page with different facts is refused (the caller must deny it).
    pub(crate) fn page(
        &self,
        actor: &Actor,
        team: &TeamFacts,
        actions: &[ActionRequest],
        schema: &Schema,
    ) -> Result<CedarPage, RequestError> {
        let first = actions.first().map_or("view_usage", ActionRequest::name);
        let (team_uid, team_entity) = self.team_entity(team, first)?;
        let (principal, member) = self.principal(actor, team, &team_uid, first)?;
        let mut entities: HashMap<EntityUid, Entity> = HashMap::new();
        entities.insert(team_uid.clone(), team_entity);
        if let Some(member) = member {
            entities.insert(principal.clone(), member);
        }
        let mut requests = Vec::with_capacity(actions.len());
        for action_request in actions {
            let action = action_request.name();
            let request = self
                .resource(action_request, team, &team_uid, action)
                .and_then(|(resource, key)| {
                    if let Some(key) = key {
                        match entities.get(&resource) {
                            Some(known) if !known.deep_eq(&key) => {
                                return Err(RequestError::ConflictingFacts {
                                    action,
                                    entity: resource.to_string(),
                                });
                            }
                            Some(_) => {}
                            None => {
                                entities.insert(resource.clone(), key);
                            }
                        }
                    }
                    self.cedar_request(actor, action_request, principal.clone(), resource, schema)
                });
            requests.push(request);
        }
        let entities = Entities::from_entities(entities.into_values(), None).map_err(|source| {
            RequestError::Entities {
                action: first,
                source: Box::new(source),
            }
        })?;
        Ok(CedarPage { requests, entities })
    }

    /// The request itself: its context built, and checked against the schema unless its shape
    /// already was.
    fn cedar_request(
        &self,
        actor: &Actor,
        action_request: &ActionRequest,
        principal: EntityUid,
        resource: EntityUid,
        schema: &Schema,
    ) -> Result<cedar_policy::Request, RequestError> {
        let action = action_request.name();
        let context =
            Context::from_pairs(self.context_pairs(action_request)).map_err(|source| {
                RequestError::Context {
                    action,
                    source: Box::new(source),
                }
            })?;
        let accepted = self
            .accepted
            .as_ref()
            .map(|accepted| &accepted[shape(actor, action_request)]);
        let checked = !accepted.is_some_and(|a| a.load(Ordering::Relaxed));
        let action_uid = self.actions[action_request.action() as usize].clone();
        let cedar = cedar_policy::Request::new(
            principal,
            action_uid,
            resource,
            context,
            checked.then_some(schema),
        )
        .map_err(|source| RequestError::Schema {
            action,
            source: Box::new(source),
        })?;
        if checked && let Some(accepted) = accepted {
            accepted.store(true, Ordering::Relaxed);
        }
        Ok(cedar)
    }

    fn team_entity(
        &self,
        team: &TeamFacts,
        action: &'static str,
    ) -> Result<(EntityUid, Entity), RequestError> {
        let uid = self.uid(&self.team, &team.id);
        let entity = Entity::new(
            uid.clone(),
            HashMap::from([
                (
                    "region".to_owned(),
                    RestrictedExpression::new_entity_uid(
                        self.regions[team.region as usize].clone(),
                    ),
                ),
                (
                    "is_default".to_owned(),
                    RestrictedExpression::new_bool(team.is_default),
                ),
                (
                    "member_count".to_owned(),
                    RestrictedExpression::new_long(team.member_count),
                ),
                (
                    "seat_count".to_owned(),
                    RestrictedExpression::new_long(team.seat_count),
                ),
            ]),
            HashSet::new(),
        )
        .map_err(entity_error(action))?;
        Ok((uid, entity))
    }

    /// The principal's uid, and its entity when it is a `Member` (an outsider has no parent
    /// Team and the least role: the Team boundary (T4) denies it).
    fn principal(
        &self,
        actor: &Actor,
        team: &TeamFacts,
        team_uid: &EntityUid,
        action: &'static str,
    ) -> Result<(EntityUid, Option<Entity>), RequestError> {
        let (role, parents) = match actor {
            Actor::User(user) => return Ok((self.uid(&self.user, user), None)),
            Actor::Member { role, .. } => (*role, HashSet::from([team_uid.clone()])),
            Actor::Outsider(_) => (Role::Reader, HashSet::new()),
        };
        let user = actor.user();
        let uid = self.uid(&self.member, &format!("{user}@{}", team.id));
        let member = Entity::new(
            uid.clone(),
            HashMap::from([
                ("user".to_owned(), self.user_expr(user)),
                ("role".to_owned(), self.role_expr(role)),
            ]),
            parents,
        )
        .map_err(entity_error(action))?;
        Ok((uid, Some(member)))
    }

    /// The resource's uid: the key for key actions (with its entity), else the Team.
    fn resource(
        &self,
        action_request: &ActionRequest,
        team: &TeamFacts,
        team_uid: &EntityUid,
        action: &'static str,
    ) -> Result<(EntityUid, Option<Entity>), RequestError> {
        let team_attr = || RestrictedExpression::new_entity_uid(team_uid.clone());
        let (uid, attrs) = match action_request {
            ActionRequest::DeletePaygKey(key)
            | ActionRequest::ViewPaygKey(key)
            | ActionRequest::ViewUsage(KeyFacts::Payg(key)) => self.payg_key(key, team_attr()),
            ActionRequest::UseTokenPlanKey { key, .. }
            | ActionRequest::ViewUsage(KeyFacts::TokenPlan(key)) => {
                self.token_plan_key(&team.id, key, team_attr())
            }
            _ => return Ok((team_uid.clone(), None)),
        };
        let entity =
            Entity::new(uid.clone(), attrs, HashSet::new()).map_err(entity_error(action))?;
        Ok((uid, Some(entity)))
    }

    fn payg_key(
        &self,
        key: &PaygKeyFacts,
        team: RestrictedExpression,
    ) -> (EntityUid, HashMap<String, RestrictedExpression>) {
        let attrs = HashMap::from([
            ("team".to_owned(), team),
            ("creator".to_owned(), self.user_expr(&key.creator)),
        ]);
        (self.uid(&self.payg_key, &key.id), attrs)
    }

    fn token_plan_key(
        &self,
        team_id: &str,
        key: &TokenPlanKeyFacts,
        team: RestrictedExpression,
    ) -> (EntityUid, HashMap<String, RestrictedExpression>) {
        let id = TokenPlanKeyId::new(team_id, &key.holder).to_string();
        let attrs = HashMap::from([
            ("team".to_owned(), team),
            ("holder".to_owned(), self.user_expr(&key.holder)),
            (
                "has_seat".to_owned(),
                RestrictedExpression::new_bool(key.has_seat),
            ),
            (
                "credits_access".to_owned(),
                RestrictedExpression::new_bool(key.credits_access),
            ),
        ]);
        (self.uid(&self.token_plan_key, &id), attrs)
    }

    fn context_pairs(&self, action: &ActionRequest) -> Vec<(String, RestrictedExpression)> {
        let target = |t: &Target| {
            let mut fields = vec![
                ("user".to_owned(), self.user_expr(&t.user)),
                (
                    "is_member".to_owned(),
                    RestrictedExpression::new_bool(t.role.is_some()),
                ),
            ];
            if let Some(role) = t.role {
                fields.push(("role".to_owned(), self.role_expr(role)));
                fields.push((
                    "has_seat".to_owned(),
                    RestrictedExpression::new_bool(t.has_seat),
                ));
            }
            #[expect(
                clippy::expect_used,
                reason = "a record is refused only for a repeated field, and these are distinct literals"
            )]
            RestrictedExpression::new_record(fields).expect("distinct field names")
        };
        let strings = |items: &[String]| {
            RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            )
        };
        let role = |r: Role| self.role_expr(r);
        match action {
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

/// The shape of a request: everything the schema's request check depends on, as an index
/// below [`SHAPES`]. The action (5 bits), whether the principal is a `User` or a `Member` (1),
/// the resource type (2), the roles of the target and of the member a seat moves from (2 each:
/// not a member, or the role), and the role the action names (2).
fn shape(actor: &Actor, action: &ActionRequest) -> usize {
    let role = |role: Option<Role>| role.map_or(0, |r| 1 + r as usize);
    let principal = usize::from(!matches!(actor, Actor::User(_)));
    let (resource, target, from, named) = match action {
        ActionRequest::DeletePaygKey(_)
        | ActionRequest::ViewPaygKey(_)
        | ActionRequest::ViewUsage(KeyFacts::Payg(_)) => (1, None, None, None),
        ActionRequest::UseTokenPlanKey { .. }
        | ActionRequest::ViewUsage(KeyFacts::TokenPlan(_)) => (2, None, None, None),
        ActionRequest::Invite { target, role } | ActionRequest::ChangeRole { target, role } => {
            (0, target.role, None, Some(*role))
        }
        ActionRequest::RemoveMember { target }
        | ActionRequest::UnassignSeat { target }
        | ActionRequest::SetCreditsAccess { target }
        | ActionRequest::AssignSeat { target, .. } => (0, target.role, None, None),
        ActionRequest::ReassignSeat { from, target } => (0, target.role, from.role, None),
        ActionRequest::CreateAccount
        | ActionRequest::CreateTeam
        | ActionRequest::Leave
        | ActionRequest::BuySubscription(_)
        | ActionRequest::AddSeats(_)
        | ActionRequest::RemoveSeats(_)
        | ActionRequest::CancelRenewal(_)
        | ActionRequest::RestoreRenewal(_)
        | ActionRequest::TopUpCredits
        | ActionRequest::TopUpWallet
        | ActionRequest::CreatePaygKey { .. }
        | ActionRequest::ViewBilling => (0, None, None, None),
    };
    action.action() as usize
        | principal << 5
        | resource << 6
        | role(target) << 8
        | role(from) << 10
        | role(named) << 12
}

/// Policy slices: one per action, principal type and resource type (see [`slice_index`]).
pub(crate) const SLICES: usize = Action::ALL.len() * 2 * 3;

/// The principal's and resource's entity types as codes: `User` 0 or `Member` 1; `Team` 0,
/// `PaygKey` 1 or `TokenPlanKey` 2.
fn entity_types(actor: &Actor, action: &ActionRequest) -> (usize, usize) {
    let principal = usize::from(!matches!(actor, Actor::User(_)));
    let resource = match action {
        ActionRequest::DeletePaygKey(_)
        | ActionRequest::ViewPaygKey(_)
        | ActionRequest::ViewUsage(KeyFacts::Payg(_)) => 1,
        ActionRequest::UseTokenPlanKey { .. }
        | ActionRequest::ViewUsage(KeyFacts::TokenPlan(_)) => 2,
        _ => 0,
    };
    (principal, resource)
}

/// The policy slice a request is evaluated on: its action's, principal type's and resource
/// type's.
pub(crate) fn slice_index(actor: &Actor, action: &ActionRequest) -> usize {
    let (principal, resource) = entity_types(actor, action);
    (action.action() as usize * 2 + principal) * 3 + resource
}

/// The action, principal type and resource type of a slice.
pub(crate) fn slice_types(index: usize) -> (Action, &'static str, &'static str) {
    let action = Action::ALL[index / 6];
    let principal = ["User", "Member"][index / 3 % 2];
    let resource = ["Team", "PaygKey", "TokenPlanKey"][index % 3];
    (action, principal, resource)
}

/// Whether the schema enumerates one of [`OPEN_TYPES`]: then a request's ids matter to its
/// conformance, and every request is checked.
fn enumerates_open_types(schema_text: &str) -> Result<bool, String> {
    let (fragment, _warnings) =
        SchemaFragment::from_cedarschema_str(schema_text).map_err(|e| e.to_string())?;
    let json = fragment.to_json_value().map_err(|e| e.to_string())?;
    let namespaces = json.as_object().into_iter().flat_map(|n| n.values());
    let entity_types = namespaces
        .filter_map(|namespace| namespace.get("entityTypes")?.as_object())
        .flatten();
    Ok(entity_types
        .filter(|(name, _)| OPEN_TYPES.contains(&name.as_str()))
        .any(|(_, ty)| ty.get("enum").is_some()))
}

fn entity_error(
    action: &'static str,
) -> impl FnOnce(cedar_policy::EntityAttrEvaluationError) -> RequestError {
    move |source| RequestError::Entity {
        action,
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_that_enumerates_an_id_type_has_every_request_checked() {
        let text = crate::source::PolicySources::bundled().schema.text;
        assert_eq!(enumerates_open_types(&text), Ok(false));
        let enumerated = text.replace("entity User;", r#"entity User enum ["ada"];"#);
        assert_ne!(enumerated, text, "the schema declares `entity User;`");
        assert_eq!(enumerates_open_types(&enumerated), Ok(true));
    }

    #[test]
    fn shapes_fit_and_tell_apart_what_the_schema_checks() {
        let invite = |target: Target, role| {
            shape(
                &Actor::member("ada", Role::Admin),
                &ActionRequest::Invite { target, role },
            )
        };
        let outsider = invite(Target::outsider("bo"), Role::Reader);
        assert!(outsider < SHAPES);
        assert_ne!(
            outsider,
            invite(Target::member("bo", Role::Reader, false), Role::Reader)
        );
        assert_ne!(outsider, invite(Target::outsider("bo"), Role::Admin));
        assert_eq!(
            outsider,
            invite(Target::outsider("someone else"), Role::Reader)
        );
    }
}

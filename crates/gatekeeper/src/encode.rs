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

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cedar_policy::Schema;
use cedar_policy_core::ast::{
    self, Eid, EntityType, EntityUID, EntityUIDEntry, PartialValue, Value,
};
use cedar_policy_core::entities::{Entities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;

use crate::action::Action;
use crate::conformance::SchemaTypes;
use crate::error::RequestError;
use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, Target, TeamFacts,
    TokenPlanKeyFacts, TokenPlanKeyId,
};

/// Bits of a request shape (see [`shape`]): the action, the principal type, the resource type,
/// and three role codes (0 for none, else 1 + the role).
const ACTION_BITS: u32 = 5;
const PRINCIPAL_BITS: u32 = 2;
const RESOURCE_BITS: u32 = 2;
const ROLE_BITS: u32 = 2;

// Each field must hold every value it encodes, or two shapes would alias and a shape the schema
// rejects could pass as one it accepted.
const _: () = assert!(Action::ALL.len() <= 1 << ACTION_BITS);
const _: () = assert!(PRINCIPAL_TYPES.len() <= 1 << PRINCIPAL_BITS);
const _: () = assert!(RESOURCE_TYPES.len() <= 1 << RESOURCE_BITS);
const _: () = assert!(Role::ALL.len() < 1 << ROLE_BITS);

/// The number of request shapes.
const SHAPES: usize = 1 << (ACTION_BITS + PRINCIPAL_BITS + RESOURCE_BITS + 3 * ROLE_BITS);

/// Turns typed requests into Cedar's, for one schema.
///
/// Entities and contexts are built from values, not from Cedar's restricted expressions,
/// which Cedar would evaluate back into the same values; and the entity store is built
/// without computing a transitive closure, because the encoding has one parent edge only,
/// from a `Member` to its `Team`, and a Team has no parents: every entity's parents already
/// are all its ancestors. A test checks both against Cedar's own construction.
pub(crate) struct Encoder {
    user: EntityType,
    team: EntityType,
    member: EntityType,
    operator: EntityType,
    payg_key: EntityType,
    token_plan_key: EntityType,
    /// By [`Role`] discriminant.
    roles: Vec<EntityUID>,
    /// By [`Region`] discriminant.
    regions: Vec<EntityUID>,
    /// By [`Action`] discriminant.
    actions: Vec<EntityUID>,
    /// Shapes the schema accepted; `None` when shapes do not decide conformance for this
    /// schema (an id type is enumerated), and every request is checked.
    accepted: Option<Box<[AtomicBool]>>,
}

/// The Cedar form of one request.
pub(crate) struct CedarRequest {
    pub(crate) request: ast::Request,
    pub(crate) entities: Entities,
}

/// An entity's attributes, by name.
type Attrs = Vec<(&'static str, Value)>;

impl Encoder {
    /// The encoder for a schema with entity types `types`.
    pub(crate) fn new(types: &SchemaTypes) -> Result<Self, String> {
        let parse = |name: &str| EntityType::from_str(name).map_err(|e| e.to_string());
        let (role, region, action) = (parse("Role")?, parse("Region")?, parse("Action")?);
        Ok(Encoder {
            user: parse("User")?,
            operator: parse("Operator")?,
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
            accepted: (!types.enumerates_open_types())
                .then(|| (0..SHAPES).map(|_| AtomicBool::new(false)).collect()),
        })
    }

    /// One entity of every kind a store can hold: a Team of each region, a member of each
    /// role and an outsider, a key of each type. Each type has the same attributes, of the
    /// same types, in every request, so these stand for every store.
    pub(crate) fn samples(&self) -> Vec<ast::Entity> {
        let team = |region: Region| TeamFacts {
            id: region.as_str().to_owned(),
            region,
            is_default: false,
            member_count: 1,
            seat_count: 0,
        };
        let teams: Vec<_> = Region::ALL
            .iter()
            .map(|&region| self.team_entity(&team(region)))
            .collect();
        let (team_uid, home) = (teams[0].0.clone(), team(Region::ALL[0]));
        let actors = Role::ALL
            .iter()
            .map(|&role| Actor::member(role.as_str(), role))
            .chain([Actor::Outsider("outsider".to_owned())]);
        let members = actors.filter_map(|actor| self.principal(&actor, &home, &team_uid).1);
        let keys = [
            ActionRequest::ViewUsage(KeyFacts::Payg(PaygKeyFacts {
                id: "key".to_owned(),
                creator: "owner".to_owned(),
            })),
            ActionRequest::ViewUsage(KeyFacts::TokenPlan(TokenPlanKeyFacts {
                holder: "owner".to_owned(),
                has_seat: true,
                credits_access: false,
            })),
        ]
        .into_iter()
        .filter_map(|key| self.resource(&key, &home, &team_uid).1)
        .collect::<Vec<_>>();
        teams
            .into_iter()
            .map(|(_, team)| team)
            .chain(members)
            .chain(keys)
            .collect()
    }

    fn user(&self, id: &str) -> Value {
        Value::from(uid(&self.user, id))
    }

    fn role(&self, role: Role) -> Value {
        Value::from(self.roles[role as usize].clone())
    }

    /// One request and the entities it needs, checked against `schema`.
    pub(crate) fn request(
        &self,
        request: &Request,
        schema: &Schema,
    ) -> Result<CedarRequest, RequestError> {
        let action = request.action.name();
        let (team_uid, team) = self.team_entity(&request.team);
        let (principal, member) = self.principal(&request.actor, &request.team, &team_uid);
        let (resource, key) = self.resource(&request.action, &request.team, &team_uid);
        let entities = store([Some(team), member, key].into_iter().flatten(), action)?;
        let request =
            self.cedar_request(&request.actor, &request.action, principal, resource, schema)?;
        Ok(CedarRequest { request, entities })
    }

    /// A page of requests of `actor` in `team`: the Team and the actor are built once, and
    /// each request gets a store of them and its own key, as it would alone.
    pub(crate) fn page(
        &self,
        actor: &Actor,
        team: &TeamFacts,
        actions: &[ActionRequest],
        schema: &Schema,
    ) -> Result<Vec<Result<CedarRequest, RequestError>>, RequestError> {
        let first = actions.first().map_or("view_usage", ActionRequest::name);
        let (team_uid, team_entity) = self.team_entity(team);
        let (principal, member) = self.principal(actor, team, &team_uid);
        let shared = store([Some(team_entity), member].into_iter().flatten(), first)?;
        let requests = actions.iter().map(|action_request| {
            let (resource, key) = self.resource(action_request, team, &team_uid);
            let entities = match key {
                Some(key) => shared
                    .clone()
                    .add_entities(
                        [Arc::new(key)],
                        None::<&NoEntitiesSchema>,
                        TCComputation::AssumeAlreadyComputed,
                        Extensions::all_available(),
                    )
                    .map_err(|source| RequestError::Entities {
                        action: action_request.name(),
                        source: Box::new(source),
                    })?,
                None => shared.clone(),
            };
            let request =
                self.cedar_request(actor, action_request, principal.clone(), resource, schema)?;
            Ok(CedarRequest { request, entities })
        });
        Ok(requests.collect())
    }

    /// The request itself: its context built, and checked against the schema unless its shape
    /// already was.
    fn cedar_request(
        &self,
        actor: &Actor,
        action_request: &ActionRequest,
        principal: EntityUID,
        resource: EntityUID,
        schema: &Schema,
    ) -> Result<ast::Request, RequestError> {
        let context = self.context_value(action_request);
        let action_uid = self.actions[action_request.action() as usize].clone();
        let accepted = self
            .accepted
            .as_ref()
            .map(|accepted| &accepted[shape(actor, action_request)]);
        if !accepted.is_some_and(|a| a.load(Ordering::Relaxed)) {
            check(
                action_request,
                [&principal, &action_uid, &resource],
                &context,
                schema,
            )?;
            if let Some(accepted) = accepted {
                accepted.store(true, Ordering::Relaxed);
            }
        }
        Ok(ast::Request::new_unchecked(
            EntityUIDEntry::known(principal, None),
            EntityUIDEntry::known(action_uid, None),
            EntityUIDEntry::known(resource, None),
            Some(context),
        ))
    }

    /// Checks `request` against `schema`, whatever its shape (for checks at load).
    pub(crate) fn check(&self, request: &Request, schema: &Schema) -> Result<(), RequestError> {
        let (team_uid, _) = self.team_entity(&request.team);
        let (principal, _) = self.principal(&request.actor, &request.team, &team_uid);
        let (resource, _) = self.resource(&request.action, &request.team, &team_uid);
        let action_uid = &self.actions[request.action.action() as usize];
        let context = self.context_value(&request.action);
        check(
            &request.action,
            [&principal, action_uid, &resource],
            &context,
            schema,
        )
    }

    fn team_entity(&self, team: &TeamFacts) -> (EntityUID, ast::Entity) {
        let uid = uid(&self.team, &team.id);
        let attrs = vec![
            (
                "region",
                Value::from(self.regions[team.region as usize].clone()),
            ),
            ("is_default", Value::from(team.is_default)),
            ("member_count", Value::from(team.member_count)),
            ("seat_count", Value::from(team.seat_count)),
        ];
        let entity = entity(uid.clone(), attrs, HashSet::new());
        (uid, entity)
    }

    /// The principal's uid, and its entity when it is a `Member` (an outsider has no parent
    /// Team and the least role: the Team boundary (T4) denies it).
    fn principal(
        &self,
        actor: &Actor,
        team: &TeamFacts,
        team_uid: &EntityUID,
    ) -> (EntityUID, Option<ast::Entity>) {
        let (role, parents) = match actor {
            Actor::User(user) => return (uid(&self.user, user), None),
            Actor::Operator(operator) => return (uid(&self.operator, operator), None),
            Actor::Member { role, .. } => (*role, HashSet::from([team_uid.clone()])),
            Actor::Outsider(_) => (Role::Reader, HashSet::new()),
        };
        let user = actor.user();
        let uid = uid(&self.member, &format!("{user}@{}", team.id));
        let attrs = vec![("user", self.user(user)), ("role", self.role(role))];
        (uid.clone(), Some(entity(uid, attrs, parents)))
    }

    /// The resource's uid: the key for key actions (with its entity), else the Team.
    fn resource(
        &self,
        action_request: &ActionRequest,
        team: &TeamFacts,
        team_uid: &EntityUID,
    ) -> (EntityUID, Option<ast::Entity>) {
        let team_attr = || Value::from(team_uid.clone());
        let (uid, attrs) = match action_request {
            ActionRequest::DeletePaygKey(key)
            | ActionRequest::ViewPaygKey(key)
            | ActionRequest::ViewUsage(KeyFacts::Payg(key)) => self.payg_key(key, team_attr()),
            ActionRequest::UseTokenPlanKey { key, .. }
            | ActionRequest::ViewUsage(KeyFacts::TokenPlan(key)) => {
                self.token_plan_key(&team.id, key, team_attr())
            }
            _ => return (team_uid.clone(), None),
        };
        (uid.clone(), Some(entity(uid, attrs, HashSet::new())))
    }

    fn payg_key(&self, key: &PaygKeyFacts, team: Value) -> (EntityUID, Attrs) {
        let attrs = vec![("team", team), ("creator", self.user(&key.creator))];
        (uid(&self.payg_key, &key.id), attrs)
    }

    fn token_plan_key(
        &self,
        team_id: &str,
        key: &TokenPlanKeyFacts,
        team: Value,
    ) -> (EntityUID, Attrs) {
        let id = TokenPlanKeyId::new(team_id, &key.holder).to_string();
        let attrs = vec![
            ("team", team),
            ("holder", self.user(&key.holder)),
            ("has_seat", Value::from(key.has_seat)),
            ("credits_access", Value::from(key.credits_access)),
        ];
        (uid(&self.token_plan_key, &id), attrs)
    }

    fn context_value(&self, action: &ActionRequest) -> ast::Context {
        let fields = self.context(action).into_iter();
        ast::Context::Value(Arc::new(
            fields
                .map(|(name, value)| (name.into(), value))
                .collect::<BTreeMap<_, _>>(),
        ))
    }

    /// The action's context, by field.
    fn context(&self, action: &ActionRequest) -> Attrs {
        let target = |t: &Target| {
            let mut fields = vec![
                ("user", self.user(&t.user)),
                ("is_member", Value::from(t.role.is_some())),
            ];
            if let Some(role) = t.role {
                fields.push(("role", self.role(role)));
                fields.push(("has_seat", Value::from(t.has_seat)));
            }
            Value::record(fields, None)
        };
        let strings =
            |items: &[String]| Value::set(items.iter().map(|s| Value::from(s.as_str())), None);
        match action {
            ActionRequest::Invite { target: t, role: r }
            | ActionRequest::ChangeRole { target: t, role: r } => {
                vec![("target", target(t)), ("role", self.role(*r))]
            }
            ActionRequest::RemoveMember { target: t }
            | ActionRequest::UnassignSeat { target: t }
            | ActionRequest::SetCreditsAccess { target: t } => vec![("target", target(t))],
            ActionRequest::BuySubscription(c)
            | ActionRequest::AddSeats(c)
            | ActionRequest::RemoveSeats(c)
            | ActionRequest::CancelRenewal(c)
            | ActionRequest::RestoreRenewal(c) => vec![
                ("tier", Value::from(c.tier.as_str())),
                ("seats", Value::from(c.seats)),
                ("seats_after", Value::from(c.seats_after)),
                ("subscribed_tiers", strings(&c.subscribed_tiers)),
                ("canceled_tiers", strings(&c.canceled_tiers)),
                ("renewing_seats", Value::from(c.renewing_seats)),
            ],
            ActionRequest::AssignSeat {
                target: t,
                tier,
                free_seats,
            } => vec![
                ("target", target(t)),
                ("tier", Value::from(tier.as_str())),
                ("free_seats", Value::from(*free_seats)),
            ],
            ActionRequest::ReassignSeat { from, target: t } => {
                vec![("from", target(from)), ("target", target(t))]
            }
            ActionRequest::CreatePaygKey { live_keys } => {
                vec![("live_keys", Value::from(*live_keys))]
            }
            ActionRequest::UseTokenPlanKey {
                credits_available, ..
            } => vec![("credits_available", Value::from(*credits_available))],
            ActionRequest::CreateAccount
            | ActionRequest::CreateTeam
            | ActionRequest::Leave
            | ActionRequest::TopUpCredits
            | ActionRequest::TopUpWallet
            | ActionRequest::DeletePaygKey(_)
            | ActionRequest::ViewPaygKey(_)
            | ActionRequest::ViewUsage(_)
            | ActionRequest::ViewBilling
            | ActionRequest::AdjustStatement => Vec::new(),
        }
    }
}

/// Cedar's check of a request's principal, action, resource and context against `schema`.
fn check(
    action_request: &ActionRequest,
    [principal, action, resource]: [&EntityUID; 3],
    context: &ast::Context,
    schema: &Schema,
) -> Result<(), RequestError> {
    cedar_policy::Request::new(
        principal.clone().into(),
        action.clone().into(),
        resource.clone().into(),
        context.clone().into(),
        Some(schema),
    )
    .map(drop)
    .map_err(|source| RequestError::Schema {
        action: action_request.name(),
        source: Box::new(source),
    })
}

fn uid(ty: &EntityType, id: &str) -> EntityUID {
    EntityUID::from_components(ty.clone(), Eid::new(id), None)
}

fn entity(uid: EntityUID, attrs: Attrs, parents: HashSet<EntityUID>) -> ast::Entity {
    let attrs = attrs
        .into_iter()
        .map(|(name, value)| (name.into(), PartialValue::Value(value)));
    ast::Entity::new_with_attr_partial_value(uid, attrs, HashSet::new(), parents, [])
}

/// The entity store of a request or a page. Parents are taken as the ancestors (see
/// [`Encoder`]), so no closure is computed.
fn store(
    entities: impl IntoIterator<Item = ast::Entity>,
    action: &'static str,
) -> Result<Entities, RequestError> {
    Entities::from_entities(
        entities,
        None::<&NoEntitiesSchema>,
        TCComputation::AssumeAlreadyComputed,
        Extensions::all_available(),
    )
    .map_err(|source| RequestError::Entities {
        action,
        source: Box::new(source),
    })
}

/// The shape of a request: everything the schema's request check depends on, as an index
/// below [`SHAPES`]. The action, the principal type (`User`, `Member` or `Operator`), the resource
/// type, the roles of the target and of the member a seat moves from (not a member, or the
/// role), and the role the action names; each in its field of bits.
fn shape(actor: &Actor, action: &ActionRequest) -> usize {
    let role = |role: Option<Role>| role.map_or(0, |r| 1 + r as usize);
    let (principal, resource) = entity_types(actor, action);
    let (target, from, named) = match action {
        ActionRequest::Invite { target, role } | ActionRequest::ChangeRole { target, role } => {
            (target.role, None, Some(*role))
        }
        ActionRequest::RemoveMember { target }
        | ActionRequest::UnassignSeat { target }
        | ActionRequest::SetCreditsAccess { target }
        | ActionRequest::AssignSeat { target, .. } => (target.role, None, None),
        ActionRequest::ReassignSeat { from, target } => (target.role, from.role, None),
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
        | ActionRequest::DeletePaygKey(_)
        | ActionRequest::ViewPaygKey(_)
        | ActionRequest::UseTokenPlanKey { .. }
        | ActionRequest::ViewUsage(_)
        | ActionRequest::ViewBilling
        | ActionRequest::AdjustStatement => (None, None, None),
    };
    let mut shift = ACTION_BITS;
    let mut field = |value: usize, bits: u32| {
        let placed = value << shift;
        shift += bits;
        placed
    };
    action.action() as usize
        | field(principal, PRINCIPAL_BITS)
        | field(resource, RESOURCE_BITS)
        | field(role(target), ROLE_BITS)
        | field(role(from), ROLE_BITS)
        | field(role(named), ROLE_BITS)
}

/// Policy slices: one per action, principal type and resource type (see [`slice_index`]).
pub(crate) const SLICES: usize = Action::ALL.len() * PRINCIPAL_TYPES.len() * RESOURCE_TYPES.len();

/// The principal's and resource's entity types as codes: `User` 0, `Member` 1 or `Operator`
/// 2; `Team` 0, `PaygKey` 1 or `TokenPlanKey` 2.
fn entity_types(actor: &Actor, action: &ActionRequest) -> (usize, usize) {
    let principal = match actor {
        Actor::User(_) => 0,
        Actor::Member { .. } | Actor::Outsider(_) => 1,
        Actor::Operator(_) => 2,
    };
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

/// The principal's and resource's entity types.
pub(crate) fn type_names(actor: &Actor, action: &ActionRequest) -> (&'static str, &'static str) {
    let (principal, resource) = entity_types(actor, action);
    (PRINCIPAL_TYPES[principal], RESOURCE_TYPES[resource])
}

/// The policy slice a request is evaluated on: its action's, principal type's and resource
/// type's.
pub(crate) fn slice_index(actor: &Actor, action: &ActionRequest) -> usize {
    let (principal, resource) = entity_types(actor, action);
    (action.action() as usize * PRINCIPAL_TYPES.len() + principal) * RESOURCE_TYPES.len() + resource
}

/// The action, principal type and resource type of a slice.
pub(crate) fn slice_types(index: usize) -> (Action, &'static str, &'static str) {
    let (principals, resources) = (PRINCIPAL_TYPES.len(), RESOURCE_TYPES.len());
    let action = Action::ALL[index / (principals * resources)];
    let principal = PRINCIPAL_TYPES[index / resources % principals];
    let resource = RESOURCE_TYPES[index % resources];
    (action, principal, resource)
}

/// Principal types by code (see [`entity_types`]).
const PRINCIPAL_TYPES: [&str; 3] = ["User", "Member", "Operator"];

/// Resource types by code (see [`entity_types`]).
const RESOURCE_TYPES: [&str; 3] = ["Team", "PaygKey", "TokenPlanKey"];

#[cfg(test)]
mod tests {
    use super::*;

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

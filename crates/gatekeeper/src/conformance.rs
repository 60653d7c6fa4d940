//! Whether a schema describes the entity stores and requests the gatekeeper builds.
//!
//! The proofs of `policy verify` and `policy diff` range over every entity store and request
//! that conform to the schema. They say something of the gatekeeper's decisions only if its
//! stores and requests are among those: a Team attribute the schema declares and the encoder
//! never sets would make a policy fail at every request, where the solver sees it evaluate;
//! a context the schema types otherwise would be denied by the gatekeeper, where the solver
//! sees it decided. So a schema is refused unless
//! - one entity of every kind the encoder stores conforms to it;
//! - the types it never stores (users, roles, regions) have no attributes, tags or parents, so
//!   that one absent from a store behaves as it would present;
//! - for every request environment of the schema the gatekeeper can build (principal, action
//!   and resource types), a request of every shape conforms to it.

use std::str::FromStr;

use cedar_policy::{Entities, Entity, Schema, SchemaFragment};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::encode::{self, Encoder};
use crate::error::{RequestError, error_chain};
use crate::probes::{plus_change, team};
use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, Target, TokenPlanKeyFacts,
};

/// The entity types whose ids come from callers (user, Team and key ids): shapes decide
/// conformance only while none of them is enumerated in the schema.
const OPEN_TYPES: [&str; 5] = ["User", "Team", "Member", "PaygKey", "TokenPlanKey"];

/// The entity types the encoder puts in a store.
const STORED_TYPES: [&str; 4] = ["Team", "Member", "PaygKey", "TokenPlanKey"];

/// A schema's entity types, by name, in Cedar's JSON schema form.
pub(crate) struct SchemaTypes {
    types: Map<String, Value>,
    text: String,
}

/// Why a schema does not describe the gatekeeper's stores.
#[derive(Debug)]
pub(crate) struct Mismatch {
    /// 1-based line of the schema, 0 when the whole schema is meant.
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl SchemaTypes {
    /// The entity types of the schema whose text is `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (fragment, _warnings) =
            SchemaFragment::from_cedarschema_str(text).map_err(|e| e.to_string())?;
        let json = fragment.to_json_value().map_err(|e| e.to_string())?;
        let types = json
            .as_object()
            .into_iter()
            .flat_map(|namespaces| namespaces.values())
            .filter_map(|namespace| namespace.get("entityTypes")?.as_object())
            .flatten()
            .map(|(name, ty)| (name.clone(), ty.clone()))
            .collect();
        Ok(SchemaTypes {
            types,
            text: text.to_owned(),
        })
    }

    /// Whether one of [`OPEN_TYPES`] is enumerated: then a request's ids matter to its
    /// conformance, and every request is checked.
    pub(crate) fn enumerates_open_types(&self) -> bool {
        self.types
            .iter()
            .filter(|(name, _)| OPEN_TYPES.contains(&name.as_str()))
            .any(|(_, ty)| ty.get("enum").is_some())
    }

    /// Every way the schema fails to describe the stores `encoder` builds.
    pub(crate) fn mismatches(&self, encoder: &Encoder, schema: &Schema) -> Vec<Mismatch> {
        let mut mismatches: Vec<Mismatch> = self
            .types
            .iter()
            .filter(|(name, _)| !STORED_TYPES.contains(&name.as_str()))
            .filter(|(_, ty)| has_facts(ty))
            .map(|(name, _)| Mismatch {
                line: self.line_declaring(name),
                message: format!(
                    "entity type `{name}` has attributes, tags or parents, but the gatekeeper never puts a `{name}` in the entity store, so policies would see none of them; declare it with none"
                ),
            })
            .collect();
        let samples = encoder.samples().into_iter().map(Entity::from);
        if let Err(e) = Entities::from_entities(samples, Some(schema)) {
            mismatches.push(Mismatch {
                line: 0,
                message: format!(
                    "the schema does not describe the entities the gatekeeper builds: {}; Team, Member, PaygKey and TokenPlanKey must have exactly the attributes the gatekeeper sets (see the bundled schema)",
                    error_chain(&e)
                ),
            });
        }
        mismatches.extend(self.request_mismatches(encoder, schema));
        mismatches
    }

    /// The request environments of `schema` whose requests, of some shape, do not conform.
    fn request_mismatches<'a>(
        &'a self,
        encoder: &'a Encoder,
        schema: &'a Schema,
    ) -> impl Iterator<Item = Mismatch> + 'a {
        schema.request_envs().filter_map(move |env| {
            let action = Action::from_str(env.action().id().unescaped()).ok()?;
            let actor = match env.principal().to_string().as_str() {
                "User" => Actor::User("user".to_owned()),
                "Member" => Actor::member("member", Role::Reader),
                "Operator" => Actor::Operator("operator".to_owned()),
                _ => return None,
            };
            let resource = env.resource().to_string();
            let team = team(Region::Overseas, false, 2, 1);
            let error = shapes(action)
                .into_iter()
                .filter(|sample| encode::type_names(&actor, sample).1 == resource)
                .find_map(|sample| {
                    let request = Request::new(actor.clone(), team.clone(), sample);
                    encoder.check(&request, schema).err()
                })?;
            let name = action.as_str();
            let why = match &error {
                RequestError::Schema { source, .. } => error_chain(source.as_ref()),
                other => error_chain(other),
            };
            Some(Mismatch {
                line: self.line_of("action ", name),
                message: format!(
                    "requests the gatekeeper builds for `{name}` ({}, {resource}) do not conform to the schema: {why}; the context must have exactly the fields the gatekeeper sets (see the bundled schema)",
                    env.principal(),
                ),
            })
        })
    }

    fn line_declaring(&self, name: &str) -> usize {
        self.line_of("entity ", name)
    }

    /// The first line that starts with `keyword` and names `name`.
    fn line_of(&self, keyword: &str, name: &str) -> usize {
        let declares = |line: &str| {
            line.trim_start().strip_prefix(keyword).is_some_and(|rest| {
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == name)
            })
        };
        self.text.lines().position(declares).map_or(0, |i| i + 1)
    }
}

/// Requests of `action` of every shape the schema check tells apart: each kind of target
/// (an outsider, a member of each role), of member a seat moves from, of role named, and of
/// key.
fn shapes(action: Action) -> Vec<ActionRequest> {
    let targets = || {
        std::iter::once(Target::outsider("target")).chain(
            Role::ALL
                .iter()
                .map(|&role| Target::member("target", role, true)),
        )
    };
    let named = |make: fn(Target, Role) -> ActionRequest| {
        targets()
            .flat_map(|target| {
                Role::ALL
                    .iter()
                    .map(move |&role| make(target.clone(), role))
            })
            .collect()
    };
    let about = |make: fn(Target) -> ActionRequest| targets().map(make).collect();
    let change = plus_change(1, 1, true);
    let payg = PaygKeyFacts {
        id: "key".to_owned(),
        creator: "member".to_owned(),
    };
    let token_plan = TokenPlanKeyFacts {
        holder: "member".to_owned(),
        has_seat: true,
        credits_access: true,
    };
    match action {
        Action::CreateAccount => vec![ActionRequest::CreateAccount],
        Action::CreateTeam => vec![ActionRequest::CreateTeam],
        Action::Invite => named(|target, role| ActionRequest::Invite { target, role }),
        Action::ChangeRole => named(|target, role| ActionRequest::ChangeRole { target, role }),
        Action::RemoveMember => about(|target| ActionRequest::RemoveMember { target }),
        Action::UnassignSeat => about(|target| ActionRequest::UnassignSeat { target }),
        Action::SetCreditsAccess => about(|target| ActionRequest::SetCreditsAccess { target }),
        Action::AssignSeat => about(|target| ActionRequest::AssignSeat {
            target,
            tier: "plus".to_owned(),
            free_seats: 1,
        }),
        Action::ReassignSeat => targets()
            .flat_map(|from| {
                targets().map(move |target| ActionRequest::ReassignSeat {
                    from: from.clone(),
                    target,
                })
            })
            .collect(),
        Action::Leave => vec![ActionRequest::Leave],
        Action::BuySubscription => vec![ActionRequest::BuySubscription(change)],
        Action::AddSeats => vec![ActionRequest::AddSeats(change)],
        Action::RemoveSeats => vec![ActionRequest::RemoveSeats(change)],
        Action::CancelRenewal => vec![ActionRequest::CancelRenewal(change)],
        Action::RestoreRenewal => vec![ActionRequest::RestoreRenewal(change)],
        Action::TopUpCredits => vec![ActionRequest::TopUpCredits],
        Action::TopUpWallet => vec![ActionRequest::TopUpWallet],
        Action::CreatePaygKey => vec![ActionRequest::CreatePaygKey { live_keys: 0 }],
        Action::DeletePaygKey => vec![ActionRequest::DeletePaygKey(payg)],
        Action::ViewPaygKey => vec![ActionRequest::ViewPaygKey(payg)],
        Action::UseTokenPlanKey => vec![ActionRequest::UseTokenPlanKey {
            key: token_plan,
            credits_available: true,
        }],
        Action::ViewUsage => vec![
            ActionRequest::ViewUsage(KeyFacts::Payg(payg)),
            ActionRequest::ViewUsage(KeyFacts::TokenPlan(token_plan)),
        ],
        Action::ViewBilling => vec![ActionRequest::ViewBilling],
        Action::AdjustStatement => vec![ActionRequest::AdjustStatement],
    }
}

/// Whether an entity type, in JSON schema form, has attributes, tags or parent types.
fn has_facts(ty: &Value) -> bool {
    let attributes = ty
        .pointer("/shape/attributes")
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty());
    let parents = ty
        .get("memberOfTypes")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    attributes || parents || ty.get("tags").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled_text() -> String {
        crate::source::PolicySources::bundled().schema.text
    }

    #[test]
    fn a_schema_that_enumerates_an_id_type_has_every_request_checked() {
        let text = bundled_text();
        assert!(!SchemaTypes::parse(&text).unwrap().enumerates_open_types());
        let enumerated = text.replace("entity User;", r#"entity User enum ["ada"];"#);
        assert_ne!(enumerated, text, "the schema declares `entity User;`");
        assert!(
            SchemaTypes::parse(&enumerated)
                .unwrap()
                .enumerates_open_types()
        );
    }

    fn mismatches(text: &str) -> Vec<String> {
        let types = SchemaTypes::parse(text).unwrap();
        let (schema, _) = Schema::from_cedarschema_str(text).unwrap();
        let encoder = Encoder::new(&types).unwrap();
        types
            .mismatches(&encoder, &schema)
            .into_iter()
            .map(|m| format!("{}: {}", m.line, m.message))
            .collect()
    }

    #[test]
    fn the_bundled_schema_describes_the_stores() {
        assert_eq!(mismatches(&bundled_text()), Vec::<String>::new());
    }

    #[test]
    fn an_attribute_the_gatekeeper_never_sets_or_a_fact_of_a_type_never_stored_is_a_mismatch() {
        let text = bundled_text();
        let cases = [
            (
                "  seat_count: Long,\n};",
                "  seat_count: Long,\n  label: String,\n};",
                "label",
            ),
            ("  seat_count: Long,\n};", "};", "seat_count"),
            ("  role: Role,\n};", "  role: Long,\n};", "role"),
            ("entity User;", "entity User = { name: String };", "`User`"),
            ("entity User;", "entity User in [Team];", "`User`"),
            (
                r#"entity Role enum ["owner", "admin", "reader"];"#,
                r#"entity Role enum ["owner", "reader"];"#,
                "admin",
            ),
            // A context the gatekeeper builds otherwise: a member target has a role.
            ("  role?: Role,\n", "", "`invite` (Member, Team)"),
            (
                "context: { live_keys: Long }",
                "context: { live_keys: String }",
                "`create_payg_key`",
            ),
            (
                "context: { credits_available: Bool }",
                "context: { credits_available: Bool, region: Region }",
                "`use_token_plan_key` (Member, TokenPlanKey)",
            ),
        ];
        for (from, to, named) in cases {
            let edited = text.replacen(from, to, 1);
            assert_ne!(edited, text, "{from}");
            let found = mismatches(&edited);
            assert!(found.iter().any(|m| m.contains(named)), "{to}: {found:?}");
        }
    }
}

//! A Cedar request told in the reviewer's terms: the action, the principal's and the Team's
//! facts, the context; and the gatekeeper's decision on it, with the policies that made it
//! (`@id`, `@rule`, `file:line`). Used by `policy diff` and `policy verify` for counterexamples,
//! and by `policy explain` for the facts it evaluated.

use cedar_policy::{AuthorizationError, Authorizer, Decision, Entities, EntityUid, EvalResult};
use serde::Serialize;

use super::set::ReviewedSet;

/// A request's facts, each a non-empty line.
#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    /// The action.
    pub action: String,
    /// The principal's type and attributes (`role = reader`, ...).
    pub principal: String,
    /// The resource's type and attributes (the Team's region, counts, ...).
    pub resource: String,
    /// The context's facts (`target`, `tier`, `live_keys`, ...).
    pub context: String,
}

impl RequestFacts {
    /// The facts of `request` over `entities`.
    pub fn of(request: &cedar_policy::Request, entities: &Entities) -> RequestFacts {
        let entity = |uid: Option<&EntityUid>| match uid {
            Some(uid) => entity_facts(uid, entities),
            None => "(unknown)".to_owned(),
        };
        let context = match request.context() {
            Some(context) => {
                let mut names: Vec<String> = context.clone().into_iter().map(|(k, _)| k).collect();
                names.sort();
                let facts: Vec<String> = names
                    .iter()
                    .filter_map(|name| context.get(name).map(|v| format!("{name} = {}", value(&v))))
                    .collect();
                if facts.is_empty() {
                    "(empty)".to_owned()
                } else {
                    facts.join(", ")
                }
            }
            None => "(unknown)".to_owned(),
        };
        RequestFacts {
            action: request
                .action()
                .map_or_else(|| "(unknown)".to_owned(), |a| a.id().unescaped().to_owned()),
            principal: entity(request.principal()),
            resource: entity(request.resource()),
            context,
        }
    }

    /// One line per fact, each starting with `indent`.
    pub fn lines(&self, indent: &str) -> Vec<String> {
        [
            ("action", &self.action),
            ("principal", &self.principal),
            ("resource", &self.resource),
            ("context", &self.context),
        ]
        .into_iter()
        .map(|(name, fact)| format!("{indent}{name:<10} {fact}"))
        .collect()
    }
}

/// The gatekeeper's decision on a request under one set.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Allowed.
    pub allowed: bool,
    /// The policies that decided (`id (rule) at file:line`), or those failing to evaluate.
    pub policies: Vec<String>,
    /// Their `@id`s, in the same order.
    #[serde(skip)]
    pub ids: Vec<String>,
}

impl Verdict {
    /// `set`'s decision on `request`: Cedar's, except that a policy failing to evaluate denies.
    pub fn of(set: &ReviewedSet, request: &cedar_policy::Request, entities: &Entities) -> Verdict {
        let response = Authorizer::new().is_authorized(request, set.gate.policy_set(), entities);
        let failed: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|error| match error {
                AuthorizationError::PolicyEvaluationError(e) => e.policy_id().to_string(),
            })
            .collect();
        if !failed.is_empty() {
            return Verdict {
                allowed: false,
                policies: failed
                    .iter()
                    .map(|id| format!("{} failing to evaluate", set.policy_name(id)))
                    .collect(),
                ids: failed,
            };
        }
        let ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        Verdict {
            allowed: response.decision() == Decision::Allow,
            policies: ids.iter().map(|id| set.policy_name(id)).collect(),
            ids,
        }
    }
}

impl std::fmt::Display for Verdict {
    /// `allowed by ID (RULE) at FILE:LINE`, or `denied` when no policy decided.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.allowed { "allowed" } else { "denied" })?;
        if self.policies.is_empty() {
            if !self.allowed {
                f.write_str(" (no policy permits it)")?;
            }
            return Ok(());
        }
        write!(f, " by {}", self.policies.join(", "))
    }
}

/// `Type "id": attr = value, ..., in Type "id"` of an entity of the request.
fn entity_facts(uid: &EntityUid, entities: &Entities) -> String {
    let name = entity_id(uid);
    let Some(entity) = entities.get(uid) else {
        return format!("{name} (no attributes)");
    };
    let (_, attrs, parents) = entity.clone().into_inner();
    let mut names: Vec<&String> = attrs.keys().collect();
    names.sort();
    let mut facts: Vec<String> = names
        .into_iter()
        .filter_map(|attr| match entity.attr(attr) {
            Some(Ok(v)) => Some(format!("{attr} = {}", value(&v))),
            _ => None,
        })
        .collect();
    if !parents.is_empty() {
        let mut parents: Vec<String> = parents.iter().map(entity_id).collect();
        parents.sort();
        facts.push(format!("in {}", parents.join(", ")));
    }
    if facts.is_empty() {
        format!("{name} (no attributes)")
    } else {
        format!("{name}: {}", facts.join(", "))
    }
}

/// An entity as a reviewer reads it: its type and quoted id (`Team "acme"`, `User ""`).
fn entity_id(uid: &EntityUid) -> String {
    format!("{} {:?}", uid.type_name(), uid.id().unescaped())
}

/// A value as a reviewer reads it: entities by type and id, records and sets spelled out.
fn value(v: &EvalResult) -> String {
    match v {
        EvalResult::EntityUid(uid) => entity_ref(uid),
        EvalResult::String(s) => format!("{s:?}"),
        EvalResult::Record(record) => {
            let mut fields: Vec<(String, String)> = record
                .iter()
                .map(|(k, v)| (k.to_owned(), value(v)))
                .collect();
            fields.sort();
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        EvalResult::Set(set) => {
            let items: Vec<String> = set.iter().map(value).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// An entity-valued attribute: enumerated ones (roles, regions) by their id alone, others by
/// type and quoted id.
fn entity_ref(uid: &EntityUid) -> String {
    match uid.type_name().to_string().as_str() {
        "Role" | "Region" if !uid.id().unescaped().is_empty() => uid.id().unescaped().to_owned(),
        _ => entity_id(uid),
    }
}

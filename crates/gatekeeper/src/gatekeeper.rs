//! The gatekeeper: the validated policy set and schema, built once, and `authorize`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use cedar_policy::{
    ActionConstraint, Policy, PolicyId, PolicySet, PrincipalConstraint, ResourceConstraint, Schema,
    ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::action::Action;
use crate::conformance::SchemaTypes;
use crate::decision::{Decision, Effect, PolicyRef};
use crate::decision_log::{DecisionLog, LoggedDecision};
use crate::digest::digest;
use crate::encode::{self, Encoder};
use crate::error::{LoadError, Problem, RequestError, error_chain};
use crate::evaluate::{self, CompiledPolicy};
use crate::request::{ActionRequest, Actor, Request, TeamFacts};
use crate::rules;
use crate::source::{PolicySources, SCHEMA_FILE, line_of, statement_lines};

/// Where a policy is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLocation {
    /// The file, relative to the policy directory.
    pub file: String,
    /// The 1-based line its statement starts on.
    pub line: usize,
}

/// The policies, validated strictly against the schema, ready to decide. Build it once and
/// reuse it for every decision.
pub struct Gatekeeper {
    policies: PolicySet,
    /// Per action, the policies whose action scope includes it: a policy whose scope excludes
    /// the request's action never applies and never errors, so evaluating only these is exact.
    by_action: HashMap<String, PolicySet>,
    /// The action's policies whose principal and resource scopes also admit the request's
    /// entity types, by [`encode::slice_index`]: a policy scoped to `principal is T` or
    /// `resource is T` never applies, and never errors, on another type, so this is exact too.
    by_request_types: Vec<PolicySet>,
    /// [`Self::by_request_types`], compiled for evaluation.
    compiled: Vec<Vec<Arc<CompiledPolicy>>>,
    schema: Schema,
    encoder: Encoder,
    refs: HashMap<PolicyId, PolicyRef>,
    locations: BTreeMap<String, PolicyLocation>,
    permits_by_action: HashMap<String, Vec<PolicyRef>>,
    /// The set's [`digest`], carried by every decision.
    digest: Arc<str>,
    /// Receives every decision, when attached.
    decision_log: Option<Arc<dyn DecisionLog>>,
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatekeeper")
            .field("policies", &self.locations.len())
            .field("digest", &self.digest)
            .field("decision_log", &self.decision_log.is_some())
            .finish_non_exhaustive()
    }
}

impl Gatekeeper {
    /// The reviewed policies compiled into this crate.
    pub fn bundled() -> Result<Self, LoadError> {
        Self::from_sources(&PolicySources::bundled())
    }

    /// The policies of a directory holding `tokenplan.cedarschema` and `*.cedar` files.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::from_sources(&PolicySources::from_dir(dir.as_ref())?)
    }

    /// Parses, lints and strictly validates `sources`; any problem refuses to build.
    pub fn from_sources(sources: &PolicySources) -> Result<Self, LoadError> {
        let mut problems = Vec::new();
        let schema = parse_schema(sources, &mut problems);
        let mut policies = PolicySet::new();
        let mut locations = BTreeMap::new();
        for file in &sources.policies {
            for (policy, line) in parse_file(&file.name, &file.text, &mut problems) {
                let problem = |message: String| Problem {
                    file: file.name.clone(),
                    line,
                    message,
                };
                let Some(id) = policy.annotation("id").map(str::to_owned) else {
                    problems.push(problem(
                        "policy has no `@id`; add a stable kebab-case `@id(\"...\")`".into(),
                    ));
                    continue;
                };
                match policy.annotation("rule") {
                    None => problems.push(problem(format!(
                        "policy `{id}` has no `@rule`; name the rule of rules.md it enforces"
                    ))),
                    Some(rule) if !rules::is_known(rule) => problems.push(problem(format!(
                        "policy `{id}` names `@rule(\"{rule}\")`, which is not a rule of rules.md"
                    ))),
                    Some(_) => {}
                }
                if policy.effect() == cedar_policy::Effect::Permit
                    && policy.action_constraint() == ActionConstraint::Any
                {
                    problems.push(problem(format!(
                        "permit `{id}` applies to every action; scope it to the actions it permits"
                    )));
                }
                if let Some(previous) = locations.get(&id) {
                    let PolicyLocation { file, line } = previous;
                    problems.push(problem(format!(
                        "`@id(\"{id}\")` is already used at {file}:{line}; ids must be unique"
                    )));
                    continue;
                }
                let renamed = policy.new_id(PolicyId::new(&id));
                if let Err(e) = policies.add(renamed) {
                    problems.push(problem(format!("policy `{id}` cannot be added: {e}")));
                    continue;
                }
                locations.insert(
                    id,
                    PolicyLocation {
                        file: file.name.clone(),
                        line,
                    },
                );
            }
        }
        let Some(schema) = schema else {
            return Err(invalid(problems));
        };
        validate(&schema, &policies, sources, &locations, &mut problems);
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let schema_problem = |line, message| Problem {
            file: SCHEMA_FILE.into(),
            line,
            message,
        };
        let encoder = SchemaTypes::parse(&sources.schema.text)
            .and_then(|types| Ok((Encoder::new(&types)?, types)))
            .map_err(|message| invalid(vec![schema_problem(0, message)]));
        let (encoder, types) = encoder?;
        let mismatches = types.mismatches(&encoder, &schema);
        if !mismatches.is_empty() {
            return Err(invalid(
                mismatches
                    .into_iter()
                    .map(|m| schema_problem(m.line, m.message))
                    .collect(),
            ));
        }
        let refs: HashMap<PolicyId, PolicyRef> = policies
            .policies()
            .map(|p| (p.id().clone(), policy_ref(p)))
            .collect();
        let permits_by_action = permits_by_action(&schema, &policies, &refs);
        let by_action = slice_by_action(&schema, &policies).and_then(|by_action| {
            let by_types = slice_by_request_types(&by_action)?;
            Ok((by_action, by_types))
        });
        let (by_action, by_request_types) = by_action.map_err(|message| {
            invalid(vec![Problem {
                file: SCHEMA_FILE.into(),
                line: 0,
                message,
            }])
        })?;
        let every_policy = evaluate::Compiled::new(&policies, policy_ref);
        let compiled = by_request_types
            .iter()
            .map(|slice| every_policy.slice(slice))
            .collect();
        Ok(Gatekeeper {
            policies,
            by_action,
            by_request_types,
            compiled,
            schema,
            encoder,
            refs,
            locations,
            permits_by_action,
            digest: digest(sources).into(),
            decision_log: None,
        })
    }

    /// This gatekeeper, handing every decision it makes to `log` as well (see
    /// [`crate::decision_log`]).
    pub fn with_decision_log(mut self, log: Arc<dyn DecisionLog>) -> Self {
        self.decision_log = Some(log);
        self
    }

    /// The decision log attached, if any.
    pub fn decision_log(&self) -> Option<&Arc<dyn DecisionLog>> {
        self.decision_log.as_ref()
    }

    /// The digest of the files this set was loaded from (`sha256:HEX`, see [`digest`]).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Hands `decision` to the decision log, if one is attached.
    fn log(&self, actor: &Actor, team: &TeamFacts, action: &ActionRequest, decision: &Decision) {
        if let Some(log) = &self.decision_log {
            log.record(&LoggedDecision {
                actor,
                team,
                action,
                decision,
                at: SystemTime::now(),
            });
        }
    }

    /// Decides `request`. An error building it is returned (the caller must deny); an error
    /// evaluating a policy denies.
    pub fn authorize(&self, request: &Request) -> Result<Decision, RequestError> {
        let decision = self.authorize_unlogged(request)?;
        self.log(&request.actor, &request.team, &request.action, &decision);
        Ok(decision)
    }

    /// [`Gatekeeper::authorize`] without the decision log.
    fn authorize_unlogged(&self, request: &Request) -> Result<Decision, RequestError> {
        let cedar = self.encoder.request(request, &self.schema)?;
        Ok(self.evaluate(
            &request.actor,
            &request.action,
            cedar.request,
            &cedar.entities,
        ))
    }

    /// Decides a page of requests by one actor in one Team, in order: a Reader's view of a
    /// statement's keys (`view_usage` for each), say. The Team's and the actor's entities are
    /// built once; each request is decided as [`Gatekeeper::decide`] decides it alone, and a
    /// request that can't be built is denied.
    pub fn decide_page(
        &self,
        actor: &Actor,
        team: &TeamFacts,
        actions: &[ActionRequest],
    ) -> Vec<Decision> {
        let decisions: Vec<Decision> = match self.encoder.page(actor, team, actions, &self.schema) {
            Ok(page) => actions
                .iter()
                .zip(page)
                .map(|(action, cedar)| match cedar {
                    Ok(cedar) => self.evaluate(actor, action, cedar.request, &cedar.entities),
                    Err(e) => self.failed(action, error_chain(&e)),
                })
                .collect(),
            Err(e) => {
                let reason = error_chain(&e);
                actions
                    .iter()
                    .map(|a| self.failed(a, reason.clone()))
                    .collect()
            }
        };
        for (action, decision) in actions.iter().zip(&decisions) {
            self.log(actor, team, action, decision);
        }
        decisions
    }

    /// A denial of `action` because it could not be evaluated.
    fn failed(&self, action: &ActionRequest, reason: String) -> Decision {
        Decision::failed(action.name(), reason, Arc::clone(&self.digest))
    }

    /// Evaluates a built request over its slice of the policies ([`Self::policy_set_for_request`]).
    fn evaluate(
        &self,
        actor: &Actor,
        action_request: &ActionRequest,
        cedar: cedar_policy_core::ast::Request,
        entities: &cedar_policy_core::entities::Entities,
    ) -> Decision {
        let action = action_request.name();
        let slice = &self.compiled[encode::slice_index(actor, action_request)];
        let role = match actor {
            Actor::Member { role, .. } => Some(role.as_str()),
            Actor::User(_) | Actor::Outsider(_) | Actor::Operator(_) => None,
        };
        self.decision(action, role, evaluate::evaluate(slice, cedar, entities))
    }

    /// The decision on `action` of what the policies said, with this set's digest.
    fn decision(
        &self,
        action: &'static str,
        role: Option<&'static str>,
        verdicts: evaluate::Verdicts,
    ) -> Decision {
        let evaluate::Verdicts {
            mut permits,
            mut forbids,
            errors,
        } = verdicts;
        permits.sort_by(|a, b| a.id.cmp(&b.id));
        forbids.sort_by(|a, b| a.id.cmp(&b.id));
        let not_applicable = self
            .permits_by_action
            .get(action)
            .map_or(&[][..], Vec::as_slice);
        Decision::new(
            action,
            role,
            permits,
            forbids,
            not_applicable,
            errors,
            Arc::clone(&self.digest),
        )
    }

    /// The Cedar request and entities `request` becomes (for tools and benchmarks).
    pub fn cedar_inputs(
        &self,
        request: &Request,
    ) -> Result<(cedar_policy::Request, cedar_policy::Entities), RequestError> {
        let cedar = self.encoder.request(request, &self.schema)?;
        Ok((cedar.request.into(), cedar.entities.into()))
    }

    /// Decides `request`, turning an error building it into a denial (fail closed).
    pub fn decide(&self, request: &Request) -> Decision {
        let decision = self
            .authorize_unlogged(request)
            .unwrap_or_else(|e| self.failed(&request.action, error_chain(&e)));
        self.log(&request.actor, &request.team, &request.action, &decision);
        decision
    }

    /// Decides a request already in Cedar's terms (a `cedar run-tests` case, a solver's
    /// counterexample) with Cedar's authorizer on the whole set: the policies that decide are
    /// those a typed request with the same facts finds. Not handed to the decision log, which
    /// receives typed requests' facts.
    pub fn decide_cedar(
        &self,
        request: &cedar_policy::Request,
        entities: &cedar_policy::Entities,
    ) -> Decision {
        let action = request
            .action()
            .and_then(|a| {
                let name = a.id().unescaped();
                Action::ALL.iter().find(|known| known.as_str() == name)
            })
            .map_or("(unknown action)", |a| a.as_str());
        let response =
            cedar_policy::Authorizer::new().is_authorized(request, &self.policies, entities);
        let mut verdicts = evaluate::Verdicts {
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
            ..evaluate::Verdicts::default()
        };
        for id in response.diagnostics().reason() {
            if let Some(policy) = self.refs.get(id) {
                match policy.effect {
                    Effect::Permit => verdicts.permits.push(policy.clone()),
                    Effect::Forbid => verdicts.forbids.push(policy.clone()),
                }
            }
        }
        self.decision(action, None, verdicts)
    }

    /// Every policy, by id, with where it is written.
    pub fn locations(&self) -> &BTreeMap<String, PolicyLocation> {
        &self.locations
    }

    /// Every policy, by id, with its rule, effect and message.
    pub fn policy_refs(&self) -> impl Iterator<Item = &PolicyRef> {
        self.refs.values()
    }

    /// The Cedar policy set, with ids from `@id`.
    pub fn policy_set(&self) -> &PolicySet {
        &self.policies
    }

    /// The policies evaluated for `action`: those whose action scope admits it.
    pub fn policy_set_for(&self, action: &str) -> &PolicySet {
        self.by_action.get(action).unwrap_or(&self.policies)
    }

    /// The policies evaluated for `request`: its action's, less those whose principal or
    /// resource scope excludes the request's entity types.
    pub fn policy_set_for_request(&self, request: &Request) -> &PolicySet {
        &self.by_request_types[encode::slice_index(&request.actor, &request.action)]
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

fn invalid(mut problems: Vec<Problem>) -> LoadError {
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    problems.dedup();
    LoadError::Invalid { problems }
}

/// The first labelled offset of a Cedar diagnostic, as a line of `text`.
fn diagnostic_line(diagnostic: &dyn Diagnostic, text: &str) -> Option<usize> {
    diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| line_of(text, label.offset()))
}

fn parse_schema(sources: &PolicySources, problems: &mut Vec<Problem>) -> Option<Schema> {
    match Schema::from_cedarschema_str(&sources.schema.text) {
        Ok((schema, _warnings)) => {
            refuse_action_groups(&schema, sources, problems);
            Some(schema)
        }
        Err(e) => {
            problems.push(Problem {
                file: sources.schema.name.clone(),
                line: diagnostic_line(&e, &sources.schema.text).unwrap_or(0),
                message: format!("schema does not parse: {e}"),
            });
            None
        }
    }
}

/// Action groups are refused: a policy scoped to a group applies, in Cedar, to the group's
/// members, while the gatekeeper evaluates each request on the policies whose scope names its
/// action, over an entity store without action entities. A group would be a forbid Cedar
/// applies and the gatekeeper skips.
fn refuse_action_groups(schema: &Schema, sources: &PolicySources, problems: &mut Vec<Problem>) {
    let text = &sources.schema.text;
    for group in schema.action_groups() {
        let name = group.id().unescaped();
        let declares_member = |line: &str| {
            line.trim_start().starts_with("action")
                && line.contains(" in ")
                && line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == name)
        };
        problems.push(Problem {
            file: sources.schema.name.clone(),
            line: text.lines().position(declares_member).map_or(0, |i| i + 1),
            message: format!(
                "action `{name}` is a group of actions, which the gatekeeper does not \
                 evaluate; drop the group and name its actions in the policies' scopes"
            ),
        });
    }
}

/// The policies of one file, each with the line its statement starts on.
fn parse_file(name: &str, text: &str, problems: &mut Vec<Problem>) -> Vec<(Policy, usize)> {
    let set = match PolicySet::from_str(text) {
        Ok(set) => set,
        Err(errors) => {
            for error in errors.iter() {
                problems.push(Problem {
                    file: name.to_owned(),
                    line: diagnostic_line(error, text).unwrap_or(0),
                    message: format!("does not parse: {error}"),
                });
            }
            return Vec::new();
        }
    };
    if set.templates().next().is_some() {
        problems.push(Problem {
            file: name.to_owned(),
            line: 0,
            message: "templates are not used here; write static policies".into(),
        });
    }
    // The parser names policies `policy0`, `policy1`, ... in the order they are written.
    let mut policies: Vec<(usize, Policy)> = set
        .policies()
        .filter_map(|p| {
            let index = p.id().to_string().strip_prefix("policy")?.parse().ok()?;
            Some((index, p.clone()))
        })
        .collect();
    policies.sort_by_key(|(index, _)| *index);
    let lines = statement_lines(text);
    policies
        .into_iter()
        .map(|(index, policy)| (policy, lines.get(index).copied().unwrap_or(0)))
        .collect()
}

fn validate(
    schema: &Schema,
    policies: &PolicySet,
    sources: &PolicySources,
    locations: &BTreeMap<String, PolicyLocation>,
    problems: &mut Vec<Problem>,
) {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    let mut report = |id: &PolicyId, diagnostic: &dyn Diagnostic, message: String| {
        let (file, line) = match locations.get(id.to_string().as_str()) {
            Some(location) => {
                let text = sources
                    .policies
                    .iter()
                    .find(|f| f.name == location.file)
                    .map(|f| f.text.as_str())
                    .unwrap_or_default();
                let line = diagnostic_line(diagnostic, text).unwrap_or(location.line);
                (location.file.clone(), line)
            }
            None => (String::from("?"), 0),
        };
        problems.push(Problem {
            file,
            line,
            message: format!(
                "policy `{id}`: {}",
                message.trim_start_matches(&format!("for policy `{id}`, "))
            ),
        });
    };
    for error in result.validation_errors() {
        report(error.policy_id(), error, error.to_string());
    }
    for warning in result.validation_warnings() {
        report(warning.policy_id(), warning, warning.to_string());
    }
}

fn policy_ref(policy: &Policy) -> PolicyRef {
    PolicyRef {
        id: policy.id().to_string(),
        rule: policy.annotation("rule").unwrap_or_default().to_owned(),
        effect: match policy.effect() {
            cedar_policy::Effect::Permit => Effect::Permit,
            cedar_policy::Effect::Forbid => Effect::Forbid,
        },
        message: policy.annotation("message").map(str::to_owned),
    }
}

/// The actions a policy's scope admits.
fn scoped_actions(policy: &Policy, all: &[String]) -> HashSet<String> {
    match policy.action_constraint() {
        ActionConstraint::Any => all.iter().cloned().collect(),
        ActionConstraint::Eq(a) => HashSet::from([a.id().unescaped().to_owned()]),
        ActionConstraint::In(list) => list.iter().map(|a| a.id().unescaped().to_owned()).collect(),
    }
}

fn action_names(schema: &Schema) -> Vec<String> {
    schema
        .actions()
        .map(|a| a.id().unescaped().to_owned())
        .collect()
}

/// For each action, the policies whose scope admits it.
fn slice_by_action(
    schema: &Schema,
    policies: &PolicySet,
) -> Result<HashMap<String, PolicySet>, String> {
    let all = action_names(schema);
    let mut sliced: HashMap<String, PolicySet> =
        all.iter().map(|a| (a.clone(), PolicySet::new())).collect();
    for policy in policies.policies() {
        for action in scoped_actions(policy, &all) {
            if let Some(set) = sliced.get_mut(&action) {
                set.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(sliced)
}

/// [`encode::SLICES`] policy sets: for each action, principal type and resource type, the
/// action's policies whose principal and resource scopes admit those types.
fn slice_by_request_types(
    by_action: &HashMap<String, PolicySet>,
) -> Result<Vec<PolicySet>, String> {
    let mut slices = Vec::with_capacity(encode::SLICES);
    for index in 0..encode::SLICES {
        let (action, principal, resource) = encode::slice_types(index);
        let mut slice = PolicySet::new();
        let policies = by_action
            .get(action.as_str())
            .into_iter()
            .flat_map(PolicySet::policies);
        for policy in policies {
            let principal_admits = match policy.principal_constraint() {
                PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => {
                    ty.to_string() == principal
                }
                PrincipalConstraint::Eq(uid) => uid.type_name().to_string() == principal,
                PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
            };
            let resource_admits = match policy.resource_constraint() {
                ResourceConstraint::Is(ty) | ResourceConstraint::IsIn(ty, _) => {
                    ty.to_string() == resource
                }
                ResourceConstraint::Eq(uid) => uid.type_name().to_string() == resource,
                ResourceConstraint::Any | ResourceConstraint::In(_) => true,
            };
            if principal_admits && resource_admits {
                slice.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        slices.push(slice);
    }
    Ok(slices)
}

/// For each action name, the permit policies whose scope includes it.
fn permits_by_action(
    schema: &Schema,
    policies: &PolicySet,
    refs: &HashMap<PolicyId, PolicyRef>,
) -> HashMap<String, Vec<PolicyRef>> {
    let all = action_names(schema);
    let mut by_action: HashMap<String, Vec<PolicyRef>> = HashMap::new();
    for policy in policies.policies() {
        if policy.effect() != cedar_policy::Effect::Permit {
            continue;
        }
        if let Some(policy_ref) = refs.get(policy.id()) {
            for action in scoped_actions(policy, &all) {
                by_action
                    .entry(action)
                    .or_default()
                    .push(policy_ref.clone());
            }
        }
    }
    for permits in by_action.values_mut() {
        permits.sort_by(|a, b| a.id.cmp(&b.id));
    }
    by_action
}

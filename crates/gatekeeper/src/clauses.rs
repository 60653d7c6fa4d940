//! A policy's condition clause by clause, on one request: which clause held or failed, and the
//! facts it read (`resource.member_count >= 100` was true: `resource.member_count` = 100).
//!
//! The clauses are the policy's principal and resource scope (when it constrains them), each
//! top-level `&&` operand of a `when { ... }` and each top-level `||` operand of an
//! `unless { ... }`, in the order written. The policy applies when every clause of its scope and
//! its `when` blocks is true and every clause of its `unless` blocks is false; Cedar evaluates
//! them in that order and stops at the first that decides, so an error after it is one Cedar
//! never meets.

use cedar_policy::PolicyId;
use cedar_policy_core::ast::{self, Expr, ExprKind, PrincipalOrResourceConstraint, UnaryOp, Var};
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;

use crate::Gatekeeper;
use crate::error::RequestError;
use crate::request::Request;

/// Where a clause is written in its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClauseKind {
    /// The principal or resource scope (`principal is Member`).
    Scope,
    /// An operand of a `when { ... }` block: the policy needs it true.
    When,
    /// An operand of an `unless { ... }` block: the policy needs it false.
    Unless,
}

/// What a clause evaluated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It evaluated to this boolean.
    Value(bool),
    /// It failed to evaluate (the gatekeeper denies), in Cedar's words.
    Error(String),
    /// An earlier clause decided, so Cedar never evaluates this one (which would fail).
    NotReached,
}

/// One clause of a policy's condition, evaluated on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Scope, `when` or `unless`.
    pub kind: ClauseKind,
    /// The clause as written, whitespace collapsed.
    pub text: String,
    /// What it evaluated to.
    pub outcome: Outcome,
    /// The facts it reads (`resource.member_count`), each with its value on the request, in
    /// Cedar's syntax; facts that do not evaluate are left out.
    pub facts: Vec<(String, String)>,
}

impl Clause {
    /// Whether the clause lets the policy apply: a true scope or `when` clause, a false
    /// `unless` clause.
    pub fn lets_apply(&self) -> bool {
        match (self.kind, &self.outcome) {
            (ClauseKind::Scope | ClauseKind::When, Outcome::Value(held)) => *held,
            (ClauseKind::Unless, Outcome::Value(held)) => !held,
            (_, Outcome::Error(_) | Outcome::NotReached) => false,
        }
    }
}

impl Gatekeeper {
    /// Each clause of policy `id`'s condition on `request`, with whether it held and the facts
    /// it read; `None` when the set has no policy `id`. An error building the request is
    /// returned, as by [`Gatekeeper::authorize`].
    pub fn clauses(
        &self,
        id: &str,
        request: &Request,
    ) -> Result<Option<Vec<Clause>>, RequestError> {
        let Some(policy) = self.policy_set().policy(&PolicyId::new(id)) else {
            return Ok(None);
        };
        let (cedar_request, entities) = self.cedar_inputs(request)?;
        let policy: &ast::Policy = policy.as_ref();
        let evaluator = Evaluator::new(
            cedar_request.as_ref().clone(),
            entities.as_ref(),
            Extensions::all_available(),
        );
        let mut decided = false;
        let clauses = written_clauses(policy)
            .into_iter()
            .map(|(kind, expr)| {
                let outcome = match evaluator.interpret(&expr, policy.env()) {
                    Ok(value) => match value.value_kind() {
                        ast::ValueKind::Lit(ast::Literal::Bool(held)) => Outcome::Value(*held),
                        _ => Outcome::Error(format!("evaluated to `{value}`, not a boolean")),
                    },
                    Err(_) if decided => Outcome::NotReached,
                    Err(error) => Outcome::Error(error.to_string()),
                };
                let facts = facts_read(&expr)
                    .into_iter()
                    .filter_map(|(name, fact)| {
                        let value = evaluator.interpret(fact, policy.env()).ok()?;
                        Some((name, value.to_string()))
                    })
                    .collect();
                let clause = Clause {
                    kind,
                    text: written(&expr),
                    outcome,
                    facts,
                };
                decided |= !clause.lets_apply();
                clause
            })
            .collect();
        Ok(Some(clauses))
    }
}

/// The scope constraints that constrain, then each operand of each `when` and `unless` block.
fn written_clauses(policy: &ast::Policy) -> Vec<(ClauseKind, Expr)> {
    let mut clauses = Vec::new();
    let principal = policy.principal_constraint();
    if !matches!(principal.as_inner(), PrincipalOrResourceConstraint::Any) {
        clauses.push((ClauseKind::Scope, principal.as_expr()));
    }
    let resource = policy.resource_constraint();
    if !matches!(resource.as_inner(), PrincipalOrResourceConstraint::Any) {
        clauses.push((ClauseKind::Scope, resource.as_expr()));
    }
    if let Some(condition) = policy.non_scope_constraints() {
        for block in operands(condition, And) {
            match unless_body(block) {
                Some(body) => clauses.extend(
                    operands(body, Or)
                        .into_iter()
                        .map(|e| (ClauseKind::Unless, e.clone())),
                ),
                None => clauses.extend(
                    operands(block, And)
                        .into_iter()
                        .map(|e| (ClauseKind::When, e.clone())),
                ),
            }
        }
    }
    clauses
}

/// Which connective [`operands`] splits on.
#[derive(Clone, Copy)]
enum Connective {
    And,
    Or,
}
use Connective::{And, Or};

/// The operands of a chain of `&&` (or `||`), left to right; the expression itself otherwise.
fn operands(expr: &Expr, connective: Connective) -> Vec<&Expr> {
    let pair = match (connective, expr.expr_kind()) {
        (And, ExprKind::And { left, right }) | (Or, ExprKind::Or { left, right }) => {
            Some((left, right))
        }
        _ => None,
    };
    match pair {
        Some((left, right)) => {
            let mut all = operands(left, connective);
            all.extend(operands(right, connective));
            all
        }
        None => vec![expr],
    }
}

/// The body of an `unless { ... }` block: the parser writes one as a negation located at the
/// block, `unless` included.
fn unless_body(expr: &Expr) -> Option<&Expr> {
    let ExprKind::UnaryApp {
        op: UnaryOp::Not,
        arg,
    } = expr.expr_kind()
    else {
        return None;
    };
    let snippet = expr.source_loc().and_then(|loc| loc.snippet())?;
    snippet
        .trim_start()
        .starts_with("unless")
        .then_some(arg.as_ref())
}

/// An expression as written in the policy file (whitespace collapsed), or as Cedar prints it.
fn written(expr: &Expr) -> String {
    match expr.source_loc().and_then(|loc| loc.snippet()) {
        Some(text) => text.split_whitespace().collect::<Vec<_>>().join(" "),
        None => expr.to_string(),
    }
}

/// The facts a clause reads: its outermost attribute chains rooted at `principal`, `resource`
/// or `context` (`context.target.role`), and those variables where read whole (`principal in
/// resource`), each once, in the order written.
fn facts_read(expr: &Expr) -> Vec<(String, &Expr)> {
    let mut facts: Vec<(String, &Expr)> = Vec::new();
    collect_facts(expr, &mut facts);
    facts
}

fn collect_facts<'e>(expr: &'e Expr, facts: &mut Vec<(String, &'e Expr)>) {
    let is_fact = match expr.expr_kind() {
        ExprKind::GetAttr { .. } => rooted_at_request(expr),
        ExprKind::Var(var) => *var != Var::Action,
        _ => false,
    };
    if is_fact {
        let name = written(expr);
        if !facts.iter().any(|(known, _)| *known == name) {
            facts.push((name, expr));
        }
        return;
    }
    for child in children(expr) {
        collect_facts(child, facts);
    }
}

/// Whether an attribute chain starts at a variable of the request.
fn rooted_at_request(expr: &Expr) -> bool {
    match expr.expr_kind() {
        ExprKind::GetAttr { expr, .. } => rooted_at_request(expr),
        ExprKind::Var(var) => *var != Var::Action,
        _ => false,
    }
}

/// The direct sub-expressions of `expr`.
fn children(expr: &Expr) -> Vec<&Expr> {
    match expr.expr_kind() {
        ExprKind::If {
            test_expr,
            then_expr,
            else_expr,
        } => vec![test_expr.as_ref(), then_expr.as_ref(), else_expr.as_ref()],
        ExprKind::And { left, right } | ExprKind::Or { left, right } => {
            vec![left.as_ref(), right.as_ref()]
        }
        ExprKind::BinaryApp { arg1, arg2, .. } => vec![arg1.as_ref(), arg2.as_ref()],
        ExprKind::UnaryApp { arg, .. } => vec![arg.as_ref()],
        ExprKind::ExtensionFunctionApp { args, .. } => args.iter().collect(),
        ExprKind::GetAttr { expr, .. }
        | ExprKind::HasAttr { expr, .. }
        | ExprKind::ExtHasAttr { expr, .. }
        | ExprKind::Like { expr, .. }
        | ExprKind::Is { expr, .. } => vec![expr.as_ref()],
        ExprKind::Set(items) => items.iter().collect(),
        ExprKind::Record(fields) => fields.values().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{ActionRequest, Actor, Region, Role, Target, TeamFacts};

    fn invite(members: i64, role: Role) -> Request {
        let team = TeamFacts {
            id: "acme".into(),
            region: Region::Overseas,
            is_default: false,
            member_count: members,
            seat_count: 0,
        };
        let invite = ActionRequest::Invite {
            target: Target::outsider("nina"),
            role: Role::Reader,
        };
        Request::new(Actor::member("olga", role), team, invite)
    }

    /// The clauses of the bundled policy `id` on `request`.
    fn clauses_of(id: &str, request: &Request) -> Vec<Clause> {
        let gate = Gatekeeper::bundled().unwrap();
        gate.clauses(id, request).unwrap().unwrap()
    }

    #[test]
    fn a_limit_names_its_clause_the_value_it_read_and_that_it_held() {
        let clauses = clauses_of("member-limit", &invite(100, Role::Owner));
        assert_eq!(
            clauses,
            [Clause {
                kind: ClauseKind::When,
                text: "resource.member_count >= 100".into(),
                outcome: Outcome::Value(true),
                facts: vec![("resource.member_count".into(), "100".into())],
            }]
        );
        let room = clauses_of("member-limit", &invite(99, Role::Owner));
        assert_eq!(room[0].outcome, Outcome::Value(false));
        assert!(!room[0].lets_apply());
    }

    #[test]
    fn a_permit_that_does_not_apply_names_the_failing_clause_and_the_role() {
        let clauses = clauses_of("owner-admin-manage-members", &invite(3, Role::Reader));
        assert_eq!(clauses.len(), 1);
        assert_eq!(clauses[0].kind, ClauseKind::When);
        assert_eq!(
            clauses[0].text,
            r#"principal.role in [Role::"owner", Role::"admin"]"#
        );
        assert_eq!(clauses[0].outcome, Outcome::Value(false));
        assert_eq!(
            clauses[0].facts,
            [("principal.role".to_owned(), r#"Role::"reader""#.to_owned())]
        );
    }

    #[test]
    fn unless_blocks_and_scopes_are_clauses_too() {
        let clauses = clauses_of("member-acts-in-own-team", &invite(3, Role::Owner));
        let kinds: Vec<ClauseKind> = clauses.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ClauseKind::Scope, ClauseKind::Scope, ClauseKind::Unless]
        );
        assert_eq!(clauses[0].text, "principal is Member");
        assert_eq!(clauses[1].text, "resource is Team");
        assert_eq!(clauses[2].text, "principal in resource");
        assert_eq!(clauses[2].outcome, Outcome::Value(true));
        let facts: Vec<&str> = clauses[2].facts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(facts, ["principal", "resource"]);
        assert!(!clauses[2].lets_apply());
    }

    #[test]
    fn a_clause_cedar_never_reaches_is_not_an_error() {
        let mut remove = invite(3, Role::Owner);
        remove.action = ActionRequest::RemoveMember {
            target: Target::outsider("nina"),
        };
        let clauses = clauses_of("owner-cannot-be-removed-or-demoted", &remove);
        assert_eq!(clauses[0].text, "context.target has role");
        assert_eq!(clauses[0].outcome, Outcome::Value(false));
        assert_eq!(clauses[1].outcome, Outcome::NotReached);
    }

    #[test]
    fn a_policy_applies_exactly_when_every_clause_lets_it_as_the_decision_says() {
        let gate = Gatekeeper::bundled().unwrap();
        for probe in crate::probes::limit_probes() {
            let decision = gate.decide(&probe.request);
            assert!(decision.errors().is_empty(), "{}", probe.name);
            let decided: Vec<&str> = decision.policies().iter().map(|p| p.id.as_str()).collect();
            let forbidden = !decision.is_allowed() && !decided.is_empty();
            for policy in gate.policy_set_for(decision.action()).policies() {
                let id = policy.id().to_string();
                let clauses = gate.clauses(&id, &probe.request).unwrap().unwrap();
                let applies = clauses.iter().all(Clause::lets_apply);
                let permit = policy.effect() == cedar_policy::Effect::Permit;
                // The decision lists every satisfied permit when allowed, every satisfied
                // forbid when forbidden; a denial without either had none of its permits apply.
                let expected = match (permit, decision.is_allowed(), forbidden) {
                    (true, true, _) | (false, false, true) => Some(decided.contains(&id.as_str())),
                    (false, true, _) | (_, false, false) => Some(false),
                    (true, false, true) => None,
                };
                if let Some(expected) = expected {
                    assert_eq!(applies, expected, "{id} on {}: {clauses:?}", probe.name);
                }
            }
        }
    }

    #[test]
    fn an_unknown_policy_is_none() {
        let gate = Gatekeeper::bundled().unwrap();
        assert_eq!(
            gate.clauses("no-such", &invite(3, Role::Owner)).unwrap(),
            None
        );
    }
}

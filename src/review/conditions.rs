//! `policy explain`'s `conditions:` section: for the policies that decided a request, and for
//! each permit of its action that did not apply, each clause of the condition with what it
//! evaluated to on the request's facts and the values it read; the clause that kept a permit
//! from applying is marked.

use gatekeeper::clauses::{Clause, ClauseKind, Outcome};
use gatekeeper::{Decision, Effect, PolicyRef, Request};

use super::set::ReviewedSet;

/// The section's lines, each indented; empty when the request cannot be built (the decision
/// already says why).
pub fn lines(set: &ReviewedSet, request: &Request, decision: &Decision) -> Vec<String> {
    let deciding = decision.policies().iter().cloned();
    let mut permits: Vec<PolicyRef> = set
        .gate
        .policy_set_for(decision.action())
        .policies()
        .filter_map(|policy| {
            let id = policy.id().to_string();
            set.gate.policy_refs().find(|p| p.id == id).cloned()
        })
        .filter(|p| p.effect == Effect::Permit && !decision.policies().contains(p))
        .collect();
    permits.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Vec::new();
    for (policy, decided) in deciding
        .map(|p| (p, true))
        .chain(permits.into_iter().map(|p| (p, false)))
    {
        let Ok(Some(clauses)) = set.gate.clauses(&policy.id, request) else {
            continue;
        };
        let applies = clauses.iter().all(Clause::lets_apply);
        if !decided && applies {
            continue;
        }
        let effect = match policy.effect {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        };
        let at = set
            .locate(&policy.id)
            .map_or_else(String::new, |at| format!(" at {at}"));
        let status = if applies { "applies" } else { "does not apply" };
        let none = if clauses.is_empty() {
            ": no condition"
        } else {
            ""
        };
        out.push(format!("  {policy}{at}, {effect}, {status}{none}"));
        let failing = clauses.iter().position(|c| !c.lets_apply());
        out.extend(
            clauses
                .iter()
                .enumerate()
                .map(|(i, clause)| format!("    {}", line(clause, failing == Some(i)))),
        );
    }
    out
}

/// `when TEXT was true (fact = value, ...)`, with ` <- fails` on the clause that failed.
fn line(clause: &Clause, fails: bool) -> String {
    let kind = match clause.kind {
        ClauseKind::Scope => "scope",
        ClauseKind::When => "when",
        ClauseKind::Unless => "unless",
    };
    let outcome = match &clause.outcome {
        Outcome::Value(held) => format!("was {held}"),
        Outcome::Error(error) => format!("failed to evaluate: {error}"),
        Outcome::NotReached => "not evaluated (an earlier clause decided)".to_owned(),
    };
    let facts = if clause.facts.is_empty() {
        String::new()
    } else {
        let facts: Vec<String> = clause
            .facts
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect();
        format!(" ({})", facts.join(", "))
    };
    let mark = if fails { " <- fails" } else { "" };
    format!("{kind} {} {outcome}{facts}{mark}", clause.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clause_says_what_it_was_and_what_it_read() {
        let clause = Clause {
            kind: ClauseKind::When,
            text: "resource.member_count >= 100".into(),
            outcome: Outcome::Value(true),
            facts: vec![("resource.member_count".into(), "100".into())],
        };
        assert_eq!(
            line(&clause, false),
            "when resource.member_count >= 100 was true (resource.member_count = 100)"
        );
        let unless = Clause {
            kind: ClauseKind::Unless,
            facts: Vec::new(),
            ..clause
        };
        assert_eq!(
            line(&unless, true),
            "unless resource.member_count >= 100 was true <- fails"
        );
    }
}

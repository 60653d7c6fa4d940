//! `policy report`: one Markdown document a reviewer attaches to a review.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gatekeeper::matrix::RoleMatrix;
use gatekeeper::{Effect, Gatekeeper, Problem};

use super::verify::Check;

/// The report: check results, the matrix, the proofs, rules and the policies enforcing them.
pub fn markdown(
    gate: &Gatekeeper,
    problems: &[Problem],
    proofs: &Result<Vec<Check>, String>,
) -> String {
    let mut out = String::from("# Policy review report\n\n## Check\n\n");
    if problems.is_empty() {
        out += "Every policy parses, validates strictly against the schema, and has a unique `@id` and a known `@rule`.\n";
    } else {
        for problem in problems {
            let _ = writeln!(out, "- `{problem}`");
        }
    }
    out += "\n## Role matrix (M1), by evaluation\n\n";
    out += &RoleMatrix::evaluate(gate).to_markdown();
    out += "\n## Proofs\n\n";
    match proofs {
        Err(why) => {
            let _ = writeln!(out, "Not run: {why}.");
        }
        Ok(checks) => {
            let mut by_name: BTreeMap<&str, (Vec<String>, usize, usize)> = BTreeMap::new();
            for check in checks {
                let name = check.name.split(':').next().unwrap_or(&check.name);
                let entry = by_name.entry(name).or_default();
                entry.0.extend(check.rules.iter().cloned());
                entry.1 += 1;
                entry.2 += usize::from(check.counterexample.is_some());
            }
            out += "| property | rules | request kinds | outcome |\n|---|---|---|---|\n";
            for (name, (mut rules, total, failed)) in by_name {
                rules.sort();
                rules.dedup();
                let outcome = if failed == 0 {
                    "holds".to_owned()
                } else {
                    format!("**fails** in {failed}")
                };
                let _ = writeln!(
                    out,
                    "| {name} | {} | {total} | {outcome} |",
                    rules.join(", ")
                );
            }
        }
    }
    out += "\n## Rules, the policies that enforce them, and their proofs\n\n| rule | policies | proof |\n|---|---|---|\n";
    let mut by_rule: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for policy in gate.policy_refs() {
        let location = gate
            .locations()
            .get(&policy.id)
            .map(|l| format!(" ({}:{})", l.file, l.line))
            .unwrap_or_default();
        let effect = match policy.effect {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        };
        by_rule
            .entry(policy.rule.as_str())
            .or_default()
            .push(format!("{effect} `{}`{location}", policy.id));
    }
    for rule in gatekeeper::rules::RULE_IDS {
        let policies = match by_rule.get_mut(rule) {
            Some(policies) => {
                policies.sort();
                policies.join("<br>")
            }
            None => "none".to_owned(),
        };
        let proof = proof_of(rule, proofs, by_rule.contains_key(rule));
        let _ = writeln!(out, "| {rule} | {policies} | {proof} |");
    }
    out
}

/// The properties that prove `rule`, with their outcome, or why it has none.
fn proof_of(rule: &str, proofs: &Result<Vec<Check>, String>, has_policies: bool) -> String {
    let Ok(checks) = proofs else {
        return "not run".to_owned();
    };
    let mut outcomes: BTreeMap<&str, bool> = BTreeMap::new();
    for check in checks
        .iter()
        .filter(|c| !c.name.starts_with("never-errors:"))
    {
        if check.rules.iter().any(|r| r == rule) {
            *outcomes.entry(check.name.as_str()).or_insert(true) &= check.counterexample.is_none();
        }
    }
    if !outcomes.is_empty() {
        return outcomes
            .into_iter()
            .map(|(name, holds)| {
                if holds {
                    format!("`{name}` holds")
                } else {
                    format!("`{name}` **fails**")
                }
            })
            .collect::<Vec<_>>()
            .join("<br>");
    }
    if has_policies {
        "no property: its policies are read in the matrix and the limit probes, and `policy diff` proves every change to them".to_owned()
    } else {
        "no policy: a fact, billing or presentation rule, enforced in code and its tests".to_owned()
    }
}

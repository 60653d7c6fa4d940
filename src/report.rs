//! `policy report`: one Markdown document a reviewer attaches to a review.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gatekeeper::matrix::RoleMatrix;
use gatekeeper::{Effect, Gatekeeper, Problem};

use crate::verify::Check;

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
    out += "\n## Rules and the policies that enforce them\n\n| rule | policies |\n|---|---|\n";
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
    let mut unenforced = Vec::new();
    for rule in gatekeeper::rules::RULE_IDS {
        match by_rule.get_mut(rule) {
            Some(policies) => {
                policies.sort();
                let _ = writeln!(out, "| {rule} | {} |", policies.join("<br>"));
            }
            None => unenforced.push(*rule),
        }
    }
    let _ = writeln!(
        out,
        "\nRules no policy enforces (they are about facts, billing or presentation, enforced in code and tests): {}\n",
        unenforced.join(", ")
    );
    out
}

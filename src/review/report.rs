//! `policy report`: one Markdown document a reviewer attaches to a review.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gatekeeper::matrix::RoleMatrix;
use gatekeeper::{Effect, Problem};

use super::set::{ReviewedSet, Sources};
use super::verify::Check;

/// How a review ended: the report's verdict and the command's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every policy loads and every proof holds.
    Passed,
    /// A check or a proof failed.
    Failed,
    /// The policies load but the proofs did not run.
    NotProved,
}

/// The report of a set that does not load: the verdict and every problem, `file:line`.
pub fn unloadable(sources: &Sources, problems: &[Problem]) -> String {
    let mut out = header(
        sources,
        &format!(
            "**Verdict: FAIL**: {} problem(s) in the policies; the matrix and the proofs need policies that load.",
            problems.len()
        ),
    );
    out += "## Check\n\n";
    for problem in problems {
        let _ = writeln!(out, "- `{}`", sources.problem(problem));
    }
    out
}

/// The report: its verdict first, then the check, the matrix, the proofs, and each rule with
/// the policies enforcing it.
pub fn markdown(set: &ReviewedSet, proofs: &Result<Vec<Check>, String>) -> (String, Outcome) {
    let gate = &set.gate;
    let (verdict, outcome) = verdict(proofs);
    let mut out = header(&set.sources, &verdict);
    out += "## Check\n\nEvery policy parses, validates strictly against the schema, and has a unique `@id` and a known `@rule`.\n";
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
        let location = set
            .locate(&policy.id)
            .map(|at| format!(" ({at})"))
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
    (out, outcome)
}

/// The title, the verdict line and the set reviewed.
fn header(sources: &Sources, verdict: &str) -> String {
    format!(
        "# Policy review report\n\n{verdict}\n\nPolicy set: `{}` ({}).\n\n",
        sources.origin, sources.digest
    )
}

/// The verdict line, from the proofs (the policies loaded).
fn verdict(proofs: &Result<Vec<Check>, String>) -> (String, Outcome) {
    match proofs {
        Err(why) => (
            format!(
                "**Verdict: NOT PROVED**: the policies load, but the proofs did not run: {why}."
            ),
            Outcome::NotProved,
        ),
        Ok(checks) => {
            let mut failed: Vec<&str> = checks
                .iter()
                .filter(|c| c.counterexample.is_some())
                .map(|c| c.name.as_str())
                .collect();
            failed.dedup();
            if failed.is_empty() {
                (
                    format!(
                        "**Verdict: PASS**: every policy loads and all {} proof obligation(s) hold.",
                        checks.len()
                    ),
                    Outcome::Passed,
                )
            } else {
                (
                    format!(
                        "**Verdict: FAIL**: proofs fail for {}.",
                        failed
                            .iter()
                            .map(|name| format!("`{name}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Outcome::Failed,
                )
            }
        }
    }
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

//! `policy check` with the solver: policies that can never take effect, and policies whose
//! removal changes no decision, proved over every request the schema allows (warnings).

use std::path::Path;

use super::set::ReviewedSet;
use super::verify::{self, VerifyError};
use cedar_policy::{Effect, Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::CompiledPolicySet;

/// What the solver found wrong with one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A permit every request of which is forbidden (or that matches nothing).
    PermitNeverTakesEffect,
    /// A forbid that matches no request.
    ForbidNeverMatches,
    /// Removing the policy changes no decision: others already decide what it decides.
    Redundant,
}

/// A warning about one policy, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The policy's `@id`.
    pub id: String,
    /// Its `@rule`.
    pub rule: String,
    /// `file:line`, the file named as it was read.
    pub location: String,
    /// What is wrong.
    pub finding: Finding,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.finding {
            Finding::PermitNeverTakesEffect => {
                "permit can never take effect: every request it matches is forbidden"
            }
            Finding::ForbidNeverMatches => "forbid can never match a request",
            Finding::Redundant => {
                "is redundant: removing it changes no decision, other policies already decide it"
            }
        };
        write!(
            f,
            "warning: {}: `{}` ({}) {what}",
            self.location, self.id, self.rule
        )
    }
}

/// Every warning about `set`'s policies.
pub fn lint(set: &ReviewedSet, solver: &Path) -> Result<Vec<Warning>, VerifyError> {
    verify::within_bound(set)?;
    let gate = &set.gate;
    let schema = gate.schema();
    let envs: Vec<RequestEnv> = schema.request_envs().collect();
    let all: Vec<Policy> = gate.policy_set().policies().cloned().collect();
    let compile = |policies: Vec<Policy>, env: &RequestEnv| {
        let set = PolicySet::from_policies(policies).map_err(verify::solver_error)?;
        CompiledPolicySet::compile(&set, env, schema).map_err(verify::solver_error)
    };
    let full: Vec<CompiledPolicySet> = envs
        .iter()
        .map(|env| compile(all.clone(), env))
        .collect::<Result<_, VerifyError>>()?;
    verify::with_compiler(solver, async |compiler| {
        let mut warnings = Vec::new();
        for policy in &all {
            let mut never_effective = true;
            let mut redundant = true;
            for (env, full) in envs
                .iter()
                .zip(&full)
                .filter(|(e, _)| verify::applies(policy, e))
            {
                let compile = |policies| compile(policies, env);
                let alone = match policy.effect() {
                    // A permit takes effect only where no forbid matches.
                    Effect::Permit => compile(
                        all.iter()
                            .filter(|p| p.effect() == Effect::Forbid || p.id() == policy.id())
                            .cloned()
                            .collect(),
                    )?,
                    // A forbid matches where the same scope and conditions as a permit allow.
                    Effect::Forbid => compile(vec![as_permit(policy)?])?,
                };
                never_effective &= compiler
                    .check_always_denies_opt(&alone)
                    .await
                    .map_err(verify::solver_error)?;
                if redundant {
                    let without = compile(
                        all.iter()
                            .filter(|p| p.id() != policy.id())
                            .cloned()
                            .collect(),
                    )?;
                    redundant &= compiler
                        .check_equivalent_opt(full, &without)
                        .await
                        .map_err(verify::solver_error)?;
                }
            }
            let finding = match (never_effective, redundant, policy.effect()) {
                (true, _, Effect::Permit) => Finding::PermitNeverTakesEffect,
                (true, _, Effect::Forbid) => Finding::ForbidNeverMatches,
                (false, true, _) => Finding::Redundant,
                (false, false, _) => continue,
            };
            let id = policy.id().to_string();
            warnings.push(Warning {
                location: set.locate(&id).unwrap_or_else(|| "?".to_owned()),
                rule: policy.annotation("rule").unwrap_or("?").to_owned(),
                id,
                finding,
            });
        }
        Ok(warnings)
    })
}

/// A forbid's scope and conditions as a permit: it allows exactly what the forbid matches.
fn as_permit(forbid: &Policy) -> Result<Policy, VerifyError> {
    let mut json = forbid.to_json().map_err(verify::solver_error)?;
    json["effect"] = serde_json::Value::from("permit");
    Policy::from_json(Some(forbid.id().clone()), json).map_err(verify::solver_error)
}

//! `policy diff`, the proof: for every request environment (principal type × action ×
//! resource type) of the schemas, whether NEW allows anything OLD denies (a loosening) or
//! denies anything OLD allows (a tightening), over every entity store and request the schema
//! allows (cedar-policy-symcc + cvc5). A counterexample is run through both policy sets and
//! told in the reviewer's terms: the action, the principal's and the Team's facts, the context,
//! both decisions, and the policies that made NEW's.
//!
//! The solver compares Cedar's decisions, in which a policy that fails to evaluate is skipped;
//! the gatekeeper denies instead. Where none of OLD's policies can fail, a request the
//! gatekeeper allows under NEW and denies under OLD is one Cedar allows under NEW and denies
//! under OLD, so the solver's answer about loosening stands; where one of OLD's can fail, the
//! environment is not compared (a forbid that only ever fails, dropped, changes nothing for
//! Cedar and allows what the gatekeeper denied). A NEW policy that can fail leaves only the
//! tightenings unproved, and says so.

use std::collections::BTreeMap;
use std::path::Path;

use cedar_policy::{Policy, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};
use serde::Serialize;

use super::counterexample::{RequestFacts, Verdict};
use super::set::ReviewedSet;
use super::verify::{self, VerifyError};

/// One request the two policy sets decide differently, in the reviewer's terms.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The request.
    #[serde(flatten)]
    pub request: RequestFacts,
    /// Allowed under OLD.
    pub old_allowed: bool,
    /// Allowed under NEW.
    pub new_allowed: bool,
    /// The OLD policies that decided (`id (rule) at file:line`).
    pub old_policies: Vec<String>,
    /// The NEW policies that decided.
    pub new_policies: Vec<String>,
    /// Their `@id`s, in the same order: where a loosening is located.
    #[serde(skip)]
    pub new_ids: Vec<String>,
}

/// What the proof found for one request environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvProof {
    /// `principal, action, resource` types.
    pub env: String,
    /// A request NEW allows and OLD denies, if any.
    pub loosened: Option<Example>,
    /// A request OLD allows and NEW denies, if any.
    pub tightened: Option<Example>,
    /// Why the two could not be compared (NEW's schema does not type OLD's policies, or a
    /// policy can fail to evaluate); counted as a loosening, since nothing was proved.
    pub not_compared: Option<String>,
    /// The policies that can fail to evaluate here, with a request where the first does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_fail: Option<MayFail>,
}

/// Policies that can fail to evaluate in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct MayFail {
    /// `OLD's `id` (rule) at file:line`, and the same for NEW.
    pub policies: Vec<String>,
    /// Whether one of them is OLD's: then nothing is proved here.
    pub in_old: bool,
    /// A request where the first of them fails.
    pub example: Example,
}

/// The proof over every environment.
#[derive(Debug, Clone, Serialize)]
pub struct ProofDiff {
    /// The environments of both schemas, and those only NEW has (compared with "deny all").
    pub envs: Vec<EnvProof>,
    /// Environments only OLD's schema has: every request of them is now refused.
    pub removed: Vec<String>,
    /// Environments only NEW's schema has.
    pub added: Vec<String>,
}

impl ProofDiff {
    /// Whether NEW allows anything OLD did not, or a comparison proved nothing.
    pub fn loosens(&self) -> bool {
        self.envs
            .iter()
            .any(|e| e.loosened.is_some() || e.not_compared.is_some())
    }

    /// The proof's lines: each loosening and tightening with its example, then a count.
    pub fn render(&self) -> String {
        let mut lines = Vec::new();
        for env in &self.envs {
            if let Some(reason) = &env.not_compared {
                lines.push(format!("proof   {}: NOT COMPARED: {reason}", env.env));
            }
            if let Some(may_fail) = &env.may_fail {
                if env.not_compared.is_none() {
                    lines.push(format!(
                        "proof   {}: tightenings not all proved: {} can fail to evaluate here, and the gatekeeper denies where one does",
                        env.env,
                        may_fail.policies.join(", ")
                    ));
                }
                lines.push(format!(
                    "          for example, where {} fails\n{}",
                    may_fail.policies[0],
                    may_fail.example.render()
                ));
            }
            if let Some(example) = &env.loosened {
                lines.push(format!(
                    "proof   {}: LOOSENED: NEW allows what OLD denies, for example\n{}",
                    env.env,
                    example.render()
                ));
            }
            if let Some(example) = &env.tightened {
                lines.push(format!(
                    "proof   {}: tightened: NEW denies what OLD allows, for example\n{}",
                    env.env,
                    example.render()
                ));
            }
        }
        for env in &self.added {
            lines.push(format!("proof   {env}: new in NEW's schema"));
        }
        for env in &self.removed {
            lines.push(format!(
                "proof   {env}: gone from NEW's schema (every such request is refused)"
            ));
        }
        let proved = self
            .envs
            .iter()
            .filter(|e| e.loosened.is_none() && e.not_compared.is_none())
            .count();
        lines.push(format!(
            "proof   NEW allows nothing OLD denies in {proved} of {} request environment(s), over every entity store and request the schema allows",
            self.envs.len()
        ));
        lines.join("\n")
    }
}

impl Example {
    /// OLD's and NEW's decisions, as `allowed by ...` or `denied (no policy permits it)`.
    pub fn verdicts(&self) -> [String; 2] {
        // Told from the decision and the policies' names alone.
        let verdict = |allowed: bool, policies: &[String]| Verdict {
            allowed,
            policies: policies.to_vec(),
            ids: Vec::new(),
        };
        [
            verdict(self.old_allowed, &self.old_policies).to_string(),
            verdict(self.new_allowed, &self.new_policies).to_string(),
        ]
    }

    fn render(&self) -> String {
        let [old, new] = self.verdicts();
        let mut lines = self.request.lines("          ");
        lines.push(format!("          OLD        {old}"));
        lines.push(format!("          NEW        {new}"));
        lines.join("\n")
    }
}

fn describe(env: &RequestEnv) -> String {
    format!(
        "{} ({}, {})",
        env.action().id().unescaped(),
        env.principal(),
        env.resource()
    )
}

/// Proves, environment by environment, what NEW allows and denies compared with OLD.
pub fn prove(
    old: &ReviewedSet,
    new: &ReviewedSet,
    solver: &Path,
) -> Result<ProofDiff, VerifyError> {
    verify::within_bound(old)?;
    verify::within_bound(new)?;
    let old_envs: BTreeMap<String, RequestEnv> = old
        .gate
        .schema()
        .request_envs()
        .map(|e| (describe(&e), e))
        .collect();
    let new_envs: BTreeMap<String, RequestEnv> = new
        .gate
        .schema()
        .request_envs()
        .map(|e| (describe(&e), e))
        .collect();
    verify::with_compiler(solver, async |compiler| {
        let mut proof = ProofDiff {
            envs: Vec::new(),
            removed: old_envs
                .keys()
                .filter(|e| !new_envs.contains_key(*e))
                .cloned()
                .collect(),
            added: Vec::new(),
        };
        for (name, env) in &new_envs {
            let schema = new.gate.schema();
            let new_set = CompiledPolicySet::compile(new.gate.policy_set(), env, schema)
                .map_err(verify::solver_error)?;
            let mut result = EnvProof {
                env: name.clone(),
                loosened: None,
                tightened: None,
                not_compared: None,
                may_fail: None,
            };
            if !old_envs.contains_key(name) {
                // A new action is a loosening unless NEW denies all of it.
                proof.added.push(name.clone());
                let allowed = compiler
                    .check_always_denies_with_counterexample_opt(&new_set)
                    .await
                    .map_err(verify::solver_error)?;
                result.loosened = allowed.map(|c| example(old, new, &c));
                proof.envs.push(result);
                continue;
            }
            // OLD's policies compiled against NEW's schema, so both sides see one store.
            let old_set = match CompiledPolicySet::compile(old.gate.policy_set(), env, schema) {
                Ok(set) => set,
                Err(e) => {
                    result.not_compared = Some(format!(
                        "OLD's policies do not type-check against NEW's schema here: {e}"
                    ));
                    proof.envs.push(result);
                    continue;
                }
            };
            result.may_fail = may_fail(compiler, old, new, env, schema).await?;
            if let Some(failing) = result.may_fail.as_ref().filter(|m| m.in_old) {
                result.not_compared = Some(format!(
                    "{} can fail to evaluate here; the gatekeeper denies such a request and Cedar, whose decisions the proof compares, skips the policy, so nothing is proved (make the policy total, guarding an overflowing product, say, and diff again)",
                    failing.policies.join(", ")
                ));
                proof.envs.push(result);
                continue;
            }
            let loosened = compiler
                .check_implies_with_counterexample_opt(&new_set, &old_set)
                .await
                .map_err(verify::solver_error)?;
            let tightened = compiler
                .check_implies_with_counterexample_opt(&old_set, &new_set)
                .await
                .map_err(verify::solver_error)?;
            result.loosened = loosened.map(|c| example(old, new, &c));
            result.tightened = tightened.map(|c| example(old, new, &c));
            proof.envs.push(result);
        }
        Ok(proof)
    })
}

/// The policies of OLD and NEW, in `env`, that can fail to evaluate, each checked once when
/// both sides have it.
async fn may_fail(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    old: &ReviewedSet,
    new: &ReviewedSet,
    env: &RequestEnv,
    schema: &Schema,
) -> Result<Option<MayFail>, VerifyError> {
    let mut sides: BTreeMap<(String, String), (Vec<&str>, &Policy, &ReviewedSet)> = BTreeMap::new();
    for (side, set) in [("OLD", old), ("NEW", new)] {
        for policy in set
            .gate
            .policy_set()
            .policies()
            .filter(|p| verify::applies(p, env))
        {
            sides
                .entry((policy.id().to_string(), policy.to_string()))
                .or_insert_with(|| (Vec::new(), policy, set))
                .0
                .push(side);
        }
    }
    let (mut policies, mut in_old) = (Vec::new(), false);
    let mut example_of_first = None;
    for (names, policy, set) in sides.values() {
        let compiled =
            CompiledPolicy::compile(policy, env, schema).map_err(verify::solver_error)?;
        let failing = compiler
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
            .map_err(verify::solver_error)?;
        if let Some(failing) = failing {
            in_old |= names.contains(&"OLD");
            let whose = names
                .iter()
                .map(|side| format!("{side}'s"))
                .collect::<Vec<_>>()
                .join(" and ");
            policies.push(format!("{whose} {}", set.policy_name(policy.id().as_ref())));
            example_of_first.get_or_insert_with(|| example(old, new, &failing));
        }
    }
    Ok(example_of_first.map(|example| MayFail {
        policies,
        in_old,
        example,
    }))
}

/// A counterexample run through both policy sets.
fn example(old: &ReviewedSet, new: &ReviewedSet, env: &Env) -> Example {
    let old_verdict = Verdict::of(old, &env.request, &env.entities);
    let new_verdict = Verdict::of(new, &env.request, &env.entities);
    Example {
        request: RequestFacts::of(&env.request, &env.entities),
        old_allowed: old_verdict.allowed,
        new_allowed: new_verdict.allowed,
        old_policies: old_verdict.policies,
        new_policies: new_verdict.policies,
        new_ids: new_verdict.ids,
    }
}

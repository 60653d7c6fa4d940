//! Cedar's decision over one slice of the policies, with each policy's condition built once.
//!
//! Cedar's authorizer rebuilds a policy's condition (its scope and clauses joined into one
//! expression) from the policy on every request, then evaluates it. Here the condition is
//! built when the policies load and evaluated by Cedar's own evaluator on each request; what
//! is satisfied, false or in error is what the authorizer finds, policy by policy (tested
//! against it). No request has unknowns, so no condition can leave a residual; one that did
//! would be an error, and deny.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::{Policy, PolicyId, PolicySet};
use cedar_policy_core::ast::{self, Expr, PolicyID, SlotEnv, Value, ValueKind};
use cedar_policy_core::authorizer::AuthorizationError;
use cedar_policy_core::entities::Entities;
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;

use crate::decision::{Effect, PolicyRef};

/// One policy, ready to evaluate.
pub(crate) struct CompiledPolicy {
    id: PolicyID,
    condition: Expr,
    slots: SlotEnv,
    reference: PolicyRef,
}

impl CompiledPolicy {
    /// `policy`, named in decisions by `reference`.
    pub(crate) fn new(policy: &Policy, reference: PolicyRef) -> Self {
        let core: &ast::Policy = policy.as_ref();
        CompiledPolicy {
            id: core.id().clone(),
            condition: core.condition(),
            slots: core.env().clone(),
            reference,
        }
    }
}

/// Every policy of a set, compiled once, for the slices that share them.
pub(crate) struct Compiled(HashMap<PolicyId, Arc<CompiledPolicy>>);

impl Compiled {
    /// The policies of `set`, each named in decisions by `reference`.
    pub(crate) fn new(set: &PolicySet, reference: impl Fn(&Policy) -> PolicyRef) -> Self {
        let by_id = set.policies().map(|policy| {
            let compiled = CompiledPolicy::new(policy, reference(policy));
            (policy.id().clone(), Arc::new(compiled))
        });
        Compiled(by_id.collect())
    }

    /// The policies of `slice`, a subset of the set, in its order.
    pub(crate) fn slice(&self, slice: &PolicySet) -> Vec<Arc<CompiledPolicy>> {
        #[expect(
            clippy::expect_used,
            reason = "slices are built from the set's own policies, under their ids"
        )]
        slice
            .policies()
            .map(|policy| Arc::clone(self.0.get(policy.id()).expect("a policy of the set")))
            .collect()
    }
}

/// What a slice's policies say of one request.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    /// The satisfied permits.
    pub(crate) permits: Vec<PolicyRef>,
    /// The satisfied forbids.
    pub(crate) forbids: Vec<PolicyRef>,
    /// One line per policy whose evaluation failed, in Cedar's words.
    pub(crate) errors: Vec<String>,
}

/// Evaluates every policy of `slice` on `request` over `entities`.
pub(crate) fn evaluate(
    slice: &[Arc<CompiledPolicy>],
    request: ast::Request,
    entities: &Entities,
) -> Verdicts {
    let evaluator = Evaluator::new(request, entities, Extensions::all_available());
    let mut verdicts = Verdicts::default();
    for policy in slice {
        match evaluator.interpret(&policy.condition, &policy.slots) {
            Ok(value) => match as_bool(&value) {
                Some(true) => match policy.reference.effect {
                    Effect::Permit => verdicts.permits.push(policy.reference.clone()),
                    Effect::Forbid => verdicts.forbids.push(policy.reference.clone()),
                },
                Some(false) => {}
                None => verdicts.errors.push(format!(
                    "policy `{}` evaluated to `{value}`, which is not a boolean",
                    policy.id
                )),
            },
            Err(error) => {
                let error = AuthorizationError::PolicyEvaluationError {
                    id: policy.id.clone(),
                    error,
                };
                // Cedar's public error, so that the message is the authorizer's own.
                verdicts
                    .errors
                    .push(cedar_policy::AuthorizationError::from(error).to_string());
            }
        }
    }
    verdicts
}

fn as_bool(value: &Value) -> Option<bool> {
    match value.value_kind() {
        ValueKind::Lit(ast::Literal::Bool(b)) => Some(*b),
        _ => None,
    }
}

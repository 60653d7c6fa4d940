//! What the gatekeeper answers: allow or deny, the policies that decided, and why.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Whether a policy permits or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// A `permit` policy.
    Permit,
    /// A `forbid` policy.
    Forbid,
}

/// A policy named in a decision: its `@id`, its `@rule`, its effect and its `@message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// The policy's `@id`.
    pub id: String,
    /// The rule it enforces (`@rule`).
    pub rule: String,
    /// Permit or forbid.
    pub effect: Effect,
    /// Why it forbids, for people (`@message`), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.rule)
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    allowed: bool,
    action: &'static str,
    role: Option<&'static str>,
    /// The policies that decided: the permits that allowed it, or the forbids that denied it.
    policies: Vec<PolicyRef>,
    /// For a denial no policy permitted: the permits of this action that did not apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_applicable: Vec<PolicyRef>,
    /// Evaluation errors; any error denies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
    /// The digest of the policy set that decided ([`crate::digest`]).
    digest: Arc<str>,
}

impl Decision {
    pub(crate) fn new(
        action: &'static str,
        role: Option<&'static str>,
        permits: Vec<PolicyRef>,
        forbids: Vec<PolicyRef>,
        not_applicable: &[PolicyRef],
        errors: Vec<String>,
        digest: Arc<str>,
    ) -> Self {
        let allowed = errors.is_empty() && forbids.is_empty() && !permits.is_empty();
        let policies = if allowed || forbids.is_empty() && errors.is_empty() {
            permits
        } else {
            forbids
        };
        Decision {
            allowed,
            action,
            role,
            not_applicable: if allowed {
                Vec::new()
            } else {
                not_applicable.to_vec()
            },
            policies,
            errors,
            digest,
        }
    }

    /// A denial because the request could not be evaluated at all.
    pub(crate) fn failed(action: &'static str, error: String, digest: Arc<str>) -> Self {
        Decision {
            allowed: false,
            action,
            role: None,
            policies: Vec::new(),
            not_applicable: Vec::new(),
            errors: vec![error],
            digest,
        }
    }

    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The Cedar action decided on.
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The policies that decided it.
    pub fn policies(&self) -> &[PolicyRef] {
        &self.policies
    }

    /// The rule ids of the policies that decided it; for a denial no policy permitted, the
    /// rules of the permits that did not apply. Sorted, without repeats.
    pub fn rules(&self) -> Vec<&str> {
        let source = if self.policies.is_empty() {
            &self.not_applicable
        } else {
            &self.policies
        };
        let mut rules: Vec<&str> = source.iter().map(|p| p.rule.as_str()).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }

    /// The digest of the policy set that made this decision (`sha256:HEX`, see
    /// [`crate::digest`]).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Evaluation errors (a non-empty list always denies).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Why, in one sentence.
    pub fn explain(&self) -> String {
        let ids = |policies: &[PolicyRef]| {
            policies
                .iter()
                .map(PolicyRef::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.allowed {
            return format!("allowed by {}", ids(&self.policies));
        }
        if !self.errors.is_empty() {
            return format!(
                "denied: evaluation failed, and errors deny: {}",
                self.errors.join("; ")
            );
        }
        if !self.policies.is_empty() {
            let messages: Vec<&str> = self
                .policies
                .iter()
                .filter_map(|p| p.message.as_deref())
                .collect();
            let why = if messages.is_empty() {
                "forbidden".to_owned()
            } else {
                messages.join("; ")
            };
            return format!("denied: {why} [{}]", ids(&self.policies));
        }
        let who = self.role.map(|r| {
            format!(
                "a{} {r}",
                if r == "owner" || r == "admin" {
                    "n"
                } else {
                    ""
                }
            )
        });
        let who = who.as_deref().unwrap_or("this principal");
        if self.not_applicable.is_empty() {
            format!("denied: no policy permits `{}`", self.action)
        } else {
            format!(
                "denied: no policy permits {who} to `{}` [permitted only by {}]",
                self.action,
                ids(&self.not_applicable)
            )
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain())
    }
}

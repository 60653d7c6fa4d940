//! SARIF 2.1.0 for code scanning: `policy check`'s problems and warnings and `policy diff`'s
//! loosenings, one result each, located at the policy file and line, with the rule id.
//!
//! A result's `ruleId` names what was found (`loosened`, `redundant-policy`, ...); the rules.md
//! rule of the policy it is about is in its `properties.rule`. Files read from a directory are
//! named by their path (relative, as given, or a `file://` URI when absolute); the compiled-in
//! set and a git revision's by `policies/FILE`, where they are in the repository.

use gatekeeper::Problem;
use gatekeeper::matrix::YesNo;
use serde_json::{Value, json};

use super::check::PolicyDiff;
use super::diff::{EnvProof, ProofDiff};
use super::lint::{Finding, Warning};
use super::set::{Origin, ReviewedSet};

/// What a result reports; its `ruleId`, level and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A policy does not parse, validate or lint (`policy check`).
    Problem,
    /// A permit every request of which is forbidden.
    PermitNeverTakesEffect,
    /// A forbid that matches no request.
    ForbidNeverMatches,
    /// A policy whose removal changes no decision.
    Redundant,
    /// NEW allows a request OLD denies (`policy diff`).
    Loosened,
    /// A request environment the proof could not compare.
    NotCompared,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Problem,
        Kind::PermitNeverTakesEffect,
        Kind::ForbidNeverMatches,
        Kind::Redundant,
        Kind::Loosened,
        Kind::NotCompared,
    ];

    fn id(self) -> &'static str {
        match self {
            Kind::Problem => "policy-problem",
            Kind::PermitNeverTakesEffect => "permit-never-takes-effect",
            Kind::ForbidNeverMatches => "forbid-never-matches",
            Kind::Redundant => "redundant-policy",
            Kind::Loosened => "loosened",
            Kind::NotCompared => "not-compared",
        }
    }

    fn level(self) -> &'static str {
        match self {
            Kind::Problem | Kind::Loosened | Kind::NotCompared => "error",
            Kind::PermitNeverTakesEffect | Kind::ForbidNeverMatches | Kind::Redundant => "warning",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Problem => "The policy does not parse, validate strictly or pass the lint",
            Kind::PermitNeverTakesEffect => "A permit that can never take effect",
            Kind::ForbidNeverMatches => "A forbid that can never match a request",
            Kind::Redundant => "A policy whose removal changes no decision",
            Kind::Loosened => "The change allows a request the base policies deny",
            Kind::NotCompared => "The proof could not compare the policies here",
        }
    }
}

/// One SARIF result, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    kind: Kind,
    message: String,
    /// The file's URI and the line (0: the whole file).
    at: Option<(String, usize)>,
    /// The policy's `@id` and `@rule`, when the result is about one policy.
    policy: Option<(String, String)>,
}

/// `policy check`'s problems, each at its file and line.
pub fn problems(origin: &Origin, problems: &[Problem]) -> Vec<Entry> {
    problems
        .iter()
        .map(|problem| Entry {
            kind: Kind::Problem,
            message: problem.message.clone(),
            at: Some((uri(origin, &problem.file), problem.line)),
            policy: None,
        })
        .collect()
}

/// `policy check`'s solver warnings, each at its policy.
pub fn warnings(set: &ReviewedSet, warnings: &[Warning]) -> Vec<Entry> {
    warnings
        .iter()
        .map(|warning| {
            let kind = match warning.finding {
                Finding::PermitNeverTakesEffect => Kind::PermitNeverTakesEffect,
                Finding::ForbidNeverMatches => Kind::ForbidNeverMatches,
                Finding::Redundant => Kind::Redundant,
            };
            // The text lines' message, less the `warning: file:line: ` the location says.
            let text = warning.to_string();
            let prefix = format!("warning: {}: ", warning.location);
            Entry {
                kind,
                message: text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
                at: at_policy(set, &warning.id),
                policy: Some((warning.id.clone(), warning.rule.clone())),
            }
        })
        .collect()
}

/// `policy diff`'s loosenings: each proved one at the NEW policy that allowed its
/// counterexample, each environment not compared at NEW's schema, and, without a proof, each
/// sampled decision that went from deny to allow.
pub fn loosenings(new: &ReviewedSet, proof: Option<&ProofDiff>, probes: &PolicyDiff) -> Vec<Entry> {
    let schema = (
        uri(&new.sources.origin, &new.sources.sources.schema.name),
        0,
    );
    let mut results = Vec::new();
    for env in proof.iter().flat_map(|p| &p.envs) {
        results.extend(proved(new, env, &schema));
    }
    if proof.is_none() {
        let sampled = |message: String| Entry {
            kind: Kind::Loosened,
            message: format!("{message} (sampled, not proved)"),
            at: Some(schema.clone()),
            policy: None,
        };
        results.extend(
            probes
                .cells
                .iter()
                .filter(|c| c.actual == Some(YesNo::Yes) && c.expected != Some(YesNo::Yes))
                .map(|c| sampled(format!("matrix cell {c}"))),
        );
        results.extend(probes.limits.iter().filter(|l| l.new && !l.old).map(|l| {
            sampled(format!(
                "limit probe {} ({}): denied → allowed",
                l.name, l.rule
            ))
        }));
    }
    results
}

/// The results of one environment of the proof.
fn proved(new: &ReviewedSet, env: &EnvProof, schema: &(String, usize)) -> Vec<Entry> {
    let mut results = Vec::new();
    if let Some(reason) = &env.not_compared {
        results.push(Entry {
            kind: Kind::NotCompared,
            message: format!("{}: not compared: {reason}", env.env),
            at: Some(schema.clone()),
            policy: None,
        });
    }
    if let Some(example) = &env.loosened {
        let deciding = example.new_ids.first();
        let facts = example
            .request
            .lines("")
            .into_iter()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        let [old, new_verdict] = example.verdicts();
        results.push(Entry {
            kind: Kind::Loosened,
            message: format!(
                "{}: NEW allows what OLD denies, for example {facts}; OLD: {old}; NEW: {new_verdict}",
                env.env
            ),
            at: deciding.and_then(|id| at_policy(new, id)).or_else(|| Some(schema.clone())),
            policy: deciding.map(|id| (id.clone(), rule_of(new, id))),
        });
    }
    results
}

/// The SARIF log of `results`.
pub fn log(results: &[Entry]) -> Value {
    let rules: Vec<Value> = Kind::ALL
        .iter()
        .map(|kind| {
            json!({
                "id": kind.id(),
                "shortDescription": { "text": kind.description() },
                "defaultConfiguration": { "level": kind.level() },
            })
        })
        .collect();
    let results: Vec<Value> = results.iter().map(result).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tokenplan",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            } },
            "results": results,
        }],
    })
}

fn result(finding: &Entry) -> Value {
    let index = Kind::ALL.iter().position(|k| *k == finding.kind);
    let mut result = json!({
        "ruleId": finding.kind.id(),
        "ruleIndex": index,
        "level": finding.kind.level(),
        "message": { "text": finding.message },
    });
    if let Some((uri, line)) = &finding.at {
        let mut physical = json!({ "artifactLocation": { "uri": uri } });
        if *line > 0 {
            physical["region"] = json!({ "startLine": line });
        }
        result["locations"] = json!([{ "physicalLocation": physical }]);
    }
    if let Some((id, rule)) = &finding.policy {
        result["properties"] = json!({ "policy": id, "rule": rule });
    }
    result
}

/// Where policy `id` of `set` is written, as a URI and line.
fn at_policy(set: &ReviewedSet, id: &str) -> Option<(String, usize)> {
    let at = set.gate.locations().get(id)?;
    Some((uri(&set.sources.origin, &at.file), at.line))
}

fn rule_of(set: &ReviewedSet, id: &str) -> String {
    set.gate
        .policy_refs()
        .find(|p| p.id == id)
        .map_or_else(String::new, |p| p.rule.clone())
}

/// The URI of `file` of a set read from `origin`.
fn uri(origin: &Origin, file: &str) -> String {
    match origin {
        Origin::Dir(dir) => {
            let path = dir.join(file);
            if path.is_absolute() {
                format!("file://{}", encode(&path.to_string_lossy()))
            } else {
                let text = path.to_string_lossy().replace('\\', "/");
                encode(text.trim_start_matches("./"))
            }
        }
        Origin::CompiledIn | Origin::Git { .. } => encode(&format!("policies/{file}")),
    }
}

/// A path as a URI path: bytes outside the unreserved set and `/` percent-encoded.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::*;

    #[test]
    fn uris_are_relative_paths_or_file_uris_with_odd_bytes_encoded() {
        let dir = |d: &str| Origin::Dir(PathBuf::from(d));
        assert_eq!(uri(&dir("policies"), "seats.cedar"), "policies/seats.cedar");
        assert_eq!(
            uri(&dir("./policies"), "seats.cedar"),
            "policies/seats.cedar"
        );
        assert_eq!(
            uri(&dir("/tmp/a b"), "seats.cedar"),
            "file:///tmp/a%20b/seats.cedar"
        );
        assert_eq!(
            uri(&Origin::CompiledIn, "roles.cedar"),
            "policies/roles.cedar"
        );
    }

    #[test]
    fn a_problem_is_an_error_at_its_line_and_a_whole_file_problem_has_no_region() {
        let origin = Origin::Dir(PathBuf::from("policies"));
        let found = problems(
            &origin,
            &[
                Problem {
                    file: "roles.cedar".into(),
                    line: 7,
                    message: "policy has no `@id`".into(),
                },
                Problem {
                    file: "tokenplan.cedarschema".into(),
                    line: 0,
                    message: "schema does not parse".into(),
                },
            ],
        );
        let log = log(&found);
        let results = &log["runs"][0]["results"];
        assert_eq!(results[0]["ruleId"], "policy-problem");
        assert_eq!(results[0]["level"], "error");
        let physical = &results[0]["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "policies/roles.cedar");
        assert_eq!(physical["region"]["startLine"], 7);
        assert!(
            results[1]["locations"][0]["physicalLocation"]
                .get("region")
                .is_none()
        );
        assert_eq!(log["version"], "2.1.0");
    }
}

//! `policy coverage`: which policies (`@id`) and rules the `cedar run-tests` files of a
//! directory exercise, each request decided by the gatekeeper; and, with the solver, a test
//! case for each policy that no test exercises.
//!
//! A policy is covered when it decided at least one test request: a permit among those that
//! allowed it, a forbid among those that denied it. A rule is covered when a covered policy
//! names it in `@rule`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Context, Effect, Entities, EntityUid, Policy, PolicySet, Request, Schema};
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet, Env};
use gatekeeper::{Gatekeeper, PolicyRef};
use serde_json::{Value, json};

use super::set::ReviewedSet;
use super::verify::{self, Cause, VerifyError};

/// Why the test files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// A directory or file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not JSON, or not a list of test cases.
    #[error("`{}` is not a `cedar run-tests` file", path.display())]
    NotTests {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Cause,
    },
    /// One test case can't be built into a request and entities.
    #[error("`{}`: test {number} `{name}`", path.display())]
    Case {
        /// Its file.
        path: PathBuf,
        /// Its 1-based position in the file.
        number: usize,
        /// Its `name`.
        name: String,
        /// What is wrong.
        source: Cause,
    },
    /// The directory has no test file.
    #[error("no test files (`*.json` holding a list of test cases) in `{}`", dir.display())]
    NoTests {
        /// The directory.
        dir: PathBuf,
    },
}

/// One test case: a request and the entities it is decided over.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its `name`.
    pub name: String,
    /// The request.
    pub request: Request,
    /// The entities.
    pub entities: Entities,
}

/// One `cedar run-tests` file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// Where it was read.
    pub path: PathBuf,
    /// Its cases, in order.
    pub cases: Vec<TestCase>,
}

/// Reads every test file of `dir`: each `*.json` holding a list of test cases, except the
/// entity files the cases name (`"entities": "entities.json"`). Requests, contexts and entities
/// are checked against `schema`, as `cedar run-tests --schema` checks them.
pub fn read_tests(dir: &Path, schema: &Schema) -> Result<Vec<TestFile>, CoverageError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| CoverageError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| CoverageError::Read {
            path: dir.to_owned(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut parsed = Vec::new();
    for path in paths {
        let json: Value = serde_json::from_str(&read(&path)?).map_err(|e| not_tests(&path, e))?;
        parsed.push((path, json));
    }
    let named_entities: BTreeSet<PathBuf> = parsed
        .iter()
        .flat_map(|(path, json)| {
            let dir = path.parent().unwrap_or(Path::new("."));
            cases_of(json)
                .into_iter()
                .flatten()
                .filter_map(|case| case.get("entities")?.as_str())
                .map(move |file| dir.join(file))
        })
        .collect();
    let mut files = Vec::new();
    for (path, json) in parsed {
        if named_entities.contains(&path) {
            continue;
        }
        let cases = cases_of(&json).ok_or_else(|| {
            not_tests(&path, "expected a list of test cases, each with `request`")
        })?;
        let cases = cases
            .iter()
            .enumerate()
            .map(|(index, case)| {
                test_case(&path, case, schema).map_err(|source| CoverageError::Case {
                    path: path.clone(),
                    number: index + 1,
                    name: case["name"].as_str().unwrap_or("(unnamed)").to_owned(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        files.push(TestFile { path, cases });
    }
    if files.is_empty() {
        return Err(CoverageError::NoTests {
            dir: dir.to_owned(),
        });
    }
    Ok(files)
}

fn not_tests(path: &Path, source: impl Into<Cause>) -> CoverageError {
    CoverageError::NotTests {
        path: path.to_owned(),
        source: source.into(),
    }
}

/// The cases of a test file: a list of objects with a `request`.
fn cases_of(json: &Value) -> Option<&Vec<Value>> {
    json.as_array()
        .filter(|cases| cases.iter().all(|case| case.get("request").is_some()))
}

/// The request and entities of one case of the file at `path`.
fn test_case(path: &Path, case: &Value, schema: &Schema) -> Result<TestCase, Cause> {
    let request = &case["request"];
    let uid = |field: &str| -> Result<EntityUid, Cause> {
        let text = request[field]
            .as_str()
            .ok_or_else(|| format!("`request.{field}` is not a string like `Team::\"acme\"`"))?;
        EntityUid::from_str(text)
            .map_err(|e| format!("`request.{field}` `{text}` does not parse: {e}").into())
    };
    let (principal, action, resource) = (uid("principal")?, uid("action")?, uid("resource")?);
    let context = Context::from_json_value(request["context"].clone(), Some((schema, &action)))?;
    let request = Request::new(principal, action, resource, context, Some(schema))?;
    let entities = match &case["entities"] {
        Value::String(file) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
            Entities::from_json_str(&text, Some(schema))
                .map_err(|e| format!("entities `{}`: {e}", file.display()))?
        }
        inline => Entities::from_json_value(inline.clone(), Some(schema))?,
    };
    Ok(TestCase {
        name: case["name"].as_str().unwrap_or("(unnamed)").to_owned(),
        request,
        entities,
    })
}

/// What one test file exercises.
#[derive(Debug, Clone)]
pub struct FileCoverage {
    /// The file.
    pub path: PathBuf,
    /// Its test cases.
    pub cases: usize,
    /// The `@id`s of the policies that decided at least one of its requests.
    pub policies: BTreeSet<String>,
    /// The rules those policies name.
    pub rules: BTreeSet<String>,
}

/// What the test files exercise, per file and in total.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Per file, in name order.
    pub files: Vec<FileCoverage>,
    /// Every policy of the set, by `@id`.
    pub all: BTreeMap<String, PolicyRef>,
    /// The `@id`s of the policies some test request decided.
    pub policies: BTreeSet<String>,
    /// The rules those policies name.
    pub rules: BTreeSet<String>,
}

impl Coverage {
    /// Decides every request of `files` with `gate`.
    pub fn measure(gate: &Gatekeeper, files: &[TestFile]) -> Coverage {
        let all: BTreeMap<String, PolicyRef> = gate
            .policy_refs()
            .map(|p| (p.id.clone(), p.clone()))
            .collect();
        let files: Vec<FileCoverage> = files
            .iter()
            .map(|file| {
                let mut covered = FileCoverage {
                    path: file.path.clone(),
                    cases: file.cases.len(),
                    policies: BTreeSet::new(),
                    rules: BTreeSet::new(),
                };
                for case in &file.cases {
                    let decision = gate.decide_cedar(&case.request, &case.entities);
                    for policy in decision.policies() {
                        covered.policies.insert(policy.id.clone());
                        covered.rules.insert(policy.rule.clone());
                    }
                }
                covered
            })
            .collect();
        let policies = files.iter().flat_map(|f| f.policies.clone()).collect();
        let rules = files.iter().flat_map(|f| f.rules.clone()).collect();
        Coverage {
            files,
            all,
            policies,
            rules,
        }
    }

    /// The share of the policies covered, in percent (100 for a set without policies).
    pub fn percent(&self) -> f64 {
        if self.all.is_empty() {
            return 100.0;
        }
        // Both counts are far below 2^52: exact as floats.
        100.0 * self.policies.len() as f64 / self.all.len() as f64
    }

    /// Every rule some policy names.
    pub fn all_rules(&self) -> BTreeSet<&str> {
        self.all.values().map(|p| p.rule.as_str()).collect()
    }

    /// The policies no test request decided, by `@id`.
    pub fn uncovered(&self) -> Vec<&PolicyRef> {
        self.all
            .values()
            .filter(|p| !self.policies.contains(&p.id))
            .collect()
    }
}

/// A test case the solver found for one policy, in `cedar run-tests` form.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// The policy it exercises.
    pub policy: PolicyRef,
    /// The test case: a request and inline entities where the policy decides; `None` when
    /// the solver proved there is none (the policy can never take effect).
    pub case: Option<Value>,
}

/// For each policy of `ids`, a request and entities, found by the solver over every input the
/// schema allows, where that policy decides: a permit satisfied with no forbid matching (the
/// request is allowed, and it is among the reasons), a forbid satisfied (denied, among the
/// reasons). Each case is checked against the gatekeeper's decision before it is returned.
pub fn suggest(
    set: &ReviewedSet,
    ids: &[&PolicyRef],
    solver: &Path,
) -> Result<Vec<Suggestion>, VerifyError> {
    verify::within_bound(set)?;
    let gate = &set.gate;
    let schema = gate.schema();
    let envs: Vec<cedar_policy::RequestEnv> = schema.request_envs().collect();
    let forbids: Vec<Policy> = gate
        .policy_set()
        .policies()
        .filter(|p| p.effect() == Effect::Forbid)
        .cloned()
        .collect();
    verify::with_compiler(solver, async |compiler| {
        let mut suggestions = Vec::new();
        for policy_ref in ids {
            let Some(policy) = gate
                .policy_set()
                .policies()
                .find(|p| p.id().to_string() == policy_ref.id)
            else {
                continue;
            };
            let mut case = None;
            for env in envs.iter().filter(|env| verify::applies(policy, env)) {
                let found: Option<Env> = match policy.effect() {
                    Effect::Permit => {
                        let mut alone = forbids.clone();
                        alone.push(policy.clone());
                        let alone =
                            PolicySet::from_policies(alone).map_err(verify::solver_error)?;
                        let compiled = CompiledPolicySet::compile(&alone, env, schema)
                            .map_err(verify::solver_error)?;
                        compiler
                            .check_always_denies_with_counterexample_opt(&compiled)
                            .await
                            .map_err(verify::solver_error)?
                    }
                    Effect::Forbid => {
                        let compiled = CompiledPolicy::compile(policy, env, schema)
                            .map_err(verify::solver_error)?;
                        compiler
                            .check_never_matches_with_counterexample_opt(&compiled)
                            .await
                            .map_err(verify::solver_error)?
                    }
                };
                if let Some(env) = found
                    && let Some(found) = test_case_json(gate, policy_ref, &env)
                {
                    case = Some(found);
                    break;
                }
            }
            suggestions.push(Suggestion {
                policy: (*policy_ref).clone(),
                case,
            });
        }
        Ok(suggestions)
    })
}

/// The `cedar run-tests` case of the solver's `env`, if `policy` decides it (as the
/// gatekeeper decides it, with no error); its entities inline, action entities left to the
/// schema.
fn test_case_json(gate: &Gatekeeper, policy: &PolicyRef, env: &Env) -> Option<Value> {
    let decision = gate.decide_cedar(&env.request, &env.entities);
    if !decision.errors().is_empty() || !decision.policies().iter().any(|p| p.id == policy.id) {
        return None;
    }
    let uid = |uid: Option<&EntityUid>| uid.map(ToString::to_string);
    let request = &env.request;
    let entities: Vec<Value> = match env.entities.to_json_value().ok()? {
        Value::Array(entities) => entities
            .into_iter()
            .filter(|e| e["uid"]["type"] != "Action")
            .collect(),
        _ => return None,
    };
    let verdict = if decision.is_allowed() {
        "allow"
    } else {
        "deny"
    };
    Some(json!({
        "name": format!("{} {} decides (found by the solver)", policy.rule, policy.id),
        "request": {
            "principal": uid(request.principal())?,
            "action": uid(request.action())?,
            "resource": uid(request.resource())?,
            "context": request.context()?.to_json_value().ok()?,
        },
        "entities": entities,
        "decision": verdict,
        "reason": [policy.id],
        "num_errors": 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::set::Origin;

    fn reviewed() -> ReviewedSet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        ReviewedSet::load(&Origin::Dir(dir)).unwrap()
    }

    #[test]
    fn the_entity_file_is_not_a_test_file_and_every_case_is_read() {
        let set = reviewed();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tests");
        let files = read_tests(&dir, set.gate.schema()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(!names.contains(&"entities.json".to_owned()), "{names:?}");
        assert!(files.iter().all(|f| !f.cases.is_empty()));
    }

    #[test]
    fn a_case_that_does_not_build_names_its_file_number_and_name() {
        let set = reviewed();
        let dir = tempfile::tempdir().unwrap();
        let case = json!([{
            "name": "broken",
            "request": { "principal": "Member::\"a\"", "action": "Action::\"nope\"",
                         "resource": "Team::\"t\"", "context": {} },
            "entities": [], "decision": "deny", "reason": [], "num_errors": 0
        }]);
        std::fs::write(dir.path().join("t.json"), case.to_string()).unwrap();
        let error = read_tests(dir.path(), set.gate.schema()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("t.json") && text.contains("test 1 `broken`"),
            "{text}"
        );
    }

    #[test]
    fn percent_counts_policies_that_decided() {
        let set = reviewed();
        let coverage = Coverage::measure(&set.gate, &[]);
        assert_eq!(coverage.percent(), 0.0);
        assert_eq!(coverage.uncovered().len(), coverage.all.len());
        assert_eq!(coverage.all_rules().len(), 28);
    }
}

//! `policy verify`: proofs over every entity store the schema allows, with cedar-policy-symcc
//! and the cvc5 solver. Each file of `policies/properties/` is a property: a set of permits
//! that must allow whatever the policies allow for the actions it names. And no policy may
//! ever error.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{ActionConstraint, Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet};
use gatekeeper::Gatekeeper;

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No cvc5 to run.
    #[error("the cvc5 solver was not found ({0})")]
    NoSolver(String),
    /// A property file can't be used.
    #[error("property `{file}`: {message}")]
    Property {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The solver or the compiler failed.
    #[error("verification failed to run: {0}")]
    Solver(String),
}

/// A property to prove.
pub struct Property {
    /// The file name without `.cedar`.
    pub name: String,
    /// The rules it proves (`@rule` of its policies).
    pub rules: Vec<String>,
    /// What it says (the file's first comment line).
    pub says: String,
    policies: PolicySet,
    actions: Vec<String>,
}

/// The outcome of one proof obligation.
#[derive(Debug, Clone)]
pub struct Check {
    /// The property (or `never-errors:POLICY`).
    pub name: String,
    /// Its rules.
    pub rules: Vec<String>,
    /// `principal, action, resource` types checked.
    pub request_env: String,
    /// `None` when it holds; the counterexample (request and entities) when it does not.
    pub counterexample: Option<String>,
}

/// Reads every `*.cedar` of a properties directory.
pub fn load_properties(dir: &Path) -> Result<Vec<Property>, VerifyError> {
    let invalid = |file: &Path, message: String| VerifyError::Property {
        file: file.display().to_string(),
        message,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| invalid(dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    files.sort();
    let mut properties = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| invalid(&file, e.to_string()))?;
        let policies = PolicySet::from_str(&text).map_err(|e| invalid(&file, e.to_string()))?;
        let mut rules = Vec::new();
        let mut actions = Vec::new();
        for policy in policies.policies() {
            let rule = policy
                .annotation("rule")
                .ok_or_else(|| invalid(&file, "every permit needs `@rule`".into()))?;
            if !gatekeeper::rules::is_known(rule) {
                return Err(invalid(
                    &file,
                    format!("`@rule(\"{rule}\")` is not a rule of rules.md"),
                ));
            }
            rules.push(rule.to_owned());
            match policy.action_constraint() {
                ActionConstraint::Eq(a) => actions.push(a.id().unescaped().to_owned()),
                ActionConstraint::In(list) => {
                    actions.extend(list.iter().map(|a| a.id().unescaped().to_owned()))
                }
                ActionConstraint::Any => {
                    return Err(invalid(
                        &file,
                        "a property names the actions it is about".into(),
                    ));
                }
            }
        }
        rules.sort();
        rules.dedup();
        let says = text
            .lines()
            .find_map(|l| l.strip_prefix("//").map(|s| s.trim().to_owned()))
            .unwrap_or_default();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        properties.push(Property {
            name,
            rules,
            says,
            policies,
            actions,
        });
    }
    Ok(properties)
}

/// Where cvc5 is: `$CVC5`, or `cvc5` on `PATH`.
pub fn find_solver() -> Result<PathBuf, VerifyError> {
    if let Some(path) = std::env::var_os("CVC5") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(VerifyError::NoSolver(format!(
                "CVC5=`{}` is not a file",
                path.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("cvc5"))
        .find(|p| p.is_file())
        .ok_or_else(|| VerifyError::NoSolver("no `cvc5` on PATH and CVC5 is not set".into()))
}

fn describe(env: &RequestEnv) -> String {
    format!("{}, {}, {}", env.principal(), env.action(), env.resource())
}

pub(crate) fn solver_error(e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Solver(e.to_string())
}

/// Runs `work` with a symbolic compiler that asks the cvc5 at `solver`.
pub(crate) fn with_compiler<T>(
    solver: &Path,
    work: impl AsyncFnOnce(&mut CedarSymCompiler<LocalSolver>) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(solver_error)?;
    runtime.block_on(async {
        let solver = LocalSolver::from_command(tokio::process::Command::new(solver).args([
            "--lang",
            "smt",
            "--tlimit=60000",
        ]))
        .map_err(solver_error)?;
        let mut compiler = CedarSymCompiler::new(solver).map_err(solver_error)?;
        work(&mut compiler).await
    })
}

/// Proves every property, and that no policy ever errors, for every request the schema allows.
pub fn verify(
    gate: &Gatekeeper,
    properties: &[Property],
    solver: &Path,
) -> Result<Vec<Check>, VerifyError> {
    with_compiler(solver, async |compiler| {
        let schema = gate.schema();
        let envs: Vec<RequestEnv> = schema.request_envs().collect();
        let mut checks = Vec::new();
        for property in properties {
            for env in envs.iter().filter(|e| {
                property
                    .actions
                    .iter()
                    .any(|a| a == e.action().id().unescaped())
            }) {
                let policies = CompiledPolicySet::compile(gate.policy_set(), env, schema)
                    .map_err(solver_error)?;
                let expected = CompiledPolicySet::compile(&property.policies, env, schema)
                    .map_err(|e| VerifyError::Property {
                        file: format!("{}.cedar", property.name),
                        message: e.to_string(),
                    })?;
                let counterexample = compiler
                    .check_implies_with_counterexample_opt(&policies, &expected)
                    .await
                    .map_err(solver_error)?;
                checks.push(Check {
                    name: property.name.clone(),
                    rules: property.rules.clone(),
                    request_env: describe(env),
                    counterexample: counterexample.map(|c| c.to_string()),
                });
            }
        }
        for policy in gate.policy_set().policies() {
            for env in envs.iter().filter(|e| applies(policy, e)) {
                let compiled =
                    CompiledPolicy::compile(policy, env, schema).map_err(solver_error)?;
                let counterexample = compiler
                    .check_never_errors_with_counterexample_opt(&compiled)
                    .await
                    .map_err(solver_error)?;
                checks.push(Check {
                    name: format!("never-errors:{}", policy.id()),
                    rules: policy
                        .annotation("rule")
                        .map(|r| vec![r.to_owned()])
                        .unwrap_or_default(),
                    request_env: describe(env),
                    counterexample: counterexample.map(|c| c.to_string()),
                });
            }
        }
        Ok(checks)
    })
}

/// Whether `policy`'s action scope admits `env`'s action.
pub(crate) fn applies(policy: &Policy, env: &RequestEnv) -> bool {
    let action = env.action();
    match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => &a == action,
        ActionConstraint::In(list) => list.contains(action),
    }
}

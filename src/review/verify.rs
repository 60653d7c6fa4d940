//! `policy verify`: proofs over every entity store the schema allows, with cedar-policy-symcc
//! and the cvc5 solver. Each file of `policies/properties/` is a property: a set of permits
//! that must allow whatever the policies allow for the actions it names. And no policy may
//! ever error.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{ActionConstraint, Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};

use super::counterexample::{RequestFacts, Verdict};
use super::set::ReviewedSet;

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No cvc5 to run.
    #[error("the cvc5 solver was not found ({0})")]
    NoSolver(String),
    /// A property file can't be used.
    #[error("property `{file}`")]
    Property {
        file: String,
        /// What is wrong: a problem found here, or the reader's or compiler's error.
        #[source]
        source: Cause,
    },
    /// A set too large for the solver.
    #[error(
        "`{set}` has {count} policies; the solver takes at most {max}",
        max = MAX_POLICIES
    )]
    TooManyPolicies {
        set: String,
        /// Its policies.
        count: usize,
    },
    /// The solver or the compiler failed.
    #[error("verification failed to run")]
    Solver(#[source] Cause),
}

/// The error of Cedar's parser, compiler or solver (each its own type), or a problem found
/// here.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A property to prove.
pub struct Property {
    /// The file name without `.cedar`.
    pub name: String,
    /// The rules it proves (`@rule` of its policies).
    pub rules: Vec<String>,
    /// Its file, as named in messages.
    pub file: String,
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
    pub rules: Vec<String>,
    /// `principal, action, resource` types checked.
    pub request_env: String,
    /// `None` when it holds; a request where it does not, with the policies' decision.
    pub counterexample: Option<Counterexample>,
}

/// A request where a proof obligation fails, in the reviewer's terms.
#[derive(Debug, Clone)]
pub struct Counterexample {
    pub request: RequestFacts,
    /// What the policies decide on it (an error denies).
    pub verdict: Verdict,
}

impl Counterexample {
    fn of(set: &ReviewedSet, env: &Env) -> Counterexample {
        Counterexample {
            request: RequestFacts::of(&env.request, &env.entities),
            verdict: Verdict::of(set, &env.request, &env.entities),
        }
    }

    /// The request's facts and the decision, one a line, each starting with `indent`.
    pub fn lines(&self, indent: &str) -> Vec<String> {
        let mut lines = self.request.lines(indent);
        lines.push(format!("{indent}{:<10} {}", "decision", self.verdict));
        lines
    }
}

/// Where a set's properties are: a directory, or those compiled in with the reviewed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertySource {
    /// Every `*.cedar` of a directory.
    Dir(PathBuf),
    /// `policies/properties/` compiled into the binary.
    CompiledIn,
}

impl std::fmt::Display for PropertySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertySource::Dir(dir) => write!(f, "{}", dir.display()),
            PropertySource::CompiledIn => f.write_str("compiled-in properties"),
        }
    }
}

macro_rules! bundled_property {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../policies/properties/", $name)),
        )
    };
}

/// The reviewed properties, compiled in beside the reviewed policies.
const BUNDLED: &[(&str, &str)] = &[
    bundled_property!("b24-only-operators-adjust.cedar"),
    bundled_property!("d1-one-per-tier.cedar"),
    bundled_property!("d3-no-seat-reduction.cedar"),
    bundled_property!("d4-cancel-domestic-only.cedar"),
    bundled_property!("d5-cancellation-final.cedar"),
    bundled_property!("default-team-gains-no-member.cedar"),
    bundled_property!("k2-key-needs-resources.cedar"),
    bundled_property!("m1-assign-seats.cedar"),
    bundled_property!("m1-credits-access.cedar"),
    bundled_property!("m1-delete-others-keys.cedar"),
    bundled_property!("m1-invite-remove.cedar"),
    bundled_property!("m1-team-usage.cedar"),
    bundled_property!("m2-owner-stays.cedar"),
    bundled_property!("member-limit.cedar"),
    bundled_property!("o1-one-subscription.cedar"),
    bundled_property!("o3-remove-renewing-seats.cedar"),
    bundled_property!("only-owner-pays.cedar"),
    bundled_property!("payg-key-limit.cedar"),
    bundled_property!("reader-sees-only-own.cedar"),
    bundled_property!("s2-one-seat.cedar"),
    bundled_property!("seat-limit.cedar"),
    bundled_property!("t3-default-single-seat.cedar"),
];

/// Reads the properties of `source`.
pub fn load_properties(source: &PropertySource) -> Result<Vec<Property>, VerifyError> {
    match source {
        PropertySource::Dir(dir) => load_property_dir(dir),
        PropertySource::CompiledIn => BUNDLED
            .iter()
            .map(|(name, text)| parse_property(&format!("compiled-in:properties/{name}"), text))
            .collect(),
    }
}

/// Reads every `*.cedar` of a properties directory.
fn load_property_dir(dir: &Path) -> Result<Vec<Property>, VerifyError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| invalid(&dir.display().to_string(), e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| invalid(&name, e))?;
            parse_property(&name, &text)
        })
        .collect()
}

fn invalid(file: &str, source: impl Into<Cause>) -> VerifyError {
    VerifyError::Property {
        file: file.to_owned(),
        source: source.into(),
    }
}

/// The property of file `file` (named by its path) with text `text`.
fn parse_property(file: &str, text: &str) -> Result<Property, VerifyError> {
    let policies = PolicySet::from_str(text).map_err(|e| invalid(file, e))?;
    let mut rules = Vec::new();
    let mut actions = Vec::new();
    for policy in policies.policies() {
        let rule = policy
            .annotation("rule")
            .ok_or_else(|| invalid(file, "every permit needs `@rule`"))?;
        if !gatekeeper::rules::is_known(rule) {
            return Err(invalid(
                file,
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
                return Err(invalid(file, "a property names the actions it is about"));
            }
        }
    }
    rules.sort();
    rules.dedup();
    let says = text
        .lines()
        .find_map(|l| l.strip_prefix("//").map(|s| s.trim().to_owned()))
        .unwrap_or_default();
    let name = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Property {
        name,
        file: file.to_owned(),
        rules,
        says,
        policies,
        actions,
    })
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

pub(crate) fn solver_error(e: impl std::error::Error + Send + Sync + 'static) -> VerifyError {
    VerifyError::Solver(Box::new(e))
}

/// The most policies the solver is given: cedar-policy-symcc encodes a set's decision as one
/// term nested once per policy, recursively, so a larger set could overflow even
/// [`SOLVER_STACK`].
pub const MAX_POLICIES: usize = 1_000;

/// The stack of the thread that runs the solver work: the encoding recurses once per policy
/// (about 20 kB a level in a debug build), beyond a main thread's 8 MiB at a few hundred.
const SOLVER_STACK: usize = 256 * 1024 * 1024;

/// Refuses a set too large for the solver (see [`MAX_POLICIES`]).
pub(crate) fn within_bound(set: &ReviewedSet) -> Result<(), VerifyError> {
    let count = set.gate.policy_set().policies().count();
    if count > MAX_POLICIES {
        return Err(VerifyError::TooManyPolicies {
            set: set.sources.origin.to_string(),
            count,
        });
    }
    Ok(())
}

/// Runs `work` with a symbolic compiler that asks the cvc5 at `solver`, on a thread with a
/// stack deep enough for [`MAX_POLICIES`].
pub(crate) fn with_compiler<T: Send>(
    solver: &Path,
    work: impl AsyncFnOnce(&mut CedarSymCompiler<LocalSolver>) -> Result<T, VerifyError> + Send,
) -> Result<T, VerifyError> {
    let run = || {
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
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("solver".into())
            .stack_size(SOLVER_STACK)
            .spawn_scoped(scope, run)
            .map_err(solver_error)?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Proves every property, and that no policy ever errors, for every request the schema allows.
pub fn verify(
    set: &ReviewedSet,
    properties: &[Property],
    solver: &Path,
) -> Result<Vec<Check>, VerifyError> {
    within_bound(set)?;
    let gate = &set.gate;
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
                    .map_err(|e| invalid(&property.file, e))?;
                let counterexample = compiler
                    .check_implies_with_counterexample_opt(&policies, &expected)
                    .await
                    .map_err(solver_error)?;
                checks.push(Check {
                    name: property.name.clone(),
                    rules: property.rules.clone(),
                    request_env: describe(env),
                    counterexample: counterexample.map(|c| Counterexample::of(set, &c)),
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
                    counterexample: counterexample.map(|c| Counterexample::of(set, &c)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_properties_are_the_properties_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/properties");
        let on_disk = load_properties(&PropertySource::Dir(dir)).unwrap();
        let bundled = load_properties(&PropertySource::CompiledIn).unwrap();
        let names = |p: &[Property]| p.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&on_disk),
            names(&bundled),
            "add new properties to BUNDLED"
        );
    }
}

//! `tokenplan policy coverage`: the policies and rules the `cedar run-tests` files exercise,
//! and with `--suggest`, a test case found by the solver for each policy none exercises.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokenplan::review::coverage::{self, Coverage};
use tokenplan::review::set::{Origin, ReviewedSet};
use tokenplan::review::verify;

use super::policy::reviewed;
use super::{Cli, CommandResult, Exit, Failure};

/// `policy coverage`'s options.
#[derive(clap::Args)]
pub(super) struct CoverageArgs {
    /// The `cedar run-tests` files: every `*.json` of DIR except the entity files the tests
    /// name (default: `tests/` of the policy directory, `policies/tests` for the compiled-in
    /// set).
    #[arg(long, value_name = "DIR")]
    tests: Option<PathBuf>,
    /// Exit 1 when the policies covered are fewer than PERCENT of all.
    #[arg(long, value_name = "PERCENT", value_parser = percent)]
    min: Option<f64>,
    /// Write `DIR/ID.json`, a test case found by the solver (cvc5), for each policy that no
    /// test exercises.
    #[arg(long, value_name = "DIR")]
    suggest: Option<PathBuf>,
}

/// A percentage from 0 to 100.
fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a percentage from 0 to 100")),
    }
}

/// Runs `policy coverage`.
pub(super) fn coverage(cli: &Cli, args: &CoverageArgs) -> CommandResult {
    let set = reviewed(cli)?;
    let solver = match &args.suggest {
        Some(_) => Some(verify::find_solver().map_err(|e| {
            Failure::input(anyhow::Error::new(e).context("--suggest needs the cvc5 solver"))
                .hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path")
        })?),
        None => None,
    };
    let dir = args.tests.clone().unwrap_or_else(|| tests_dir(&set));
    let files = coverage::read_tests(&dir, set.gate.schema())
        .map_err(|e| Failure::input(e).hint("the files are `cedar run-tests` JSON: a list of cases with `request`, `entities`, `decision`, `reason` and `num_errors`"))?;
    let measured = Coverage::measure(&set.gate, &files);
    print_coverage(&set, &measured)?;
    if let (Some(out), Some(solver)) = (&args.suggest, solver) {
        write_suggestions(cli, &set, &measured, out, &solver)?;
    }
    match args.min {
        Some(min) if measured.percent() < min => {
            eprintln!(
                "policy coverage {:.1}% is below --min {min}%: add a test for each policy not exercised (--suggest DIR writes them)",
                measured.percent()
            );
            Ok(Exit::Problems)
        }
        _ => Ok(Exit::Success),
    }
}

/// `tests/` beside the set's policies.
fn tests_dir(set: &ReviewedSet) -> PathBuf {
    match &set.sources.origin {
        Origin::Dir(dir) | Origin::Git { checkout: dir, .. } => dir.join("tests"),
        Origin::CompiledIn => PathBuf::from("policies/tests"),
    }
}

/// Per file, then in total, and the policies not exercised with where they are.
fn print_coverage(set: &ReviewedSet, measured: &Coverage) -> Result<(), Failure> {
    let list = |items: &std::collections::BTreeSet<String>| {
        items
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut cases = 0;
    for file in &measured.files {
        cases += file.cases;
        out!(
            "{}: {} test(s), {} policies, {} rules\n  policies: {}\n  rules: {}\n",
            file.path.display(),
            file.cases,
            file.policies.len(),
            file.rules.len(),
            list(&file.policies),
            list(&file.rules)
        );
    }
    let all_rules = measured.all_rules();
    out!(
        "total: {cases} test(s) in {} file(s)\npolicies: {} of {} decided a test request ({:.1}%)\nrules: {} of {} named by the policies\n",
        measured.files.len(),
        measured.policies.len(),
        measured.all.len(),
        measured.percent(),
        measured.rules.len(),
        all_rules.len()
    );
    for policy in measured.uncovered() {
        out!("not exercised: {}\n", set.policy_name(&policy.id));
    }
    let missing: Vec<&str> = all_rules
        .into_iter()
        .filter(|rule| !measured.rules.contains(*rule))
        .collect();
    if !missing.is_empty() {
        out!("rules not exercised: {}\n", missing.join(", "));
    }
    Ok(())
}

/// Writes `out/ID.json` for each policy not exercised, and says what it wrote on stderr.
fn write_suggestions(
    cli: &Cli,
    set: &ReviewedSet,
    measured: &Coverage,
    out: &Path,
    solver: &Path,
) -> Result<(), Failure> {
    let uncovered = measured.uncovered();
    if uncovered.is_empty() {
        eprintln!("suggest: every policy is exercised; nothing to write");
        return Ok(());
    }
    let suggestions = coverage::suggest(set, &uncovered, solver).map_err(Failure::work)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create `{}`", out.display()))
        .map_err(Failure::input)?;
    for suggestion in suggestions {
        let name = set.policy_name(&suggestion.policy.id);
        let Some(case) = suggestion.case else {
            eprintln!(
                "suggest: no request where {name} decides: it can never take effect (see `tokenplan policy check`)"
            );
            continue;
        };
        let file: String = suggestion
            .policy
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = out.join(format!("{file}.json"));
        let text = serde_json::to_string_pretty(&[case]).map_err(Failure::work)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))
            .map_err(Failure::input)?;
        if !cli.quiet {
            eprintln!("suggest: wrote {} for {name}", path.display());
        }
    }
    Ok(())
}

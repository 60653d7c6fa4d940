//! `tokenplan policy ...`: the reviewer's commands.

use std::path::Path;

use anyhow::Context as _;

use gatekeeper::LoadError;
use tokenplan::review::counterexample::RequestFacts;
use tokenplan::review::set::{COMPILED_IN, Choice, Origin, ReviewedSet, Sources};
use tokenplan::review::verify::PropertySource;
use tokenplan::review::{conditions, explain as explained, lint, markdown, report, sarif, verify};

use super::*;

pub(super) fn policy(cli: &Cli, command: &PolicyCommand) -> CommandResult {
    match command {
        PolicyCommand::Check {
            deny_warnings,
            format,
        } => policy_check(cli, *deny_warnings, *format),
        PolicyCommand::Matrix { format, expect } => {
            let set = reviewed(cli)?;
            let matrix = RoleMatrix::evaluate(&set.gate);
            match format {
                Format::Md => out!("{}", matrix.to_markdown()),
                Format::Json => out!(
                    "{}\n",
                    serde_json::to_string_pretty(&matrix).map_err(Failure::work)?
                ),
            }
            let Some(expect) = expect else {
                return Ok(Exit::Success);
            };
            let expected: RoleMatrix = tokenplan::unique_keys::from_yaml(&read_file(expect)?)
                .with_context(|| format!("`{}` is not a role matrix", expect.display()))
                .map_err(Failure::input)?;
            let differences = expected.differences(&matrix);
            for difference in &differences {
                eprintln!("differs from {}: {difference}", expect.display());
            }
            Ok(Exit::verdict(differences.is_empty()))
        }
        PolicyCommand::Diff(args) => diff(cli, args),
        PolicyCommand::Explain(args) => explain(cli, args),
        PolicyCommand::Verify { properties } => policy_verify(cli, properties.as_deref()),
        PolicyCommand::Report { properties } => policy_report(cli, properties.as_deref()),
        PolicyCommand::Coverage(args) => super::coverage::coverage(cli, args),
    }
}

/// The set a `policy` command reviews: `--policies`, else `./policies` when it exists, else
/// the compiled-in set.
fn reviewed_origin(cli: &Cli) -> Origin {
    cli.policies
        .clone()
        .unwrap_or_else(Choice::reviewed_default)
        .origin()
}

/// Reads the files of `origin` and says on stderr, as `label: ...`, which set is checked.
fn read_set(cli: &Cli, origin: &Origin, label: &str) -> Result<Sources, Failure> {
    let sources = origin.read().map_err(Failure::input)?;
    if !cli.quiet {
        eprintln!("{label}: {}", sources.describe());
    }
    Ok(sources)
}

/// The reviewed set, loaded: a set with problems exits 1, naming them.
pub(super) fn reviewed(cli: &Cli) -> Result<ReviewedSet, Failure> {
    let sources = read_set(cli, &reviewed_origin(cli), "policies")?;
    load(&sources).map_err(|(error, hint)| Failure::work(error).hint(hint))
}

/// Loads `sources`; on failure, the error with every problem at `path:line`, and the hint.
fn load(sources: &Sources) -> Result<ReviewedSet, (anyhow::Error, String)> {
    sources.load().map_err(|error| {
        let hint = format!(
            "run `{}` for every problem with file:line",
            sources.origin.check_command()
        );
        let error = match error {
            LoadError::Invalid { problems } => anyhow::anyhow!(
                "{} problem(s) in the policies of `{}`:\n{}",
                problems.len(),
                sources.origin,
                problems
                    .iter()
                    .map(|p| format!("  {}", sources.problem(p)))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            other => other.into(),
        };
        (error, hint)
    })
}

/// `policy check`: every problem with `path:line`, then the solver's warnings; as text lines
/// or one SARIF log.
fn policy_check(cli: &Cli, deny_warnings: bool, format: CheckFormat) -> CommandResult {
    let sarif = matches!(format, CheckFormat::Sarif);
    let sources = read_set(cli, &reviewed_origin(cli), "policies")?;
    let set = match sources.load() {
        Ok(set) => set,
        Err(LoadError::Invalid { problems }) => {
            if sarif {
                print_sarif(&sarif::problems(&sources.origin, &problems))?;
            } else {
                for problem in &problems {
                    out!("{}\n", sources.problem(problem));
                }
            }
            eprintln!("{} problem(s)", problems.len());
            return Ok(Exit::Problems);
        }
        Err(other) => return Err(Failure::input(other)),
    };
    if !cli.quiet {
        eprintln!(
            "policies: ok (parsed, strictly validated, every policy has a unique @id and a known @rule)"
        );
    }
    let Ok(solver) = verify::find_solver() else {
        eprintln!(
            "note: cvc5 not found, so policies that never take effect or are redundant were not looked for (apt-get install -y cvc5)"
        );
        if sarif {
            print_sarif(&[])?;
        }
        return Ok(Exit::Success);
    };
    let warnings = lint::lint(&set, &solver).map_err(solver_failure)?;
    if sarif {
        print_sarif(&sarif::warnings(&set, &warnings))?;
    } else {
        for warning in &warnings {
            out!("{warning}\n");
        }
    }
    if !cli.quiet {
        eprintln!(
            "solver: {} warning(s) (policies that never take effect or are redundant)",
            warnings.len()
        );
    }
    Ok(Exit::verdict(!deny_warnings || warnings.is_empty()))
}

/// One SARIF log of `entries` on stdout.
fn print_sarif(entries: &[sarif::Entry]) -> Result<(), Failure> {
    let log = serde_json::to_string_pretty(&sarif::log(entries)).map_err(Failure::work)?;
    out!("{log}\n");
    Ok(())
}

/// `policy verify`: each proof obligation, and each failure's counterexample.
fn policy_verify(cli: &Cli, properties: Option<&Path>) -> CommandResult {
    let set = reviewed(cli)?;
    let checks = prove(cli, properties, &set)?;
    let mut failed = 0;
    for check in &checks {
        let heading = format!(
            "{} ({}) for {}",
            check.name,
            check.rules.join(", "),
            check.request_env
        );
        match &check.counterexample {
            None => out!("holds  {heading}\n"),
            Some(counterexample) => {
                failed += 1;
                out!(
                    "FAILS  {heading}\n  counterexample:\n{}\n",
                    counterexample.lines("    ").join("\n")
                );
            }
        }
    }
    eprintln!("{} proof obligation(s), {failed} failed", checks.len());
    Ok(Exit::verdict(failed == 0))
}

/// `policy report`: the Markdown, and its verdict as the exit status.
fn policy_report(cli: &Cli, properties: Option<&Path>) -> CommandResult {
    let sources = read_set(cli, &reviewed_origin(cli), "policies")?;
    let set = match sources.load() {
        Ok(set) => set,
        Err(LoadError::Invalid { problems }) => {
            out!("{}", report::unloadable(&sources, &problems));
            eprintln!("policy report: FAIL, {} problem(s)", problems.len());
            return Ok(Exit::Problems);
        }
        Err(other) => return Err(Failure::input(other)),
    };
    let proofs = prove(cli, properties, &set);
    let not_run = |failure: &Failure| {
        failure
            .error
            .as_ref()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    };
    let (text, outcome) = report::markdown(&set, &proofs.as_ref().cloned().map_err(not_run));
    out!("{text}");
    match proofs {
        Err(failure) => Err(failure),
        Ok(_) if outcome == report::Outcome::Failed => {
            eprintln!("policy report: FAIL, a proof failed");
            Ok(Exit::Problems)
        }
        Ok(_) => Ok(Exit::Success),
    }
}

/// `policy diff`: the proof, then the samples a person reads.
fn diff(cli: &Cli, args: &DiffArgs) -> CommandResult {
    let (_checkout, old, new) = diff_origins(cli, args)?;
    let load_side = |origin: &Origin, label: &str| {
        let sources = read_set(cli, origin, label)?;
        load(&sources).map_err(|(error, hint)| {
            Failure::input(error.context(format!("{label} does not load"))).hint(hint)
        })
    };
    let (old, new) = (load_side(&old, "OLD")?, load_side(&new, "NEW")?);
    let probes = PolicyDiff::between(&old.gate, &new.gate);
    let proof = if args.probes_only {
        eprintln!(
            "warning: --probes-only evaluates samples (the matrix and the limit probes); it proves nothing"
        );
        None
    } else {
        let solver = verify::find_solver().map_err(|e| {
            Failure::input(e).hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path; --probes-only compares samples without a proof")
        })?;
        Some(tokenplan::review::diff::prove(&old, &new, &solver).map_err(solver_failure)?)
    };
    let loosened = probes.loosens() || proof.as_ref().is_some_and(|p| p.loosens());
    match args.format {
        DiffFormat::Json => {
            let report = serde_json::json!({
                "loosened": loosened,
                "proved": proof.is_some(),
                "proof": proof,
                "matrix": probes.cells,
                "limits": probes.limits,
            });
            out!(
                "{}\n",
                serde_json::to_string_pretty(&report).map_err(Failure::work)?
            );
        }
        DiffFormat::Markdown => out!("{}", markdown::diff(&old, &new, proof.as_ref(), &probes)),
        DiffFormat::Sarif => print_sarif(&sarif::loosenings(&new, proof.as_ref(), &probes))?,
        DiffFormat::Text => {
            if let Some(proof) = &proof {
                out!("{}\n", proof.render());
            }
            out!("{}\n", probes.render());
            if !loosened {
                let tightened = proof.as_ref().is_some_and(|p| {
                    p.envs
                        .iter()
                        .any(|e| e.tightened.is_some() || e.may_fail.is_some())
                });
                let verdict = match &proof {
                    None if probes.is_empty() => "no sampled decision changed",
                    Some(_) if probes.is_empty() && !tightened => "no decision changed",
                    _ => "nothing loosened",
                };
                out!("{verdict}\n");
            }
        }
    }
    if loosened {
        eprintln!("a decision was loosened (deny → allow): ask for a second review");
        Ok(Exit::Problems)
    } else {
        Ok(Exit::Success)
    }
}

/// OLD's and NEW's sets; with `--git`, OLD is checked out into a temporary directory
/// (returned, to live as long as it is read), and NEW defaults to the reviewed set.
fn diff_origins(
    cli: &Cli,
    args: &DiffArgs,
) -> Result<(Option<tempfile::TempDir>, Origin, Origin), Failure> {
    let usage = || {
        Failure::input(anyhow::anyhow!(
            "`policy diff` takes OLD NEW (directories, or `{COMPILED_IN}`), or --git REV [NEW]"
        ))
    };
    match (&args.git, args.dirs.as_slice()) {
        (None, [old, new]) => Ok((None, old.origin(), new.origin())),
        (Some(rev), dirs) if dirs.len() <= 1 => {
            let new = match dirs.first() {
                Some(new) => new.origin(),
                None => reviewed_origin(cli),
            };
            let checkout = git_policies(rev)?;
            let old = Origin::Git {
                rev: rev.clone(),
                checkout: checkout.path().to_owned(),
            };
            Ok((Some(checkout), old, new))
        }
        _ => Err(usage()),
    }
}

/// The `policies/` directory of git revision `rev`, written to a temporary directory.
fn git_policies(rev: &str) -> Result<tempfile::TempDir, Failure> {
    if rev.starts_with('-') {
        return Err(Failure::input(anyhow::anyhow!(
            "--git `{rev}` starts with `-`, so git would read it as an option, not a revision"
        ))
        .hint("name a branch, tag or commit: --git origin/main"));
    }
    let git = |args: &[&str]| -> Result<Vec<u8>, Failure> {
        let output = std::process::Command::new("git")
            .args(args)
            .output()
            .with_context(|| "cannot run `git`".to_owned())
            .map_err(Failure::input)?;
        if !output.status.success() {
            return Err(Failure::input(anyhow::anyhow!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(output.stdout)
    };
    // `--end-of-options`: whatever `rev` holds, git reads it as a revision.
    let listing = git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "--full-tree",
        "--end-of-options",
        rev,
        "--",
        "policies",
    ])?;
    let files: Vec<String> = String::from_utf8_lossy(&listing)
        .lines()
        .map(str::to_owned)
        .collect();
    if files.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "revision `{rev}` has no `policies/`"
        )));
    }
    let dir = tempfile::tempdir().map_err(Failure::work)?;
    for file in &files {
        let Some(relative) = file.strip_prefix("policies/") else {
            continue;
        };
        let text = git(&["show", "--end-of-options", &format!("{rev}:{file}")])?;
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Failure::work)?;
        }
        std::fs::write(&path, text).map_err(Failure::work)?;
    }
    Ok(dir)
}

/// A proof that could not run: a set too large for the solver is bad input (exit 2).
fn solver_failure(error: verify::VerifyError) -> Failure {
    match error {
        verify::VerifyError::TooManyPolicies { .. } => Failure::input(error).hint(
            "a policy set that large is refused before the solver starts; merge policies that share a scope and condition",
        ),
        other => Failure::work(other),
    }
}

/// The proofs of `set`'s properties: `--properties`, else `DIR/properties` of a directory's
/// set, or those compiled in with the compiled-in set.
fn prove(
    cli: &Cli,
    properties: Option<&Path>,
    set: &ReviewedSet,
) -> Result<Vec<verify::Check>, Failure> {
    let source = match (properties, &set.sources.origin) {
        (Some(dir), _) => PropertySource::Dir(dir.to_owned()),
        (None, Origin::Dir(dir) | Origin::Git { checkout: dir, .. }) => {
            PropertySource::Dir(dir.join("properties"))
        }
        (None, Origin::CompiledIn) => PropertySource::CompiledIn,
    };
    if !cli.quiet {
        eprintln!("properties: {source}");
    }
    let solver = verify::find_solver()
        .map_err(|e| Failure::input(e).hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path"))?;
    let properties = verify::load_properties(&source).map_err(|e| {
        Failure::input(e).hint(format!(
            "pass --properties DIR, or --policies {COMPILED_IN} for the reviewed set and its properties"
        ))
    })?;
    verify::verify(set, &properties, &solver).map_err(solver_failure)
}

fn explain(cli: &Cli, args: &ExplainArgs) -> CommandResult {
    let set = reviewed(cli)?;
    let (state, credits_spent, also_read) = match &args.as_role {
        Some(role) => {
            let state = facts_state(args, role.0).map_err(Failure::input)?;
            // The facts' subscription is of --tier.
            let also_read: &[&str] = if args.team_seats > 0 { &["tier"] } else { &[] };
            (state, rust_decimal::Decimal::ZERO, also_read)
        }
        None => {
            let (state, spent) = stored_state(cli, args)?;
            (state, spent, &[][..])
        }
    };
    let request = explained::request(
        &state,
        &args.team,
        &args.actor,
        args.action,
        &explained::Fields {
            target: args.target.clone(),
            role: args.role,
            tier: args.tier.clone(),
            seats: args.seats,
            key: args.key.clone(),
            from: args.from.clone(),
            credits_spent,
        },
        also_read,
    )
    .map_err(Failure::input)?;
    let decision = set.gate.decide(&request);
    out!("{}\n", decision.explain());
    for policy in decision.policies() {
        if let Some(at) = set.locate(&policy.id) {
            out!("  {} ({}) at {at}\n", policy.id, policy.rule);
        }
    }
    if let Ok((cedar_request, entities)) = set.gate.cedar_inputs(&request) {
        out!("facts evaluated:\n");
        for line in RequestFacts::of(&cedar_request, &entities).lines("  ") {
            out!("{line}\n");
        }
    }
    let clauses = conditions::lines(&set, &request, &decision);
    if !clauses.is_empty() {
        out!("conditions:\n");
        for line in clauses {
            out!("{line}\n");
        }
    }
    Ok(Exit::verdict(decision.is_allowed()))
}

fn facts_state(
    args: &ExplainArgs,
    role: Option<Role>,
) -> Result<tokenplan::teams::TeamState, explained::ExplainError> {
    let facts = explained::Facts {
        role,
        region: args.region,
        is_default: args.default_team,
        members: args.members.map(usize::from),
        seats: args.team_seats,
        tier: args.tier.clone().unwrap_or_else(|| "plus".into()),
        target_role: args.target_role,
        target_seat: args.target_seat,
        live_keys: usize::from(args.live_keys),
    };
    explained::state_from_facts(&args.team, &args.actor, args.target.as_ref(), &facts)
}

/// The Team's state at `--at` (default: now), and what its statements billed to Credits before
/// that day. Every user named must have an account.
fn stored_state(
    cli: &Cli,
    args: &ExplainArgs,
) -> Result<(tokenplan::teams::TeamState, rust_decimal::Decimal), Failure> {
    let store = open_read_only_store(cli)?;
    let at = match &args.at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| {
                format!(
                    "--at `{}` is not an RFC 3339 time",
                    tokenplan::ids::escaped(text)
                )
            })
            .and_then(|at| calendar::check_instant(at.with_timezone(&chrono::Utc)).context("--at"))
            .map_err(Failure::input)?,
        None => chrono::Utc::now(),
    };
    let state = tokenplan::teams::team_state(&store, args.team.as_str(), at)
        .map_err(Failure::work)?
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "no Team `{}` in `{}`",
                args.team,
                cli.db.display()
            ))
            .hint("or decide on facts: --as-role ROLE --members N ...")
        })?;
    let actor = (args.action != Action::CreateAccount).then_some(("as", &args.actor));
    let named = [("target", &args.target), ("from", &args.from)]
        .into_iter()
        .filter_map(|(flag, user)| user.as_ref().map(|user| (flag, user)));
    for (flag, user) in actor.into_iter().chain(named) {
        if !store.user_exists(user.as_str()).map_err(Failure::work)? {
            return Err(Failure::input(anyhow::anyhow!(
                "--{flag}: no user `{user}` in `{}`",
                cli.db.display()
            ))
            .hint("check the id, or decide on facts: --as-role ROLE ..."));
        }
    }
    let today = calendar::billing_day(at, state.region);
    let spent = store
        .spent_before(today, Some(args.team.as_str()))
        .map_err(Failure::work)?;
    let credits = spent
        .get(args.team.as_str())
        .map(|s| s.credits)
        .unwrap_or_default();
    Ok((state, credits))
}

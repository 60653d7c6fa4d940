//! `tokenplan policy ...`: the reviewer's commands.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use tokenplan::review::{explain as explained, lint, report, verify};

use super::*;

pub(super) fn policy(cli: &Cli, command: &PolicyCommand) -> CommandResult {
    match command {
        PolicyCommand::Check { deny_warnings } => {
            let problems = review::check(cli.policies.as_deref()).map_err(Failure::input)?;
            for problem in &problems {
                out!("{problem}\n");
            }
            if !problems.is_empty() {
                eprintln!("{} problem(s)", problems.len());
                return Ok(Exit::Problems);
            }
            if !cli.quiet {
                eprintln!(
                    "policies: ok (parsed, strictly validated, every policy has a unique @id and a known @rule)"
                );
            }
            let Ok(solver) = verify::find_solver() else {
                eprintln!(
                    "note: cvc5 not found, so policies that never take effect or are redundant were not looked for (apt-get install -y cvc5)"
                );
                return Ok(Exit::Success);
            };
            let warnings = lint::lint(&gatekeeper(cli)?, &solver).map_err(Failure::work)?;
            for warning in &warnings {
                out!("{warning}\n");
            }
            if !cli.quiet {
                eprintln!(
                    "solver: {} warning(s) (policies that never take effect or are redundant)",
                    warnings.len()
                );
            }
            Ok(Exit::verdict(!*deny_warnings || warnings.is_empty()))
        }
        PolicyCommand::Matrix { format, expect } => {
            let gate = gatekeeper(cli)?;
            let matrix = RoleMatrix::evaluate(&gate);
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
            let expected: RoleMatrix = serde_yaml::from_str(&read_file(expect)?)
                .with_context(|| format!("`{}` is not a role matrix", expect.display()))
                .map_err(Failure::input)?;
            let differences = expected.differences(&matrix);
            for difference in &differences {
                eprintln!("differs from {}: {difference}", expect.display());
            }
            Ok(Exit::verdict(differences.is_empty()))
        }
        PolicyCommand::Diff(args) => diff(args),
        PolicyCommand::Explain(args) => explain(cli, args),
        PolicyCommand::Verify { properties } => {
            let gate = gatekeeper(cli)?;
            let checks = prove(cli, properties.as_deref(), &gate)?;
            let mut failed = 0;
            for check in &checks {
                match &check.counterexample {
                    None => out!(
                        "holds  {} ({}) for {}\n",
                        check.name,
                        check.rules.join(", "),
                        check.request_env
                    ),
                    Some(counterexample) => {
                        failed += 1;
                        out!(
                            "FAILS  {} ({}) for {}\n  counterexample:\n{}\n",
                            check.name,
                            check.rules.join(", "),
                            check.request_env,
                            indent(counterexample)
                        );
                    }
                }
            }
            eprintln!("{} proof obligation(s), {failed} failed", checks.len());
            Ok(Exit::verdict(failed == 0))
        }
        PolicyCommand::Report { properties } => {
            let problems = review::check(cli.policies.as_deref()).map_err(Failure::input)?;
            let gate = gatekeeper(cli)?;
            let proofs = match prove(cli, properties.as_deref(), &gate) {
                Ok(checks) => Ok(checks),
                Err(failure) => Err(failure.error.map(|e| format!("{e:#}")).unwrap_or_default()),
            };
            out!("{}", report::markdown(&gate, &problems, &proofs));
            Ok(Exit::Success)
        }
    }
}

/// `policy diff`: the proof, then the samples a person reads.
fn diff(args: &DiffArgs) -> CommandResult {
    let (_checkout, old_dir, new_dir) = diff_dirs(args)?;
    let load = |dir: &Path| {
        Gatekeeper::from_dir(dir)
            .with_context(|| format!("policies `{}` do not load", dir.display()))
            .map_err(|e| {
                Failure::input(e)
                    .hint("run `tokenplan policy check --policies DIR` for every problem")
            })
    };
    let (old, new) = (load(&old_dir)?, load(&new_dir)?);
    let probes = PolicyDiff::between(&old, &new);
    let proof = if args.probes_only {
        eprintln!(
            "warning: --probes-only evaluates samples (the matrix and the limit probes); it proves nothing"
        );
        None
    } else {
        let solver = verify::find_solver().map_err(|e| {
            Failure::input(e).hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path; --probes-only compares samples without a proof")
        })?;
        Some(tokenplan::review::diff::prove(&old, &new, &solver).map_err(Failure::work)?)
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

/// OLD's and NEW's directories; with `--git`, OLD is checked out into a temporary directory
/// (returned, to live as long as it is read).
fn diff_dirs(args: &DiffArgs) -> Result<(Option<tempfile::TempDir>, PathBuf, PathBuf), Failure> {
    let usage = || {
        Failure::input(anyhow::anyhow!(
            "`policy diff` takes OLD_DIR NEW_DIR, or --git REV [NEW_DIR]"
        ))
    };
    match (&args.git, args.dirs.as_slice()) {
        (None, [old, new]) => Ok((None, old.clone(), new.clone())),
        (Some(rev), dirs) if dirs.len() <= 1 => {
            let new = dirs
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("policies"));
            let checkout = git_policies(rev)?;
            let old = checkout.path().to_owned();
            Ok((Some(checkout), old, new))
        }
        _ => Err(usage()),
    }
}

/// The `policies/` directory of git revision `rev`, written to a temporary directory.
fn git_policies(rev: &str) -> Result<tempfile::TempDir, Failure> {
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
    let listing = git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "--full-tree",
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
        let text = git(&["show", &format!("{rev}:{file}")])?;
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Failure::work)?;
        }
        std::fs::write(&path, text).map_err(Failure::work)?;
    }
    Ok(dir)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn prove(
    cli: &Cli,
    properties: Option<&Path>,
    gate: &Gatekeeper,
) -> Result<Vec<verify::Check>, Failure> {
    let dir = properties.map(Path::to_owned).unwrap_or_else(|| {
        cli.policies
            .clone()
            .unwrap_or_else(|| PathBuf::from("policies"))
            .join("properties")
    });
    let solver = verify::find_solver()
        .map_err(|e| Failure::input(e).hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path"))?;
    let properties = verify::load_properties(&dir)
        .map_err(|e| Failure::input(e).hint("pass --properties DIR"))?;
    verify::verify(gate, &properties, &solver).map_err(Failure::work)
}

fn explain(cli: &Cli, args: &ExplainArgs) -> CommandResult {
    let gate = gatekeeper(cli)?;
    let (state, credits_spent) = match &args.as_role {
        Some(role) => (facts_state(args, role.0), rust_decimal::Decimal::ZERO),
        None => stored_state(cli, args)?,
    };
    let request = explained::request(
        &state,
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
    )
    .map_err(Failure::input)?;
    let decision = gate.decide(&request);
    out!("{}\n", decision.explain());
    for policy in decision.policies() {
        if let Some(location) = gate.locations().get(&policy.id) {
            out!(
                "  {} ({}) at policies/{}:{}\n",
                policy.id,
                policy.rule,
                location.file,
                location.line
            );
        }
    }
    Ok(Exit::verdict(decision.is_allowed()))
}

fn facts_state(args: &ExplainArgs, role: Option<Role>) -> tokenplan::teams::TeamState {
    let facts = explained::Facts {
        role,
        region: args.region,
        is_default: args.default_team,
        members: args.members,
        seats: args.team_seats,
        tier: args.tier.clone().unwrap_or_else(|| "plus".into()),
        target_role: args.target_role,
        target_seat: args.target_seat,
        live_keys: args.live_keys,
    };
    explained::state_from_facts(&args.team, &args.actor, args.target.as_deref(), &facts)
}

/// The Team's state at `--at` (default: now), and what its statements billed to Credits before
/// that day.
fn stored_state(
    cli: &Cli,
    args: &ExplainArgs,
) -> Result<(tokenplan::teams::TeamState, rust_decimal::Decimal), Failure> {
    let store = open_read_only_store(cli)?;
    let at = match &args.at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--at `{text}` is not an RFC 3339 time"))
            .map_err(Failure::input)?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let state = tokenplan::teams::team_state(&store, &args.team, at)
        .map_err(Failure::work)?
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "no Team `{}` in `{}`",
                args.team,
                cli.db.display()
            ))
            .hint("or decide on facts: --as-role ROLE --members N ...")
        })?;
    let today = tokenplan::calendar::billing_day(at, state.region);
    let spent = store
        .spent_before(today, Some(&args.team))
        .map_err(Failure::work)?;
    let credits = spent.get(&args.team).map(|s| s.credits).unwrap_or_default();
    Ok((state, credits))
}

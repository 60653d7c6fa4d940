//! Decision logs during `apply`: one JSON line per decision, carrying the digest that `policy
//! report` prints for the set; `audit_log` records the same digest for every step.

use crate::support::{Env, scenario};

/// The digest `policy report` prints for the compiled-in set (the proofs left out).
fn reported_digest(env: &Env) -> String {
    let out = env.run_with(
        &["policy", "report", "--policies", "compiled-in"],
        &[("CVC5", "/nonexistent/cvc5")],
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Policy set: "))
        .unwrap_or_else(|| panic!("no policy set line:\n{}", out.stdout));
    let start = line.find("(sha256:").unwrap() + 1;
    line[start..start + 7 + 64].to_owned()
}

#[test]
fn apply_writes_one_line_per_decision_with_the_digest_policy_report_prints() {
    let env = Env::new();
    let log = env.dir.path().join("decisions.jsonl");
    let yaml = scenario("domestic.yaml");
    env.run(&[
        "apply",
        yaml.to_str().unwrap(),
        "--decision-log",
        log.to_str().unwrap(),
    ])
    .ok();
    let digest = reported_digest(&env);
    assert!(digest.starts_with("sha256:"), "{digest}");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps = std::fs::read_to_string(&yaml)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("- "))
        .count();
    assert_eq!(lines.len(), steps, "{text}");
    assert!(
        lines.iter().all(|l| l["digest"] == digest.as_str()),
        "{text}"
    );
    let denied: Vec<&serde_json::Value> = lines.iter().filter(|l| l["allowed"] == false).collect();
    assert_eq!(denied.len(), 4, "{text}");
    // The restore of a canceled renewal: denied by D5, named with its rule.
    assert!(
        denied.iter().any(|l| l["action"] == "restore_renewal"
            && l["policies"] == serde_json::json!(["renewal-cancellation-is-final"])
            && l["rules"] == serde_json::json!(["D5"])),
        "{text}"
    );
    assert_eq!(lines[2]["team"]["id"], "z1", "{text}");

    assert_eq!(env.rows("audit_log"), steps as i64);
    assert_eq!(
        env.rows(&format!("audit_log WHERE policy_digest = '{digest}'")),
        steps as i64
    );
}

#[test]
fn the_environment_names_the_decision_log_and_it_is_appended_to() {
    let env = Env::new();
    let log = env.dir.path().join("decisions.jsonl");
    let log_path = log.to_str().unwrap();
    let first = env.write(
        "first.yaml",
        "- { at: \"2026-01-01T00:00:00Z\", as: olga, do: create_account }\n",
    );
    let second = env.write(
        "second.yaml",
        "- { at: \"2026-01-01T00:00:01Z\", as: olga, do: create_team, team: acme, region: overseas }\n\
         - { at: \"2026-01-01T00:00:02Z\", as: olga, do: leave, team: acme, expect: denied }\n",
    );
    env.run_with(&["apply", &first], &[("TOKENPLAN_DECISION_LOG", log_path)])
        .ok();
    env.run_with(&["apply", &second], &[("TOKENPLAN_DECISION_LOG", log_path)])
        .ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(
        actions,
        ["\"create_account\"", "\"create_team\"", "\"leave\""],
        "{text}"
    );
}

#[test]
fn a_decision_log_that_cannot_be_opened_stores_nothing() {
    let env = Env::new();
    let yaml = scenario("domestic.yaml");
    let out = env.run(&[
        "apply",
        yaml.to_str().unwrap(),
        "--decision-log",
        "/nonexistent/dir/decisions.jsonl",
    ]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot open the decision log `/nonexistent/dir/decisions.jsonl`"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("audit_log"), 0);
}

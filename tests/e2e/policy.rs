//! The reviewer's commands on the real policies and on broken copies.

use std::path::{Path, PathBuf};

use crate::support::{Env, Output, repo};

/// A copy of policies/ with `edit` applied to `file`.
pub(crate) fn copy(
    env: &Env,
    name: &str,
    file: &str,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    std::fs::write(dir.join(file), edit(text)).unwrap();
    dir
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_passes_on_the_reviewed_policies_and_names_file_and_line_on_a_broken_copy() {
    let env = Env::new();
    env.run(&["policy", "check"]).ok();
    env.run(&["policy", "check", "--policies", s(&repo().join("policies"))])
        .ok();
    let broken = copy(&env, "broken", "credits.cedar", |t| {
        t.replacen("@rule(\"C2\")\n", "", 1)
    });
    let out = env.run(&["policy", "check", "--policies", s(&broken)]);
    assert_eq!(out.status, 1);
    assert_eq!(
        out.stdout.trim(),
        format!(
            "{}/credits.cedar:3: policy `owner-tops-up-credits` has no `@rule`; name the rule of rules.md it enforces",
            broken.display()
        )
    );
}

#[test]
fn m1_matrix_matches_the_expected_file_and_a_loosened_cell_is_named() {
    let env = Env::new();
    let expected = repo().join("fixtures/role-matrix.yaml");
    let out = env
        .run(&["policy", "matrix", "--expect", s(&expected)])
        .ok();
    assert!(
        out.stdout
            .contains("| purchase subscriptions | yes | no | no |"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("| invite / remove members | default: no, regular: yes | default: no, regular: yes | no |"), "{}", out.stdout);
    let json = env.run(&["policy", "matrix", "--format", "json"]).ok();
    assert!(
        serde_json::from_str::<serde_json::Value>(&json.stdout)
            .unwrap()
            .is_array()
    );

    let loosened = copy(&env, "loosened", "credits.cedar", |t| {
        t.replace(
            "when { principal.role == Role::\"owner\" };",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
        )
    });
    let out = env.run(&[
        "policy",
        "matrix",
        "--policies",
        s(&loosened),
        "--expect",
        s(&expected),
    ]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .contains("`top up Credits` × admin (regular overseas): no → yes"),
        "{}",
        out.stderr
    );
}

#[test]
fn diff_names_changed_cells_and_limits_and_fails_when_loosened() {
    let env = Env::new();
    let policies = repo().join("policies");
    let same = env
        .run(&["policy", "diff", s(&policies), s(&policies)])
        .ok();
    assert!(
        same.stdout.trim().ends_with("no decision changed")
            && same
                .stdout
                .contains("NEW allows nothing OLD denies in 26 of 26"),
        "{}",
        same.stdout
    );
    let no_limit = copy(&env, "no-limit", "teams.cedar", |t| {
        t.replace(
            "resource.member_count >= 100",
            "resource.member_count >= 1000",
        )
    });
    let out = env.run(&["policy", "diff", s(&policies), s(&no_limit)]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout
            .contains("limit   invite at 100 members (T5): denied → allowed"),
        "{}",
        out.stdout
    );
    let tightened = copy(&env, "tight", "keys.cedar", |t| {
        t.replace("context.live_keys >= 5", "context.live_keys >= 4")
    });
    let out = env
        .run(&["policy", "diff", s(&policies), s(&tightened)])
        .ok();
    assert!(
        out.stdout
            .contains("create a 5th pay-as-you-go key (P3): allowed → denied"),
        "{}",
        out.stdout
    );
}

#[test]
fn explain_names_the_policies_rules_and_places_against_the_store() {
    let env = Env::new();
    env.load("domestic", &[]);
    let out = env.run(&[
        "policy",
        "explain",
        "--as",
        "li",
        "--action",
        "remove_seats",
        "--team",
        "z1",
        "--tier",
        "plus",
        "--seats",
        "1",
        "--at",
        "2026-01-20T00:00:00Z",
    ]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout.contains(
            "then buy a new subscription once it has ended [domestic-no-seat-reduction (D3)]"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("domestic-no-seat-reduction (D3) at policies/seats.cedar:"),
        "{}",
        out.stdout
    );
    let out = env.run(&[
        "policy",
        "explain",
        "--as",
        "mei",
        "--action",
        "view_billing",
        "--team",
        "z1",
    ]);
    assert_eq!(out.status, 1);
    assert!(out.stdout.contains("V2"), "{}", out.stdout);
}

/// cvc5 is installed by .ci/run; a developer without it sees the tests say so (and fail on CI).
pub(crate) fn has_cvc5(env: &Env) -> bool {
    let present = env
        .run(&["policy", "verify", "--properties", "/nonexistent"])
        .stderr
        .contains("property");
    assert!(
        present || std::env::var_os("CI").is_none(),
        "CI must have cvc5 (.ci/run installs it)"
    );
    if !present {
        eprintln!("skipped: cvc5 is not installed (apt-get install -y cvc5)");
    }
    present
}

#[test]
fn verify_proves_every_property_and_catches_each_break() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let properties = repo().join("policies/properties");
    let out = env
        .run(&["policy", "verify", "--properties", s(&properties)])
        .ok();
    for property in [
        "only-owner-pays",
        "default-team-gains-no-member",
        "member-limit",
        "seat-limit",
        "payg-key-limit",
        "reader-sees-only-own",
        "never-errors:seat-limit",
        "m1-assign-seats",
        "m1-credits-access",
        "m1-invite-remove",
        "m1-delete-others-keys",
        "m1-team-usage",
        "m2-owner-stays",
        "s2-one-seat",
        "k2-key-needs-resources",
        "o1-one-subscription",
        "o3-remove-renewing-seats",
        "d1-one-per-tier",
        "d3-no-seat-reduction",
        "d4-cancel-domestic-only",
        "d5-cancellation-final",
        "t3-default-single-seat",
    ] {
        assert!(
            out.stdout.contains(&format!("holds  {property} (")),
            "{property}:\n{}",
            out.stdout
        );
    }
    let breaks: [(&str, &str, &str, &str); 10] = [
        (
            "seats.cedar",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
            "when { true };",
            "FAILS  m1-assign-seats (S3)",
        ),
        (
            "seats.cedar",
            "when { context.target has has_seat && context.target.has_seat };",
            "when { context.target has has_seat && context.target.has_seat && resource.member_count > 50 };",
            "FAILS  s2-one-seat (S2)",
        ),
        (
            "roles.cedar",
            "when { principal.role == Role::\"owner\" };",
            "when { principal.role == Role::\"owner\" && resource.member_count > 50 };",
            "FAILS  m2-owner-stays (M2)",
        ),
        (
            "seats.cedar",
            "when { resource.region == Region::\"domestic\" };",
            "when { resource.region == Region::\"domestic\" && resource.seat_count > 50 };",
            "FAILS  d3-no-seat-reduction (D3)",
        ),
        (
            "seats.cedar",
            "when { resource.region == Region::\"overseas\" };\n\n@id(\"canceled",
            "when { resource.region == Region::\"overseas\" && resource.seat_count > 50 };\n\n@id(\"canceled",
            "FAILS  d4-cancel-domestic-only (D4)",
        ),
        (
            "keys.cedar",
            "unless { resource.has_seat || (resource.credits_access && context.credits_available) };",
            "unless { resource.has_seat || resource.credits_access };",
            "FAILS  k2-key-needs-resources (K2)",
        ),
        (
            "credits.cedar",
            "when { principal.role == Role::\"owner\" };",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
            "FAILS  only-owner-pays (M1)",
        ),
        (
            "seats.cedar",
            "when { context.seats_after > 100 };",
            "when { context.seats_after > 101 };",
            "FAILS  seat-limit (T6)",
        ),
        (
            "keys.cedar",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
            "when { true };",
            "FAILS  reader-sees-only-own (P5, V1)",
        ),
        (
            "teams.cedar",
            "when { resource.is_default };",
            "when { resource.is_default && resource.member_count > 1 };",
            "FAILS  default-team-gains-no-member (T2)",
        ),
    ];
    for (i, (file, from, to, expected)) in breaks.into_iter().enumerate() {
        let broken = copy(&env, &format!("broken-{i}"), file, |t| {
            t.replacen(from, to, 1)
        });
        let out = env.run(&[
            "policy",
            "verify",
            "--policies",
            s(&broken),
            "--properties",
            s(&properties),
        ]);
        assert_eq!(out.status, 1, "{expected}: {}", out.stderr);
        assert!(out.stdout.contains(expected), "{expected}:\n{}", out.stdout);
        assert!(
            out.stdout.contains("counterexample:")
                && out.stdout.contains("    decision   allowed by ")
                && out.stdout.contains(&format!(" at {}/", broken.display())),
            "{}",
            out.stdout
        );
    }
    let failing_property = env.dir.path().join("props");
    std::fs::create_dir_all(&failing_property).unwrap();
    std::fs::write(failing_property.join("no-one-leaves.cedar"), "// M2: a property that does not hold\n@rule(\"M2\")\npermit (principal, action == Action::\"leave\", resource) when { false };\n").unwrap();
    let out = env.run(&["policy", "verify", "--properties", s(&failing_property)]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout.contains("FAILS  no-one-leaves (M2)"),
        "{}",
        out.stdout
    );
}

#[test]
fn verify_without_cvc5_says_how_to_install_it() {
    let env = Env::new();
    let out = env.run_with(&["policy", "verify"], &[("CVC5", "/nonexistent/cvc5")]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("hint: install it with `apt-get install -y cvc5`"),
        "{}",
        out.stderr
    );
}

#[test]
fn report_has_checks_matrix_proofs_and_every_rule() {
    let env = Env::new();
    let properties = repo().join("policies/properties");
    let out = env
        .run(&["policy", "report", "--properties", s(&properties)])
        .ok();
    for section in [
        "## Check",
        "## Role matrix (M1), by evaluation",
        "## Proofs",
        "## Rules, the policies that enforce them, and their proofs",
    ] {
        assert!(out.stdout.contains(section), "{section}");
    }
    if has_cvc5(&env) {
        assert!(
            out.stdout
                .contains("| D3 | forbid `domestic-no-seat-reduction` (policies/seats.cedar:")
                && out.stdout.contains("| `d3-no-seat-reduction` holds |"),
            "{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .contains("| T5 | forbid `member-limit` (policies/teams.cedar:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("| B18 | none | no policy: a fact, billing or presentation rule"),
        "{}",
        out.stdout
    );
}

/// `policy explain` of an Admin's invite, on facts given on the command line.
const INVITE_ON_FACTS: [&str; 14] = [
    "policy",
    "explain",
    "--as",
    "ada",
    "--action",
    "invite",
    "--team",
    "acme",
    "--target",
    "nina",
    "--role",
    "reader",
    "--as-role",
    "admin",
];

#[test]
fn explain_on_facts_given_on_the_command_line() {
    let env = Env::new();
    let invite = INVITE_ON_FACTS;
    let full = env.run(&[&invite[..], &["--members", "100"]].concat());
    assert_eq!(full.status, 1);
    assert!(
        full.stdout
            .starts_with("denied: a Team has at most 100 members [member-limit (T5)]"),
        "{}",
        full.stdout
    );
    let room = env.run(&[&invite[..], &["--members", "99"]].concat()).ok();
    assert!(
        room.stdout
            .starts_with("allowed by owner-admin-manage-members (M2)"),
        "{}",
        room.stdout
    );
    let outsider = env.run(&[
        "policy",
        "explain",
        "--as",
        "eve",
        "--action",
        "top_up_wallet",
        "--team",
        "acme",
        "--as-role",
        "none",
        "--members",
        "3",
    ]);
    assert!(
        outsider.stdout.contains("[member-acts-in-own-team (T4)]"),
        "{}",
        outsider.stdout
    );
}

/// A copy of policies/ with `extra` appended to `file`.
pub(crate) fn with_policy(env: &Env, name: &str, file: &str, extra: &str) -> PathBuf {
    copy(env, name, file, |t| format!("{t}\n{extra}\n"))
}

#[test]
fn diff_proves_a_loosening_on_a_fact_no_probe_uses_and_names_the_action_and_the_fact() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let policies = repo().join("policies");
    let cases = [
        (
            "roles.cedar",
            "@id(\"reader-invites-at-37\")\n@rule(\"M1\")\npermit (principal, action == Action::\"invite\", resource)\nwhen { principal.role == Role::\"reader\" && resource.member_count == 37 };",
            "invite (Member, Team): LOOSENED",
            "member_count = 37",
        ),
        (
            "credits.cedar",
            "@id(\"reader-tops-up-at-42-seats\")\n@rule(\"C2\")\npermit (principal, action == Action::\"top_up_credits\", resource)\nwhen { principal.role == Role::\"reader\" && resource.seat_count == 42 };",
            "top_up_credits (Member, Team): LOOSENED",
            "seat_count = 42",
        ),
        (
            "seats.cedar",
            "@id(\"admin-buys-zeta\")\n@rule(\"M1\")\npermit (principal, action == Action::\"buy_subscription\", resource)\nwhen { principal.role == Role::\"admin\" && context.tier == \"zeta-tier\" };",
            "buy_subscription (Member, Team): LOOSENED",
            "tier = \"zeta-tier\"",
        ),
    ];
    for (i, (file, extra, action, fact)) in cases.into_iter().enumerate() {
        let loosened = with_policy(&env, &format!("loose{i}"), file, extra);
        // The samples miss it; the proof does not.
        let probes = env
            .run(&[
                "policy",
                "diff",
                s(&policies),
                s(&loosened),
                "--probes-only",
            ])
            .ok();
        assert!(
            probes.stderr.contains("proves nothing"),
            "{}",
            probes.stderr
        );
        let out = env.run(&["policy", "diff", s(&policies), s(&loosened)]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains(action) && out.stdout.contains(fact),
            "{action} {fact}:\n{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("at {}/{file}:", loosened.display())),
            "{}",
            out.stdout
        );
        // Every field of the counterexample says something.
        assert!(
            !out.stdout.lines().any(|l| l.ends_with(" in")
                || l.ends_with("= ")
                || l.contains("= ,")
                || l.trim_end().ends_with("::")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn diff_does_not_call_equal_what_the_gatekeeper_decides_differently_where_a_policy_can_fail() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    // OLD has a forbid that is never satisfied but fails (overflows) for a Team of 50 members or
    // more, where the gatekeeper denies; Cedar skips it, so for Cedar OLD and NEW are equal. No
    // probe or matrix Team is that large. NEW drops the forbid: an Owner's top-up of a Team of
    // 50 is allowed where OLD denied it.
    let failing = with_policy(
        &env,
        "failing",
        "credits.cedar",
        "@id(\"overflowing-forbid\")\n@rule(\"C2\")\nforbid (principal, action == Action::\"top_up_credits\", resource)\nwhen { resource.member_count * 184467440737095517 == 7 };",
    );
    let policies = repo().join("policies");
    let out = env.run(&["policy", "diff", s(&failing), s(&policies)]);
    assert_eq!(out.status, 1, "{}\n{}", out.stdout, out.stderr);
    for expected in [
        format!(
            "top_up_credits (Member, Team): NOT COMPARED: OLD's overflowing-forbid (C2) at {}/credits.cedar:",
            failing.display()
        ),
        "can fail to evaluate here".to_owned(),
        format!(
            "OLD        denied by overflowing-forbid (C2) at {}/credits.cedar:",
            failing.display()
        ),
        "failing to evaluate".to_owned(),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "{expected}:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("no decision changed"),
        "{}",
        out.stdout
    );
    let json = env.run(&[
        "policy",
        "diff",
        s(&failing),
        s(&policies),
        "--format",
        "json",
    ]);
    assert_eq!(json.status, 1);
    assert!(json.stdout.contains("\"may_fail\""), "{}", json.stdout);
    // The other way round only NEW's policy can fail: the gatekeeper denies more under NEW,
    // never less, so the proof that nothing is loosened stands and the tightenings are said
    // to be unproved.
    let out = env.run(&["policy", "diff", s(&policies), s(&failing)]).ok();
    for expected in [
        "top_up_credits (Member, Team): tightenings not all proved: NEW's overflowing-forbid (C2)",
        "NEW allows nothing OLD denies in 26 of 26",
        "nothing loosened",
    ] {
        assert!(out.stdout.contains(expected), "{expected}:\n{}", out.stdout);
    }
}

#[test]
fn diff_proves_a_narrowed_limit_a_deleted_forbid_and_a_new_action_loosen() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let policies = repo().join("policies");
    let by_one = copy(&env, "by-one", "teams.cedar", |t| {
        t.replace(
            "resource.member_count >= 100",
            "resource.member_count >= 101",
        )
    });
    let out = env.run(&["policy", "diff", s(&policies), s(&by_one)]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout.contains("invite (Member, Team): LOOSENED")
            && out.stdout.contains("member_count = 100"),
        "{}",
        out.stdout
    );
    let no_forbid = copy(&env, "no-forbid", "seats.cedar", |t| {
        let start = t.find("@id(\"domestic-no-seat-reduction\")").unwrap();
        let end = start + t[start..].find(";\n").unwrap() + 2;
        format!("{}{}", &t[..start], &t[end..])
    });
    let out = env.run(&["policy", "diff", s(&policies), s(&no_forbid)]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout.contains("remove_seats (Member, Team): LOOSENED")
            && out.stdout.contains("region = domestic"),
        "{}",
        out.stdout
    );
    let new_action = copy(&env, "new-action", "tokenplan.cedarschema", |t| {
        format!(
            "{t}\naction export_usage appliesTo {{ principal: Member, resource: Team, context: {{}} }};\n"
        )
    });
    std::fs::write(
        new_action.join("usage.cedar"),
        format!(
            "{}\n@id(\"anyone-exports\")\n@rule(\"V2\")\npermit (principal, action == Action::\"export_usage\", resource);\n",
            std::fs::read_to_string(policies.join("usage.cedar")).unwrap()
        ),
    )
    .unwrap();
    let out = env.run(&["policy", "diff", s(&policies), s(&new_action)]);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("export_usage (Member, Team): LOOSENED")
            && out
                .stdout
                .contains("export_usage (Member, Team): new in NEW's schema"),
        "{}",
        out.stdout
    );
}

#[test]
fn diff_proves_refactors_change_nothing_and_reports_a_tightening_without_failing() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let policies = repo().join("policies");
    // A permit split in two, and a `when` rewritten as the equivalent `unless`.
    let split = copy(&env, "split", "credits.cedar", |t| {
        t.replace(
            "@id(\"owner-admin-manage-credits-access\")\n@rule(\"C5\")\npermit (principal, action == Action::\"set_credits_access\", resource)\nwhen { principal.role in [Role::\"owner\", Role::\"admin\"] };",
            "@id(\"owner-manages-credits-access\")\n@rule(\"C5\")\npermit (principal, action == Action::\"set_credits_access\", resource)\nwhen { principal.role == Role::\"owner\" };\n\n@id(\"admin-manages-credits-access\")\n@rule(\"C5\")\npermit (principal, action == Action::\"set_credits_access\", resource)\nunless { principal.role != Role::\"admin\" };",
        )
    });
    assert!(
        std::fs::read_to_string(split.join("credits.cedar"))
            .unwrap()
            .contains("unless")
    );
    // Policies renamed and moved to another file.
    let moved = copy(&env, "moved", "credits.cedar", |t| {
        t.replace("owner-tops-up-credits", "the-owner-tops-up")
    });
    let credits = std::fs::read_to_string(moved.join("credits.cedar")).unwrap();
    std::fs::write(moved.join("credits.cedar"), "// moved to usage.cedar\n").unwrap();
    let usage = std::fs::read_to_string(moved.join("usage.cedar")).unwrap();
    std::fs::write(moved.join("usage.cedar"), format!("{credits}\n{usage}")).unwrap();
    for refactor in [&split, &moved] {
        let out = env.run(&["policy", "diff", s(&policies), s(refactor)]).ok();
        assert!(
            out.stdout
                .contains("NEW allows nothing OLD denies in 26 of 26")
                && !out.stdout.contains("LOOSENED")
                && !out.stdout.contains("tightened"),
            "{}",
            out.stdout
        );
    }
    let tightened = copy(&env, "tight", "keys.cedar", |t| {
        t.replace("context.live_keys >= 5", "context.live_keys >= 4")
    });
    let out = env
        .run(&[
            "policy",
            "diff",
            s(&policies),
            s(&tightened),
            "--format",
            "json",
        ])
        .ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["loosened"], false);
    let envs = report["proof"]["envs"].as_array().unwrap();
    let tight: Vec<&serde_json::Value> =
        envs.iter().filter(|e| !e["tightened"].is_null()).collect();
    assert_eq!(tight.len(), 1, "{envs:?}");
    assert!(
        tight[0]["env"]
            .as_str()
            .unwrap()
            .starts_with("create_payg_key")
    );
    assert!(
        tight[0]["tightened"]["context"]
            .as_str()
            .unwrap()
            .contains("live_keys = 4")
    );
}

#[test]
fn diff_takes_old_from_a_git_revision() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    // A repository whose HEAD has the reviewed policies, and a working copy that loosens them.
    let repo_dir = env.dir.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&repo_dir)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    git(&["init", "-q"]);
    let policies = copy(&env, "repo/policies", "roles.cedar", |t| t);
    git(&["add", "policies"]);
    git(&["commit", "-qm", "policies"]);
    std::fs::write(
        policies.join("roles.cedar"),
        format!(
            "{}\n@id(\"reader-invites-at-37\")\n@rule(\"M1\")\npermit (principal, action == Action::\"invite\", resource)\nwhen {{ principal.role == Role::\"reader\" && resource.member_count == 37 }};\n",
            std::fs::read_to_string(policies.join("roles.cedar")).unwrap()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenplan"))
        .args(["policy", "diff", "--git", "HEAD"])
        .current_dir(&repo_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("member_count = 37"), "{stdout}");
    let same = std::process::Command::new(env!("CARGO_BIN_EXE_tokenplan"))
        .args(["policy", "diff", "--git", "HEAD", "policies"])
        .current_dir(&repo_dir)
        .env("CVC5", "/nonexistent/cvc5")
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(2),
        "without cvc5: the install hint"
    );
    assert!(String::from_utf8_lossy(&same.stderr).contains("apt-get install -y cvc5"));
}

#[test]
fn check_with_the_solver_warns_of_dead_and_redundant_policies_with_file_and_line() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let clean = env.run(&["policy", "check", "--deny-warnings"]).ok();
    assert!(
        clean.stderr.contains("solver: 0 warning(s)"),
        "{}",
        clean.stderr
    );
    let broken = with_policy(
        &env,
        "dead",
        "teams.cedar",
        "@id(\"owner-invites-into-a-full-team\")\n@rule(\"T5\")\npermit (principal, action == Action::\"invite\", resource)\nwhen { principal.role == Role::\"owner\" && resource.member_count >= 100 };\n\n@id(\"impossible-forbid\")\n@rule(\"T5\")\nforbid (principal, action == Action::\"invite\", resource)\nwhen { resource.member_count < 0 && resource.member_count > 5 };\n\n@id(\"owner-tops-up-credits-again\")\n@rule(\"C2\")\npermit (principal, action == Action::\"top_up_credits\", resource)\nwhen { principal.role == Role::\"owner\" };",
    );
    let warned = env.run(&["policy", "check", "--policies", s(&broken)]).ok();
    for expected in [
        "`owner-invites-into-a-full-team` (T5) permit can never take effect",
        "`impossible-forbid` (T5) forbid can never match",
        "`owner-tops-up-credits-again` (C2) is redundant",
        "`owner-tops-up-credits` (C2) is redundant",
    ] {
        assert!(
            warned.stdout.contains(expected),
            "{expected}:\n{}",
            warned.stdout
        );
    }
    assert!(
        warned
            .stdout
            .contains(&format!("warning: {}/teams.cedar:", broken.display())),
        "{}",
        warned.stdout
    );
    let denied = env.run(&[
        "policy",
        "check",
        "--policies",
        s(&broken),
        "--deny-warnings",
    ]);
    assert_eq!(denied.status, 1);
}

/// A reviewer's copy of the repository's `policies/` (its properties included) in
/// `name/policies`, with `edit` applied to `file`; returns the copy's root, where a reviewer
/// runs the commands.
fn reviewer_copy(
    env: &Env,
    name: &str,
    file: &str,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let policies = copy(env, &format!("{name}/policies"), file, edit);
    let properties = policies.join("properties");
    std::fs::create_dir_all(&properties).unwrap();
    for entry in std::fs::read_dir(repo().join("policies/properties")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, properties.join(path.file_name().unwrap())).unwrap();
    }
    env.dir.path().join(name)
}

/// `tokenplan ARGS...` run in `dir`, as a reviewer in their checkout.
fn run_in(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let output = env.command(args, &[]).current_dir(dir).output().unwrap();
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `sha256:...` of the set a command said on stderr it read, after `label: `.
fn digest_said(stderr: &str, label: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no `{label}:` line in:\n{stderr}"));
    line[line.find("sha256:").expect(line)..]
        .trim_end_matches(')')
        .to_owned()
}

const ADMIN_TOPS_UP: (&str, &str) = (
    "when { principal.role == Role::\"owner\" };",
    "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
);

#[test]
fn every_policy_command_reads_the_edited_policies_directory_and_says_which_set() {
    let env = Env::new();
    let loosened = reviewer_copy(&env, "loosened", "credits.cedar", |t| {
        t.replacen(ADMIN_TOPS_UP.0, ADMIN_TOPS_UP.1, 1)
    });
    let expected = repo().join("fixtures/role-matrix.yaml");
    let matrix = run_in(
        &env,
        &loosened,
        &["policy", "matrix", "--expect", s(&expected)],
    );
    assert_eq!(matrix.status, 1, "{}", matrix.stderr);
    assert!(
        matrix.stderr.contains("policies: policies (sha256:")
            && matrix.stderr.contains("`top up Credits` × admin"),
        "{}",
        matrix.stderr
    );
    let explain = run_in(
        &env,
        &loosened,
        &[
            "policy",
            "explain",
            "--as",
            "ada",
            "--action",
            "top_up_credits",
            "--team",
            "acme",
            "--as-role",
            "admin",
        ],
    );
    assert_eq!(explain.status, 0, "{}{}", explain.stdout, explain.stderr);
    assert!(
        explain
            .stdout
            .contains("owner-tops-up-credits (C2) at policies/credits.cedar:3"),
        "{}",
        explain.stdout
    );
    // Asked for by name, the compiled-in set: the reviewed one, with the digest of an
    // unedited copy.
    let compiled = run_in(
        &env,
        &loosened,
        &[
            "policy",
            "matrix",
            "--policies",
            "compiled-in",
            "--expect",
            s(&expected),
        ],
    )
    .ok();
    let reviewed = repo().join("policies");
    let unedited = env
        .run(&["policy", "check", "--policies", s(&reviewed)])
        .ok();
    assert_eq!(
        digest_said(&compiled.stderr, "policies"),
        digest_said(&unedited.stderr, "policies")
    );
    assert_ne!(
        digest_said(&matrix.stderr, "policies"),
        digest_said(&compiled.stderr, "policies")
    );
    assert!(
        compiled.stderr.contains("policies: compiled-in (sha256:"),
        "{}",
        compiled.stderr
    );
    // Where there is no ./policies, the compiled-in set.
    let elsewhere = run_in(&env, env.dir.path(), &["policy", "check"]).ok();
    assert!(
        elsewhere.stderr.contains("policies: compiled-in (sha256:"),
        "{}",
        elsewhere.stderr
    );

    // A typo is found, at the path of the file read; a command that needs the policies
    // suggests checking that same set.
    let typo = reviewer_copy(&env, "typo", "credits.cedar", |t| {
        t.replacen(
            "principal.role == Role::\"owner\"",
            "principal.rol == Role::\"owner\"",
            1,
        )
    });
    let check = run_in(&env, &typo, &["policy", "check", "--deny-warnings"]);
    assert_eq!(check.status, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.starts_with("policies/credits.cedar:"),
        "{}",
        check.stdout
    );
    let matrix = run_in(&env, &typo, &["policy", "matrix"]);
    assert_eq!(matrix.status, 1);
    assert!(
        matrix.stderr.contains("policies/credits.cedar:")
            && matrix
                .stderr
                .contains("hint: run `tokenplan policy check --policies policies`"),
        "{}",
        matrix.stderr
    );
}

#[test]
fn verify_and_report_prove_the_edited_directory_and_work_from_any_directory() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let loosened = reviewer_copy(&env, "loosened", "credits.cedar", |t| {
        t.replacen(ADMIN_TOPS_UP.0, ADMIN_TOPS_UP.1, 1)
    });
    let verify = run_in(&env, &loosened, &["policy", "verify"]);
    assert_eq!(verify.status, 1, "{}", verify.stderr);
    assert!(
        verify.stderr.contains("properties: policies/properties"),
        "{}",
        verify.stderr
    );
    // The counterexample as diff tells one: the request, the deciding policy and its place.
    for expected in [
        "FAILS  only-owner-pays (M1)",
        "    action     top_up_credits",
        "    principal  Member \"",
        "role = admin",
        "    decision   allowed by owner-tops-up-credits (C2) at policies/credits.cedar:3",
    ] {
        assert!(
            verify.stdout.contains(expected),
            "{expected}:\n{}",
            verify.stdout
        );
    }
    assert!(!verify.stdout.contains("entities: ["), "{}", verify.stdout);

    let report = run_in(&env, &loosened, &["policy", "report"]);
    assert_eq!(report.status, 1, "{}", report.stderr);
    let verdict = report
        .stdout
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    assert!(
        verdict
            .is_some_and(|l| l.starts_with("**Verdict: FAIL**") && l.contains("only-owner-pays")),
        "{}",
        report.stdout
    );

    // From a directory without policies/: the compiled-in set and its compiled-in properties.
    let anywhere = run_in(&env, env.dir.path(), &["policy", "verify"]).ok();
    assert!(
        anywhere.stderr.contains("policies: compiled-in (sha256:")
            && anywhere
                .stderr
                .contains("properties: compiled-in properties")
            && anywhere.stdout.contains("holds  only-owner-pays (M1)"),
        "{}{}",
        anywhere.stdout,
        anywhere.stderr
    );
    let passed = run_in(&env, env.dir.path(), &["policy", "report"]).ok();
    assert!(
        passed
            .stdout
            .starts_with("# Policy review report\n\n**Verdict: PASS**"),
        "{}",
        passed.stdout
    );
}

#[test]
fn report_on_policies_that_do_not_load_fails_with_the_problems() {
    let env = Env::new();
    let typo = reviewer_copy(&env, "typo", "credits.cedar", |t| {
        t.replacen(
            "principal.role == Role::\"owner\"",
            "principal.rol == Role::\"owner\"",
            1,
        )
    });
    let report = run_in(&env, &typo, &["policy", "report"]);
    assert_eq!(report.status, 1);
    assert!(
        report.stdout.contains("**Verdict: FAIL**")
            && report.stdout.contains("- `policies/credits.cedar:"),
        "{}",
        report.stdout
    );
}

#[test]
fn apply_keeps_deciding_with_the_compiled_in_set_beside_an_edited_directory() {
    let env = Env::new();
    let loosened = reviewer_copy(&env, "loosened", "credits.cedar", |t| {
        t.replacen(ADMIN_TOPS_UP.0, ADMIN_TOPS_UP.1, 1)
    });
    let scenario = loosened.join("top-up.yaml");
    std::fs::write(
        &scenario,
        "- { at: \"2026-01-01T00:00:00Z\", as: ada, do: create_account, region: overseas }\n\
         - { at: \"2026-01-01T00:00:01Z\", as: bob, do: create_account, region: overseas }\n\
         - { at: \"2026-01-02T00:00:00Z\", as: ada, do: create_team, team: acme, region: overseas }\n\
         - { at: \"2026-01-02T00:01:00Z\", as: ada, do: invite, team: acme, user: bob, role: admin }\n\
         - { at: \"2026-01-02T00:02:00Z\", as: bob, do: top_up_credits, team: acme, amount: \"10\", expect: denied }\n",
    )
    .unwrap();
    run_in(&env, &loosened, &["apply", "top-up.yaml"]).ok();
}

#[test]
fn explain_honours_or_refuses_every_flag_and_shows_the_facts() {
    let env = Env::new();
    env.load("domestic", &[]);
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "explain",
            "--team",
            "z1",
            "--at",
            "2026-01-15T00:00:00Z",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let own = explain(&["--as", "mei", "--action", "use_token_plan_key"]).ok();
    assert!(
        own.stdout
            .starts_with("allowed by holder-uses-token-plan-key (M1)")
            && own
                .stdout
                .contains("facts evaluated:\n  action     use_token_plan_key")
            && own.stdout.contains("has_seat = true"),
        "{}",
        own.stdout
    );
    // Another member's key is that member's, not the actor's.
    let other = explain(&[
        "--as",
        "mei",
        "--action",
        "use_token_plan_key",
        "--key",
        "tp:z1:li",
    ]);
    assert_eq!(other.status, 1, "{}", other.stdout);
    assert!(
        other.stdout.contains("holder = User \"li\""),
        "{}",
        other.stdout
    );
    for (extra, error) in [
        (
            &[
                "--as",
                "mei",
                "--action",
                "use_token_plan_key",
                "--key",
                "garbage",
            ][..],
            "`garbage` is not a Token Plan Key of Team `z1`",
        ),
        (
            &["--as", "li", "--action", "view_payg_key", "--key", "nope"][..],
            "Team `z1` has no key `nope`",
        ),
        (
            &["--as", "li", "--action", "view_billing", "--seats", "3"][..],
            "`view_billing` does not use --seats",
        ),
        (
            &[
                "--as", "li", "--action", "invite", "--target", "zed", "--role", "reader",
            ][..],
            "--target: no user `zed`",
        ),
        (
            &["--as", "nobody", "--action", "view_billing"][..],
            "--as: no user `nobody`",
        ),
    ] {
        let out = explain(extra);
        assert_eq!(out.status, 2, "{extra:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(error), "{error}:\n{}", out.stderr);
    }
}

#[test]
fn explain_bounds_every_count_and_refuses_facts_it_cannot_build() {
    let env = Env::new();
    let on_facts = INVITE_ON_FACTS;
    for extra in [
        &["--members", "9223372036854775808"][..],
        &["--members", "10001"][..],
        &["--team-seats", "4294967295"][..],
        &["--live-keys", "100000"][..],
        &["--seats", "10001"][..],
    ] {
        let out = env.run(&[&on_facts[..], extra].concat());
        assert_eq!(out.status, 2, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains(extra[0]), "{}", out.stderr);
    }
    let out = env.run(&[&on_facts[..], &["--members", "1"]].concat());
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("--members 1 is fewer than the 2 member(s)"),
        "{}",
        out.stderr
    );
    let out = env.run(&[&on_facts[..], &["--target-role", "reader", "--target-seat"]].concat());
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("--target-seat needs seats"),
        "{}",
        out.stderr
    );
}

#[test]
fn diff_refuses_a_git_revision_that_is_an_option() {
    let env = Env::new();
    let out = run_in(
        &env,
        env.dir.path(),
        &["policy", "diff", "--git=--output=x"],
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--git `--output=x` starts with `-`"),
        "{}",
        out.stderr
    );
    assert!(!env.dir.path().join("x").exists());
}

#[test]
fn a_set_too_large_for_the_solver_is_refused_not_a_stack_overflow() {
    let env = Env::new();
    if !has_cvc5(&env) {
        return;
    }
    let many: String = (0..3000)
        .map(|i| {
            format!(
                "@id(\"p{i}\")\n@rule(\"C2\")\npermit (principal, action == Action::\"top_up_credits\", resource)\nwhen {{ principal.role == Role::\"owner\" && resource.member_count == {i} }};\n\n"
            )
        })
        .collect();
    let big = with_policy(&env, "big", "credits.cedar", &many);
    let policies = repo().join("policies");
    for args in [
        &["policy", "check", "--policies", s(&big)][..],
        &["policy", "diff", s(&policies), s(&big)][..],
        &[
            "policy",
            "verify",
            "--policies",
            s(&big),
            "--properties",
            s(&policies.join("properties")),
        ][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("has 3044 policies; the solver takes at most 1000"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // Without the solver the set is checked in full.
    let out = env.run_with(
        &["policy", "check", "--policies", s(&big)],
        &[("CVC5", "/nonexistent/cvc5")],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
}

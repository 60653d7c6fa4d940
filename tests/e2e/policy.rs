//! The reviewer's commands on the real policies and on broken copies.

use std::path::{Path, PathBuf};

use crate::support::{Env, repo};

/// A copy of policies/ with `edit` applied to `file`.
fn copy(env: &Env, name: &str, file: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
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

fn s(p: &Path) -> &str {
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
        "credits.cedar:3: policy `owner-tops-up-credits` has no `@rule`; name the rule of rules.md it enforces"
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
    assert_eq!(same.stdout.trim(), "no decision changed");
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
fn has_cvc5(env: &Env) -> bool {
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
    ] {
        assert!(
            out.stdout.contains(&format!("holds  {property} (")),
            "{property}:\n{}",
            out.stdout
        );
    }
    let breaks: [(&str, &str, &str, &str); 4] = [
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
            out.stdout.contains("counterexample:") && out.stdout.contains("entities: ["),
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
        "## Rules and the policies that enforce them",
    ] {
        assert!(out.stdout.contains(section), "{section}");
    }
    assert!(
        out.stdout
            .contains("| T5 | forbid `member-limit` (teams.cedar:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Rules no policy enforces"),
        "{}",
        out.stdout
    );
}

#[test]
fn explain_on_facts_given_on_the_command_line() {
    let env = Env::new();
    let invite = [
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

//! Careless and hostile input through the real binary: ids (T7), all-or-nothing apply and
//! import, closed stdout, overflowing amounts, stores that must exist, files that must stay
//! inside `--out`.

use std::io::Read as _;
use std::process::Command;

use crate::support::{Env, repo};

fn write(env: &Env, name: &str, text: &str) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const ACCOUNT: &str = "- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }\n";

#[test]
fn t7_ids_that_could_escape_collide_or_hide_are_refused_naming_the_step() {
    let env = Env::new();
    env.run(&["apply", &write(&env, "ok.yaml", ACCOUNT)]).ok();
    let cases = [
        ("team: '../../escape'", "starts with `.`"),
        ("team: 'a/b'", "contains `/`"),
        ("team: summary", "`summary` is not a Team id"),
        ("team: ''", "can't be empty"),
        ("team: \"caf\\u00e9\"", "contains `é`"),
        ("team: \"cafe\\u0301\"", "contains `\\u{301}`"),
        (&format!("team: {}", "x".repeat(65)), "65 characters long"),
    ];
    for (field, message) in cases {
        let step = format!(
            "- {{ at: '2026-01-02T00:00:00Z', as: own, do: create_team, {field}, region: overseas }}\n"
        );
        let out = env.run(&["apply", &write(&env, "bad.yaml", &step)]);
        assert_eq!(out.status, 2, "{field}: {}", out.stderr);
        assert!(
            out.stderr.contains("step 1: `team`") && out.stderr.contains(message),
            "{field}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("rule T7"), "{}", out.stderr);
    }
    let nul = "- { at: '2026-01-02T00:00:00Z', as: \"a\\0b\", do: create_account }\n";
    let out = env.run(&["apply", &write(&env, "nul.yaml", nul)]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("`as`: user id `a\\0b`"),
        "{}",
        out.stderr
    );
    let key =
        "- { at: '2026-01-02T00:00:00Z', as: own, do: create_payg_key, team: own, key: 'k/1' }\n";
    let out = env.run(&["apply", &write(&env, "key.yaml", key)]);
    assert!(
        out.status == 2 && out.stderr.contains("`key`: pay-as-you-go key id `k/1`"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("teams"), 1, "only the account's Default Team");

    // An import names the line, the id and the rule.
    let csv = write(
        &env,
        "e.csv",
        "event_id,ts,key_id,model,input_tokens,output_tokens\na,2026-01-02T00:00:00Z,tp:own:own,m,1,1\nb,2026-01-02T00:00:00Z,tp:../x:own,m,1,1\n",
    );
    let out = env.run(&["events", "import", &csv]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("line 3: `key_id`") && out.stderr.contains("rule T7"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("usage_events"), 0);
}

#[test]
fn t7_a_hand_edited_team_id_never_becomes_a_path_outside_out() {
    let env = Env::new();
    env.run(&["apply", &write(&env, "ok.yaml", ACCOUNT)]).ok();
    env.sql(
        "INSERT INTO teams VALUES ('../escape', 'overseas', false, 'own', TIMESTAMPTZ '2026-01-01 00:00:00+00');
         INSERT INTO team_records VALUES (nextval('record_seq'), '../escape', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'own', 'top_up_credits', '{\"do\":\"top_up_credits\",\"team\":\"../escape\",\"amount\":\"5\"}')",
    );
    let out = env.run(&[
        "billing",
        "run",
        "--date",
        "2026-01-01",
        "--out",
        env.out().join("a/b").to_str().unwrap(),
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("breaks rule T7") && out.stderr.contains("`../escape`"),
        "{}",
        out.stderr
    );
    assert!(!env.out().join("a/escape.json").exists());
    assert_eq!(env.rows("billing_runs"), 0, "nothing was committed");
}

#[test]
fn apply_is_all_or_nothing_and_a_corrected_file_can_simply_be_applied_again() {
    let env = Env::new();
    let steps = |third: &str| {
        format!(
            "{ACCOUNT}- {{ at: '2026-01-01T00:00:01Z', as: own, do: top_up_credits, team: own, amount: '5' }}\n{third}"
        )
    };
    let broken = steps(
        "- { at: '2025-01-01T00:00:00Z', as: own, do: top_up_wallet, team: own, amount: '1' }\n",
    );
    let out = env.run(&["apply", &write(&env, "s.yaml", &broken)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("step 3") && out.stderr.contains("nothing of"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("team_records"), 0);
    assert_eq!(env.rows("audit_log"), 0);

    let fixed = steps(
        "- { at: '2026-01-01T00:00:02Z', as: own, do: top_up_wallet, team: own, amount: '1' }\n",
    );
    env.run(&["apply", &write(&env, "s.yaml", &fixed)]).ok();
    let store = tokenplan::store::Store::open(&env.db()).unwrap();
    let state =
        tokenplan::teams::team_state(&store, "own", "2026-01-02T00:00:00Z".parse().unwrap())
            .unwrap()
            .unwrap();
    assert_eq!(state.credits_topped_up.to_string(), "5", "the top-up once");
    drop(store);

    // An unexpected denial stores nothing either; --keep-going stores what is allowed.
    let env = Env::new();
    let denied = format!(
        "{ACCOUNT}- {{ at: '2026-01-01T00:00:01Z', as: own, do: leave, team: own }}\n- {{ at: '2026-01-01T00:00:02Z', as: own, do: top_up_wallet, team: own, amount: '1' }}\n"
    );
    let path = write(&env, "d.yaml", &denied);
    assert_eq!(env.run(&["apply", &path]).status, 1);
    assert_eq!(env.rows("audit_log"), 0);
    assert_eq!(env.run(&["apply", &path, "--keep-going"]).status, 1);
    assert_eq!(env.rows("audit_log"), 3);
    assert_eq!(env.rows("team_records"), 2, "the account and the top-up");
}

#[test]
fn an_amount_that_would_overflow_a_balance_is_refused_naming_the_step() {
    let env = Env::new();
    let max = "79228162514264337593543950335";
    let yaml = format!(
        "{ACCOUNT}- {{ at: '2026-01-01T00:00:01Z', as: own, do: top_up_wallet, team: own, amount: '{max}' }}\n- {{ at: '2026-01-01T00:00:02Z', as: own, do: top_up_wallet, team: own, amount: '{max}' }}\n"
    );
    let out = env.run(&["apply", &write(&env, "o.yaml", &yaml)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("step 3") && out.stderr.contains("would overflow the wallet balance"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(env.rows("team_records"), 0);
}

#[test]
fn a_multi_file_import_is_all_or_nothing_and_says_what_became_of_each_file() {
    let env = Env::new();
    let header = "event_id,ts,key_id,model,input_tokens,output_tokens\n";
    let a = write(
        &env,
        "a.jsonl",
        "{\"event_id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"key_id\":\"k\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}\n",
    );
    let bad = write(&env, "bad.csv", &format!("{header}b,noon,k,m,1,1\n"));
    let c = write(
        &env,
        "c.csv",
        &format!("{header}c,2026-01-01T00:00:00Z,k,m,1,1\n"),
    );
    let out = env.run(&["events", "import", &a, &bad, &c]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("a.jsonl: not stored"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.csv: refused"), "{}", out.stderr);
    assert!(out.stderr.contains("c.csv: not stored"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was stored"), "{}", out.stderr);
    assert_eq!(env.rows("usage_events"), 0);
    let out = env.run(&["events", "import", &a, &c]).ok();
    assert!(
        out.stdout.contains("c.csv: read 1, stored 1"),
        "{}",
        out.stdout
    );
}

#[test]
fn commands_that_only_read_or_bill_never_create_a_store() {
    let env = Env::new();
    for args in [
        &["billing", "run", "--date", "2026-01-01"][..],
        &[
            "billing",
            "show",
            "--date",
            "2026-01-01",
            "--team",
            "t",
            "--as",
            "u",
        ],
        &[
            "policy", "explain", "--as", "u", "--action", "leave", "--team", "t",
        ],
    ] {
        let out = env.run(args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("no store") && out.stderr.contains("hint:"),
            "{}",
            out.stderr
        );
        assert!(!env.db().exists(), "{args:?} created the store");
    }
}

/// Runs the binary with its stdout a pipe whose reader has already gone.
fn with_closed_stdout(env: &Env, args: &[&str]) -> (i32, String) {
    let mut child = env.spawn(args);
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), stderr)
}

#[test]
fn a_closed_stdout_ends_quietly_and_never_cuts_a_write_short() {
    let env = Env::new();
    let demo = repo().join("fixtures/demo/scenario.yaml");
    let (status, stderr) = with_closed_stdout(&env, &["apply", demo.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let steps = std::fs::read_to_string(&demo)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("- "))
        .count() as i64;
    assert_eq!(env.rows("audit_log"), steps, "every step stored");
    for args in [
        &["policy", "report"][..],
        &["policy", "matrix"],
        &["policy", "check"],
    ] {
        let (status, stderr) = with_closed_stdout(&env, args);
        assert_eq!(status, 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_stdout_that_fails_for_another_reason_exits_2_with_a_message() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_tokenplan"))
        .args(["policy", "matrix"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
}

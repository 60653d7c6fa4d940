//! Careless and hostile input through the real binary: ids (T7), all-or-nothing apply and
//! import, closed stdout, overflowing amounts, stores that must exist, files that must stay
//! inside `--out`.

use std::io::Read as _;
use std::process::Command;

use crate::support::{Env, repo};

const ACCOUNT: &str = "- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }\n";

#[test]
fn t7_ids_that_could_escape_collide_or_hide_are_refused_naming_the_step() {
    let env = Env::new();
    env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
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
        let out = env.run(&["apply", &env.write("bad.yaml", &step)]);
        assert_eq!(out.status, 2, "{field}: {}", out.stderr);
        assert!(
            out.stderr.contains("step 1: `team`") && out.stderr.contains(message),
            "{field}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("rule T7"), "{}", out.stderr);
    }
    let nul = "- { at: '2026-01-02T00:00:00Z', as: \"a\\0b\", do: create_account }\n";
    let out = env.run(&["apply", &env.write("nul.yaml", nul)]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("`as`: user id `a\\0b`"),
        "{}",
        out.stderr
    );
    let key =
        "- { at: '2026-01-02T00:00:00Z', as: own, do: create_payg_key, team: own, key: 'k/1' }\n";
    let out = env.run(&["apply", &env.write("key.yaml", key)]);
    assert!(
        out.status == 2 && out.stderr.contains("`key`: pay-as-you-go key id `k/1`"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("teams"), 1, "only the account's Default Team");

    // An import names the line, the id and the rule.
    let csv = env.write("e.csv",
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
    // A Team row whose id breaks T7 is refused before any statement is written; a record
    // naming an id that breaks T7 (in its payload or as its actor) is refused as it is read.
    for (payload_team, actor, refusal) in [
        (
            "own",
            "own",
            "the store holds a Team whose id breaks rule T7",
        ),
        (
            "../escape",
            "own",
            "corrupt record in `team_records`: Team `../escape` at 2026-01-01 00:00:00 UTC: Team id `../escape` starts with `.`",
        ),
        ("own", "a/b", "user id `a/b` contains `/`"),
    ] {
        let env = Env::new();
        env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
        env.sql(&format!(
            "INSERT INTO teams VALUES ('../escape', 'overseas', false, 'own', TIMESTAMPTZ '2026-01-01 00:00:00+00');
             INSERT INTO team_records VALUES (nextval('record_seq'), '../escape', TIMESTAMPTZ '2026-01-01 00:00:00+00', '{actor}', 'top_up_credits', '{{\"do\":\"top_up_credits\",\"team\":\"{payload_team}\",\"amount\":\"5\"}}')",
        ));
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
            out.stderr.contains(refusal)
                && out.stderr.contains("`../escape`")
                && out.stderr.contains("rule T7"),
            "{refusal}: {}",
            out.stderr
        );
        assert!(!env.out().join("a/escape.json").exists());
        assert_eq!(env.rows("billing_runs"), 0, "nothing was committed");
    }
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
    let out = env.run(&["apply", &env.write("s.yaml", &broken)]);
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
    env.run(&["apply", &env.write("s.yaml", &fixed)]).ok();
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
    let path = env.write("d.yaml", &denied);
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
    let out = env.run(&["apply", &env.write("o.yaml", &yaml)]);
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
    let a = env.write("a.jsonl",
        "{\"event_id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"key_id\":\"k\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}\n",
    );
    let bad = env.write("bad.csv", &format!("{header}b,noon,k,m,1,1\n"));
    let c = env.write(
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

/// The smallest store `generate` makes.
const GENERATE: &[&str] = &[
    "generate",
    "--teams",
    "1",
    "--members",
    "1",
    "--days",
    "1",
    "--events",
    "1",
];

/// `billing show` and `policy explain` of a Team `t` that no store has.
const SHOW: &[&str] = &[
    "billing",
    "show",
    "--date",
    "2026-01-01",
    "--team",
    "t",
    "--as",
    "u",
];
const EXPLAIN: &[&str] = &[
    "policy", "explain", "--as", "u", "--action", "leave", "--team", "t",
];

#[test]
fn commands_that_only_read_or_bill_never_create_a_store() {
    let env = Env::new();
    for args in [
        &["billing", "run", "--date", "2026-01-01"][..],
        SHOW,
        EXPLAIN,
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

/// The tables of a DuckDB file, sorted.
fn tables_of(path: &std::path::Path) -> Vec<String> {
    let conn = duckdb::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY 1")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_duckdb_file_of_another_application_is_refused_by_every_command_and_left_as_it_was() {
    let scenario = repo().join("fixtures/demo/scenario.yaml");
    let events = repo().join("fixtures/demo/events.csv");
    let commands: [&[&str]; 7] = [
        &["apply", scenario.to_str().unwrap()],
        &["events", "import", events.to_str().unwrap()],
        GENERATE,
        &["billing", "run", "--date", "2026-01-01"],
        &["billing", "status"],
        SHOW,
        EXPLAIN,
    ];
    // `orders` is no store's; `users` is a name the store has too, and would collide.
    for (table, sql) in [
        (
            "orders",
            "CREATE TABLE orders (id INTEGER); INSERT INTO orders VALUES (1)",
        ),
        (
            "users",
            "CREATE TABLE users (name VARCHAR); INSERT INTO users VALUES ('x')",
        ),
    ] {
        let env = Env::new();
        env.sql(sql);
        for args in commands {
            let out = env.run(args);
            assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!(
                    "`{}` is not a tokenplan store: it holds the table `{table}`",
                    env.db().display()
                )) && out
                    .stderr
                    .contains("hint: tokenplan keeps its store in a file of its own"),
                "{args:?}: {}",
                out.stderr
            );
        }
        assert_eq!(tables_of(&env.db()), [table], "nothing was added");
        assert_eq!(env.rows(table), 1);
    }
}

#[test]
fn only_the_commands_that_create_a_store_create_one_in_an_empty_file() {
    let env = Env::new();
    env.sql("SELECT 1");
    assert!(tables_of(&env.db()).is_empty());
    let out = env.run(&["billing", "status"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the file is missing or empty") && out.stderr.contains("hint:"),
        "{}",
        out.stderr
    );
    let out = env.run(&["billing", "run", "--date", "2026-01-01"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(tables_of(&env.db()).is_empty(), "billing created nothing");
    env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
    assert!(tables_of(&env.db()).contains(&"team_records".to_owned()));
    env.run(&["billing", "status"]).ok();

    // A file of no bytes (`mktemp`) is empty too; a file of other bytes is no DuckDB file.
    let env = Env::new();
    std::fs::write(env.db(), "").unwrap();
    let out = env.run(&["billing", "status"]);
    assert!(
        out.status == 2 && out.stderr.contains("the file is missing or empty"),
        "{}",
        out.stderr
    );
    env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
    std::fs::write(env.db(), "event_id,ts\n").unwrap();
    for args in [
        &["billing", "status"][..],
        &["apply", &env.write("ok.yaml", ACCOUNT)],
    ] {
        let out = env.run(args);
        assert!(
            out.status == 2
                && out
                    .stderr
                    .contains("is not a DuckDB file, so not a tokenplan store"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(env.db()).unwrap(), "event_id,ts\n");
}

#[test]
fn commands_that_only_read_open_the_store_read_only_beside_another_reader() {
    let env = Env::new();
    let yaml = format!(
        "{ACCOUNT}- {{ at: '2026-01-01T00:00:01Z', as: own, do: buy_subscription, team: own, tier: plus, seats: 1 }}\n"
    );
    env.run(&["apply", &env.write("ok.yaml", &yaml)]).ok();
    env.bill("2026-01-01", &[]).ok();
    let config = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .unwrap();
    let reader = duckdb::Connection::open_with_flags(env.db(), config).unwrap();
    for args in [
        &["billing", "status"][..],
        &[
            "billing",
            "show",
            "--date",
            "2026-01-01",
            "--team",
            "own",
            "--as",
            "own",
        ],
        &[
            "policy",
            "explain",
            "--as",
            "own",
            "--action",
            "leave",
            "--team",
            "own",
            "--at",
            "2026-01-02T00:00:00Z",
        ],
    ] {
        let mut args = args.to_vec();
        args.extend(["--wait", "0"]);
        let out = env.run(&args);
        assert!(
            out.status == 0 || (args[0] == "policy" && out.status == 1),
            "{args:?}: {}",
            out.stderr
        );
    }
    // A command that writes waits for the reader, and says it did not wait.
    let out = env.run(&["billing", "run", "--date", "2026-01-01", "--wait", "0"]);
    assert_eq!(out.status, 75, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("is held by another process (not waited for)")
            && !out.stderr.contains("0ns"),
        "{}",
        out.stderr
    );
    drop(reader);
}

#[test]
fn a_wait_too_long_for_the_clock_is_refused_without_a_panic() {
    let env = Env::new();
    let out = env.run(&["--wait", "18446744073709551615", "billing", "status"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--wait") && out.stderr.contains("0..=86400"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn a_step_dated_in_the_future_refuses_its_file_even_with_keep_going() {
    let env = Env::new();
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(4)).to_rfc3339();
    let yaml = format!(
        "{ACCOUNT}- {{ at: '{soon}', as: own, do: top_up_wallet, team: own, amount: '1' }}\n- {{ at: '2036-01-01T00:00:00Z', as: own, do: top_up_wallet, team: own, amount: '1' }}\n"
    );
    let path = env.write("future.yaml", &yaml);
    for extra in [&[][..], &["--keep-going"]] {
        let mut args = vec!["apply", path.as_str()];
        args.extend_from_slice(extra);
        let out = env.run(&args);
        assert_eq!(out.status, 2, "{extra:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(
                "step 3: `at` (2036-01-01 00:00:00 UTC) is more than 5 minutes after the clock"
            ) && out.stderr.contains("nothing of"),
            "{extra:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("step 2:"),
            "a clock 4 minutes behind is tolerated"
        );
        assert_eq!(env.rows("audit_log"), 0, "{extra:?}");
    }
}

#[test]
fn refusals_escape_control_characters_and_name_the_field() {
    let env = Env::new();
    env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
    let cases = [
        (
            "- { at: \"2026\\e[31m\\t\\a\", as: own, do: leave, team: own }\n",
            "(`2026\\u{1b}[31m\\t\\u{7}`)",
        ),
        (
            "- { at: '2026-01-02T00:00:00Z', as: own, do: buy_subscription, team: own, tier: \"pl\\eus\", seats: 1 }\n",
            "pl\\u{1b}us",
        ),
        (
            "- { at: '2026-01-02T00:00:00Z', as: own, do: \"fl\\ay\" }\n",
            "`do: fl\\u{7}y`",
        ),
        (
            "- { at: '2026-01-02T00:00:00Z', as: own, do: add_seats, team: own, tier: plus, seats: -1 }\n",
            "`seats`: ",
        ),
        (
            "- { at: '2026-01-02T00:00:00Z', as: own, do: set_credits_access, team: own, user: own, enabled: maybe }\n",
            "`enabled`: ",
        ),
        (
            "- { at: '2026-01-02T00:00:00Z', as: own, do: invite, team: own, user: \"gh\\eost\", role: reader }\n",
            "step 1: `user`: user id `gh\\u{1b}ost` contains `\\u{1b}`",
        ),
    ];
    for (yaml, shown) in cases {
        let out = env.run(&["apply", &env.write("bad.yaml", yaml)]);
        assert_eq!(out.status, 2, "{yaml}: {}", out.stderr);
        assert!(out.stderr.contains(shown), "{yaml}: {}", out.stderr);
        assert!(
            !out.stderr.contains(['\u{1b}', '\u{7}', '\t']),
            "{yaml}: {:?}",
            out.stderr
        );
    }
}

#[test]
fn steps_of_a_refused_file_say_they_were_not_stored() {
    let env = Env::new();
    let yaml = format!(
        "{ACCOUNT}- {{ at: '2026-01-01T00:00:01Z', as: own, do: invite, team: own, user: ghost, role: reader }}\n"
    );
    let out = env.run(&["apply", &env.write("s.yaml", &yaml)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stdout.contains("step 1 2026-01-01T00:00:00Z own create_account own: not stored (the file was refused): allowed"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(": ok"), "{}", out.stdout);
}

#[test]
fn t7_ids_on_the_command_line_are_refused_naming_the_flag() {
    let env = Env::new();
    let show = |team: &str, user: &str| {
        env.run(&[
            "billing",
            "show",
            "--date",
            "2026-01-01",
            "--team",
            team,
            "--as",
            user,
        ])
    };
    let explain = |extra: &[&str]| {
        let args = [&["policy", "explain", "--action", "invite"][..], extra].concat();
        env.run(&args)
    };
    for (out, refusal) in [
        (
            show("../x", "u"),
            "invalid value for '--team <TEAM>': Team id `../x` starts with `.`",
        ),
        (
            show("t", "u\u{1b}[31m"),
            "invalid value for '--as <USER>': user id `u\\u{1b}[31m` contains `\\u{1b}`",
        ),
        (
            explain(&["--as", "u", "--team", "Summary", "--target", "v"]),
            "invalid value for '--team <TEAM>': `Summary` is not a Team id",
        ),
        (
            explain(&["--as", "u", "--team", "t", "--target", "a/b"]),
            "invalid value for '--target <TARGET>': user id `a/b` contains `/`",
        ),
        (
            explain(&["--as", &"x".repeat(65), "--team", "t"]),
            "invalid value for '--as <USER>': user id `xxxxxxxxxxxxxxxxxxxxxxxx…` is 65 characters long",
        ),
    ] {
        assert_eq!(out.status, 2, "{refusal}: {}", out.stderr);
        assert!(
            out.stderr.contains(refusal) && out.stderr.contains("(rule T7)"),
            "{refusal}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    }
    assert!(!env.db().exists(), "refused before any store is opened");
}

#[test]
fn dates_outside_2000_to_9999_are_refused_naming_the_flag_or_field() {
    let env = Env::new();
    env.run(&["apply", &env.write("ok.yaml", ACCOUNT)]).ok();
    let outside = |day: &str| {
        format!("{day} is outside the calendar tokenplan takes, 2000-01-01 to 9999-12-31")
    };
    let run: &[&str] = &["billing", "run"];
    let show: &[&str] = &["billing", "show", "--team", "own", "--as", "own"];
    let explain: &[&str] = &[
        "policy", "explain", "--as", "own", "--action", "leave", "--team", "own",
    ];
    let date = "for '--date <DATE>'";
    let cases: [(&[&str], &[&str], &str, &str); 6] = [
        (run, &["--date", "1999-12-31"], date, "1999-12-31"),
        (run, &["--date", "+262142-12-31"], date, "+262142-12-31"),
        (show, &["--date", "+10000-01-01"], date, "+10000-01-01"),
        (show, &["--date=-0001-12-31"], date, "-0001-12-31"),
        (
            GENERATE,
            &["--last-day", "1970-01-01"],
            "for '--last-day <LAST_DAY>'",
            "1970-01-01",
        ),
        (
            explain,
            &["--at", "1999-12-31T23:59:59Z"],
            "--at",
            "1999-12-31",
        ),
    ];
    for (command, when, named, day) in cases {
        let args = [command, when].concat();
        let out = env.run(&args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
        let refusal = format!("{named}: {}", outside(day));
        assert!(out.stderr.contains(&refusal), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    // The calendar's last day is taken, and refused as a day that has not ended (B20).
    let out = env.run(&["billing", "run", "--date", "9999-12-31"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("9999-12-31 has not ended in every region's billing zone: it ends at +10000-01-01 00:00:00 UTC"),
        "{}",
        out.stderr
    );
    // A step dated before the calendar is refused naming its field, and nothing is stored.
    let early =
        "- { at: '1999-12-31T23:59:59Z', as: own, do: top_up_wallet, team: own, amount: '1' }\n";
    let out = env.run(&["apply", &env.write("early.yaml", early)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("step 1: `at`: {}", outside("1999-12-31"))),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("team_records"), 1, "only the account's");
    assert_eq!(env.rows("billing_runs"), 0);
}

//! The window W of B21 through the real binary: duplicates decided per Team and within W
//! days, events more than W days late quarantined as `too_late`, catch-ups over long gaps.

use crate::nightly::{status_json, summaries};
use crate::support::Env;

/// Two Teams, `north` and `south`, each with a pay-as-you-go key (`north-k1`, `south-k1`)
/// from 2026-01-01.
const TEAMS: &str = r#"
- { at: "2026-01-01T00:00:00Z", as: own, do: create_account }
- { at: "2026-01-01T01:00:00Z", as: own, do: create_team, team: north, region: overseas }
- { at: "2026-01-01T01:01:00Z", as: own, do: top_up_wallet, team: north, amount: "5.00" }
- { at: "2026-01-01T01:02:00Z", as: own, do: create_payg_key, team: north, key: north-k1 }
- { at: "2026-01-01T02:00:00Z", as: own, do: create_team, team: south, region: overseas }
- { at: "2026-01-01T02:01:00Z", as: own, do: top_up_wallet, team: south, amount: "5.00" }
- { at: "2026-01-01T02:02:00Z", as: own, do: create_payg_key, team: south, key: south-k1 }
"#;

fn teams() -> Env {
    let env = Env::new();
    env.run(&["apply", &env.write("teams.yaml", TEAMS)]).ok();
    env
}

/// Stores events `(event_id, time, key)` directly, as a gateway writing the store would.
fn store_events(env: &Env, events: &[(&str, &str, &str)]) {
    let values: Vec<String> = events
        .iter()
        .map(|(id, ts, key)| {
            format!("('{id}', TIMESTAMPTZ '{ts}+00', '{key}', 'MiniMax-M2', 1000, 0)")
        })
        .collect();
    env.sql(&format!(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens) VALUES {}",
        values.join(", ")
    ));
}

/// Bills through `day`; returns each day's summary.
fn bill(env: &Env, day: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    summaries(&env.bill(day, extra).ok().stdout)
}

/// The summary's counts add up to the events read (B13).
#[track_caller]
fn assert_adds_up(summary: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    let quarantined: u64 = summary["quarantined"]
        .as_object()
        .unwrap()
        .values()
        .map(n)
        .sum();
    assert_eq!(
        n(&summary["billed"]) + n(&summary["unfunded"]) + n(&summary["duplicates"]) + quarantined,
        n(&summary["events_read"]),
        "{summary}"
    );
}

/// Pay-as-you-go tokens on a statement's usage lines.
fn usage_lines(env: &Env, day: &str, team: &str) -> usize {
    let statement = env.statement(day, team).unwrap();
    statement.matches("\"kind\": \"payg\"").count()
}

#[test]
fn b21_the_same_event_id_in_two_teams_is_billed_in_both_and_repeated_in_one_is_a_duplicate() {
    let env = teams();
    store_events(
        &env,
        &[
            ("e1", "2026-01-02 10:00:00", "north-k1"),
            ("e1", "2026-01-02 10:00:00", "south-k1"),
            ("e1", "2026-01-02 11:00:00", "north-k1"),
        ],
    );
    let days = bill(&env, "2026-01-02", &[]);
    let day = days.last().unwrap();
    assert_eq!(day["day"], "2026-01-02");
    assert_eq!(day["billed"], 2, "{day}");
    assert_eq!(day["duplicates"], 1, "{day}");
    assert_adds_up(day);
    assert_eq!(usage_lines(&env, "2026-01-02", "north"), 1);
    assert_eq!(usage_lines(&env, "2026-01-02", "south"), 1);
    // Against settled events too: south repeating its id the next day is a duplicate.
    store_events(
        &env,
        &[
            ("e1", "2026-01-03 10:00:00", "south-k1"),
            ("e2", "2026-01-03 10:00:00", "south-k1"),
        ],
    );
    let days = bill(&env, "2026-01-03", &[]);
    assert_eq!(days[0]["duplicates"], 1, "{}", days[0]);
    assert_eq!(days[0]["billed"], 1, "{}", days[0]);
    assert_adds_up(&days[0]);
}

#[test]
fn b21_a_catch_up_over_a_gap_longer_than_w_bills_each_day_and_repeats_only_within_w() {
    let env = teams();
    bill(&env, "2026-01-01", &[]);
    store_events(
        &env,
        &[
            ("far", "2026-01-02 10:00:00", "north-k1"),
            ("near", "2026-01-02 10:00:00", "north-k1"),
            // 34 days after: within W (35), a duplicate.
            ("near", "2026-02-05 10:00:00", "north-k1"),
            // 36 days after: outside W, billed again.
            ("far", "2026-02-07 10:00:00", "north-k1"),
            ("gap", "2026-01-20 10:00:00", "south-k1"),
        ],
    );
    let days = bill(&env, "2026-02-07", &[]);
    assert_eq!(days.len(), 37, "every day of the gap, each on its own");
    let on = |day: &str| days.iter().find(|d| d["day"] == day).unwrap();
    assert_eq!(on("2026-01-02")["billed"], 2);
    assert_eq!(on("2026-01-20")["billed"], 1);
    assert_eq!(on("2026-02-05")["duplicates"], 1);
    assert_eq!(on("2026-02-05")["billed"], 0);
    assert_eq!(on("2026-02-07")["billed"], 1);
    assert_eq!(on("2026-02-07")["duplicates"], 0);
    for day in &days {
        assert!(day["quarantined"].get("too_late").is_none(), "{day}");
        assert_adds_up(day);
    }
}

#[test]
fn b21_b22_settled_ids_are_found_after_an_archive_renumbers_rows_and_after_a_rehash() {
    let env = teams();
    store_events(
        &env,
        &[
            ("old", "2026-01-02 10:00:00", "north-k1"),
            ("kept", "2026-02-01 10:00:00", "north-k1"),
            ("rehashed", "2026-02-02 10:00:00", "south-k1"),
        ],
    );
    bill(&env, "2026-02-10", &[]);
    // 2026-01-02 leaves for the archive: the kept rows move up by one.
    let dir = env.dir.path().join("archive");
    env.run(&["billing", "archive", "--to", dir.to_str().unwrap()])
        .ok();
    assert_eq!(env.rows("usage_events"), 2);
    store_events(&env, &[("kept", "2026-02-11 10:00:00", "north-k1")]);
    let days = bill(&env, "2026-02-11", &[]);
    assert_eq!(days[0]["duplicates"], 1, "{}", days[0]);
    assert_eq!(days[0]["billed"], 0, "{}", days[0]);
    // A DuckDB whose hash differs from the one that hashed the ids hashes them again.
    env.sql(
        "UPDATE window_ids_hash SET probe = probe + 1; UPDATE window_ids SET id_hash = id_hash + 1",
    );
    store_events(&env, &[("rehashed", "2026-02-12 10:00:00", "south-k1")]);
    let days = bill(&env, "2026-02-12", &[]);
    assert_eq!(days[0]["duplicates"], 1, "{}", days[0]);
    assert_adds_up(&days[0]);
}

#[test]
fn b21_an_event_more_than_w_days_late_is_too_late_counted_and_never_billed() {
    let env = teams();
    bill(&env, "2026-02-10", &[]);
    store_events(
        &env,
        &[
            // First seen by the run of 2026-02-11: 36 days late, then 35.
            ("old", "2026-01-06 10:00:00", "north-k1"),
            ("late", "2026-01-07 10:00:00", "north-k1"),
            ("late", "2026-01-07 10:00:00", "north-k1"),
            ("now", "2026-02-11 10:00:00", "north-k1"),
        ],
    );
    let status = status_json(&env, &[]);
    let unsettled = &status["unsettled_events"];
    assert_eq!(
        (
            &unsettled["count"],
            &unsettled["late"],
            &unsettled["too_late"]
        ),
        (&4.into(), &3.into(), &1.into()),
        "{status}"
    );
    let metrics = env.dir.path().join("tokenplan.prom");
    let days = bill(
        &env,
        "2026-02-11",
        &["--metrics", metrics.to_str().unwrap()],
    );
    let day = &days[0];
    assert_eq!(day["quarantined"]["too_late"], 1, "{day}");
    assert_eq!(day["late"], 1, "{day}");
    assert_eq!(day["duplicates"], 1, "{day}");
    assert_eq!(day["billed"], 2, "{day}");
    assert_eq!(day["events_read"], 4, "{day}");
    assert_adds_up(day);
    let metrics = std::fs::read_to_string(metrics).unwrap();
    assert!(
        metrics.contains("tokenplan_billing_quarantined_events{reason=\"too_late\"} 1"),
        "{metrics}"
    );
    // Settled as too late: a later run does not read it again.
    let days = bill(&env, "2026-02-12", &[]);
    assert_eq!(days[0]["events_read"], 0, "{}", days[0]);
}

#[test]
fn b21_an_import_stores_another_teams_event_with_the_same_id_and_skips_only_exact_repeats() {
    let env = teams();
    let file = env.write(
        "e.csv",
        "event_id,ts,key_id,model,input_tokens,output_tokens\n\
         e1,2026-01-02T10:00:00Z,north-k1,MiniMax-M2,1000,0\n\
         e1,2026-01-02T10:00:00Z,south-k1,MiniMax-M2,1000,0\n\
         e1,2026-01-02T10:00:00Z,south-k1,MiniMax-M2,1000,0\n",
    );
    let import = env.run(&["events", "import", &file]).ok();
    assert!(
        import.stdout.contains("read 3, stored 2, skipped 1"),
        "{}",
        import.stdout
    );
    let again = env.run(&["events", "import", &file]).ok();
    assert!(
        again.stdout.contains("read 3, stored 0, skipped 3"),
        "{}",
        again.stdout
    );
    assert!(again.stderr.is_empty(), "no day billed: {}", again.stderr);
    let days = bill(&env, "2026-01-02", &[]);
    assert_eq!(days.last().unwrap()["billed"], 2);
    assert_eq!(usage_lines(&env, "2026-01-02", "north"), 1);
    assert_eq!(usage_lines(&env, "2026-01-02", "south"), 1);
}

#[test]
fn b21_an_import_says_how_many_rows_are_already_too_late() {
    let env = teams();
    bill(&env, "2026-02-10", &[]);
    // The next day to bill is 2026-02-11: a usage day before 2026-01-07 is too late for it.
    let file = env.write(
        "late.csv",
        "event_id,ts,key_id,model,input_tokens,output_tokens\n\
         a,2026-01-05T10:00:00Z,north-k1,MiniMax-M2,1000,0\n\
         b,2026-01-07T10:00:00Z,north-k1,MiniMax-M2,1000,0\n\
         c,2026-02-10T10:00:00Z,north-k1,MiniMax-M2,1000,0\n",
    );
    let import = env.run(&["events", "import", &file]).ok();
    assert!(
        import.stdout.contains("read 3, stored 3, skipped 0"),
        "{}",
        import.stdout
    );
    assert!(
        import
            .stderr
            .contains("1 row(s) already too late for 2026-02-11: more than 35 days before it"),
        "{}",
        import.stderr
    );
    let days = bill(&env, "2026-02-11", &[]);
    assert_eq!(days[0]["quarantined"]["too_late"], 1, "{}", days[0]);
    assert_eq!(days[0]["late"], 2, "{}", days[0]);
}

#[test]
fn b21_the_window_chosen_by_the_first_billed_day_is_fixed_and_decides_too_late() {
    let env = teams();
    // Billed through 01-05 with W = 3: an event of 01-01 seen first by the run for 01-06 is
    // more than 3 days late; one of 01-03 is not.
    bill(&env, "2026-01-05", &["--window", "3"]);
    let status = env.run(&["billing", "status", "--format", "json"]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["window"]["days"], 3, "{status}");

    let changed = env.bill("2026-01-06", &["--window", "5"]);
    assert_eq!(changed.status, 2, "{}", changed.stderr);
    assert!(
        changed.stderr.contains("the store's window is 3 days")
            && changed.stderr.contains("--window 3"),
        "{}",
        changed.stderr
    );

    store_events(
        &env,
        &[
            ("old", "2026-01-01T12:00:00", "north-k1"),
            ("recent", "2026-01-03T12:00:00", "north-k1"),
        ],
    );
    let days = bill(&env, "2026-01-06", &["--window", "3"]);
    let day = days.last().unwrap();
    assert_eq!(day["quarantined"]["too_late"], 1, "{day}");
    assert_eq!(day["billed"], 1, "{day}");
    assert_adds_up(day);
}

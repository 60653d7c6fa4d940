//! The nightly job: golden statements (B1-B17).

use crate::support::{Env, assert_golden, scenario};

/// The summary of the last day a run printed (one JSON line per day, B18).
fn last_summary(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

fn bill_and_compare(env: &Env, golden: &str, days: &[&str], team: &str, extra: &[&str]) {
    for day in days {
        env.bill(day, extra).ok();
        let statement = env
            .statement(day, team)
            .unwrap_or_else(|| panic!("no statement of {team} on {day}"));
        assert_golden(&statement, &format!("{golden}/{day}/{team}.json"));
    }
}

#[test]
fn b4_b5_b6_o2_o3_o4_b8_overseas_seats_across_28_31_30_day_cycles() {
    let env = Env::new();
    env.load("seats-overseas", &[]);
    bill_and_compare(
        &env,
        "seats-overseas",
        &[
            "2026-01-31",
            "2026-02-10",
            "2026-02-28",
            "2026-03-05",
            "2026-03-31",
            "2026-04-01",
            "2026-04-10",
        ],
        "t1",
        &[],
    );
    // O4: seats added on 03-25 only undid a scheduled removal: nothing to bill.
    env.bill("2026-03-25", &[]).ok();
    assert!(env.statement("2026-03-25", "t1").is_none());
}

#[test]
fn b3_d1_d2_d3_d4_d5_b16_domestic_tier_canceled_ended_bought_again_and_prorated() {
    let env = Env::new();
    env.load("domestic", &[]);
    bill_and_compare(
        &env,
        "domestic",
        &["2026-01-10", "2026-01-15", "2026-02-10", "2026-02-20"],
        "z1",
        &[],
    );
    // The event at 23:30 UTC on 01-14 is on 01-15's statement; 01-14 has nothing to bill.
    env.bill("2026-01-14", &[]).ok();
    assert!(env.statement("2026-01-14", "z1").is_none());
}

#[test]
fn b9_b10_b11_b13_b14_b15_c1_c3_c4_p1_p4_s4_funding_duplicates_late_usage_and_reruns() {
    let env = Env::new();
    let prices = scenario("small-quota-prices.yaml");
    let prices = ["--prices", prices.to_str().unwrap()];
    env.load("usage", &[]);
    // A gateway writes the same event twice (B13: a duplicate).
    env.sql("INSERT INTO usage_events SELECT * FROM usage_events WHERE event_id = 'u-e2'");
    let run = env.bill("2026-05-02", &prices).ok();
    assert_golden(
        &env.statement("2026-05-02", "t3").unwrap(),
        "usage/2026-05-02/t3.json",
    );
    let summary: serde_json::Value = last_summary(&run.stdout);
    assert_eq!(summary["events_read"], 7);
    assert_eq!(
        (
            summary["billed"].as_u64(),
            summary["unfunded"].as_u64(),
            summary["duplicates"].as_u64()
        ),
        (Some(4), Some(1), Some(1))
    );
    assert_eq!(summary["quarantined"]["key_deleted"], 1);

    // B15: re-running the billed day reproduces the same bytes and changes nothing.
    let first = std::fs::read(env.out().join("2026-05-02/t3.json")).unwrap();
    let first_summary = std::fs::read(env.out().join("2026-05-02/summary.json")).unwrap();
    env.bill("2026-05-02", &prices).ok();
    assert_eq!(
        std::fs::read(env.out().join("2026-05-02/t3.json")).unwrap(),
        first
    );
    assert_eq!(
        std::fs::read(env.out().join("2026-05-02/summary.json")).unwrap(),
        first_summary
    );

    // B14: an event of 05-02 that arrives after 05-02 was billed is billed on 05-03, tagged
    // with its own day; the re-sent u-e1 is not stored twice.
    let late = scenario("usage-late.csv");
    let import = env.run(&["events", "import", late.to_str().unwrap()]).ok();
    assert!(
        import.stdout.contains("stored 1, skipped 1"),
        "{}",
        import.stdout
    );
    env.bill("2026-05-03", &prices).ok();
    assert_golden(
        &env.statement("2026-05-03", "t3").unwrap(),
        "usage/2026-05-03/t3.json",
    );
}

#[test]
fn b12_b13_b14_a_repeated_id_bills_its_earliest_event_and_never_again() {
    let env = Env::new();
    env.load("usage", &[]);
    // A copy of u-e5 written later but stamped earlier, with other tokens: by B12 it is the
    // first, so it is billed and the original is the duplicate.
    env.sql(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
         VALUES ('u-e5', TIMESTAMPTZ '2026-05-02 11:45:00+00', 'k3', 'MiniMax-M2', 2000, 0)",
    );
    let run = env.bill("2026-05-02", &[]).ok();
    let summary: serde_json::Value = last_summary(&run.stdout);
    assert_eq!(
        (
            summary["events_read"].as_u64(),
            summary["duplicates"].as_u64()
        ),
        (Some(7), Some(1))
    );
    let statement = env.statement_json("2026-05-02", "t3");
    let payg: Vec<&serde_json::Value> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["kind"] == "payg")
        .collect();
    assert_eq!(payg.len(), 1);
    assert_eq!(
        (payg[0]["events"].as_u64(), payg[0]["input_tokens"].as_u64()),
        (Some(1), Some(2000))
    );

    // An id billed on 05-02 comes again on 05-03: a duplicate of a settled event, billed to
    // nobody, while a new id on the same key is billed.
    env.sql(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens) VALUES
         ('u-e1', TIMESTAMPTZ '2026-05-03 09:00:00+00', 'tp:t3:u2', 'MiniMax-M2', 5, 0),
         ('u-e9', TIMESTAMPTZ '2026-05-03 09:00:00+00', 'tp:t3:u2', 'MiniMax-M2', 5, 0)",
    );
    let run = env.bill("2026-05-03", &[]).ok();
    let summary: serde_json::Value = last_summary(&run.stdout);
    assert_eq!(
        (
            summary["events_read"].as_u64(),
            summary["duplicates"].as_u64(),
            summary["billed"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
}

#[test]
fn b13_a_crash_between_computing_and_committing_writes_nothing() {
    let env = Env::new();
    env.load("usage", &[]);
    let crashed = env.run_with(
        &[
            "billing",
            "run",
            "--date",
            "2026-05-02",
            "--out",
            env.out().to_str().unwrap(),
        ],
        &[("TOKENPLAN_FAIL_BEFORE_COMMIT", "1")],
    );
    assert_eq!(crashed.status, 1, "{}", crashed.stderr);
    assert!(
        crashed.stderr.contains("nothing was written"),
        "{}",
        crashed.stderr
    );
    assert!(!env.out().join("2026-05-02").exists());
    // The next run bills the day as if the crash never happened.
    let fresh = Env::new();
    fresh.load("usage", &[]);
    env.bill("2026-05-02", &[]).ok();
    fresh.bill("2026-05-02", &[]).ok();
    let statement = |env: &Env| {
        env.statement("2026-05-02", "t3")
            .expect("the day is billed and its statement written")
    };
    assert_eq!(statement(&env), statement(&fresh));
}

#[test]
fn v1_v2_b17_a_reader_sees_only_their_own_keys() {
    let env = Env::new();
    env.load("usage", &[]);
    env.bill("2026-05-02", &[]).ok();
    let show = |user: &str| {
        let out = env
            .run(&[
                "billing",
                "show",
                "--date",
                "2026-05-02",
                "--team",
                "t3",
                "--as",
                user,
                "--format",
                "json",
            ])
            .ok();
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    let owner = show("own");
    let reader = show("u3");
    assert!(owner["balances"].is_object());
    assert!(
        reader.get("balances").is_none(),
        "a Reader sees no balances"
    );
    let keys: Vec<&str> = reader["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["k3"],
        "u3 sees the usage of their own pay-as-you-go key only"
    );
    assert_eq!(reader["totals"]["total"], reader["lines"][0]["amount"]);
    let outsider = env.run(&[
        "billing",
        "show",
        "--date",
        "2026-05-02",
        "--team",
        "t3",
        "--as",
        "nobody",
    ]);
    assert_eq!(outsider.status, 1);
}

#[test]
fn the_demo_runs_on_nothing_but_the_binary() {
    let env = Env::new();
    let out = env.out();
    let demo = env.run(&["demo", "--out", out.to_str().unwrap()]).ok();
    assert!(
        demo.stdout
            .contains("Statement of Team acme · 2026-11-23 · overseas · amounts in USD"),
        "{}",
        demo.stdout
    );
    assert_golden(
        &env.statement("2026-11-23", "acme").unwrap(),
        "demo/2026-11-23/acme.json",
    );
    assert_golden(
        &env.statement("2026-11-23", "zhong").unwrap(),
        "demo/2026-11-23/zhong.json",
    );
}

#[test]
fn b12_events_at_the_same_instant_are_ordered_by_event_id() {
    let env = Env::new();
    let prices = scenario("small-quota-prices.yaml");
    let prices = ["--prices", prices.to_str().unwrap()];
    env.load("usage", &[]);
    // On the seat's next cycle (from 2026-06-01), two events at one instant: `x-a` (1,000
    // tokens) is ordered before `x-b` (10) and fills the quota; `x-b` then finds it used.
    let csv = env.dir.path().join("same-instant.csv");
    std::fs::write(
        &csv,
        "event_id,ts,key_id,model,input_tokens,output_tokens\n\
         x-b,2026-06-01T12:00:00Z,tp:t3:u2,MiniMax-M2,10,0\n\
         x-a,2026-06-01T12:00:00Z,tp:t3:u2,MiniMax-M2,1000,0\n",
    )
    .unwrap();
    env.run(&["events", "import", csv.to_str().unwrap()]).ok();
    env.bill("2026-05-02", &prices).ok();
    env.bill("2026-06-01", &prices).ok();
    let statement = env.statement_json("2026-06-01", "t3");
    let plan = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "plan" && l["usage_day"] == "2026-06-01")
        .unwrap();
    assert_eq!(plan["input_tokens"], 1000, "x-a comes first and is covered");
    assert_eq!(
        statement["unfunded"][0]["input_tokens"], 10,
        "x-b finds the quota used; u2's Credits access is off"
    );
}

#[test]
fn statements_do_not_depend_on_how_events_are_chunked() {
    let whole = Env::new();
    let chunked = Env::new();
    for env in [&whole, &chunked] {
        env.run(&[
            "generate",
            "--teams",
            "30",
            "--members",
            "5",
            "--days",
            "1",
            "--events",
            "3000",
        ])
        .ok();
    }
    whole.bill("2026-11-23", &[]).ok();
    let out = chunked.out();
    chunked
        .run_with(
            &[
                "billing",
                "run",
                "--date",
                "2026-11-23",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("TOKENPLAN_CHUNK_ROWS", "7")],
        )
        .ok();
    let names = |env: &Env| {
        let mut names: Vec<_> = std::fs::read_dir(env.out().join("2026-11-23"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&whole), names(&chunked));
    assert_eq!(names(&whole).len(), 31, "30 statements and the summary");
    for name in names(&whole).into_iter().filter(|n| n != "summary.json") {
        let read =
            |env: &Env| std::fs::read_to_string(env.out().join("2026-11-23").join(&name)).unwrap();
        assert_eq!(read(&whole), read(&chunked), "{name:?}");
    }
}

#[test]
fn b2_a_tier_missing_from_the_price_list_fails_the_run_and_writes_nothing() {
    let env = Env::new();
    env.load("seats-overseas", &[]);
    let prices = env.dir.path().join("no-plus.yaml");
    let text =
        std::fs::read_to_string(crate::support::repo().join("fixtures/prices.yaml")).unwrap();
    std::fs::write(&prices, text.replace("  plus:", "  plus-old:")).unwrap();
    let out = env.bill("2026-01-31", &["--prices", prices.to_str().unwrap()]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Team `t1` subscribes to tier `plus`, which the price list does not price"),
        "{}",
        out.stderr
    );
    assert!(env.statement("2026-01-31", "t1").is_none());
}

/// `billing show` of t3 as a table, priced with the list the usage scenario is billed with.
fn show_table(
    env: &Env,
    day: &str,
    user: &str,
    prices: &std::path::Path,
) -> crate::support::Output {
    env.run(&[
        "billing",
        "show",
        "--date",
        day,
        "--team",
        "t3",
        "--as",
        user,
        "--prices",
        prices.to_str().unwrap(),
    ])
}

#[test]
fn v1_v2_b17_a_statement_table_as_an_owner_and_a_reader_read_it() {
    let env = Env::new();
    let prices = scenario("small-quota-prices.yaml");
    env.load("usage", &[]);
    env.bill("2026-05-02", &["--prices", prices.to_str().unwrap()])
        .ok();
    let owner = show_table(&env, "2026-05-01", "own", &prices).ok();
    assert_eq!(
        owner.stdout,
        "\
Statement of Team t3 · 2026-05-01 · overseas · amounts in USD

Charged to the Team
  subscription   plus, 1 seat, 2026-05-01 to 2026-06-01  20.00
  total charged                                          20.00

Usage: none

Drawn from the Credits pool  0.00  balance at the end of the day  5.00
Drawn from the wallet        0.00  balance at the end of the day  5.00
Topped up the Credits pool at 2026-05-01T01:06:00Z: 5.00
Topped up the wallet at 2026-05-01T01:07:00Z: 5.00
"
    );
    let owner = show_table(&env, "2026-05-02", "own", &prices).ok();
    assert_eq!(
        owner.stdout,
        "\
Statement of Team t3 · 2026-05-02 · overseas · amounts in USD

Charged to the Team: nothing

Usage
  paid by             member  key       model       usage day   requests  input tokens  output tokens  price per 1M in / out      amount
  seat (plus)         u1      tp:t3:u1  MiniMax-M2  2026-05-02         2         1,100              0    in the seat's quota        0.00
  Credits pool        u1      tp:t3:u1  MiniMax-M2  2026-05-02         1     1,000,000      1,000,000            0.30 / 1.20        1.50
  wallet              u3      k3        MiniMax-M2  2026-05-02         1     1,000,000              0            0.30 / 1.20        0.30
  nobody: not funded  u2      tp:t3:u2                                 1           100              0                         not billed

Drawn from the Credits pool  1.50  balance at the end of the day  3.50
Drawn from the wallet        0.30  balance at the end of the day  4.70
"
    );
    let reader = show_table(&env, "2026-05-02", "u3", &prices).ok();
    assert_eq!(
        reader.stdout,
        "\
Your usage (u3) on the statement of Team t3 · 2026-05-02 · overseas · amounts in USD
As a Reader you see only your own keys' usage: the Team's charges and balances are not shown.

Usage
  paid by  member  key  model       usage day   requests  input tokens  output tokens  price per 1M in / out  amount
  wallet   u3      k3   MiniMax-M2  2026-05-02         1     1,000,000              0            0.30 / 1.20    0.30

Your usage drawn from the Credits pool  0.00
Your usage drawn from the wallet        0.30
"
    );

    // A price list that does not give the amounts billed would print false unit prices.
    let other = env.dir.path().join("other-prices.yaml");
    let text = std::fs::read_to_string(&prices).unwrap();
    std::fs::write(&other, text.replacen("\"0.30\"", "\"0.40\"", 1)).unwrap();
    let refused = show_table(&env, "2026-05-02", "own", &other);
    assert_eq!(refused.status, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "the price list prices the `MiniMax-M2` usage of key `tp:t3:u1` on 2026-05-02 at 1.60, but the statement billed 1.50"
        ) && refused.stderr.contains("hint: pass the --prices the day was billed with"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
}

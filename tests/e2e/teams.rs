//! Team operations through `tokenplan apply`, and the state they leave (T1-T6, K1, S1-S4,
//! C1-C5, P1-P5, O1-O4, D1-D5).

use chrono::{DateTime, Utc};
use tokenplan::store::Store;

use crate::support::{Env, repo, scenario};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn every_rule_scenario_applies_as_expected() {
    for name in ["seats-overseas.yaml", "domestic.yaml", "usage.yaml"] {
        let env = Env::new();
        env.run(&["apply", scenario(name).to_str().unwrap()]).ok();
    }
    let env = Env::new();
    let demo = repo().join("fixtures/demo/scenario.yaml");
    let out = env.run(&["apply", demo.to_str().unwrap()]).ok();
    assert!(out.stdout.contains(
        "denied: a domestic Team can't reduce a tier's seats; cancel the tier's renewal instead"
    ));
}

#[test]
fn o3_o4_b4_b8_state_across_renewals_and_the_month_end_clamp() {
    let env = Env::new();
    env.load("seats-overseas", &[]);
    let store = Store::open(&env.db()).unwrap();
    let state = |t: &str| {
        tokenplan::teams::team_state(&store, "t1", at(t))
            .unwrap()
            .unwrap()
    };
    // Bought on 31 January: renews on 28 February (clamped), then 31 March.
    let feb27 = state("2026-02-27T23:59:59Z");
    assert_eq!(
        feb27.subscriptions["plus"]
            .cycle(feb27.at.date_naive())
            .end
            .to_string(),
        "2026-02-28"
    );
    let mar30 = state("2026-03-30T23:59:59Z");
    let plus = &mar30.subscriptions["plus"];
    assert_eq!(
        (
            plus.seat_count(),
            plus.pending_removal,
            plus.renewing_seats()
        ),
        (4, 2, 2),
        "O3: removed seats stay until the renewal; O4: one removal undone"
    );
    assert_eq!(mar30.seat_of("r3"), Some(("plus", 3)));
    let mar31 = state("2026-03-31T00:00:00Z");
    let plus = &mar31.subscriptions["plus"];
    assert_eq!((plus.seat_count(), plus.pending_removal), (2, 0));
    assert_eq!(
        mar31.seat_of("r3"),
        None,
        "B8: the free seat went first, then the latest holder"
    );
    assert_eq!(mar31.seat_of("r1"), Some(("plus", 1)));
    assert_eq!(mar31.credits_topped_up.to_string(), "10.00");
}

#[test]
fn s4_d4_c5_state_after_reassignment_cancellation_and_access_change() {
    let env = Env::new();
    env.load("usage", &[]);
    env.load("domestic", &[]);
    let store = Store::open(&env.db()).unwrap();
    let t3 = tokenplan::teams::team_state(&store, "t3", at("2026-05-02T12:00:00Z"))
        .unwrap()
        .unwrap();
    assert_eq!(
        t3.seat_of("u2"),
        Some(("plus", 1)),
        "S4: the seat moved with its number"
    );
    assert!(!t3.members["u2"].credits_access);
    assert_eq!(t3.payg_keys["k3"].deleted_at, None);
    let z1 = tokenplan::teams::team_state(&store, "z1", at("2026-02-09T15:59:59Z"))
        .unwrap()
        .unwrap();
    assert!(
        z1.subscriptions["plus"].renewal_canceled,
        "D4: usable until its renewal"
    );
    let z1 = tokenplan::teams::team_state(&store, "z1", at("2026-02-09T16:00:00Z"))
        .unwrap()
        .unwrap();
    assert!(
        z1.subscriptions.is_empty(),
        "D4: ended at 00:00 UTC+08:00 on its renewal day"
    );
}

#[test]
fn t5_the_hundredth_member_joins_and_the_hundred_and_first_is_refused() {
    let env = Env::new();
    let mut yaml = String::from(
        "- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }\n- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: big, region: overseas }\n",
    );
    for i in 1..=100 {
        yaml += &format!("- {{ at: '2026-01-02T00:00:00Z', as: u{i}, do: create_account }}\n");
    }
    for i in 1..=99 {
        yaml += &format!(
            "- {{ at: '2026-01-03T00:00:00Z', as: own, do: invite, team: big, user: u{i}, role: reader }}\n"
        );
    }
    yaml += "- { at: '2026-01-03T00:00:01Z', as: own, do: invite, team: big, user: u100, role: reader, expect: denied }\n";
    let out = env.run(&["apply", &env.write("t5.yaml", &yaml)]).ok();
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .contains("a Team has at most 100 members [member-limit (T5)]"),
        "{}",
        out.stdout
    );
}

#[test]
fn t6_p3_t2_t3_limits_through_the_store() {
    let env = Env::new();
    let yaml = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:00Z', as: ann, do: create_account }
- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: t, region: overseas }
- { at: '2026-01-01T00:00:02Z', as: own, do: buy_subscription, team: t, tier: plus, seats: 99 }
- { at: '2026-01-01T00:00:03Z', as: own, do: add_seats, team: t, tier: plus, seats: 1 }
- { at: '2026-01-01T00:00:04Z', as: own, do: add_seats, team: t, tier: plus, seats: 1, expect: denied }
- { at: '2026-01-01T00:00:05Z', as: own, do: remove_seats, team: t, tier: plus, seats: 1 }
- { at: '2026-01-01T00:00:06Z', as: own, do: add_seats, team: t, tier: plus, seats: 1 }
- { at: '2026-01-01T00:00:07Z', as: own, do: add_seats, team: t, tier: plus, seats: 1, expect: denied }
- { at: '2026-01-01T00:01:00Z', as: own, do: create_payg_key, team: t, key: k1 }
- { at: '2026-01-01T00:01:01Z', as: own, do: create_payg_key, team: t, key: k2 }
- { at: '2026-01-01T00:01:02Z', as: own, do: create_payg_key, team: t, key: k3 }
- { at: '2026-01-01T00:01:03Z', as: own, do: create_payg_key, team: t, key: k4 }
- { at: '2026-01-01T00:01:04Z', as: own, do: create_payg_key, team: t, key: k5 }
- { at: '2026-01-01T00:01:05Z', as: own, do: create_payg_key, team: t, key: k6, expect: denied }
- { at: '2026-01-01T00:01:06Z', as: own, do: delete_payg_key, team: t, key: k2 }
- { at: '2026-01-01T00:01:07Z', as: own, do: create_payg_key, team: t, key: k6 }
- { at: '2026-01-01T00:02:00Z', as: own, do: invite, team: own, user: ann, role: reader, expect: denied }
- { at: '2026-01-01T00:02:01Z', as: own, do: leave, team: own, expect: denied }
- { at: '2026-01-01T00:02:02Z', as: own, do: buy_subscription, team: own, tier: plus, seats: 2, expect: denied }
- { at: '2026-01-01T00:02:03Z', as: own, do: buy_subscription, team: own, tier: plus, seats: 1 }
- { at: '2026-01-01T00:02:04Z', as: ann, do: top_up_credits, team: t, amount: '1.00', expect: denied }
";
    let out = env.run(&["apply", &env.write("limits.yaml", yaml)]).ok();
    assert!(
        out.stdout.contains("a Team has at most 100 seats"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("at most 5 live pay-as-you-go keys"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("only a member of the Team may act in it [member-acts-in-own-team (T4)]"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_malformed_scenario_names_the_step_and_field_and_stores_nothing() {
    let env = Env::new();
    let yaml = "- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }\n- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: t }\n";
    let out = env.run(&["apply", &env.write("bad.yaml", yaml)]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("step 2: `do: create_team`: missing field `region`"),
        "{}",
        out.stderr
    );
    let store = Store::open(&env.db()).unwrap();
    assert!(
        !store.user_exists("own").unwrap(),
        "nothing of the file was applied"
    );
}

#[test]
fn unknown_references_and_time_travel_are_input_errors() {
    let env = Env::new();
    let yaml = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: t, region: overseas }
";
    env.run(&["apply", &env.write("team.yaml", yaml)]).ok();
    let yaml = "- { at: '2026-01-01T00:00:02Z', as: own, do: invite, team: t, user: ghost, role: reader }\n";
    let out = env.run(&["apply", &env.write("ghost.yaml", yaml)]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("step 1: no user `ghost`"),
        "{}",
        out.stderr
    );
    let yaml =
        "- { at: '2025-12-31T00:00:00Z', as: own, do: top_up_wallet, team: t, amount: '1' }\n";
    let out = env.run(&["apply", &env.write("past.yaml", yaml)]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("steps must be in time order"),
        "{}",
        out.stderr
    );
}

#[test]
fn keep_going_reports_every_unexpected_outcome() {
    let env = Env::new();
    let yaml = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:01Z', as: own, do: leave, team: own }
- { at: '2026-01-01T00:00:02Z', as: own, do: top_up_credits, team: own, amount: '1', expect: denied }
- { at: '2026-01-01T00:00:03Z', as: own, do: top_up_wallet, team: own, amount: '1' }
";
    let path = env.write("k.yaml", yaml);
    let stop = env.run(&["apply", &path]);
    assert_eq!(stop.status, 1);
    assert_eq!(
        stop.stdout.lines().count(),
        2,
        "stops at the first unexpected outcome"
    );
    let env = Env::new();
    let path = env.write("k.yaml", yaml);
    let all = env.run(&["apply", &path, "--keep-going"]);
    assert_eq!(all.status, 1);
    assert_eq!(all.stdout.lines().count(), 4);
    assert!(
        all.stderr
            .contains("2 step(s) ended against their expectation"),
        "{}",
        all.stderr
    );
}

#[test]
fn t1_k1_k2_k3_accounts_default_teams_and_keys_issued_on_joining() {
    let env = Env::new();
    let yaml = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:00Z', as: bob, do: create_account, region: domestic }
- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: t, region: overseas }
- { at: '2026-01-02T00:00:00Z', as: own, do: invite, team: t, user: bob, role: reader }
";
    env.run(&["apply", &env.write("k.yaml", yaml)]).ok();
    let store = Store::open(&env.db()).unwrap();
    let bob = store.team("bob").unwrap().unwrap();
    assert!(
        bob.is_default && bob.owner == "bob" && bob.region == gatekeeper::Region::Domestic,
        "T1"
    );
    drop(store);
    // K1: bob's key tp:t:bob exists from joining, before any seat or Credits: his event after
    // joining is billed (Credits access is on, C4; the empty pool is overdrawn, B16), the one
    // before joining is an unknown key.
    let csv = env.dir.path().join("k.csv");
    std::fs::write(&csv, "event_id,ts,key_id,model,input_tokens,output_tokens\nbefore,2026-01-01T12:00:00Z,tp:t:bob,MiniMax-M2,1000000,0\nafter,2026-01-02T12:00:00Z,tp:t:bob,MiniMax-M2,1000000,0\n").unwrap();
    env.run(&["events", "import", csv.to_str().unwrap()]).ok();
    let first = env.bill("2026-01-01", &[]).ok();
    assert!(
        first.stdout.contains("\"unknown_key\":1"),
        "{}",
        first.stdout
    );
    env.bill("2026-01-02", &[]).ok();
    let statement = env.statement("2026-01-02", "t").unwrap();
    assert!(
        statement.contains("\"kind\": \"credits\"")
            && statement.contains("\"balance\": \"credits\""),
        "{statement}"
    );
    // K3, T7: pay-as-you-go key ids can't take the Token Plan Key form.
    let out = env.run(&["apply", &env.write("k3.yaml", "- { at: '2026-01-03T00:00:00Z', as: own, do: create_payg_key, team: t, key: 'tp:t:own' }\n")]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("contains `:`"), "{}", out.stderr);
    // K2: the gateway's check on a key without seat or Credits access.
    let use_key = |at: &str| {
        env.run(&[
            "policy",
            "explain",
            "--as",
            "bob",
            "--action",
            "use_token_plan_key",
            "--team",
            "t",
            "--at",
            at,
        ])
    };
    let explain = use_key("2026-01-03T00:00:00Z");
    assert!(
        explain
            .stdout
            .contains("[token-plan-key-needs-resources (K2)]"),
        "{}",
        explain.stdout
    );
    // Credits to spend are what was topped up less what statements billed (0.30 on 01-02).
    let top_up = |at: &str, name: &str| {
        let step =
            format!("- {{ at: '{at}', as: own, do: top_up_credits, team: t, amount: '0.20' }}\n");
        env.run(&["apply", &env.write(name, &step)]).ok();
    };
    top_up("2026-01-03T01:00:00Z", "up1.yaml");
    assert_eq!(
        use_key("2026-01-03T12:00:00Z").status,
        1,
        "0.20 topped up, 0.30 spent"
    );
    top_up("2026-01-03T13:00:00Z", "up2.yaml");
    assert_eq!(
        use_key("2026-01-03T14:00:00Z").status,
        0,
        "0.40 topped up, 0.30 spent"
    );
}

const TEAM_WITH_SEATS: &str = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: t, region: overseas }
- { at: '2026-01-01T00:00:02Z', as: own, do: buy_subscription, team: t, tier: plus, seats: 1 }
";

/// Steps at the Team's latest instant: the time order alone lets them through again.
const MORE_SEATS: &str = "\
- { at: '2026-01-10T00:00:00Z', as: own, do: add_seats, team: t, tier: plus, seats: 2 }
- { at: '2026-01-10T00:00:00Z', as: own, do: top_up_credits, team: t, amount: '5.00' }
";

/// The statement of 2026-01-10 after applying the setup once and `MORE_SEATS` `times` times
/// (each time with `extra` flags).
fn statement_after_applying_more_seats(times: usize, extra: &[&str]) -> (Env, String) {
    let env = Env::new();
    env.run(&["apply", &env.write("setup.yaml", TEAM_WITH_SEATS)])
        .ok();
    let seats = env.write("seats.yaml", MORE_SEATS);
    for run in 0..times {
        let mut args = vec!["apply", seats.as_str()];
        args.extend_from_slice(extra);
        let out = env.run(&args).ok();
        if run > 0 {
            assert_eq!(
                out.stdout
                    .matches(": already applied: allowed then; nothing stored now")
                    .count(),
                2,
                "{}",
                out.stdout
            );
        }
    }
    env.bill("2026-01-10", &[]).ok();
    let statement = env.statement("2026-01-10", "t").unwrap();
    (env, statement)
}

#[test]
fn a_scenario_applied_again_stores_nothing_and_bills_once() {
    let (once, expected) = statement_after_applying_more_seats(1, &[]);
    assert!(
        expected
            .contains("\"kind\": \"proration\",\n      \"tier\": \"plus\",\n      \"seats\": 2,"),
        "{expected}"
    );
    for extra in [&[][..], &["--keep-going"]] {
        let (again, statement) = statement_after_applying_more_seats(3, extra);
        assert_eq!(
            statement, expected,
            "{extra:?}: a proration of 2 seats, not 6"
        );
        for table in ["team_records", "audit_log", "step_identities"] {
            assert_eq!(again.rows(table), once.rows(table), "{extra:?}: {table}");
        }
    }
}

#[test]
fn a_step_id_identifies_a_step_and_an_id_reused_for_another_step_is_refused() {
    let env = Env::new();
    env.run(&["apply", &env.write("setup.yaml", TEAM_WITH_SEATS)])
        .ok();
    let top_up = |amount: &str| {
        format!(
            "- {{ id: top-up-1, at: '2026-01-02T00:00:00Z', as: own, do: top_up_credits, team: t, amount: '{amount}' }}\n"
        )
    };
    env.run(&["apply", &env.write("a.yaml", &top_up("5"))]).ok();
    let again = env.run(&["apply", &env.write("b.yaml", &top_up("5"))]).ok();
    assert!(again.stdout.contains("already applied"), "{}", again.stdout);
    let other = env.run(&["apply", &env.write("c.yaml", &top_up("6"))]);
    assert_eq!(other.status, 2, "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("step 1: `id` `top-up-1` is already the id of another step")
            && other.stderr.contains("\"amount\":\"5\""),
        "{}",
        other.stderr
    );
    // Two top-ups of the same instant are two steps when their ids say so; the same step
    // twice in one file is one.
    let twice = "\
- { id: a, at: '2026-01-03T00:00:00Z', as: own, do: top_up_credits, team: t, amount: '1' }
- { id: b, at: '2026-01-03T00:00:00Z', as: own, do: top_up_credits, team: t, amount: '1' }
- { at: '2026-01-03T00:00:00Z', as: own, do: top_up_wallet, team: t, amount: '1' }
- { at: '2026-01-03T00:00:00Z', as: own, do: top_up_wallet, team: t, amount: '1' }
";
    let out = env.run(&["apply", &env.write("d.yaml", twice)]).ok();
    assert_eq!(
        out.stdout.matches("already applied").count(),
        1,
        "{}",
        out.stdout
    );
    let store = Store::open(&env.db()).unwrap();
    let state = tokenplan::teams::team_state(&store, "t", at("2026-01-04T00:00:00Z"))
        .unwrap()
        .unwrap();
    assert_eq!(state.credits_topped_up.to_string(), "7");
    assert_eq!(state.wallet_topped_up.to_string(), "1");
}

#[test]
fn t7_team_ids_that_differ_only_in_case_and_summary_in_any_case_are_refused() {
    let env = Env::new();
    let yaml = "\
- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }
- { at: '2026-01-01T00:00:01Z', as: own, do: create_team, team: acme, region: overseas }
";
    env.run(&["apply", &env.write("ok.yaml", yaml)]).ok();
    for (step, message) in [
        (
            "as: own, do: create_team, team: ACME, region: overseas",
            "Team id `ACME` differs only in case from Team `acme`'s",
        ),
        (
            "as: Own, do: create_account",
            "Team id `Own` differs only in case from Team `own`'s",
        ),
        (
            "as: own, do: create_team, team: Summary, region: overseas",
            "`Summary` is not a Team id",
        ),
    ] {
        let yaml = format!("- {{ at: '2026-01-02T00:00:00Z', {step} }}\n");
        let out = env.run(&["apply", &env.write("case.yaml", &yaml)]);
        assert_eq!(out.status, 2, "{step}: {}", out.stderr);
        assert!(
            out.stderr.contains("step 1:")
                && out.stderr.contains(message)
                && out.stderr.contains("rule T7"),
            "{step}: {}",
            out.stderr
        );
    }
    assert_eq!(env.rows("teams"), 2);
}

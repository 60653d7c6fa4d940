//! `apply --dry-run` (issue 23): every step decided against the store, nothing stored, and
//! what each purchase or seat addition would bill, as the night then bills it.

use crate::statements::demo;
use crate::support::Env;

#[test]
fn a_dry_run_stores_nothing_and_prints_the_line_the_night_then_bills() {
    let env = demo();
    env.bill("2026-11-23", &[]).ok();
    let steps = env.write(
        "more-seats.yaml",
        r#"
- { at: "2026-11-24T10:00:00Z", as: olga, do: add_seats, team: acme, tier: plus, seats: 1 }
- { at: "2026-11-24T10:01:00Z", as: ada, do: buy_subscription, team: acme, tier: max, seats: 1, expect: denied }
- { at: "2026-11-24T10:02:00Z", as: olga, do: top_up_wallet, team: acme, amount: "5" }
"#,
    );
    let tables = [
        "team_records",
        "audit_log",
        "step_identities",
        "users",
        "teams",
    ];
    let counts = |env: &Env| tables.map(|t| env.rows(t));
    let before = counts(&env);
    let dry = env.run(&["apply", &steps, "--dry-run"]).ok();
    assert_eq!(counts(&env), before, "a dry run stores nothing");
    let lines: Vec<&str> = dry.stdout.lines().collect();
    assert!(
        lines[0].contains("add_seats acme: would be allowed"),
        "{}",
        dry.stdout
    );
    let working =
        "  would bill proration plus: 1 × 20.00 × 29 ÷ 30 days = 19.33, 2026-11-24 to 2026-12-23";
    assert_eq!(lines[1], working, "{}", dry.stdout);
    assert!(
        lines[2].contains("buy_subscription acme: would be denied"),
        "{}",
        dry.stdout
    );
    assert!(dry.stderr.contains("nothing was stored"), "{}", dry.stderr);

    // The real apply and the night bill that line.
    env.run(&["apply", &steps]).ok();
    env.bill("2026-11-24", &[]).ok();
    let proration = env.statement_json("2026-11-24", "acme")["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "proration")
        .cloned()
        .unwrap();
    let billed = format!(
        "  would bill proration {}: {} × 20.00 × {} ÷ {} days = {}, {} to {}",
        proration["tier"].as_str().unwrap(),
        proration["seats"],
        proration["days"],
        proration["cycle_days"],
        proration["amount"].as_str().unwrap(),
        proration["period_start"].as_str().unwrap(),
        proration["period_end"].as_str().unwrap(),
    );
    assert_eq!(billed, working);

    // Against a store that does not exist: decided against an empty one, no file made.
    let fresh = Env::new();
    let demo = crate::support::repo().join("fixtures/demo/scenario.yaml");
    let out = fresh
        .run(&["apply", demo.to_str().unwrap(), "--dry-run"])
        .ok();
    assert!(
        out.stdout
            .contains("would bill subscription plus: 3 × 20.00 = 60.00, 2026-10-23 to 2026-11-23"),
        "{}",
        out.stdout
    );
    assert!(!fresh.db().exists());
}

//! Corrections of issued statements (B24) through the real binary: decided by the policies,
//! recorded append-only, billed once on the Team's next statement, moving its balances (B25).

use crate::statements::demo;
use crate::support::{Env, Output};

fn adjust(env: &Env, actor: &str, day: &str, amount: &str, applies_to: &str) -> Output {
    let reason = ["--reason", "outage of 2026-11-23, ticket 4411"];
    env.adjust(actor, ("acme", day), (amount, applies_to), &reason)
}

/// `billing show` of acme's 2026-11-24 as `user`, with `extra` arguments.
fn show(env: &Env, user: &str, extra: &[&str]) -> Output {
    let args = [
        "billing",
        "show",
        "--date",
        "2026-11-24",
        "--team",
        "acme",
        "--as",
        user,
    ];
    env.run(&[&args[..], extra].concat()).ok()
}

#[test]
fn b24_an_owner_is_denied_by_a_named_policy_and_an_operator_corrects_the_next_statement() {
    let env = demo();
    env.bill("2026-11-23", &[]).ok();
    let before = env.statement_json("2026-11-23", "acme");

    let owner = adjust(&env, "olga", "2026-11-23", "-5.00", "charges");
    assert_eq!(owner.status, 1, "{}", owner.stderr);
    assert!(
        owner.stderr.contains("team-roles-never-adjust (B24)"),
        "{}",
        owner.stderr
    );
    assert_eq!(env.rows("adjustments"), 0);
    assert_eq!(
        env.rows("audit_log WHERE action = 'adjust_statement' AND NOT allowed"),
        1
    );
    // Someone who is neither an operator nor a member is denied as well.
    assert_eq!(
        adjust(&env, "mallory", "2026-11-23", "1", "charges").status,
        1
    );

    env.run(&["operator", "add", "fin"]).ok();
    let made = adjust(&env, "fin", "2026-11-23", "-5", "charges").ok();
    assert!(
        made.stdout.contains("acme charges -5.00"),
        "{}",
        made.stdout
    );
    adjust(&env, "fin", "2026-11-23", "2.50", "credits").ok();
    adjust(&env, "fin", "2026-11-22", "-1.19", "wallet").ok();
    assert_eq!(env.rows("adjustments"), 3);

    // The issued statement never changes; the next day's carries the corrections.
    env.bill("2026-11-24", &[]).ok();
    assert_eq!(env.statement_json("2026-11-23", "acme"), before);
    let next = env.statement_json("2026-11-24", "acme");
    let lines: Vec<_> = next["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "adjustment")
        .map(|l| {
            format!(
                "{} {} {} {}",
                l["corrects_day"].as_str().unwrap(),
                l["applies_to"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
                l["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "2026-11-22 wallet -1.19 outage of 2026-11-23, ticket 4411",
            "2026-11-23 charges -5.00 outage of 2026-11-23, ticket 4411",
            "2026-11-23 credits 2.50 outage of 2026-11-23, ticket 4411",
        ]
    );
    assert_eq!(next["totals"]["adjustments"], "-3.69");
    assert_eq!(next["totals"]["total"], "-3.69");
    // Credits 48.18 - 2.50 taken; wallet 17.81 + 1.19 credited.
    assert_eq!(next["balances"]["credits"], "45.68");
    assert_eq!(next["balances"]["wallet"], "19.00");
    assert_eq!(next["movements"]["credits"]["adjustments"], "2.50");
    assert_eq!(next["movements"]["wallet"]["adjustments"], "-1.19");
    assert_eq!(next["movements"]["wallet"]["opening"], "17.81");

    // Billed once: the day after has nothing of them, and its balances start from them.
    let events = env.write(
        "later.csv",
        "event_id,ts,key_id,model,input_tokens,output_tokens\n\
         l-1,2026-11-25T05:00:00Z,dan-k1,MiniMax-M2,1000000,0\n",
    );
    env.run(&["events", "import", &events]).ok();
    env.bill("2026-11-25", &[]).ok();
    let after = env.statement_json("2026-11-25", "acme");
    assert!(
        after["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"] != "adjustment"),
        "{after}"
    );
    assert_eq!(after["movements"]["wallet"]["opening"], "19.00");
    assert_eq!(after["balances"]["wallet"], "18.70");
    assert_eq!(env.rows("adjustments_billed WHERE day = '2026-11-24'"), 3);

    // An Owner's view of the table shows them with their reasons; a Reader's does not.
    let table = show(&env, "olga", &[]);
    assert!(table.stdout.contains("Adjustments"), "{}", table.stdout);
    assert!(table.stdout.contains("ticket 4411"), "{}", table.stdout);
    let reader = show(&env, "bob", &["--format", "json"]);
    assert!(!reader.stdout.contains("adjustment"), "{}", reader.stdout);
    // An export's rows still add up to the statement's total.
    let csv = env
        .run(&[
            "billing",
            "export",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-24",
            "--team",
            "acme",
            "--format",
            "csv",
        ])
        .ok();
    let sum: rust_decimal::Decimal = csv
        .stdout
        .lines()
        .skip(1)
        .map(|row| {
            row.rsplit(',')
                .next()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum.to_string(), "-3.69");
}

#[test]
fn b24_a_bad_adjustment_exits_2_and_stores_nothing() {
    let env = demo();
    env.bill("2026-11-23", &[]).ok();
    env.run(&["operator", "add", "fin"]).ok();
    let audited = env.rows("audit_log");
    // (Team, day, amount, reason), and what the error says.
    for ((team, day, amount, reason), says) in [
        (("nope", "2026-11-23", "1", "x"), "no Team `nope`"),
        (
            ("acme", "2026-11-24", "1", "x"),
            "2026-11-24 has not been billed",
        ),
        (
            ("acme", "2026-11-23", "1.005", "x"),
            "more than 2 decimal places",
        ),
        (("acme", "2026-11-23", "ten", "x"), "not a decimal number"),
        (("acme", "2026-11-23", "0.00", "x"), "the amount is zero"),
        (("acme", "2026-11-23", "1", "  "), "the reason is empty"),
        (("acme", "2026-11-23", "1", "a\nb"), "control character"),
    ] {
        let extra = ["--reason", reason];
        let out = env.adjust("fin", (team, day), (amount, "charges"), &extra);
        assert_eq!(
            out.status, 2,
            "{team} {day} {amount} {reason}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    assert_eq!(env.rows("adjustments"), 0);
    assert_eq!(env.rows("audit_log"), audited);
    let bad_target = env.adjust(
        "fin",
        ("acme", "2026-11-23"),
        ("1", "seats"),
        &["--reason", "x"],
    );
    assert_eq!(bad_target.status, 2);
    // `operator add` is idempotent.
    let again = env.run(&["operator", "add", "fin"]).ok();
    assert!(again.stdout.contains("already"), "{}", again.stdout);
}

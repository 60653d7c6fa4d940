//! What a statement tells a payer beside its lines: its billing zone and day (B3, B25), the
//! period of each proration (B6), and how each balance moved (B25).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::support::{Env, repo};

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Every statement under `out`, by day then Team.
fn statements(out: &std::path::Path) -> Vec<Value> {
    let mut days: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    days.sort();
    let mut all = Vec::new();
    for day in days {
        let mut files: Vec<_> = std::fs::read_dir(&day)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("summary.json"))
            .collect();
        files.sort();
        for file in files {
            all.push(serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap());
        }
    }
    all
}

/// Checks B25 and the day's context on every statement of `out`, in day order; returns how
/// many top-ups they showed.
fn check_statements(out: &std::path::Path) -> usize {
    let mut closed: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut top_ups = 0;
    let all = statements(out);
    assert!(all.len() >= 8, "{} statements", all.len());
    for s in all {
        let team = s["team"].as_str().unwrap().to_owned();
        let day: NaiveDate = s["day"].as_str().unwrap().parse().unwrap();
        let (zone, hours) = match s["region"].as_str().unwrap() {
            "overseas" => ("UTC", 0),
            _ => ("UTC+08:00", 8),
        };
        assert_eq!(s["timezone"], zone, "{team} {day}");
        let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::hours(hours);
        assert_eq!(instant(&s["day_start"]), start, "{team} {day}");
        assert_eq!(
            instant(&s["day_end"]),
            start + Duration::days(1),
            "{team} {day}"
        );
        for line in s["lines"].as_array().unwrap() {
            if line["kind"] == "proration" {
                assert_eq!(line["period_start"], day.to_string());
                let end: NaiveDate = line["period_end"].as_str().unwrap().parse().unwrap();
                assert_eq!((end - day).num_days(), line["days"].as_i64().unwrap());
            }
        }
        let opening_before = closed.get(&team).copied().unwrap_or_default();
        let mut closing = (Decimal::ZERO, Decimal::ZERO);
        for (balance, spend, before, now) in [
            ("credits", "credits", opening_before.0, &mut closing.0),
            ("wallet", "payg", opening_before.1, &mut closing.1),
        ] {
            let m = &s["movements"][balance];
            let added: Decimal = m["top_ups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let at = instant(&t["at"]);
                    assert!(start <= at && at < start + Duration::days(1), "{t}");
                    top_ups += 1;
                    decimal(&t["amount"])
                })
                .sum();
            assert_eq!(
                decimal(&m["opening"]),
                before,
                "{team} {day} {balance} opening"
            );
            assert_eq!(decimal(&m["spend"]), decimal(&s["totals"][spend]));
            assert_eq!(
                decimal(&m["opening"]) + added - decimal(&m["spend"]) - decimal(&m["adjustments"]),
                decimal(&m["closing"]),
                "{team} {day} {balance}: {m}"
            );
            assert_eq!(m["closing"], s["balances"][balance]);
            *now = decimal(&m["closing"]);
        }
        closed.insert(team, closing);
    }
    top_ups
}

/// A store holding the demo's scenario and events.
pub(crate) fn demo() -> Env {
    let env = Env::new();
    let demo = repo().join("fixtures/demo");
    let (scenario, events) = (demo.join("scenario.yaml"), demo.join("events.csv"));
    env.run(&["apply", scenario.to_str().unwrap()]).ok();
    env.run(&["events", "import", events.to_str().unwrap()])
        .ok();
    env
}

#[test]
fn b25_movements_add_up_to_the_cent_and_chain_over_the_demo_and_sub_cent_top_ups() {
    let env = demo();
    // Top-ups finer than a cent, then usage from the balances they fed.
    let more = env.write(
        "more.yaml",
        r#"
- { at: "2026-11-24T01:00:00Z", as: olga, do: top_up_wallet, team: acme, amount: "0.005" }
- { at: "2026-11-24T01:01:00Z", as: olga, do: top_up_wallet, team: acme, amount: "0.333333" }
- { at: "2026-11-24T01:02:00Z", as: olga, do: top_up_wallet, team: acme, amount: "0.333333" }
- { at: "2026-11-25T01:00:00Z", as: olga, do: top_up_credits, team: acme, amount: "0.004999" }
- { at: "2026-11-26T01:00:00Z", as: olga, do: top_up_wallet, team: acme, amount: "0.015" }
"#,
    );
    env.run(&["apply", &more]).ok();
    let events = env.write(
        "more.csv",
        "event_id,ts,key_id,model,input_tokens,output_tokens\n\
         m-1,2026-11-24T05:00:00Z,dan-k1,MiniMax-M2,1000000,1000\n\
         m-2,2026-11-26T05:00:00Z,dan-k1,MiniMax-M2,30000000,0\n",
    );
    env.run(&["events", "import", &events]).ok();
    env.bill("2026-11-27", &[]).ok();
    assert!(check_statements(&env.out()) >= 7);
    // The wallet's sub-cent top-ups: 17.81 - 0.30 spent on the 23rd's usage is not all; what
    // the 24th shows adds up, and the 26th's top-up of 0.015 moves the rounded balance.
    let day = |d: &str| env.statement_json(d, "acme");
    let wallet = &day("2026-11-24")["movements"]["wallet"];
    let shown: Vec<_> = wallet["top_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, ["0.01", "0.33", "0.33"], "{wallet}");
}

#[test]
fn b15_a_statement_billed_before_movements_were_shown_is_reproduced_as_it_was() {
    let env = demo();
    env.bill("2026-11-23", &[]).ok();
    // The body an older version stored for this day: no zone, bounds, periods or movements.
    let body = std::fs::read_to_string(repo().join("tests/golden/before-b25/acme-2026-11-23.json"))
        .unwrap();
    assert_ne!(env.statement("2026-11-23", "acme").unwrap(), body);
    env.sql(&format!(
        "UPDATE statements SET body = '{}' WHERE team_id = 'acme' AND day = '2026-11-23'",
        body.replace('\'', "''")
    ));
    std::fs::remove_dir_all(env.out()).unwrap();
    env.bill("2026-11-23", &[]).ok();
    assert_eq!(env.statement("2026-11-23", "acme").unwrap(), body);
    let shown = env
        .run(&[
            "billing",
            "show",
            "--date",
            "2026-11-23",
            "--team",
            "acme",
            "--as",
            "olga",
        ])
        .ok();
    assert!(shown.stdout.contains("seats added"), "{}", shown.stdout);
}

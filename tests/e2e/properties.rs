//! Invariants of the billing job over generated stores (proptest): every event read is settled
//! exactly once (B13), every total is the sum of its lines (B7), nothing is billed twice across
//! days (B14), and re-running a day changes nothing (B15).

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tokenplan::billing::{self, Statement};
use tokenplan::generate::{Shape, generate};
use tokenplan::prices::Prices;
use tokenplan::store::Store;

fn day(d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// Bills every day through `d` (B18); the report of `d`.
fn bill(store: &mut Store, prices: &Prices, d: u32) -> billing::DayReport {
    let options = billing::RunOptions {
        prices,
        days: billing::Days::Through(day(d)),
        now: chrono::Utc::now(),
        out: None,
        metrics: None,
        window: None,
    };
    billing::run(store, &options, &mut ()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn b7_b13_b14_b15_events_and_money_are_conserved(
        teams in 1usize..6,
        members in 1usize..8,
        events in 0u64..400,
        duplicates in 0u64..20,
        bad in 0u64..10,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.duckdb")).unwrap();
        let prices = Prices::bundled().unwrap();
        let shape = Shape { teams, members, days: 2, events, last_day: day(23) };
        generate(&mut store, shape, &indicatif::ProgressBar::hidden()).unwrap();
        drop(store);
        let conn = duckdb::Connection::open(dir.path().join("p.duckdb")).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO usage_events SELECT * FROM usage_events ORDER BY event_id LIMIT {duplicates};
             INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
               SELECT 'bad' || i, TIMESTAMPTZ '2026-11-22 12:00:00+00', CASE WHEN i % 2 = 0 THEN 'nope' ELSE 'tp:t0:u0_0' END,
                      'MiniMax-M2', CASE WHEN i % 2 = 1 THEN -1 ELSE 5 END, 1 FROM range({bad}) t(i);"
        )).unwrap();
        let total: i64 = conn.query_row("SELECT count(*) FROM usage_events", [], |r| r.get(0)).unwrap();
        drop(conn);
        let mut store = Store::open(&dir.path().join("p.duckdb")).unwrap();

        let first = bill(&mut store, &prices, 22);
        let second = bill(&mut store, &prices, 23);
        let third = bill(&mut store, &prices, 24);
        let mut read = 0;
        for report in [&first, &second, &third] {
            let s = &report.summary;
            let settled = s.billed + s.unfunded + s.duplicates + s.quarantined.values().sum::<u64>();
            prop_assert_eq!(settled, s.events_read, "B13: every event read is settled once");
            read += s.events_read;
            for statement in &report.statements {
                check_totals(statement)?;
            }
        }
        prop_assert_eq!(read as i64, total, "B14: over the days, each stored event is read exactly once");

        let again = bill(&mut store, &prices, 23);
        prop_assert!(again.reproduced);
        prop_assert_eq!(json(&again.statements), json(&second.statements), "B15: same bytes");
        prop_assert_eq!(again.summary, second.summary);
    }
}

fn json(statements: &[Statement]) -> BTreeMap<String, String> {
    statements
        .iter()
        .map(|s| (s.team.to_string(), s.to_json().unwrap()))
        .collect()
}

fn check_totals(statement: &Statement) -> Result<(), TestCaseError> {
    let sum: Decimal = statement.lines.iter().map(|l| l.amount().decimal()).sum();
    prop_assert_eq!(
        sum,
        statement.totals.total.decimal(),
        "B7: the total is the sum of the rounded lines"
    );
    for line in &statement.lines {
        prop_assert_eq!(
            line.amount().decimal().round_dp(2),
            line.amount().decimal(),
            "B7: each line is rounded to cents"
        );
    }
    Ok(())
}

/// One random operation in a Team with owner `own` and users `u0..u119`.
fn operation(kind: u8, n: u32) -> tokenplan::teams::Operation {
    use tokenplan::teams::Operation::*;
    use tokenplan::teams::Seats;
    let team: tokenplan::ids::TeamId = "t".parse().unwrap();
    let user: tokenplan::ids::UserId = format!("u{}", n % 120).parse().unwrap();
    match kind % 7 {
        0 | 1 => Invite {
            team,
            user,
            role: if n.is_multiple_of(3) {
                gatekeeper::Role::Admin
            } else {
                gatekeeper::Role::Reader
            },
        },
        2 => AddSeats {
            team,
            tier: "plus".into(),
            seats: Seats::new(1 + n % 30).unwrap(),
        },
        3 => AssignSeat {
            team,
            tier: "plus".into(),
            user,
        },
        4 => RemoveSeats {
            team,
            tier: "plus".into(),
            seats: Seats::new(1 + n % 5).unwrap(),
        },
        5 => CreatePaygKey {
            team,
            key: format!("k{n}").parse().unwrap(),
        },
        _ => RemoveMember { team, user },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn t4_t5_t6_p3_s2_limits_are_never_exceeded(steps in proptest::collection::vec((any::<u8>(), any::<u32>(), 0u8..3), 1..160)) {
        use tokenplan::teams::{Operation, Seats, Step, Teams};
        let gate = gatekeeper::Gatekeeper::bundled().unwrap();
        let prices = Prices::bundled().unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let mut teams = Teams::new(&mut store, &gate, &prices);
        let mut at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let mut tick = || { at += chrono::Duration::hours(7); at };
        for user in std::iter::once("own".to_owned()).chain((0..120).map(|i| format!("u{i}"))) {
            teams.apply(&Step::new(user.parse().unwrap(), Operation::CreateAccount { region: gatekeeper::Region::Overseas }, tick())).unwrap();
        }
        let own: tokenplan::ids::UserId = "own".parse().unwrap();
        let t: tokenplan::ids::TeamId = "t".parse().unwrap();
        teams.apply(&Step::new(own.clone(), Operation::CreateTeam { team: t.clone(), region: gatekeeper::Region::Overseas }, tick())).unwrap();
        teams.apply(&Step::new(own.clone(), Operation::BuySubscription { team: t.clone(), tier: "plus".into(), seats: Seats::ONE }, tick())).unwrap();
        // The Team is filled to its limit first, so the random steps start at the T5 boundary:
        // every invite up to the 100th member is allowed, the next one refused.
        for i in 0..99 {
            let invite = Operation::Invite { team: t.clone(), user: format!("u{i}").parse().unwrap(), role: gatekeeper::Role::Reader };
            prop_assert!(teams.apply(&Step::new(own.clone(), invite, tick())).unwrap().decision().is_some_and(|d| d.is_allowed()), "invite {}", i + 2);
        }
        let one_more = Operation::Invite { team: t.clone(), user: "u99".parse().unwrap(), role: gatekeeper::Role::Reader };
        let refused = teams.apply(&Step::new(own.clone(), one_more, tick())).unwrap();
        prop_assert!(refused.decision().is_some_and(|d| !d.is_allowed() && d.rules().contains(&"T5")), "T5 at 100 members");
        for (kind, n, actor) in steps {
            let operation = operation(kind, n);
            // The Owner, an admin-ish or a reader-ish member acts; references that don't
            // exist are input errors and change nothing.
            let actor = match actor { 0 => own.clone(), _ => format!("u{}", n % 7).parse().unwrap() };
            let _ = teams.apply(&Step::new(actor, operation, tick()));
        }
        drop(teams);
        let state = tokenplan::teams::team_state(&store, "t", at).unwrap().unwrap();
        prop_assert!(state.members.len() <= 100, "T5: {} members", state.members.len());
        prop_assert!(state.seat_count() <= 100, "T6");
        prop_assert_eq!(state.members.values().filter(|m| m.role == gatekeeper::Role::Owner).count(), 1, "T4");
        for user in state.members.keys() {
            prop_assert!(state.live_keys_of(user) <= 5, "P3");
            let seats = state.subscriptions.values().flat_map(|s| s.holders.values()).filter(|h| &h.user == user).count();
            prop_assert!(seats <= 1, "S2");
        }
    }
}

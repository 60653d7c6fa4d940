//! `generate`: a synthetic store for benchmarks and load tests. Teams, members, seats and keys
//! are appended as the records `apply` would write (no decisions are logged); usage events are
//! generated inside DuckDB, deterministically from their index.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use duckdb::params;
use gatekeeper::{Region, Role};
use rust_decimal::Decimal;

use crate::calendar;
use crate::store::{Store, StoreError, query_error};
use crate::teams::{Operation, Seats, TopUp};

/// The size of a synthetic store.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Teams; every second one is domestic.
    pub teams: usize,
    /// Members per Team, the Owner included (at most 100, T5).
    pub members: usize,
    /// Days of events, ending with `last_day`.
    pub days: u32,
    /// Events in all.
    pub events: u64,
    /// The last day with events.
    pub last_day: NaiveDate,
}

/// Appends the Teams and events of `shape` to an empty store.
pub fn generate(
    store: &mut Store,
    shape: Shape,
    progress: &indicatif::ProgressBar,
) -> Result<(), StoreError> {
    let what = "cannot generate the store";
    let setup: DateTime<Utc> = calendar::day_start(shape.last_day, Region::Overseas)
        - Duration::days(i64::from(shape.days) + 20);
    let tx = store.conn_mut().transaction().map_err(query_error(what))?;
    {
        let mut users = tx.appender("users").map_err(query_error(what))?;
        let mut teams = tx.appender("teams").map_err(query_error(what))?;
        let mut records = tx.appender("team_records").map_err(query_error(what))?;
        let mut keys = tx.appender("payg_keys").map_err(query_error(what))?;
        let mut seq: i64 = 1;
        let mut record = |team: &str,
                          actor: &str,
                          at: DateTime<Utc>,
                          operation: Operation|
         -> Result<(), StoreError> {
            let payload = serde_json::to_string(&operation).map_err(|e| StoreError::Corrupt {
                table: "team_records",
                message: e.to_string(),
            })?;
            records
                .append_row(params![seq, team, at, actor, operation.name(), payload])
                .map_err(query_error(what))?;
            seq += 1;
            Ok(())
        };
        #[expect(clippy::expect_used, reason = "100 is a positive whole amount")]
        let hundred = TopUp::new(Decimal::ONE_HUNDRED).expect("a valid top-up");
        progress.set_length(shape.teams as u64);
        for t in 0..shape.teams {
            let team = format!("t{t}");
            let region = if t % 2 == 0 {
                Region::Overseas
            } else {
                Region::Domestic
            };
            let user = |m: usize| format!("u{t}_{m}");
            for m in 0..shape.members {
                users
                    .append_row(params![user(m), region.as_str(), setup])
                    .map_err(query_error(what))?;
            }
            teams
                .append_row(params![team, region.as_str(), false, user(0), setup])
                .map_err(query_error(what))?;
            let seats = shape.members.div_ceil(2);
            let mut at = setup;
            let mut step = |op: Operation, actor: &str| {
                at += Duration::seconds(1);
                record(&team, actor, at, op)
            };
            for m in 1..shape.members {
                step(
                    Operation::Invite {
                        team: team.clone(),
                        user: user(m),
                        role: Role::Reader,
                    },
                    &user(0),
                )?;
            }
            step(
                Operation::BuySubscription {
                    team: team.clone(),
                    tier: "plus".into(),
                    seats: u32::try_from(seats)
                        .ok()
                        .and_then(|seats| Seats::new(seats).ok())
                        .unwrap_or(Seats::ONE),
                },
                &user(0),
            )?;
            for m in 0..seats {
                step(
                    Operation::AssignSeat {
                        team: team.clone(),
                        tier: "plus".into(),
                        user: user(m),
                    },
                    &user(0),
                )?;
            }
            step(
                Operation::TopUpCredits {
                    team: team.clone(),
                    amount: hundred,
                },
                &user(0),
            )?;
            step(
                Operation::TopUpWallet {
                    team: team.clone(),
                    amount: hundred,
                },
                &user(0),
            )?;
            step(
                Operation::CreatePaygKey {
                    team: team.clone(),
                    key: format!("k{t}"),
                },
                &user(0),
            )?;
            keys.append_row(params![format!("k{t}"), team, user(0), at])
                .map_err(query_error(what))?;
            progress.inc(1);
        }
    }
    tx.execute(
        "SELECT setval('record_seq', (SELECT max(seq) FROM team_records))",
        [],
    )
    .ok();
    progress.set_message(format!("{} events", shape.events));
    // Events over the days, in UTC; one in 20 uses the Team's pay-as-you-go key.
    let first = calendar::day_start(shape.last_day, Region::Overseas)
        - Duration::days(i64::from(shape.days) - 1);
    let span_us = i64::from(shape.days) * 86_400_000_000;
    tx.execute(
        "INSERT INTO usage_events
         SELECT 'g' || i,
                make_timestamp(? + (hash(i) % ?)::BIGINT)::TIMESTAMPTZ,
                CASE WHEN i % 20 = 0 THEN 'k' || (i // 20) % ?
                     ELSE 'tp:t' || (hash(i * 7) % ?) || ':u' || (hash(i * 7) % ?) || '_' || (hash(i * 13) % ?) END,
                CASE WHEN i % 3 = 0 THEN 'MiniMax-M2-Lite' ELSE 'MiniMax-M2' END,
                (100 + hash(i * 17) % 20000)::BIGINT,
                (50 + hash(i * 19) % 5000)::BIGINT,
                make_timestamp(? + (hash(i) % ?)::BIGINT)::TIMESTAMPTZ
         FROM range(?) t(i)",
        params![
            first.timestamp_micros(),
            span_us,
            shape.teams as i64,
            shape.teams as i64,
            shape.teams as i64,
            shape.members as i64,
            first.timestamp_micros(),
            span_us,
            shape.events as i64
        ],
    )
    .map_err(query_error(what))?;
    tx.commit().map_err(query_error(what))
}

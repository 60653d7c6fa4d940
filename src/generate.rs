//! `generate`: a synthetic store for benchmarks and load tests. Teams, members, seats and keys
//! are appended as the records `apply` would write (no decisions are logged); usage events are
//! generated inside DuckDB, deterministically from their index.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gatekeeper::{Region, Role};
use rust_decimal::Decimal;

use crate::calendar;
use crate::ids::{IdError, PaygKeyId, TeamId, UserId};
use crate::store::{Generated, Store, StoreError, SyntheticEvents};
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
    let setup: DateTime<Utc> = calendar::day_start(shape.last_day, Region::Overseas)
        - Duration::days(i64::from(shape.days) + 20);
    // Events over the days, in UTC; one in 20 uses the Team's pay-as-you-go key.
    let first = calendar::day_start(shape.last_day, Region::Overseas)
        - Duration::days(i64::from(shape.days) - 1);
    let events = SyntheticEvents {
        count: shape.events as i64,
        first_us: first.timestamp_micros(),
        span_us: i64::from(shape.days) * 86_400_000_000,
        teams: shape.teams as i64,
        members: shape.members as i64,
    };
    store.generate(
        |generated| {
            progress.set_length(shape.teams as u64);
            for t in 0..shape.teams {
                team(generated, t, shape.members, setup)?;
                progress.inc(1);
            }
            progress.set_message(format!("{} events", shape.events));
            Ok(())
        },
        events,
    )
}

/// An id `generate` makes: a letter, digits and `_`.
#[expect(clippy::expect_used, reason = "a letter, digits and `_` follow T7")]
fn id<T: FromStr<Err = IdError>>(text: String) -> T {
    text.parse().expect("an id of a letter, digits and `_`")
}

/// Appends the Team `t<t>`: its members, their invitations, a subscription with a seat for
/// half of them, top-ups and a pay-as-you-go key.
fn team(
    generated: &mut Generated<'_>,
    t: usize,
    members: usize,
    setup: DateTime<Utc>,
) -> Result<(), StoreError> {
    let team: TeamId = id(format!("t{t}"));
    let region = if t.is_multiple_of(2) {
        Region::Overseas
    } else {
        Region::Domestic
    };
    let user = |m: usize| -> UserId { id(format!("u{t}_{m}")) };
    let owner = user(0);
    for m in 0..members {
        generated.user(user(m).as_str(), region, setup)?;
    }
    generated.team(team.as_str(), region, owner.as_str(), setup)?;
    let seats = members.div_ceil(2);
    #[expect(clippy::expect_used, reason = "100 is a positive whole amount")]
    let hundred = TopUp::new(Decimal::ONE_HUNDRED).expect("a valid top-up");
    let mut at = setup;
    let mut step = |generated: &mut Generated<'_>, operation: Operation| {
        at += Duration::seconds(1);
        let payload = serde_json::to_string(&operation).map_err(|e| StoreError::Corrupt {
            table: "team_records",
            message: e.to_string(),
        })?;
        generated.record(
            team.as_str(),
            at,
            owner.as_str(),
            operation.name(),
            &payload,
        )?;
        Ok::<_, StoreError>(at)
    };
    for m in 1..members {
        step(
            generated,
            Operation::Invite {
                team: team.clone(),
                user: user(m),
                role: Role::Reader,
            },
        )?;
    }
    step(
        generated,
        Operation::BuySubscription {
            team: team.clone(),
            tier: "plus".into(),
            seats: u32::try_from(seats)
                .ok()
                .and_then(|seats| Seats::new(seats).ok())
                .unwrap_or(Seats::ONE),
        },
    )?;
    for m in 0..seats {
        step(
            generated,
            Operation::AssignSeat {
                team: team.clone(),
                tier: "plus".into(),
                user: user(m),
            },
        )?;
    }
    step(
        generated,
        Operation::TopUpCredits {
            team: team.clone(),
            amount: hundred,
        },
    )?;
    step(
        generated,
        Operation::TopUpWallet {
            team: team.clone(),
            amount: hundred,
        },
    )?;
    let key: PaygKeyId = id(format!("k{t}"));
    let created = step(
        generated,
        Operation::CreatePaygKey {
            team: team.clone(),
            key: key.clone(),
        },
    )?;
    generated.payg_key(key.as_str(), team.as_str(), owner.as_str(), created)
}

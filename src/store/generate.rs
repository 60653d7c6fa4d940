//! A synthetic store's rows, appended in bulk for benchmarks and load tests: Teams, members,
//! seats and keys as the records a decided step would write (no decision is logged), and usage
//! events generated inside DuckDB, deterministically from their index.

use chrono::{DateTime, Utc};
use duckdb::{Appender, params};
use gatekeeper::Region;

use super::{Store, StoreError, query_error};

const WHAT: &str = "cannot generate the store";

/// The appenders of a synthetic store's accounts, Teams, records and keys.
pub struct Generated<'a> {
    users: Appender<'a>,
    teams: Appender<'a>,
    records: Appender<'a>,
    keys: Appender<'a>,
    /// The next record's `seq`.
    seq: i64,
}

impl Generated<'_> {
    /// An account.
    pub fn user(
        &mut self,
        user: &str,
        region: Region,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.users
            .append_row(params![user, region.as_str(), at])
            .map_err(query_error(WHAT))
    }

    /// A Team that is not a Default Team.
    pub fn team(
        &mut self,
        team: &str,
        region: Region,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.teams
            .append_row(params![team, region.as_str(), false, owner, at])
            .map_err(query_error(WHAT))
    }

    /// A Team record: the operation's name and its payload (JSON).
    pub fn record(
        &mut self,
        team: &str,
        at: DateTime<Utc>,
        actor: &str,
        operation: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        self.records
            .append_row(params![self.seq, team, at, actor, operation, payload])
            .map_err(query_error(WHAT))?;
        self.seq += 1;
        Ok(())
    }

    /// A pay-as-you-go key.
    pub fn payg_key(
        &mut self,
        key: &str,
        team: &str,
        creator: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.keys
            .append_row(params![key, team, creator, at])
            .map_err(query_error(WHAT))
    }
}

/// Synthetic usage events, each a function of its index `i`: its time within `span_us` of
/// `first_us` (µs since the epoch), growing with `i` give or take a minute as a gateway appends
/// them (so the store's zone maps on `ts` prune as on a real one), every 20th on the
/// pay-as-you-go key `k<TEAM>`, the others on the Token Plan Key of a member `u<TEAM>_<MEMBER>`
/// of a Team `t<TEAM>`.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticEvents {
    /// How many.
    pub count: i64,
    /// The earliest time, µs since the epoch.
    pub first_us: i64,
    /// The span of their times, µs.
    pub span_us: i64,
    /// Teams, numbered from 0.
    pub teams: i64,
    /// Members per Team, numbered from 0.
    pub members: i64,
}

impl Store {
    /// Appends, in one transaction, the rows `fill` writes and then `events`.
    pub fn generate(
        &mut self,
        fill: impl FnOnce(&mut Generated<'_>) -> Result<(), StoreError>,
        events: SyntheticEvents,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(query_error(WHAT))?;
        {
            let mut generated = Generated {
                users: tx.appender("users").map_err(query_error(WHAT))?,
                teams: tx.appender("teams").map_err(query_error(WHAT))?,
                records: tx.appender("team_records").map_err(query_error(WHAT))?,
                keys: tx.appender("payg_keys").map_err(query_error(WHAT))?,
                seq: 1,
            };
            fill(&mut generated)?;
        }
        tx.execute(
            "SELECT setval('record_seq', (SELECT max(seq) FROM team_records))",
            [],
        )
        .ok();
        tx.execute(
            "INSERT INTO usage_events
             SELECT 'g' || i,
                    make_timestamp(? + least((i::DOUBLE * ? / ?)::BIGINT + (hash(i) % 60000000)::BIGINT, ? - 1))::TIMESTAMPTZ,
                    CASE WHEN i % 20 = 0 THEN 'k' || (i // 20) % ?
                         ELSE 'tp:t' || (hash(i * 7) % ?) || ':u' || (hash(i * 7) % ?) || '_' || (hash(i * 13) % ?) END,
                    CASE WHEN i % 3 = 0 THEN 'MiniMax-M2-Lite' ELSE 'MiniMax-M2' END,
                    (100 + hash(i * 17) % 20000)::BIGINT,
                    (50 + hash(i * 19) % 5000)::BIGINT,
                    make_timestamp(? + least((i::DOUBLE * ? / ?)::BIGINT + (hash(i) % 60000000)::BIGINT, ? - 1))::TIMESTAMPTZ
             FROM range(?) t(i)",
            params![
                events.first_us,
                events.span_us,
                events.count,
                events.span_us,
                events.teams,
                events.teams,
                events.teams,
                events.members,
                events.first_us,
                events.span_us,
                events.count,
                events.span_us,
                events.count
            ],
        )
        .map_err(query_error(WHAT))?;
        tx.commit().map_err(query_error(WHAT))
    }
}

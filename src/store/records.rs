//! Team histories: what a decided step appends (`audit_log`, its identity, `team_records` and
//! the rows of what it creates), and the records read back. Only checked ids (T7) are
//! appended. Payloads are opaque JSON here: the store depends on nothing above it, and `teams`
//! decodes them.

use chrono::{DateTime, Utc};
use duckdb::{Connection, OptionalExt, params};
use gatekeeper::{Decision, Region};

use super::{Store, StoreError, execute, query_error};
use crate::ids::{PaygKeyId, TeamId, UserId};

/// What one decided step appends.
pub struct Entry<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a UserId,
    /// The Team acted in.
    pub team: &'a TeamId,
    /// The operation's name (`add_member`, ...).
    pub operation: &'a str,
    /// The operation as JSON: in the step's identity, and in the Team's history when allowed.
    pub payload: &'a str,
    /// The account, Team or key an allowed step creates.
    pub creates: Option<Creates<'a>>,
    pub decision: &'a Decision,
    /// The step's `id` (its idempotency key), when it has one.
    pub step_id: Option<&'a str>,
}

/// A row an allowed step creates besides its record.
#[derive(Debug, Clone, Copy)]
pub enum Creates<'a> {
    /// An account (`users`) and its Default Team, the entry's Team, both named after the
    /// actor.
    Account { region: Region },
    /// A Team the actor owns.
    Team { team: &'a TeamId, region: Region },
    PaygKey {
        team: &'a TeamId,
        key: &'a PaygKeyId,
    },
}

/// One row of `team_records`, as stored: its ids not yet checked, its payload not yet decoded.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub team: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The operation as JSON.
    pub payload: String,
}

/// A decided step's identity, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepIdentity {
    pub team: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The operation with its fields, as JSON.
    pub payload: String,
}

impl Store {
    /// Appends a decided step in one transaction (or in [`Store::begin`]'s): the decision to
    /// the audit log and, when allowed, the operation to the Team's history with what it
    /// creates.
    pub fn append(&mut self, entry: &Entry<'_>) -> Result<(), StoreError> {
        let what = format!("cannot record `{}` on `{}`", entry.operation, entry.team);
        if self.in_transaction() {
            // The caller commits or rolls back.
            return append_rows(self.conn(), entry, &what);
        }
        let tx = self
            .conn_mut()
            .transaction()
            .map_err(query_error(what.clone()))?;
        append_rows(&tx, entry, &what)?;
        tx.commit().map_err(query_error(what))
    }

    /// The identity of the step stored with `id`, and whether it was allowed.
    pub fn step_with_id(&self, id: &str) -> Result<Option<(StepIdentity, bool)>, StoreError> {
        super::query_row(
            self.conn(),
            "SELECT team_id, occurred_at, actor, payload, allowed FROM step_identities
             WHERE step_id = ?",
            [id],
            |r| {
                let identity = StepIdentity {
                    team: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    payload: r.get(3)?,
                };
                Ok((identity, r.get(4)?))
            },
        )
        .optional()
        .map_err(query_error("cannot look up a step's id"))
    }

    /// Whether a step of this identity is stored (under any `id` or none), and if so, whether
    /// it was allowed.
    pub fn step_like(&self, identity: &StepIdentity) -> Result<Option<bool>, StoreError> {
        super::query_row(
            self.conn(),
            "SELECT bool_or(allowed) FROM step_identities
             WHERE occurred_at = ? AND team_id = ? AND actor = ? AND payload = ?",
            params![identity.at, identity.team, identity.actor, identity.payload],
            |r| r.get(0),
        )
        .map_err(query_error("cannot look up a step"))
    }

    /// A Team's records up to and including `at`, in the order they were decided.
    pub fn records_of(
        &self,
        team: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.records(
            "SELECT team_id, occurred_at, actor, payload FROM team_records
             WHERE team_id = ? AND occurred_at <= ? ORDER BY occurred_at, seq",
            params![team, at],
            &format!("cannot read the history of `{team}`"),
        )
    }

    /// Every Team's records from `since` (the first, when `None`) to before `until`, by Team,
    /// each Team's in the order they were decided.
    pub fn records_between(
        &self,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.records(
            "SELECT team_id, occurred_at, actor, payload FROM team_records
             WHERE occurred_at >= coalesce(?, '-infinity'::TIMESTAMPTZ) AND occurred_at < ?
             ORDER BY team_id, occurred_at, seq",
            params![since, until],
            "cannot read Team histories",
        )
    }

    fn records(
        &self,
        sql: &str,
        params: impl duckdb::Params,
        what: &str,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut stmt = self.conn().prepare_cached(sql).map_err(query_error(what))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(StoredRecord {
                    team: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    payload: r.get(3)?,
                })
            })
            .map_err(query_error(what))?;
        rows.collect::<Result<_, _>>().map_err(query_error(what))
    }
}

/// Appends `decision`, made at `at` on `operation` by `actor` in `team`, to `audit_log`.
pub(super) fn audit(
    tx: &Connection,
    at: DateTime<Utc>,
    actor: &str,
    team: &TeamId,
    operation: &str,
    decision: &Decision,
) -> duckdb::Result<usize> {
    let policies: Vec<&str> = decision.policies().iter().map(|p| p.id.as_str()).collect();
    execute(
        tx,
        "INSERT INTO audit_log VALUES (nextval('record_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            at,
            actor,
            team.as_str(),
            operation,
            decision.is_allowed(),
            policies.join(","),
            decision.rules().join(","),
            decision.explain(),
            decision.digest()
        ],
    )
}

/// The rows of one decided step.
fn append_rows(tx: &Connection, entry: &Entry<'_>, what: &str) -> Result<(), StoreError> {
    let decision = entry.decision;
    audit(
        tx,
        entry.at,
        entry.actor.as_str(),
        entry.team,
        entry.operation,
        decision,
    )
    .map_err(query_error(what))?;
    execute(
        tx,
        "INSERT INTO step_identities VALUES (?, ?, ?, ?, ?, ?)",
        params![
            entry.step_id,
            entry.team.as_str(),
            entry.at,
            entry.actor.as_str(),
            entry.payload,
            decision.is_allowed()
        ],
    )
    .map_err(query_error(what))?;
    if !decision.is_allowed() {
        return Ok(());
    }
    match entry.creates {
        Some(Creates::Account { region }) => {
            execute(
                tx,
                "INSERT INTO users VALUES (?, ?, ?)",
                params![entry.actor.as_str(), region.as_str(), entry.at],
            )
            .map_err(query_error(what))?;
            insert_team(tx, entry.team, region, true, entry.actor, entry.at)
                .map_err(query_error(what))?;
        }
        Some(Creates::Team { team, region }) => {
            insert_team(tx, team, region, false, entry.actor, entry.at)
                .map_err(query_error(what))?;
        }
        Some(Creates::PaygKey { team, key }) => {
            execute(
                tx,
                "INSERT INTO payg_keys VALUES (?, ?, ?, ?)",
                params![key.as_str(), team.as_str(), entry.actor.as_str(), entry.at],
            )
            .map_err(query_error(what))?;
        }
        None => {}
    }
    execute(
        tx,
        "INSERT INTO team_records VALUES (nextval('record_seq'), ?, ?, ?, ?, ?)",
        params![
            entry.team.as_str(),
            entry.at,
            entry.actor.as_str(),
            entry.operation,
            entry.payload
        ],
    )
    .map_err(query_error(what))?;
    Ok(())
}

fn insert_team(
    tx: &Connection,
    team: &TeamId,
    region: Region,
    is_default: bool,
    owner: &UserId,
    at: DateTime<Utc>,
) -> duckdb::Result<usize> {
    execute(
        tx,
        "INSERT INTO teams VALUES (?, ?, ?, ?, ?)",
        params![
            team.as_str(),
            region.as_str(),
            is_default,
            owner.as_str(),
            at
        ],
    )
}

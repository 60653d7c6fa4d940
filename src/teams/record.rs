//! The one decoder of `team_records`: stored payloads become [`Operation`]s, and a Team's
//! history folds into its state.

use chrono::{DateTime, Utc};

use super::{Operation, TeamState};
use crate::store::{Store, StoreError, StoredRecord, TeamRow};

/// A recorded operation.
#[derive(Debug, Clone)]
pub struct Record {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub operation: Operation,
}

impl Record {
    /// Decodes a stored record's payload.
    pub fn decode(stored: StoredRecord) -> Result<Record, StoreError> {
        let operation = serde_json::from_str(&stored.payload).map_err(|e| StoreError::Corrupt {
            table: "team_records",
            message: format!("Team `{}` at {}: {e}", stored.team, stored.at),
        })?;
        Ok(Record {
            at: stored.at,
            actor: stored.actor,
            operation,
        })
    }
}

/// A Team's state at `at`: its records up to `at` folded, renewals applied.
pub fn team_state(
    store: &Store,
    team: &str,
    at: DateTime<Utc>,
) -> Result<Option<TeamState>, StoreError> {
    let Some(row) = store.team(team)? else {
        return Ok(None);
    };
    let mut state = TeamState::new(
        &row.id,
        row.region,
        row.is_default,
        &row.owner,
        row.created_at,
    );
    for stored in store.records_of(team, at)? {
        let record = Record::decode(stored)?;
        state.advance_to(record.at);
        state
            .apply(&record.actor, &record.operation, record.at)
            .map_err(|e| StoreError::Corrupt {
                table: "team_records",
                message: format!("Team `{team}` at {}: {e}", record.at),
            })?;
    }
    state.advance_to(at);
    Ok(Some(state))
}

/// Every Team with its records before `until`, in time order.
pub fn histories(
    store: &Store,
    until: DateTime<Utc>,
) -> Result<Vec<(TeamRow, Vec<Record>)>, StoreError> {
    let mut teams: Vec<(TeamRow, Vec<Record>)> = store
        .teams()?
        .into_iter()
        .map(|row| (row, Vec::new()))
        .collect();
    let index: std::collections::HashMap<String, usize> = teams
        .iter()
        .enumerate()
        .map(|(i, (row, _))| (row.id.clone(), i))
        .collect();
    for stored in store.records_before(until)? {
        if let Some(&i) = index.get(&stored.team) {
            teams[i].1.push(Record::decode(stored)?);
        }
    }
    Ok(teams)
}

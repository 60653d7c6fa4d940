//! The one decoder of `team_records`: stored rows become [`Record`]s, their ids and payloads
//! checked as they are read, and a Team's history folds into its state.

use chrono::{DateTime, Utc};

use super::{Operation, TeamState};
use crate::calendar;
use crate::ids::{UserId, escaped};
use crate::store::{Store, StoreError, StoredRecord, TeamRow};

/// A recorded operation.
#[derive(Debug, Clone)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub actor: UserId,
    pub operation: Operation,
}

impl Record {
    /// Decodes a stored record: an actor that breaks T7, a time outside the calendar or a
    /// payload that is not an operation (a store edited by hand) is an error.
    pub fn decode(stored: StoredRecord) -> Result<Record, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
            table: "team_records",
            message: format!("Team `{}` at {}: {e}", escaped(&stored.team), stored.at),
        };
        let at = calendar::check_instant(stored.at).map_err(|e| corrupt(&e))?;
        let actor = stored.actor.parse().map_err(|e| corrupt(&e))?;
        let operation = serde_json::from_str(&stored.payload).map_err(|e| corrupt(&e))?;
        Ok(Record {
            at,
            actor,
            operation,
        })
    }
}

/// `row`, unless it was created outside the calendar tokenplan takes (a store edited by hand).
fn checked(row: TeamRow) -> Result<TeamRow, StoreError> {
    match calendar::check_instant(row.created_at) {
        Ok(_) => Ok(row),
        Err(e) => Err(StoreError::Corrupt {
            table: "teams",
            message: format!("Team `{}`: {e}", escaped(&row.id)),
        }),
    }
}

/// A Team's state at `at`: its records up to `at` folded, renewals applied.
pub fn team_state(
    store: &Store,
    team: &str,
    at: DateTime<Utc>,
) -> Result<Option<TeamState>, StoreError> {
    let Some(row) = store.team(team)?.map(checked).transpose()? else {
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

/// Every Team with its records from `since` (the first, when `None`) to before `until`, in
/// time order.
pub fn histories(
    store: &Store,
    since: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> Result<Vec<(TeamRow, Vec<Record>)>, StoreError> {
    let mut teams: Vec<(TeamRow, Vec<Record>)> = store
        .teams()?
        .into_iter()
        .map(|row| Ok((checked(row)?, Vec::new())))
        .collect::<Result<_, StoreError>>()?;
    let index: std::collections::HashMap<String, usize> = teams
        .iter()
        .enumerate()
        .map(|(i, (row, _))| (row.id.clone(), i))
        .collect();
    for stored in store.records_between(since, until)? {
        if let Some(&i) = index.get(&stored.team) {
            teams[i].1.push(Record::decode(stored)?);
        }
    }
    Ok(teams)
}

//! `billing status`: the latest billed day, the days not yet billed up to yesterday, the
//! events not yet settled, and how the last run ended.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::run::{BillingError, default_day, first_day};
use crate::calendar;
use crate::store::{Attempt, Store, Unsettled};

/// What an operator checks in the morning.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The latest billed day (B18).
    pub latest_billed_day: Option<NaiveDate>,
    /// Days that have ended everywhere and are not billed yet, oldest first.
    pub unbilled_days: Vec<NaiveDate>,
    /// Usage events no run has settled yet.
    pub unsettled_events: Unsettled,
    /// How the last `billing run` ended.
    pub last_run: Option<Attempt>,
    /// When a run last exited 0.
    pub last_success: Option<DateTime<Utc>>,
}

impl Status {
    /// The store's status at `now`.
    pub fn read(store: &Store, now: DateTime<Utc>) -> Result<Status, BillingError> {
        let latest_billed_day = store.latest_billed_day()?;
        let yesterday = default_day(now);
        let first = match latest_billed_day {
            Some(latest) => Some(calendar::next_day(latest)),
            None => first_day(store)?,
        };
        let unbilled_days = first
            .map(|first| first.iter_days().take_while(|d| *d <= yesterday).collect())
            .unwrap_or_default();
        let (last_run, last_success) = store.last_attempts()?;
        Ok(Status {
            latest_billed_day,
            unbilled_days,
            unsettled_events: store.unsettled()?,
            last_run,
            last_success,
        })
    }
}

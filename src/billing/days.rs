//! Which days a run bills or reproduces, decided once per run from the latest billed day:
//! billed days form one unbroken run (B18), a day is billed once it has ended in every zone
//! (B20), and a billed day is reproduced (B15).

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use gatekeeper::Region;

use super::error::BillingError;
use super::files;
use crate::calendar;
use crate::store::Store;

/// The days a run is asked to bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Every unbilled day up to this one, in order (B18); this one alone if it is billed.
    Through(NaiveDate),
    /// This day alone: the next day to bill, or one billed already.
    Only(NaiveDate),
}

/// What a run does with one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the billed `day` back from the store (B15); days up to `latest` are closed.
    Reproduce { day: NaiveDate, latest: NaiveDate },
    /// Compute the day and commit it.
    Bill(NaiveDate),
}

impl Step {
    pub fn day(self) -> NaiveDate {
        match self {
            Step::Reproduce { day, .. } | Step::Bill(day) => day,
        }
    }
}

/// A run's days, in order; it ends with `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub earlier: Vec<Step>,
    pub last: Step,
}

/// The latest day that has ended in every region's billing zone: yesterday in UTC.
pub fn default_day(now: DateTime<Utc>) -> NaiveDate {
    let today = calendar::billing_day(now, Region::Overseas);
    today.pred_opt().unwrap_or(today)
}

/// The days a run asked for `days` at `now` bills or reproduces: a billed day alone is
/// reproduced; otherwise, once the last day has ended (B20), every day after `latest` (with
/// none billed, from the first day with any Team record) up to it, or with [`Days::Only`] that
/// day if it is the next one (B18). With `out`, a run through a day also writes first the
/// files of the latest billed day if they are missing: a run stopped after committing but
/// before its files were written (a kill, a full disk) left them so.
pub fn plan(
    store: &Store,
    days: Days,
    now: DateTime<Utc>,
    out: Option<&Path>,
) -> Result<Plan, BillingError> {
    let latest = store.latest_billed_day()?;
    let (Days::Through(day) | Days::Only(day)) = days;
    if let Some(latest) = latest.filter(|latest| day <= *latest) {
        return Ok(Plan {
            earlier: Vec::new(),
            last: Step::Reproduce { day, latest },
        });
    }
    let next = next_to_bill(store, latest)?;
    check_ended(day, now)?;
    let mut earlier = Vec::new();
    match days {
        Days::Through(_) => {
            if let (Some(out), Some(latest)) = (out, latest)
                && !files::written(out, latest)
            {
                earlier.push(Step::Reproduce {
                    day: latest,
                    latest,
                });
            }
            let first = next.map_or(day, |next| next.min(day));
            earlier.extend(first.iter_days().take_while(|d| *d < day).map(Step::Bill));
        }
        Days::Only(_) => {
            if let Some(next) = next.filter(|next| day > *next) {
                return Err(BillingError::OutOfOrder { day, next });
            }
        }
    }
    Ok(Plan {
        earlier,
        last: Step::Bill(day),
    })
}

/// The first day not billed yet given the `latest` billed day: the day after it or, with none
/// billed, the first day of any Team record; none in a store without any.
pub fn next_to_bill(
    store: &Store,
    latest: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, BillingError> {
    match latest {
        Some(latest) => Ok(Some(calendar::next_day(latest))),
        None => first_day(store),
    }
}

/// The first day a store's history needs billed: the earliest billing day of any Team record,
/// in its Team's zone. Usage events never start the calendar: an event before every Team
/// record has no key to bill (`unknown_key`), and one stamped far in the past would otherwise
/// make the first run bill every day since.
fn first_day(store: &Store) -> Result<Option<NaiveDate>, BillingError> {
    Ok(store
        .earliest_team_records()?
        .into_iter()
        .map(|(region, at)| calendar::billing_day(at, region))
        .min())
}

/// Refuses a day that has not ended everywhere at `now` (B20).
fn check_ended(day: NaiveDate, now: DateTime<Utc>) -> Result<(), BillingError> {
    let (_, ends) = calendar::day_span(day);
    if now < ends {
        return Err(BillingError::Unfinished { day, ends });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_the_default_day_is_yesterday_in_utc_which_has_ended_in_both_zones() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(
            default_day(at("2026-11-24T00:30:00Z")).to_string(),
            "2026-11-23"
        );
        assert_eq!(
            default_day(at("2026-11-24T20:00:00Z")).to_string(),
            "2026-11-23"
        );
    }
}

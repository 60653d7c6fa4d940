//! The window W of B21 (`billing run --window`, else [`DEFAULT_WINDOW_DAYS`]): fixed in the
//! transaction that commits a store's first billed day, and read back.

use chrono::NaiveDate;
use duckdb::{Connection, OptionalExt, params};
use serde::Serialize;

use super::{Store, StoreError, query_error, query_row};

/// W for a store whose first day is not billed yet (B21; Stripe accepts meter events up to 35
/// days old).
pub const DEFAULT_WINDOW_DAYS: u32 = 35;

/// The first usage day (a day number) of the window of `days` days of the run for `day`: an
/// event of an earlier usage day that this run sees first is too late (B21). The run's reducer,
/// its duplicate search and `events import` all ask here.
pub fn window_start(day: i64, days: u32) -> i64 {
    day.saturating_sub(i64::from(days))
}

/// A store's window, as fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// W, in days.
    pub days: u32,
    /// The first billed day, whose commit fixed it.
    pub fixed_on: NaiveDate,
}

impl Store {
    /// The store's window; none before its first day is billed.
    pub fn window(&self) -> Result<Option<Window>, StoreError> {
        let what = "cannot read the billing window";
        let row: Option<(i64, NaiveDate)> = query_row(
            self.conn(),
            "SELECT days, fixed_on FROM billing_window",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(query_error(what))?;
        row.map(|(days, fixed_on)| {
            let days = u32::try_from(days).map_err(|_| StoreError::Corrupt {
                table: "billing_window",
                message: format!("a window of {days} days"),
            })?;
            Ok(Window { days, fixed_on })
        })
        .transpose()
    }
}

/// Fixes the window at `days` in `tx`, the transaction that commits `day`, unless an earlier
/// billed day fixed it.
pub(super) fn fix(tx: &Connection, day: NaiveDate, days: u32) -> duckdb::Result<usize> {
    tx.execute(
        "INSERT INTO billing_window (days, fixed_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
        params![days, day],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_first_billed_day_fixes_the_window_and_later_days_keep_it() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.window().unwrap(), None);
        store.commit_empty_day("2026-01-01", -1, DEFAULT_WINDOW_DAYS);
        let fixed = Window {
            days: DEFAULT_WINDOW_DAYS,
            fixed_on: day("2026-01-01"),
        };
        assert_eq!(store.window().unwrap(), Some(fixed));
        store.commit_empty_day("2026-01-02", -1, DEFAULT_WINDOW_DAYS);
        assert_eq!(store.window().unwrap(), Some(fixed));
    }

    #[test]
    fn a_store_billed_before_the_window_existed_has_the_default_from_its_first_day() {
        let conn = Connection::open_in_memory().unwrap();
        let before = crate::store::MIGRATIONS
            .iter()
            .position(|(name, _)| *name == "window and archive")
            .unwrap();
        let old = Store::migrated(
            conn,
            &crate::store::MIGRATIONS[..before],
            crate::store::Access::Create,
            "old",
        )
        .unwrap();
        old.conn()
            .execute_batch(
                "INSERT INTO billing_runs VALUES ('2026-03-02', 0, -1, '{}'), ('2026-03-03', 0, -1, '{}')",
            )
            .unwrap();
        let conn = old.conn;
        let store = Store::migrated(
            conn,
            crate::store::MIGRATIONS,
            crate::store::Access::Existing,
            "old",
        )
        .unwrap();
        assert_eq!(
            store.window().unwrap(),
            Some(Window {
                days: 35,
                fixed_on: day("2026-03-02"),
            })
        );
    }
}

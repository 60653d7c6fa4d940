//! A shard's store, cut from the store by `billing plan` (B23): the same schema holding only
//! what the run of the planned days reads for the shard's Teams, so a shard bills them with
//! the code of `billing run` on a machine that never opens the store.
//!
//! What a cut holds: every user; the shard's Teams, their records, pay-as-you-go keys,
//! adjustments not yet billed and carried state (or, for a store without a carry, their statements and seat usage, which the
//! first night folds); the window and every billed day; and of `usage_events` the rows the
//! planned days may settle (those after the latest run's rows, and those whose time falls in
//! the planned days) and the settled rows of the last 2W days that share an id hash with one
//! of those (the only ones a duplicate search compares), all of keys of the shard's Teams (keys
//! of no Team in the store go to shard 0). Rows keep their order, and each billed day's
//! `max_rowid` becomes the last cut row at or before it: every comparison of a rowid with a
//! run's `max_rowid` gives in the cut what it gives in the store.

use std::path::Path;

use chrono::NaiveDate;
use duckdb::params;

use super::sql::{DAY_US, team_of_key};
use super::{Access, Store, StoreError, query_error, window_ids};
use crate::calendar;

/// What the plan cuts: the days it bills and each Team's shard.
#[derive(Debug, Clone, Copy)]
pub struct Cut<'a> {
    /// The first and last day the plan bills.
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// W, in days (B21).
    pub window_days: u32,
    /// Each Team's shard; a key of a Team not listed goes to shard 0.
    pub shards: &'a [(&'a str, u32)],
}

/// Events selected by a plan, with their shard: the store's rows the planned days read.
pub struct Selected<'a> {
    store: &'a Store,
    /// The store's highest rowid when the plan was made: the planned days settle up to it.
    pub max_rowid: i64,
    /// The highest adjustment id when the plan was made (-1: none): the planned days bill the
    /// adjustments not yet billed up to it (B24).
    pub adjustments_through: i64,
}

impl Store {
    /// Selects, into the temporary table `plan_events`, the rows `cut` needs of `usage_events`
    /// with each one's shard (see the module's documentation).
    pub fn select_for_shards(&self, cut: &Cut<'_>) -> Result<Selected<'_>, StoreError> {
        let what = "cannot select the events to plan";
        self.ensure_window_ids()?;
        let conn = self.conn();
        conn.execute_batch(
            "CREATE OR REPLACE TEMP TABLE plan_teams (team_id VARCHAR PRIMARY KEY, shard INTEGER)",
        )
        .map_err(query_error(what))?;
        {
            let mut teams = conn
                .appender_to_catalog_and_db("plan_teams", "temp", "main")
                .map_err(query_error(what))?;
            for (team, shard) in cut.shards {
                teams
                    .append_row(params![team, shard])
                    .map_err(query_error(what))?;
            }
        }
        let (max_rowid, settled_all, adjustments_through): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT coalesce(max(rowid), -1) FROM usage_events),
                        (SELECT coalesce(max(max_rowid), -1) FROM billing_runs),
                        (SELECT coalesce(max(adjustment_id), -1) FROM adjustments)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(query_error(what))?;
        let from_us = calendar::day_span(cut.first).0.timestamp_micros();
        let to_us = calendar::day_span(cut.last).1.timestamp_micros();
        // A duplicate search compares settled rows from 2W + 1 days before the first day (the
        // window of the window's first day, and a zone's day): a day's margin more.
        let window_from_us =
            (calendar::day_number(cut.first) - 2 * i64::from(cut.window_days) - 2) * DAY_US;
        let routed = |scan: &str| {
            format!(
                "SELECT e.rowid AS rid, e.*, coalesce(t.shard, 0) AS shard
                 FROM usage_events e
                 LEFT JOIN payg_keys p ON p.key_id = e.key_id
                 LEFT JOIN plan_teams t ON t.team_id = {team}
                 WHERE e.rowid <= {max_rowid} AND {scan}",
                team = team_of_key("e.key_id", "p.team_id"),
            )
        };
        let unsettled = format!(
            "{} UNION ALL {}",
            routed(&format!("e.rowid > {settled_all}")),
            routed(&format!(
                "e.rowid <= {settled_all} AND e.ts >= make_timestamp({from_us})::TIMESTAMPTZ
                 AND e.ts < make_timestamp({to_us})::TIMESTAMPTZ"
            )),
        );
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE plan_events AS {unsettled};
             INSERT INTO plan_events {settled};",
            settled = routed(&format!(
                "e.rowid <= {settled_all} AND e.ts >= make_timestamp({window_from_us})::TIMESTAMPTZ
                 AND NOT (e.ts >= make_timestamp({from_us})::TIMESTAMPTZ
                          AND e.ts < make_timestamp({to_us})::TIMESTAMPTZ)
                 AND e.rowid IN (SELECT row_id FROM window_ids
                                 WHERE ts_us >= {window_from_us}
                                   AND id_hash IN (SELECT hash(event_id) FROM plan_events))"
            )),
        ))
        .map_err(query_error(what))?;
        Ok(Selected {
            store: self,
            max_rowid,
            adjustments_through,
        })
    }
}

impl Store {
    /// How many rows `usage_events` holds: a shard's cut's events.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM usage_events", [], |r| r.get(0))
            .map_err(query_error("cannot count the usage events"))
    }
}

impl Selected<'_> {
    /// Writes the store of `shard` into `path`, a new file, and returns how many events it holds.
    pub fn cut(&self, shard: u32, path: &Path) -> Result<u64, StoreError> {
        drop(Store::open_with(path, Access::Create)?);
        let what = "cannot cut a shard's store";
        let conn = self.store.conn();
        let attach = format!(
            "ATTACH '{}' AS cut",
            path.display().to_string().replace('\'', "''")
        );
        conn.execute_batch(&attach).map_err(query_error(what))?;
        let copied = copy_into_cut(conn, shard, self.adjustments_through);
        let detached = conn.execute_batch("DETACH cut").map_err(query_error(what));
        let events = copied.map_err(query_error(what))?;
        detached?;
        Ok(events)
    }
}

impl Drop for Selected<'_> {
    /// Frees the plan's temporary tables; best effort, they go with the connection anyway.
    fn drop(&mut self) {
        let _ = self.store.conn().execute_batch(
            "DROP TABLE IF EXISTS temp.plan_events; DROP TABLE IF EXISTS temp.plan_teams;",
        );
    }
}

/// Copies shard `shard`'s rows (and its adjustments not yet billed, up to
/// `adjustments_through`) into the attached database `cut`, in one transaction; returns how
/// many events.
fn copy_into_cut(
    conn: &duckdb::Connection,
    shard: u32,
    adjustments_through: i64,
) -> duckdb::Result<u64> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let copied =
        copy_rows(conn, shard, adjustments_through).and_then(|()| conn.execute_batch("COMMIT"));
    if copied.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    copied?;
    conn.query_row(
        &format!("SELECT count(*) FROM plan_events WHERE shard = {shard}"),
        [],
        |r| r.get(0),
    )
}

/// The statements of [`copy_into_cut`], in its transaction.
fn copy_rows(
    conn: &duckdb::Connection,
    shard: u32,
    adjustments_through: i64,
) -> duckdb::Result<()> {
    let teams = format!("team_id IN (SELECT team_id FROM plan_teams WHERE shard = {shard})");
    conn.execute_batch(&format!(
        "INSERT INTO cut.users SELECT * FROM users;
         INSERT INTO cut.teams SELECT * FROM teams WHERE {teams};
         INSERT INTO cut.team_records SELECT * FROM team_records WHERE {teams};
         INSERT INTO cut.payg_keys SELECT * FROM payg_keys WHERE {teams};
         INSERT INTO cut.billing_window SELECT * FROM billing_window;
         INSERT INTO cut.carried_state SELECT * FROM carried_state WHERE {teams};
         INSERT INTO cut.statements SELECT * FROM statements
           WHERE {teams} AND NOT EXISTS (SELECT 1 FROM carried_state);
         INSERT INTO cut.seat_usage SELECT * FROM seat_usage
           WHERE {teams} AND NOT EXISTS (SELECT 1 FROM carried_state);
         INSERT INTO cut.usage_events
           SELECT event_id, ts, key_id, model, input_tokens, output_tokens, ingested_at
           FROM plan_events WHERE shard = {shard} ORDER BY rid;
         INSERT INTO cut.billing_runs
           SELECT r.day, r.day_number,
                  (SELECT count(*) FROM plan_events e WHERE e.shard = {shard} AND e.rid <= r.max_rowid) - 1,
                  r.summary
           FROM billing_runs r;
         INSERT INTO cut.adjustments SELECT * FROM adjustments
           WHERE {teams} AND adjustment_id <= {adjustments_through}
             AND adjustment_id NOT IN (SELECT adjustment_id FROM adjustments_billed);"
    ))?;
    window_ids::invalidate(conn, "cut")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn ids(store: &Store, sql: &str) -> Vec<String> {
        store
            .conn()
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap()
    }

    #[test]
    fn b23_a_cut_holds_its_teams_events_to_settle_and_the_settled_ids_they_repeat() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_noon_events(&[
            ("old", "2026-11-20", "tp:a:u"),
            ("kept", "2026-11-20", "tp:a:u"),
            ("b-old", "2026-11-20", "tp:b:u"),
        ]);
        store.bill_empty_day("2026-11-22");
        store.insert_noon_events(&[
            ("kept", "2026-11-23", "tp:a:u"),
            ("new", "2026-11-23", "tp:b:u"),
            ("ghost", "2026-11-23", "nobody"),
        ]);
        let shards = [("a", 1), ("b", 0)];
        let cut = Cut {
            first: date("2026-11-23"),
            last: date("2026-11-23"),
            window_days: 35,
            shards: &shards,
        };
        let selected = store.select_for_shards(&cut).unwrap();
        assert_eq!(selected.max_rowid, 5);
        let dir = tempfile::tempdir().unwrap();
        let (zero, one) = (dir.path().join("0.duckdb"), dir.path().join("1.duckdb"));
        assert_eq!(selected.cut(0, &zero).unwrap(), 2);
        assert_eq!(selected.cut(1, &one).unwrap(), 2);
        drop(selected);
        let one = Store::open_with(&one, Access::Existing).unwrap();
        let events = "SELECT event_id || '@' || rowid FROM usage_events ORDER BY rowid";
        // The settled `kept` first, as in the store; `old` repeats no id the plan settles.
        assert_eq!(ids(&one, events), ["kept@0", "kept@1"]);
        // The billed day settled rows up to the store's 2, that is the cut's 0.
        assert_eq!(
            ids(&one, "SELECT max_rowid::VARCHAR FROM billing_runs"),
            ["0"]
        );
        let zero = Store::open_with(&zero, Access::Existing).unwrap();
        assert_eq!(ids(&zero, events), ["new@0", "ghost@1"]);
        assert_eq!(
            ids(&zero, "SELECT max_rowid::VARCHAR FROM billing_runs"),
            ["-1"]
        );
    }
}

//! The events a billing day settles, selected in DuckDB: keyed by the run's integer codes,
//! kept in the temporary table `run_events`, and read back as Arrow batches.

use chrono::NaiveDate;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{Connection, params};

use super::sql::{DAY_US, team_of_key, usage_day};
use super::{Store, StoreError, query_error};
use crate::calendar;

/// DuckDB's memory for the run's queries and `run_events`; beyond it, DuckDB spills to disk.
const DUCKDB_MEMORY_LIMIT: &str = "1GB";

/// The columns of each event read back, as integers: its id only as a hash.
pub const LEAN_COLUMNS: [&str; 7] = [
    "ts_us",
    "key_code",
    "model_code",
    "input_tokens",
    "output_tokens",
    "usage_day",
    "id_hash",
];

/// The run's integer codes, each the index of its key, Team or model.
#[derive(Debug, Clone, Default)]
pub struct RunCodes<'a> {
    /// Each key's id, its Team's code and its Team's zone offset, µs east of UTC (B3).
    pub keys: Vec<(&'a str, u32, i64)>,
    /// Each Team's id and zone offset, µs east of UTC.
    pub teams: Vec<(&'a str, i64)>,
    /// Model names.
    pub models: Vec<&'a str>,
}

/// The events a run settles: copied once into the temporary table `run_events` (DuckDB fills it
/// in parallel, faster than streaming the query), then read from there.
pub struct Settlement<'a> {
    store: &'a Store,
    /// The day settled, as a day number.
    day: i64,
    /// W, in days (B21).
    window_days: u32,
    /// The highest rowid the run sees.
    max_rowid: i64,
    /// The first billed day, and the highest rowid any run settled (`-1`: none).
    settled_from: i64,
    settled_all: i64,
    /// The day has no event to settle: no temporary table was made, nothing is read.
    empty: bool,
}

impl Store {
    /// Loads the run's codes into temporary tables, fixes the rows the run sees, and copies the
    /// events to settle on `day` into `run_events`; duplicates are decided within a window of
    /// `window_days` (B21).
    pub fn settlement(
        &self,
        day: NaiveDate,
        window_days: u32,
        codes: &RunCodes<'_>,
    ) -> Result<Settlement<'_>, StoreError> {
        let what = "cannot prepare the usage events";
        let conn = &self.conn;
        let max_rowid: i64 = conn
            .query_row(
                "SELECT coalesce(max(rowid), -1) FROM usage_events",
                [],
                |r| r.get(0),
            )
            .map_err(query_error(what))?;
        if nothing_to_settle(conn, day).map_err(query_error(what))? {
            return Ok(Settlement {
                store: self,
                day: calendar::day_number(day),
                window_days,
                max_rowid,
                settled_from: 0,
                settled_all: -1,
                empty: true,
            });
        }
        let tables = TEMPORARY_TABLES
            .map(|(table, columns)| format!("CREATE OR REPLACE TEMP TABLE {table} ({columns});"));
        conn.execute_batch(&format!(
            "SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'; {}",
            tables.concat()
        ))
        .map_err(query_error(what))?;
        let temp = |table| conn.appender_to_catalog_and_db(table, "temp", "main");
        {
            let mut keys = temp("run_keys").map_err(query_error(what))?;
            for (code, (key, team_code, offset_us)) in codes.keys.iter().enumerate() {
                keys.append_row(params![key, code, team_code, offset_us])
                    .map_err(query_error(what))?;
            }
            let mut teams = temp("run_teams").map_err(query_error(what))?;
            for (code, (team, offset_us)) in codes.teams.iter().enumerate() {
                teams
                    .append_row(params![team, code, offset_us])
                    .map_err(query_error(what))?;
            }
            let mut models = temp("run_models").map_err(query_error(what))?;
            for (code, model) in codes.models.iter().enumerate() {
                models
                    .append_row(params![model, code])
                    .map_err(query_error(what))?;
            }
        }
        self.ensure_window_ids()?;
        let (settled_from, settled_all) = load_settled(conn).map_err(query_error(what))?;
        let settlement = Settlement {
            store: self,
            day: calendar::day_number(day),
            window_days,
            max_rowid,
            settled_from,
            settled_all,
            empty: false,
        };
        // Row order does not matter here: dropping it lets DuckDB fill the table in parallel.
        conn.execute_batch(&format!(
            "SET preserve_insertion_order = false;
             CREATE OR REPLACE TEMP TABLE run_events AS {settled}
             SELECT row_id, ts_us, key_code, model_code, input_tokens, output_tokens, usage_day,
                    CASE WHEN event_id IS NOT NULL THEN hash(event_id) END AS id_hash, team_code
             FROM settled
             WHERE row_id > settled_upto AND (usage_day IS NULL OR usage_day <= {day});
             RESET preserve_insertion_order;",
            settled = settlement.settled(&settlement.unsettled_only(day)),
            day = settlement.day,
        ))
        .map_err(query_error(what))?;
        Ok(settlement)
    }
}

impl Settlement<'_> {
    /// The rows that may be unsettled on `day`: those after every row the runs so far saw,
    /// and of the others only those whose time falls in `day` in some zone. A row the latest
    /// run saw can be unsettled only if its usage day was after that run's day, that is
    /// (billed days being one unbroken run, B18) on `day`.
    fn unsettled_only(&self, day: NaiveDate) -> [String; 2] {
        let (from, to) = calendar::day_span(day);
        [
            format!("rowid > {}", self.settled_all),
            format!(
                "rowid <= {} AND ts >= make_timestamp({})::TIMESTAMPTZ AND ts < make_timestamp({})::TIMESTAMPTZ",
                self.settled_all,
                from.timestamp_micros(),
                to.timestamp_micros()
            ),
        ]
    }

    /// The highest rowid the run sees; it settles the events up to it.
    pub fn max_rowid(&self) -> i64 {
        self.max_rowid
    }

    /// Every event the run sees (`rowid <= max_rowid`, narrowed by `filter`) as `settled`,
    /// with the highest rowid of the runs that settled events of its usage day:
    /// from `run_settled` for days from the first billed day to the last, every run's before
    /// that and for an event without a usage day, `-1` after. An event is settled when a run's
    /// day covers its usage day and that run had seen its row (`usage_events` is append-only:
    /// rowids grow with insertion). Keys and models become the run's integer codes (`-1`: not
    /// known); the usage day is the day in the key's Team's zone (B3), the Team coming from the
    /// key's code, else from [`team_of_key`], and in UTC for a key of no known Team: no run
    /// settles an event before its usage day. `team_code` is that Team's code (`NULL`: none the
    /// run knows). `scans` are the conditions on `usage_events` of the rows to read, each a
    /// conjunction DuckDB can push into its scan (zone maps on `rowid` and `ts` skip the row
    /// groups outside them), their rows put together.
    fn settled(&self, scans: &[String]) -> String {
        let Settlement {
            max_rowid,
            settled_from,
            settled_all,
            ..
        } = self;
        let scanned = scans
            .iter()
            .map(|scan| {
                format!(
                    "SELECT rowid AS rid, event_id, ts, key_id, model, input_tokens, output_tokens
                     FROM usage_events WHERE rowid <= {max_rowid} AND {scan}"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        format!(
            "WITH scanned AS ({scanned}), events AS (
                SELECT e.rid AS row_id, e.event_id, epoch_us(e.ts) AS ts_us,
                       coalesce(k.key_code, CASE WHEN e.key_id IS NOT NULL THEN -1 END) AS key_code,
                       coalesce(m.model_code, CASE WHEN e.model IS NOT NULL THEN -1 END) AS model_code,
                       e.input_tokens, e.output_tokens,
                       {usage_day} AS usage_day,
                       coalesce(k.team_code, t.team_code) AS team_code
                FROM scanned e
                LEFT JOIN run_keys k ON k.key_id = e.key_id
                LEFT JOIN run_models m ON m.model = e.model
                LEFT JOIN payg_keys p ON p.key_id = CASE WHEN k.key_code IS NULL THEN e.key_id END
                LEFT JOIN run_teams t ON t.team_id = CASE WHEN k.key_code IS NULL THEN
                    {team} END
            ), settled AS (
                SELECT x.*, coalesce(s.upto, CASE WHEN x.usage_day IS NULL OR x.usage_day < {settled_from}
                                                  THEN {settled_all} ELSE -1 END) AS settled_upto
                FROM events x LEFT JOIN run_settled s ON s.usage_day = x.usage_day
            )",
            usage_day = usage_day("e.ts", "coalesce(k.offset_us, t.offset_us, 0)"),
            team = team_of_key("e.key_id", "p.team_id"),
        )
    }

    /// Hands the events to settle, with the columns of [`LEAN_COLUMNS`], to `each` one Arrow
    /// batch at a time, until it returns `false`.
    pub fn each_batch<E: From<StoreError>>(
        &self,
        mut each: impl FnMut(RecordBatch) -> Result<bool, E>,
    ) -> Result<(), E> {
        if self.empty {
            return Ok(());
        }
        let what = "cannot read usage events";
        let sql = format!("SELECT {} FROM run_events", lean("run_events"));
        let mut stmt = self.store.conn.prepare(&sql).map_err(query_error(what))?;
        for batch in stmt.stream_arrow([]).map_err(query_error(what))? {
            if !each(batch.map_err(query_error(what))?)? {
                break;
            }
        }
        Ok(())
    }

    /// The first usage day of the window (B21): an event of an earlier day, first seen by this
    /// run, is too late.
    fn window_start(&self) -> i64 {
        super::window_start(self.day, self.window_days)
    }

    /// The run's events that repeat an event id (B13, B21), given the id hashes the run saw
    /// twice, with the columns of [`LEAN_COLUMNS`]; no batch when there are none. Later reads
    /// flag them in a `duplicate` column.
    ///
    /// An event of the window is a duplicate when an earlier event of a key of the same Team has
    /// its id and a usage day at most W days from its own: earlier in the run (B12 order; the
    /// same id and instant fall back to insertion order), or settled by an earlier run (a
    /// settled event precedes every event of the run, whatever its time: it is billed already).
    /// Events too late, or of no Team the run knows, are never duplicates.
    pub fn duplicates(&self, hashes_seen_twice: &[u64]) -> Result<Vec<RecordBatch>, StoreError> {
        if self.empty {
            return Ok(Vec::new());
        }
        let what = "cannot find duplicate events";
        let conn = &self.store.conn;
        fill(conn, "run_id_hashes", hashes_seen_twice).map_err(query_error(what))?;
        let (window_start, window_days) = (self.window_start(), self.window_days);
        let mut found = 0;
        if !hashes_seen_twice.is_empty() {
            found += conn
                .execute(
                    &format!(
                        "INSERT INTO run_duplicates
                         WITH candidates AS (
                             SELECT r.row_id, r.ts_us, r.team_code, r.usage_day, e.event_id
                             FROM run_events r JOIN usage_events e ON e.rowid = r.row_id
                             WHERE r.id_hash IN (SELECT id_hash FROM run_id_hashes)
                               AND r.team_code IS NOT NULL AND r.usage_day IS NOT NULL
                         )
                         SELECT DISTINCT c.row_id FROM candidates c JOIN candidates o
                           ON o.team_code = c.team_code AND o.event_id = c.event_id
                         WHERE c.usage_day >= {window_start}
                           AND abs(o.usage_day - c.usage_day) <= {window_days}
                           AND (o.ts_us < c.ts_us OR (o.ts_us = c.ts_us AND o.row_id < c.row_id))"
                    ),
                    [],
                )
                .map_err(query_error(what))?;
        }
        if self.settled_all >= 0 {
            found += self.settled_duplicates()?;
        }
        if found == 0 {
            return Ok(Vec::new());
        }
        self.read(
            &format!(
                "SELECT {} FROM run_events WHERE row_id IN (SELECT row_id FROM run_duplicates)",
                lean("run_events")
            ),
            what,
        )
    }

    /// Adds to `run_duplicates` the run's events of the window that repeat the id of a settled
    /// event of the same Team at most W days apart, and returns how many. The candidates are
    /// the rows of `window_ids` from W days before the run's earliest event of the window on
    /// (a bound on time: the cost grows with the window, never with the store's age) whose id
    /// hash another of the run's events has (a row the latest run saw before its usage day is
    /// in both); only those few rows of `usage_events` are read, and checked closely
    /// (settlement, then the ids themselves).
    fn settled_duplicates(&self) -> Result<usize, StoreError> {
        let what = "cannot find duplicates of settled events";
        let conn = &self.store.conn;
        let (window_start, window_days) = (self.window_start(), self.window_days);
        let earliest: Option<i64> = conn
            .query_row(
                &format!(
                    "SELECT min(usage_day) FROM run_events
                     WHERE usage_day >= {window_start} AND team_code IS NOT NULL"
                ),
                [],
                |r| r.get(0),
            )
            .map_err(query_error(what))?;
        let Some(earliest) = earliest else {
            return Ok(0);
        };
        // A usage day is the day in a zone less than a day from UTC: an event of usage day
        // `earliest - W` or later is no earlier than the UTC day before it.
        let from_us = (earliest - i64::from(window_days) - 1) * DAY_US;
        let candidates = conn
            .execute(
                &format!(
                    "INSERT INTO run_candidates SELECT w.row_id FROM window_ids w
                     SEMI JOIN run_events r ON r.id_hash = w.id_hash AND r.row_id <> w.row_id
                     WHERE w.ts_us >= {from_us}"
                ),
                [],
            )
            .map_err(query_error(what))?;
        if candidates == 0 {
            return Ok(0);
        }
        let settled = self.settled(&[format!(
            "ts >= make_timestamp({from_us})::TIMESTAMPTZ
             AND rowid IN (SELECT row_id FROM run_candidates)"
        )]);
        conn.execute(
            &format!(
                "INSERT INTO run_duplicates {settled},
                 seen AS (SELECT event_id, team_code, usage_day FROM settled
                          WHERE row_id <= settled_upto AND team_code IS NOT NULL),
                 candidates AS (SELECT r.row_id, r.team_code, r.usage_day, e.event_id
                                FROM run_events r JOIN usage_events e ON e.rowid = r.row_id
                                WHERE r.id_hash IN (SELECT hash(event_id) FROM seen)
                                  AND r.usage_day >= {window_start})
                 SELECT DISTINCT c.row_id FROM candidates c JOIN seen s
                   ON s.team_code = c.team_code AND s.event_id = c.event_id
                 WHERE abs(s.usage_day - c.usage_day) <= {window_days}
                   AND c.row_id NOT IN (SELECT row_id FROM run_duplicates)"
            ),
            [],
        )
        .map_err(query_error(what))
    }

    /// The events to settle of the key codes `keys` but those too late (B21), with `row_id`,
    /// the columns of [`LEAN_COLUMNS`], and `duplicate`.
    pub fn of_keys(&self, keys: &[u32]) -> Result<Vec<RecordBatch>, StoreError> {
        if self.empty {
            return Ok(Vec::new());
        }
        let what = "cannot read the usage events of seats over quota";
        fill(&self.store.conn, "run_seat_keys", keys).map_err(query_error(what))?;
        self.read(
            &format!(
                "SELECT row_id, {}, row_id IN (SELECT row_id FROM run_duplicates) AS duplicate
                 FROM run_events WHERE key_code IN (SELECT key_code FROM run_seat_keys)
                   AND (usage_day IS NULL OR usage_day >= {})",
                lean("run_events"),
                self.window_start()
            ),
            what,
        )
    }

    /// `row_id, event_id` of the events `rows`.
    pub fn event_ids(&self, rows: &[i64]) -> Result<Vec<RecordBatch>, StoreError> {
        let what = "cannot read event ids";
        fill(&self.store.conn, "run_rows", rows).map_err(query_error(what))?;
        self.read(
            "SELECT rowid AS row_id, event_id FROM usage_events
             WHERE rowid IN (SELECT row_id FROM run_rows)",
            what,
        )
    }

    /// The rows of `sql`.
    fn read(&self, sql: &str, what: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let mut stmt = self.store.conn.prepare(sql).map_err(query_error(what))?;
        stmt.stream_arrow([])
            .map_err(query_error(what))?
            .collect::<Result<_, _>>()
            .map_err(query_error(what))
    }
}

/// The run's temporary tables made empty, with their columns; `run_events` is made from a
/// query.
const TEMPORARY_TABLES: [(&str, &str); 9] = [
    (
        "run_keys",
        "key_id VARCHAR, key_code INTEGER, team_code INTEGER, offset_us BIGINT",
    ),
    (
        "run_teams",
        "team_id VARCHAR, team_code INTEGER, offset_us BIGINT",
    ),
    ("run_models", "model VARCHAR, model_code INTEGER"),
    ("run_seat_keys", "key_code INTEGER"),
    ("run_settled", "usage_day BIGINT, upto BIGINT"),
    ("run_id_hashes", "id_hash UBIGINT"),
    ("run_duplicates", "row_id BIGINT"),
    ("run_rows", "row_id BIGINT"),
    ("run_candidates", "row_id BIGINT"),
];

impl Drop for Settlement<'_> {
    /// Frees the run's temporary tables and DuckDB's memory setting, so a long-lived store
    /// (a service calling the library) does not keep a day's events in memory. Best effort:
    /// they go with the connection anyway.
    fn drop(&mut self) {
        if self.empty {
            return;
        }
        let tables =
            TEMPORARY_TABLES.map(|(table, _)| format!("DROP TABLE IF EXISTS temp.{table};"));
        let _ = self.store.conn.execute_batch(&format!(
            "{} DROP TABLE IF EXISTS temp.run_events; RESET memory_limit;",
            tables.concat()
        ));
    }
}

/// [`LEAN_COLUMNS`] of `table`.
fn lean(table: &str) -> String {
    LEAN_COLUMNS
        .map(|column| format!("{table}.{column}"))
        .join(", ")
}

/// Replaces the rows of a one-column temporary table.
fn fill<T: duckdb::ToSql>(conn: &Connection, table: &str, values: &[T]) -> duckdb::Result<()> {
    conn.execute(&format!("DELETE FROM {table}"), [])?;
    let mut appender = conn.appender_to_catalog_and_db(table, "temp", "main")?;
    for value in values {
        appender.append_row([value])?;
    }
    Ok(())
}

/// Whether the next day to bill, `day`, has no event to settle: no row arrived since the
/// latest run, and no row's time falls on `day` in any zone. (Billed days form one unbroken
/// run, so an event the latest run saw but did not settle is one of a later usage day.)
fn nothing_to_settle(conn: &Connection, day: NaiveDate) -> duckdb::Result<bool> {
    let (from, to) = calendar::day_span(day);
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM usage_events WHERE rowid > (
                    SELECT coalesce(max(max_rowid), -1) FROM billing_runs))
            AND NOT EXISTS (SELECT 1 FROM usage_events WHERE ts >= ? AND ts < ?)",
        params![from, to],
        |r| r.get(0),
    )
}

/// Fills `run_settled` with, for each day from the first billed day to the last, the highest
/// rowid of the runs of that day or later; returns the first day and every run's highest rowid
/// (`0` and `-1` before any run).
fn load_settled(conn: &Connection) -> duckdb::Result<(i64, i64)> {
    let runs: Vec<(i64, i64)> = conn
        .prepare("SELECT day_number, max_rowid FROM billing_runs ORDER BY day_number")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<_>>()?;
    let (Some(&(first, _)), Some(&(last, _))) = (runs.first(), runs.last()) else {
        return Ok((0, -1));
    };
    let index = |day: i64| usize::try_from(day - first).unwrap_or(0);
    let mut upto = vec![-1; index(last) + 1];
    for (day, max_rowid) in runs {
        upto[index(day)] = upto[index(day)].max(max_rowid);
    }
    for i in (0..upto.len() - 1).rev() {
        upto[i] = upto[i].max(upto[i + 1]);
    }
    let mut table = conn.appender_to_catalog_and_db("run_settled", "temp", "main")?;
    for (day, upto) in (first..).zip(&upto) {
        table.append_row(params![day, upto])?;
    }
    Ok((first, upto[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEFAULT_WINDOW_DAYS;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Keys `a1`, `a2` of Team `a`, `b1` of Team `b`, all in UTC.
    fn codes() -> RunCodes<'static> {
        RunCodes {
            keys: vec![("a1", 0, 0), ("a2", 0, 0), ("b1", 1, 0)],
            teams: vec![("a", 0), ("b", 0)],
            models: vec!["m"],
        }
    }

    /// The rowids the run of `day` finds to be duplicates, with a window of `window_days`.
    fn duplicates(store: &Store, day: &str, window_days: u32) -> Vec<i64> {
        let codes = codes();
        let settlement = store.settlement(date(day), window_days, &codes).unwrap();
        // Every hash the run saw: a superset of those seen twice.
        let hashes: Vec<u64> = store
            .conn()
            .prepare("SELECT DISTINCT id_hash FROM run_events WHERE id_hash IS NOT NULL")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        settlement.duplicates(&hashes).unwrap();
        let mut rows: Vec<i64> = store
            .conn()
            .prepare("SELECT row_id FROM run_duplicates")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        rows.sort_unstable();
        rows
    }

    #[test]
    fn b21_an_id_repeats_only_within_one_team_in_the_run() {
        let store = Store::open_in_memory().unwrap();
        store.insert_noon_events(&[
            ("e1", "2026-11-23", "a1"),
            ("e1", "2026-11-23", "b1"),
            ("e1", "2026-11-23", "a2"),
            ("e2", "2026-11-23", "ghost"),
            ("e2", "2026-11-23", "ghost"),
        ]);
        // The third is a repeat of the first (another key of Team a); the second is Team b's
        // own; a key of no Team is never a duplicate.
        assert_eq!(duplicates(&store, "2026-11-23", DEFAULT_WINDOW_DAYS), [2]);
    }

    #[test]
    fn b21_an_id_repeats_in_the_run_only_within_the_window() {
        let store = Store::open_in_memory().unwrap();
        store.insert_noon_events(&[
            // Too late for a window of 2 days on the 23rd, yet an earlier event.
            ("e1", "2026-11-20", "a1"),
            ("e1", "2026-11-22", "a1"),
            ("e2", "2026-11-20", "a1"),
            ("e2", "2026-11-23", "a1"),
            ("e3", "2026-11-21", "a1"),
            ("e3", "2026-11-23", "a1"),
        ]);
        assert_eq!(duplicates(&store, "2026-11-23", 2), [1, 5]);
        assert_eq!(duplicates(&store, "2026-11-23", 3), [1, 3, 5]);
    }

    #[test]
    fn b21_a_settled_id_repeats_only_within_its_team_and_the_window() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_noon_events(&[("e1", "2026-11-20", "a1"), ("e2", "2026-11-20", "a1")]);
        store.bill_empty_day("2026-11-20");
        store.insert_noon_events(&[
            ("e1", "2026-11-21", "b1"),
            ("e1", "2026-11-21", "a2"),
            ("e2", "2026-11-23", "a1"),
        ]);
        assert_eq!(duplicates(&store, "2026-11-23", 2), [3]);
        assert_eq!(duplicates(&store, "2026-11-23", 3), [3, 4]);
    }

    #[test]
    fn b21_a_settled_event_more_than_w_days_earlier_is_no_duplicate() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_noon_events(&[("e1", "2026-10-01", "a1")]);
        store.bill_empty_day("2026-10-01");
        store.insert_noon_events(&[("e1", "2026-11-23", "a1")]);
        let codes = codes();
        let settlement = store.settlement(date("2026-11-23"), 2, &codes).unwrap();
        // The settled row's id hash is the run's, but its time is before the `ts` bound.
        assert_eq!(settlement.settled_duplicates().unwrap(), 0);
    }

    #[test]
    fn a_run_leaves_no_temporary_tables_behind() {
        let store = Store::open_in_memory().unwrap();
        store.insert_test_events(1);
        let temporary = || -> i64 {
            store
                .conn()
                .query_row(
                    "SELECT count(*) FROM duckdb_tables() WHERE temporary",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let settlement = store
            .settlement(day, DEFAULT_WINDOW_DAYS, &RunCodes::default())
            .unwrap();
        assert_eq!(
            temporary(),
            TEMPORARY_TABLES.len() as i64 + 1,
            "and run_events"
        );
        drop(settlement);
        assert_eq!(temporary(), 0);
    }
}

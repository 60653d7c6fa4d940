//! The DuckDB store: schema and migrations, appends, and one-Team reads.

mod migrations;
mod nightly;
mod records;
mod runs;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::{Connection, OptionalExt, params};
use gatekeeper::Region;
use rust_decimal::Decimal;

pub use migrations::MIGRATIONS;
pub use nightly::{Attempt, Unsettled};
pub use records::{Creates, Entry, StoredRecord};
pub use runs::{DayRows, SeatUsage, StatementRow, StoredRun};

/// A store that can't be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("cannot open store `{path}`")]
    Open {
        /// The file.
        path: String,
        /// DuckDB's error.
        source: DuckDbError,
    },
    /// Another process held the store's lock for as long as the caller would wait.
    #[error("store `{path}` is held by another process and stayed busy for {waited:?}")]
    Busy {
        /// The file.
        path: String,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// A migration failed; the store is left at the previous version.
    #[error("cannot upgrade store to `{name}`")]
    Migration {
        /// The migration.
        name: &'static str,
        /// DuckDB's error.
        source: DuckDbError,
    },
    /// The store was made by a newer version of tokenplan.
    #[error("store has {found} migrations but this tokenplan knows {known}; use a newer tokenplan")]
    TooNew {
        /// Migrations in the store.
        found: usize,
        /// Migrations this build knows.
        known: usize,
    },
    /// A query failed.
    #[error("{what}")]
    Query {
        /// What was being done.
        what: String,
        /// DuckDB's error.
        source: DuckDbError,
    },
    /// A stored record can't be read back.
    #[error("corrupt record in `{table}`: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A DuckDB error as the end of an error chain. `duckdb::Error` returns, as its `source()`,
/// DuckDB's own failure again in generic words (`Error code 1: ...`): its message is the
/// whole story, so this wrapper shows it and ends the chain there.
#[derive(Debug)]
pub struct DuckDbError(pub duckdb::Error);

impl std::fmt::Display for DuckDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DuckDbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            duckdb::Error::DuckDBFailure(..) => None,
            other => other.source(),
        }
    }
}

impl From<duckdb::Error> for DuckDbError {
    fn from(error: duckdb::Error) -> Self {
        DuckDbError(error)
    }
}

/// A region as `teams` stores it.
pub(crate) fn stored_region(text: &str) -> Result<Region, StoreError> {
    text.parse()
        .map_err(|e: gatekeeper::UnknownName| StoreError::Corrupt {
            table: "teams",
            message: e.to_string(),
        })
}

/// Whether opening failed because another process holds the file's lock.
fn is_lock_conflict(error: &duckdb::Error) -> bool {
    error.to_string().contains("Could not set lock on file")
}

/// What a Team's statements billed to its Credits pool and wallet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// Credits.
    pub credits: Decimal,
    /// Wallet.
    pub wallet: Decimal,
}

/// Wraps a DuckDB error with what was being done.
pub(crate) fn query_error(what: impl Into<String>) -> impl FnOnce(duckdb::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Query {
        what,
        source: source.into(),
    }
}

/// The store.
pub struct Store {
    conn: Connection,
    /// Whether [`Store::begin`]'s transaction is open (DuckDB's connection can't say).
    in_transaction: bool,
}

/// A Team's row.
#[derive(Debug, Clone)]
pub struct TeamRow {
    /// The id.
    pub id: String,
    /// The region.
    pub region: Region,
    /// Whether it is a Default Team.
    pub is_default: bool,
    /// Its creator and Owner.
    pub owner: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source: source.into(),
        })?;
        Self::migrated(conn, MIGRATIONS)
    }

    /// Opens (creating if needed) the store at `path`, retrying while another process holds
    /// its lock, for up to `wait`. `on_busy` hears once, with DuckDB's word on who holds it,
    /// that the store is busy.
    pub fn open_waiting(
        path: &Path,
        wait: std::time::Duration,
        on_busy: impl FnOnce(&str),
    ) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        let mut on_busy = Some(on_busy);
        loop {
            match Connection::open(path) {
                Ok(conn) => return Self::migrated(conn, MIGRATIONS),
                Err(source) if is_lock_conflict(&source) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return Err(StoreError::Busy {
                            path: path.display().to_string(),
                            waited: wait,
                        });
                    }
                    if let Some(on_busy) = on_busy.take() {
                        on_busy(&source.to_string());
                    }
                    std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(200)));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.display().to_string(),
                        source: source.into(),
                    });
                }
            }
        }
    }

    /// A store in memory (tests and the demo).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source: source.into(),
        })?;
        Self::migrated(conn, MIGRATIONS)
    }

    /// Applies the migrations of `migrations` the store lacks, each in one transaction.
    pub(crate) fn migrated(
        mut conn: Connection,
        migrations: &[(&'static str, &str)],
    ) -> Result<Store, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL);",
        )
        .map_err(query_error("cannot create schema_migrations"))?;
        let applied: i64 = conn
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .map_err(query_error("cannot read schema_migrations"))?;
        let applied = usize::try_from(applied).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                found: applied,
                known: MIGRATIONS.len(),
            });
        }
        for (version, (name, sql)) in migrations.iter().enumerate().skip(applied) {
            let migration = |source: duckdb::Error| StoreError::Migration {
                name,
                source: source.into(),
            };
            let tx = conn.transaction().map_err(migration)?;
            tx.execute_batch(sql).map_err(migration)?;
            execute(
                &tx,
                "INSERT INTO schema_migrations VALUES (?, ?)",
                params![version + 1, name],
            )
            .map_err(migration)?;
            tx.commit().map_err(migration)?;
        }
        Ok(Store {
            conn,
            in_transaction: false,
        })
    }

    /// The connection, for the modules that read and write their own tables.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Whether [`Store::begin`]'s transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// The connection, for transactions.
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Whether the user has an account.
    pub fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        query_row(
            &self.conn,
            "SELECT count(*) FROM users WHERE user_id = ?",
            [user],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(query_error(format!("cannot look up user `{user}`")))
    }

    /// The Team with this id.
    pub fn team(&self, team: &str) -> Result<Option<TeamRow>, StoreError> {
        Ok(self.query_teams("WHERE team_id = ?", &[team])?.pop())
    }

    /// Every Team, by id.
    pub fn teams(&self) -> Result<Vec<TeamRow>, StoreError> {
        self.query_teams("ORDER BY team_id", &[])
    }

    fn query_teams(&self, clause: &str, args: &[&str]) -> Result<Vec<TeamRow>, StoreError> {
        let what = "cannot read Teams";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT team_id, region, is_default, owner, created_at FROM teams {clause}"
            ))
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, DateTime<Utc>>(4)?,
                ))
            })
            .map_err(query_error(what))?;
        let mut teams = Vec::new();
        for row in rows {
            let (id, region, is_default, owner, created_at) = row.map_err(query_error(what))?;
            let region = stored_region(&region)?;
            teams.push(TeamRow {
                id,
                region,
                is_default,
                owner,
                created_at,
            });
        }
        Ok(teams)
    }

    /// Every Team id, sorted.
    pub fn team_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.teams()?.into_iter().map(|t| t.id).collect())
    }

    /// The Team owning a pay-as-you-go key id, if the id is taken.
    pub fn payg_key_team(&self, key: &str) -> Result<Option<String>, StoreError> {
        query_row(
            &self.conn,
            "SELECT team_id FROM payg_keys WHERE key_id = ?",
            [key],
            |r| r.get(0),
        )
        .optional()
        .map_err(query_error(format!("cannot look up key `{key}`")))
    }

    /// What statements of days before `day` billed to each Team's Credits pool and wallet;
    /// only `team`'s when given.
    pub fn spent_before(
        &self,
        day: NaiveDate,
        team: Option<&str>,
    ) -> Result<BTreeMap<String, Spent>, StoreError> {
        let what = "cannot read earlier statements";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT team_id, sum(credits_spent)::VARCHAR, sum(wallet_spent)::VARCHAR
                 FROM statements WHERE day < ? AND team_id = coalesce(?, team_id) GROUP BY team_id",
            )
            .map_err(query_error(what))?;
        let rows = stmt
            .query_map(params![day, team], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(query_error(what))?;
        let parse = |text: &str| {
            text.parse::<Decimal>().map_err(|e| StoreError::Corrupt {
                table: "statements",
                message: e.to_string(),
            })
        };
        let mut spent = BTreeMap::new();
        for row in rows {
            let (team, credits, wallet) = row.map_err(query_error(what))?;
            let team_spent = Spent {
                credits: parse(&credits)?,
                wallet: parse(&wallet)?,
            };
            spent.insert(team, team_spent);
        }
        Ok(spent)
    }

    /// The time of a Team's latest record.
    pub fn last_change(&self, team: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        query_row(
            &self.conn,
            "SELECT max(occurred_at) FROM team_records WHERE team_id = ?",
            [team],
            |r| r.get::<_, Option<DateTime<Utc>>>(0),
        )
        .map_err(query_error(format!("cannot read the history of `{team}`")))
    }

    /// Starts a transaction that every [`Store::append`] joins until [`Store::commit`] or
    /// [`Store::rollback`]: a scenario is stored whole or not at all.
    pub fn begin(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN TRANSACTION")
            .map_err(query_error("cannot start a transaction"))?;
        self.in_transaction = true;
        Ok(())
    }

    /// Commits the transaction of [`Store::begin`].
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.in_transaction = false;
        self.conn
            .execute_batch("COMMIT")
            .map_err(query_error("cannot commit"))
    }

    /// Undoes everything since [`Store::begin`].
    pub fn rollback(&mut self) -> Result<(), StoreError> {
        self.in_transaction = false;
        self.conn
            .execute_batch("ROLLBACK")
            .map_err(query_error("cannot roll back"))
    }
}

/// Executes `sql` through the connection's statement cache: planned once per run.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl duckdb::Params,
) -> duckdb::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// One row of `sql`, through the statement cache.
pub(crate) fn query_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl duckdb::Params,
    f: impl FnOnce(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> duckdb::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store file with only the first `applied` migrations, in a directory kept alive by
    /// the returned guard.
    fn older_store(applied: usize) -> (tempfile::TempDir, std::path::PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.duckdb");
        let conn = Connection::open(&path).unwrap();
        let store = Store::migrated(conn, &MIGRATIONS[..applied]).unwrap();
        (dir, path, store)
    }

    #[test]
    fn an_older_store_opens_and_upgrades() {
        let (_dir, path, old) = older_store(1);
        drop(old);
        let store = Store::open(&path).unwrap();
        let applied: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(applied as usize, MIGRATIONS.len());
        store
            .conn()
            .execute_batch("SELECT * FROM statements")
            .unwrap();
    }

    #[test]
    fn statements_stored_before_zstd_are_kept_and_new_ones_are_compressed() {
        let (_dir, path, store) = older_store(2);
        store
            .conn()
            .execute_batch("INSERT INTO statements VALUES ('2026-11-23', 'acme', '{}', 1.50, 0.00)")
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let kept: (String, String) = store
            .conn()
            .query_row(
                "SELECT team_id, credits_spent::VARCHAR FROM statements",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(kept, ("acme".into(), "1.50".into()));
        store
            .conn()
            .execute_batch(
                "INSERT INTO statements SELECT DATE '2026-11-24' + i::INTEGER, 'acme',
                        repeat('{\"line\": 1}', 50), 0, 0 FROM range(3000) t(i);
                 CHECKPOINT",
            )
            .unwrap();
        let compressions: Vec<String> = store
            .conn()
            .prepare(
                "SELECT DISTINCT compression FROM pragma_storage_info('statements')
                 WHERE column_name = 'body' AND segment_type = 'VARCHAR'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(compressions, ["ZSTD"]);
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn an_unopenable_store_says_its_part_and_duckdb_says_the_rest_once() {
        let err = match Store::open(Path::new("/nonexistent/dir/x.duckdb")) {
            Err(e) => e,
            Ok(_) => panic!("opened"),
        };
        assert_eq!(
            err.to_string(),
            "cannot open store `/nonexistent/dir/x.duckdb`"
        );
        let cause = std::error::Error::source(&err).expect("DuckDB's error is the cause");
        assert!(
            cause.to_string().contains("No such file or directory"),
            "{cause}"
        );
        assert!(!cause.to_string().contains("Error code"), "{cause}");
        assert!(
            cause.source().is_none(),
            "DuckDB's generic repeat is not a second cause"
        );
    }
}

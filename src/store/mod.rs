//! The DuckDB store: schema and migrations, appends, and one-Team reads.

mod adjustments;
mod archive;
mod cut;
mod events;
mod generate;
mod lake;
mod migrations;
mod nightly;
mod records;
mod runs;
mod settle;
mod sql;
mod window;
mod window_ids;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use duckdb::{AccessMode, Config, Connection, OptionalExt, params};
use gatekeeper::Region;
use rust_decimal::Decimal;

pub use adjustments::{NewAdjustment, PendingAdjustment};
pub use archive::{Archivable, ArchiveSummary, ArchivedFile, DayToArchive};
pub use cut::{Cut, Selected};
pub use events::NewEvent;
pub use generate::{Generated, SyntheticEvents};
pub use lake::LakeFile;
pub use migrations::MIGRATIONS;
pub use nightly::{Attempt, Unsettled};
pub use records::{Creates, Entry, StepIdentity, StoredRecord};
pub use runs::{CarriedRow, DayRows, SeatUsage, StatementRow, StoredRun};
pub use settle::{LEAN_COLUMNS, RunCodes, Settlement};
pub use window::{DEFAULT_WINDOW_DAYS, Window, window_start};

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
    #[error("store `{path}` is held by another process{}", busy_for(*waited))]
    Busy {
        /// The file.
        path: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The file can't be read to tell what it is.
    #[error("cannot read `{path}`")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a DuckDB database.
    #[error("`{path}` is not a DuckDB file, so not a tokenplan store")]
    NotDuckDb {
        /// The file.
        path: String,
    },
    /// The file holds tables that are not a tokenplan store's: it belongs to something else.
    #[error("`{path}` is not a tokenplan store: it holds the table `{table}`")]
    Foreign {
        /// The file.
        path: String,
        /// A table no tokenplan schema has.
        table: String,
    },
    /// There is no file, or it holds no tables, and the caller may not create a store.
    #[error("no store `{path}`: the file is missing or empty")]
    NoStore {
        /// The file.
        path: String,
    },
    /// A store opened read-only lacks migrations this tokenplan applies.
    #[error(
        "store `{path}` has {found} of the {known} migrations this tokenplan knows, and is opened read-only"
    )]
    Outdated {
        /// The file.
        path: String,
        /// Migrations in the store.
        found: usize,
        /// Migrations this build knows.
        known: usize,
    },
    /// A migration failed; the store is left as it was.
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

/// How long a busy store was waited for, as the end of [`StoreError::Busy`]'s message.
fn busy_for(waited: Duration) -> String {
    match waited.as_secs() {
        0 => " (not waited for)".to_owned(),
        1 => " and stayed busy for 1 second".to_owned(),
        secs => format!(" and stayed busy for {secs} seconds"),
    }
}

/// Whether opening failed because another process holds the file's lock.
fn is_lock_conflict(error: &duckdb::Error) -> bool {
    error.to_string().contains("Could not set lock on file")
}

/// What a Team's statements took from its Credits pool and wallet: spend and adjustments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What opening a store may do to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create the store in a new or empty file, or upgrade a store (`apply`, `events import`,
    /// `generate`).
    Create,
    /// Open a store that exists, upgrading it if need be (`billing run`).
    Existing,
    /// Open a store that exists without writing anything: the file may be read-only, or held
    /// read-only by other processes too (`billing status`, `billing show`, `policy explain`).
    ReadOnly,
}

impl Store {
    /// Opens the store at `path`, creating it in a new or empty file, and applies pending
    /// migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, Access::Create)
    }

    /// Opens the store at `path` as `access` allows. A file holding any table that is not a
    /// tokenplan store's is refused whatever the access: it belongs to something else.
    pub fn open_with(path: &Path, access: Access) -> Result<Store, StoreError> {
        check_file(path, access)?;
        let conn = connect(path, access).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source: source.into(),
        })?;
        Self::migrated(conn, MIGRATIONS, access, &path.display().to_string())
    }

    /// [`Store::open_with`], retrying while another process holds the file's lock, for up to
    /// `wait`. `on_busy` hears once, with DuckDB's word on who holds it, that the store is
    /// busy.
    pub fn open_waiting(
        path: &Path,
        access: Access,
        wait: Duration,
        on_busy: impl FnOnce(&str),
    ) -> Result<Store, StoreError> {
        check_file(path, access)?;
        // A wait too long to add to the clock never ends.
        let deadline = Instant::now().checked_add(wait);
        let mut on_busy = Some(on_busy);
        loop {
            match connect(path, access) {
                Ok(conn) => {
                    return Self::migrated(conn, MIGRATIONS, access, &path.display().to_string());
                }
                Err(source) if is_lock_conflict(&source) => {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left.is_some_and(|left| left.is_zero()) {
                        return Err(StoreError::Busy {
                            path: path.display().to_string(),
                            waited: wait,
                        });
                    }
                    if let Some(on_busy) = on_busy.take() {
                        on_busy(&source.to_string());
                    }
                    let pause = Duration::from_millis(200);
                    std::thread::sleep(left.map_or(pause, |left| left.min(pause)));
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
        Self::migrated(conn, MIGRATIONS, Access::Create, ":memory:")
    }

    /// Checks that `conn` holds a store (or, for [`Access::Create`], nothing at all) and
    /// applies the migrations of `migrations` it lacks, all in one transaction: a migration
    /// that fails leaves the file as it was.
    pub(crate) fn migrated(
        mut conn: Connection,
        migrations: &[(&'static str, &str)],
        access: Access,
        path: &str,
    ) -> Result<Store, StoreError> {
        let tables = table_names(&conn)?;
        if tables.is_empty() && access != Access::Create {
            return Err(StoreError::NoStore {
                path: path.to_owned(),
            });
        }
        let applied = if tables.contains(MIGRATIONS_TABLE) {
            applied_migrations(&conn)?
        } else {
            0
        };
        if applied > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                found: applied,
                known: MIGRATIONS.len(),
            });
        }
        check_ours(&tables, path)?;
        if applied < migrations.len() {
            if access == Access::ReadOnly {
                return Err(StoreError::Outdated {
                    path: path.to_owned(),
                    found: applied,
                    known: migrations.len(),
                });
            }
            migrate(&mut conn, migrations, applied)?;
        }
        Ok(Store {
            conn,
            in_transaction: false,
        })
    }

    /// The connection, for the store's own modules.
    fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Whether [`Store::begin`]'s transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// The connection, for transactions.
    fn conn_mut(&mut self) -> &mut Connection {
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

    /// The id of the Team whose id equals `team` ignoring case (T7), if there is one.
    pub fn team_id_ignoring_case(&self, team: &str) -> Result<Option<String>, StoreError> {
        query_row(
            &self.conn,
            "SELECT min(team_id) FROM teams WHERE lower(team_id) = lower(?)",
            [team],
            |r| r.get(0),
        )
        .map_err(query_error(format!("cannot look up Team `{team}`")))
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

/// Where a DuckDB file says what it is: after the header's checksum.
const DUCKDB_MAGIC: (usize, &[u8]) = (8, b"DUCK");

/// The file at `path` is a DuckDB file, or only [`Access::Create`] may make one there: where
/// there is none, or in an empty file (which DuckDB can't open, so it is removed first).
fn check_file(path: &Path, access: Access) -> Result<(), StoreError> {
    let no_store = || StoreError::NoStore {
        path: path.display().to_string(),
    };
    let unreadable = |source| StoreError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let mut head = Vec::new();
    match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if access == Access::Create {
                Ok(())
            } else {
                Err(no_store())
            };
        }
        Err(e) => return Err(unreadable(e)),
        Ok(file) => {
            use std::io::Read as _;
            let (at, magic) = DUCKDB_MAGIC;
            file.take((at + magic.len()) as u64)
                .read_to_end(&mut head)
                .map_err(unreadable)?;
        }
    }
    if head.is_empty() {
        if access != Access::Create {
            return Err(no_store());
        }
        return std::fs::remove_file(path).map_err(unreadable);
    }
    let (at, magic) = DUCKDB_MAGIC;
    if head.get(at..) != Some(magic) {
        return Err(StoreError::NotDuckDb {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// A connection to the file at `path`, read-only for [`Access::ReadOnly`].
fn connect(path: &Path, access: Access) -> duckdb::Result<Connection> {
    match access {
        Access::ReadOnly => {
            Connection::open_with_flags(path, Config::default().access_mode(AccessMode::ReadOnly)?)
        }
        Access::Create | Access::Existing => Connection::open(path),
    }
}

/// The tables and views of the store's own database (not its temporary ones).
fn table_names(conn: &Connection) -> Result<BTreeSet<String>, StoreError> {
    let what = "cannot list the store's tables";
    let mut stmt = conn
        .prepare(
            "SELECT table_name FROM information_schema.tables
             WHERE table_catalog = current_database()",
        )
        .map_err(query_error(what))?;
    let names = stmt
        .query_map([], |r| r.get(0))
        .map_err(query_error(what))?;
    names.collect::<Result<_, _>>().map_err(query_error(what))
}

/// A store's tables (none, for a new file) are all tables some version of the schema has, and
/// include its record of migrations.
fn check_ours(tables: &BTreeSet<String>, path: &str) -> Result<(), StoreError> {
    let ours = schema_tables()?;
    let foreign = tables
        .iter()
        .find(|t| !ours.contains(t.as_str()))
        // Only names a store has, but not the store's record of its migrations.
        .or_else(|| tables.iter().find(|_| !tables.contains(MIGRATIONS_TABLE)));
    match foreign {
        Some(table) => Err(StoreError::Foreign {
            path: path.to_owned(),
            table: table.clone(),
        }),
        None => Ok(()),
    }
}

/// The table that records the migrations a store has applied.
const MIGRATIONS_TABLE: &str = "schema_migrations";

/// Every table some version of the schema has: the migrations applied one by one to a store
/// in memory, once per process.
fn schema_tables() -> Result<&'static BTreeSet<String>, StoreError> {
    static TABLES: OnceLock<BTreeSet<String>> = OnceLock::new();
    if let Some(tables) = TABLES.get() {
        return Ok(tables);
    }
    let mut conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
        path: ":memory:".into(),
        source: source.into(),
    })?;
    let mut tables = BTreeSet::new();
    for applied in 0..MIGRATIONS.len() {
        migrate(&mut conn, &MIGRATIONS[..=applied], applied)?;
        tables.extend(table_names(&conn)?);
    }
    Ok(TABLES.get_or_init(|| tables))
}

/// How many migrations a store has applied.
fn applied_migrations(conn: &Connection) -> Result<usize, StoreError> {
    let applied: i64 = conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .map_err(query_error("cannot read schema_migrations"))?;
    usize::try_from(applied).map_err(|_| StoreError::Corrupt {
        table: MIGRATIONS_TABLE,
        message: format!("{applied} migrations"),
    })
}

/// Applies `migrations` after the first `applied`, in one transaction.
fn migrate(
    conn: &mut Connection,
    migrations: &[(&'static str, &str)],
    applied: usize,
) -> Result<(), StoreError> {
    let Some((first, _)) = migrations.get(applied) else {
        return Ok(());
    };
    let failed = |name: &'static str| {
        move |source: duckdb::Error| StoreError::Migration {
            name,
            source: source.into(),
        }
    };
    let tx = conn.transaction().map_err(failed(first))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL);",
    )
    .map_err(failed(first))?;
    for (version, (name, sql)) in migrations.iter().enumerate().skip(applied) {
        tx.execute_batch(sql).map_err(failed(name))?;
        execute(
            &tx,
            "INSERT INTO schema_migrations VALUES (?, ?)",
            params![version + 1, name],
        )
        .map_err(failed(name))?;
    }
    tx.commit().map_err(failed(first))
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
        let store = Store::migrated(conn, &MIGRATIONS[..applied], Access::Create, "old").unwrap();
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
    fn a_migration_that_fails_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.duckdb");
        let broken: &[(&str, &str)] = &[
            MIGRATIONS[0],
            (
                "colliding",
                "CREATE TABLE extra (a INTEGER); CREATE TABLE users (a INTEGER);",
            ),
        ];
        let conn = Connection::open(&path).unwrap();
        let failed = Store::migrated(conn, broken, Access::Create, "new");
        assert!(matches!(
            failed,
            Err(StoreError::Migration {
                name: "colliding",
                ..
            })
        ));
        let conn = Connection::open(&path).unwrap();
        assert!(
            table_names(&conn).unwrap().is_empty(),
            "nothing left behind"
        );
    }

    #[test]
    fn the_steps_of_a_store_older_than_step_identities_are_identified_by_their_records() {
        let (_dir, path, store) = older_store(4);
        store
            .conn()
            .execute_batch(
                "INSERT INTO team_records VALUES (1, 'own', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'own', 'create_account', '{\"do\":\"create_account\",\"region\":\"overseas\"}')",
            )
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let identity = StepIdentity {
            team: "own".into(),
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
            actor: "own".into(),
            payload: r#"{"do":"create_account","region":"overseas"}"#.into(),
        };
        assert_eq!(store.step_like(&identity).unwrap(), Some(true));
    }

    #[test]
    fn a_store_opened_read_only_or_as_existing_must_be_a_current_store() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.duckdb");
        for access in [Access::Existing, Access::ReadOnly] {
            assert!(matches!(
                Store::open_with(&missing, access),
                Err(StoreError::NoStore { .. })
            ));
        }
        assert!(!missing.exists());
        let (_dir, path, old) = older_store(2);
        drop(old);
        assert!(matches!(
            Store::open_with(&path, Access::ReadOnly),
            Err(StoreError::Outdated { found: 2, .. })
        ));
        Store::open_with(&path, Access::Existing).unwrap();
        Store::open_with(&path, Access::ReadOnly).unwrap();
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

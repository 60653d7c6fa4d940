//! The store's schema, as numbered migrations applied in order on open.

/// Every migration, oldest first; a store records the ones it has applied.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("teams and history", TEAMS),
    ("billing", BILLING),
    ("statements compressed with zstd", STATEMENTS_ZSTD),
    ("billing attempts", BILLING_ATTEMPTS),
    ("step identities", STEP_IDENTITIES),
    ("window and archive", WINDOW_AND_ARCHIVE),
    ("carried state", CARRIED_STATE),
    ("decision digests", DECISION_DIGESTS),
    ("lake files", LAKE_FILES),
    ("window ids", WINDOW_IDS),
    ("statements without an index", STATEMENTS_UNINDEXED),
    ("adjustments", ADJUSTMENTS),
];

/// Users, Teams, the append-only history of their changes, decisions, and usage events.
const TEAMS: &str = "
CREATE SEQUENCE record_seq START 1;
CREATE TABLE users (
    user_id VARCHAR PRIMARY KEY,
    region VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE teams (
    team_id VARCHAR PRIMARY KEY,
    region VARCHAR NOT NULL,
    is_default BOOLEAN NOT NULL,
    owner VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- Every allowed operation on a Team, appended in order; a Team's state is a fold over them.
CREATE TABLE team_records (
    seq BIGINT PRIMARY KEY,
    team_id VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,
    payload VARCHAR NOT NULL
);
CREATE INDEX team_records_by_team ON team_records (team_id);
-- Pay-as-you-go key ids are unique across the store; deletions are team_records.
CREATE TABLE payg_keys (
    key_id VARCHAR PRIMARY KEY,
    team_id VARCHAR NOT NULL,
    creator VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- Every decision, allowed or denied.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    team_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    allowed BOOLEAN NOT NULL,
    policies VARCHAR NOT NULL,
    rules VARCHAR NOT NULL,
    explanation VARCHAR NOT NULL
);
-- The gateway's contract (interfaces.md): any system may insert here.
CREATE TABLE usage_events (
    event_id VARCHAR,
    ts TIMESTAMPTZ,
    key_id VARCHAR,
    model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    ingested_at TIMESTAMPTZ DEFAULT current_timestamp
);
";

/// What the nightly job wrote: runs, statements, the events each run settled, seat usage.
const BILLING: &str = "
-- One run per billing day. Events with rowid <= max_rowid and usage day <= day are settled.
CREATE TABLE billing_runs (
    day DATE PRIMARY KEY,
    day_number BIGINT NOT NULL,
    max_rowid BIGINT NOT NULL,
    summary VARCHAR NOT NULL
);
CREATE TABLE statements (
    day DATE NOT NULL,
    team_id VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    credits_spent DECIMAL(18, 2) NOT NULL,
    wallet_spent DECIMAL(18, 2) NOT NULL,
    PRIMARY KEY (day, team_id)
);
-- Tokens a seat used per cycle, per billing run (B9, S4).
CREATE TABLE seat_usage (
    team_id VARCHAR NOT NULL,
    tier VARCHAR NOT NULL,
    seat INTEGER NOT NULL,
    cycle_start DATE NOT NULL,
    billed_day DATE NOT NULL,
    tokens BIGINT NOT NULL
);
";

/// Statement bodies compressed with zstd: measured when this was added, the checkpoint closing
/// a 10,000-statement night took 0.24 s instead of 0.53 s with DuckDB's default string
/// compression, and the bodies 40% of the space.
const STATEMENTS_ZSTD: &str = "
CREATE TABLE statements_zstd (
    day DATE NOT NULL,
    team_id VARCHAR NOT NULL,
    body VARCHAR NOT NULL USING COMPRESSION zstd,
    credits_spent DECIMAL(18, 2) NOT NULL,
    wallet_spent DECIMAL(18, 2) NOT NULL,
    PRIMARY KEY (day, team_id)
);
INSERT INTO statements_zstd SELECT * FROM statements;
DROP TABLE statements;
ALTER TABLE statements_zstd RENAME TO statements;
";

/// Every `billing run`, how it ended: what `billing status` and `--metrics` report.
const BILLING_ATTEMPTS: &str = "
CREATE TABLE billing_attempts (
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    through_day DATE NOT NULL,
    exit_status INTEGER NOT NULL,
    days_billed INTEGER NOT NULL,
    days_reproduced INTEGER NOT NULL,
    message VARCHAR NOT NULL
);
";

/// The identity of every decided step, allowed or denied, so that a step applied again is found
/// and stores nothing: its `id` when it has one, else its Team, instant, actor and operation with
/// its fields (`payload`, as `team_records` stores it). The steps stored before identities were
/// are the allowed ones of `team_records`.
const STEP_IDENTITIES: &str = "
CREATE TABLE step_identities (
    step_id VARCHAR UNIQUE,
    team_id VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    payload VARCHAR NOT NULL,
    allowed BOOLEAN NOT NULL
);
INSERT INTO step_identities
    SELECT NULL, team_id, occurred_at, actor, payload, true FROM team_records;
CREATE INDEX step_identities_by_time ON step_identities (occurred_at);
";

/// The window W of B21, one row fixed in the transaction that commits a store's first billed
/// day (a store billed before it existed gets the default of the time, 35 days, fixed on its
/// first billed day), and every Parquet file the archive moved events to (B22).
const WINDOW_AND_ARCHIVE: &str = "
CREATE TABLE billing_window (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    days INTEGER NOT NULL CHECK (days > 0),
    fixed_on DATE NOT NULL
);
INSERT INTO billing_window (days, fixed_on) SELECT 35, min(day) FROM billing_runs HAVING count(*) > 0;
-- `file` is under `location` (a directory or s3://bucket/prefix): day=YYYY-MM-DD/events-PART.parquet,
-- `day` the UTC day of the events' `ts`; part 0 first, then one more for each later archive that
-- finds events of the day (late ones).
CREATE TABLE archived_files (
    day DATE NOT NULL,
    part INTEGER NOT NULL,
    location VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (day, part)
);
";

/// What the latest billed day hands the next night, per Team (B21): replaced by every commit.
const CARRIED_STATE: &str = "
CREATE TABLE carried_state (
    day DATE NOT NULL,
    team_id VARCHAR NOT NULL,
    body VARCHAR NOT NULL
);
";

/// The digest of the policy set that decided each step (`gatekeeper::digest`:
/// `sha256:HEX`); NULL for the steps decided before it was recorded.
const DECISION_DIGESTS: &str = "
ALTER TABLE audit_log ADD COLUMN policy_digest VARCHAR;
";

/// The files of a lake of Parquet events (`--events URL`) taken into `usage_events`: each
/// once, by its name under the lake; its size and entity tag tell a file changed since.
const LAKE_FILES: &str = "
CREATE TABLE lake_files (
    lake VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    e_tag VARCHAR,
    rows BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (lake, file)
);
";

/// The id hash and instant of each event the runs saw, for the window's duplicate search
/// (`window_ids.rs`), and the hash of a probe text telling which DuckDB hashed them: empty
/// here, so the next night (or plan) fills them.
const WINDOW_IDS: &str = "
CREATE TABLE window_ids (
    row_id BIGINT NOT NULL,
    ts_us BIGINT NOT NULL,
    id_hash UBIGINT NOT NULL
);
CREATE TABLE window_ids_hash (
    probe UBIGINT NOT NULL
);
";

/// Statements without the primary key's index: DuckDB writes a table's whole index at every
/// checkpoint, so the checkpoint closing a night grew with the history (measured: 0.19 s at 1
/// day, 2.05 s at 30 days of 10,000 statements a day). A day is committed once, with its
/// `billing_runs` row (whose key stays), and a run writes one statement per Team.
const STATEMENTS_UNINDEXED: &str = "
CREATE TABLE statements_unindexed (
    day DATE NOT NULL,
    team_id VARCHAR NOT NULL,
    body VARCHAR NOT NULL USING COMPRESSION zstd,
    credits_spent DECIMAL(18, 2) NOT NULL,
    wallet_spent DECIMAL(18, 2) NOT NULL
);
INSERT INTO statements_unindexed SELECT * FROM statements ORDER BY day, team_id;
DROP TABLE statements;
ALTER TABLE statements_unindexed RENAME TO statements;
";

/// Billing operators and adjustments (B24): an adjustment is appended once and never changed;
/// the day whose statements billed it is recorded beside it, in that day's transaction.
const ADJUSTMENTS: &str = "
CREATE TABLE operators (
    operator_id VARCHAR PRIMARY KEY,
    added_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE adjustment_seq START 1;
CREATE TABLE adjustments (
    adjustment_id BIGINT PRIMARY KEY,
    team_id VARCHAR NOT NULL,
    corrects_day DATE NOT NULL,
    applies_to VARCHAR NOT NULL,
    amount DECIMAL(18, 2) NOT NULL,
    reason VARCHAR NOT NULL,
    operator_id VARCHAR NOT NULL,
    made_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE adjustments_billed (
    adjustment_id BIGINT PRIMARY KEY,
    day DATE NOT NULL
);
";

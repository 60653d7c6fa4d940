//! `events import`: usage events from CSV, JSON Lines or Parquet files into `usage_events`.
//!
//! A file is stored whole or not at all: any row that can't be stored (a missing column, a
//! non-numeric token count, an unparsable time) refuses the file, and every such row is
//! reported by line. Rows that can be stored but not billed (negative tokens, unknown keys or
//! models) are stored; the billing job quarantines them with a reason (B13). Event ids already
//! stored, or repeated within the file, are skipped, so importing a file twice stores nothing
//! twice.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, Utc};
use duckdb::params;
use polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit};

use crate::ids;
use crate::store::{Store, StoreError, query_error};

/// The columns of `usage_events` a file must have (`ingested_at` is optional).
pub const COLUMNS: [&str; 6] = [
    "event_id",
    "ts",
    "key_id",
    "model",
    "input_tokens",
    "output_tokens",
];

/// One row as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// 1-based line (CSV, JSON Lines) or row (Parquet) in the file.
    pub line: usize,
    /// `event_id`.
    pub event_id: String,
    /// `ts`.
    pub ts: DateTime<Utc>,
    /// `key_id`.
    pub key_id: String,
    /// `model`.
    pub model: String,
    /// `input_tokens`.
    pub input_tokens: i64,
    /// `output_tokens`.
    pub output_tokens: i64,
    /// `ingested_at`, if the file has it.
    pub ingested_at: Option<DateTime<Utc>>,
}

/// A file that can't be imported; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read `{file}`: {message}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// The extension names no supported format.
    #[error("`{file}`: unknown format; name files `.csv`, `.jsonl` (or `.ndjson`) or `.parquet`")]
    Format {
        /// The file.
        file: String,
    },
    /// Rows that can't be stored.
    #[error("`{file}`: {} row(s) can't be stored, so nothing of the file was:\n{}", rows.len(), rows.iter().take(20).map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    Rows {
        /// The file.
        file: String,
        /// `line N: reason`, in line order.
        rows: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Rows read.
    pub read: usize,
    /// Rows stored.
    pub stored: usize,
    /// Rows skipped: event id already stored or repeated in the file.
    pub skipped: usize,
}

/// Reads the rows of a file, by its extension.
pub fn read(path: &Path) -> Result<Vec<EventRow>, ImportError> {
    let file = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (rows, bad) = match extension.as_str() {
        "csv" => read_csv(path, &file)?,
        "jsonl" | "ndjson" => read_jsonl(path, &file)?,
        "parquet" => read_parquet(path, &file)?,
        _ => return Err(ImportError::Format { file }),
    };
    if bad.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Rows { file, rows: bad })
    }
}

fn read_error(file: &str) -> impl Fn(&dyn std::fmt::Display) -> ImportError + '_ {
    move |e| ImportError::Read {
        file: file.to_owned(),
        message: e.to_string(),
    }
}

/// Parses one row from its fields by column name; `Err` names the field and the problem.
fn row_from(line: usize, field: &dyn Fn(&str) -> Option<String>) -> Result<EventRow, String> {
    let text = |name: &str| -> Result<String, String> {
        field(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("`{name}` is empty"))
    };
    let time = |name: &str, value: &str| -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("`{name}` is not an RFC 3339 time (`{value}`): {e}"))
    };
    let tokens = |name: &str| -> Result<i64, String> {
        let value = text(name)?;
        value
            .trim()
            .parse()
            .map_err(|_| format!("`{name}` is not a whole number (`{value}`)"))
    };
    let ts = text("ts")?;
    let ingested_at = match field("ingested_at").filter(|v| !v.is_empty()) {
        Some(v) => Some(time("ingested_at", &v)?),
        None => None,
    };
    Ok(EventRow {
        line,
        event_id: text("event_id")?,
        ts: time("ts", &ts)?,
        key_id: {
            let key = text("key_id")?;
            ids::check_key(&key).map_err(|e| format!("`key_id`: {e}"))?;
            key
        },
        model: text("model")?,
        input_tokens: tokens("input_tokens")?,
        output_tokens: tokens("output_tokens")?,
        ingested_at,
    })
}

/// The required columns `has` lacks, in backticks and comma-separated; `None` if none.
fn lacking(has: impl Fn(&str) -> bool) -> Option<String> {
    let missing: Vec<String> = COLUMNS
        .iter()
        .filter(|c| !has(c))
        .map(|c| format!("`{c}`"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

fn missing_columns(file: &str, present: &[String]) -> Result<(), ImportError> {
    match lacking(|c| present.iter().any(|p| p == c)) {
        None => Ok(()),
        Some(missing) => Err(ImportError::Rows {
            file: file.to_owned(),
            rows: vec![format!("line 1: missing column(s) {missing}")],
        }),
    }
}

type Rows = (Vec<EventRow>, Vec<String>);

fn read_csv(path: &Path, file: &str) -> Result<Rows, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| read_error(file)(&e))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| read_error(file)(&e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    missing_columns(file, &headers)?;
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                bad.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(|v| v.trim().to_owned())
        };
        match row_from(line, &field) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("line {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

fn read_jsonl(path: &Path, file: &str) -> Result<Rows, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(file)(&e))?;
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for (i, line_text) in text.lines().enumerate() {
        let line = i + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(line_text) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                bad.push(format!("line {line}: not a JSON object"));
                continue;
            }
            Err(e) => {
                bad.push(format!("line {line}: not JSON: {e}"));
                continue;
            }
        };
        if let Some(missing) = lacking(|c| object.contains_key(c)) {
            bad.push(format!("line {line}: missing field(s) {missing}"));
            continue;
        }
        let field = |name: &str| match object.get(name) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        match row_from(line, &field) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("line {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

fn read_parquet(path: &Path, file: &str) -> Result<Rows, ImportError> {
    let handle = File::open(path).map_err(|e| read_error(file)(&e))?;
    let frame = without_panics(|| ParquetReader::new(handle).finish())
        .map_err(|e| read_error(file)(&format!("not a readable Parquet file ({e})")))?
        .map_err(|e| read_error(file)(&e))?;
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    missing_columns(file, &names)?;
    // Every column as text: times as RFC 3339, numbers as digits; then the same row parser.
    let mut columns = Vec::new();
    for name in COLUMNS.iter().copied().chain(
        names
            .iter()
            .any(|n| n == "ingested_at")
            .then_some("ingested_at"),
    ) {
        let column = frame.column(name).map_err(|e| read_error(file)(&e))?;
        let values: Vec<Option<String>> = match column.dtype() {
            DataType::Datetime(unit, _) => {
                let per_second: i64 = match unit {
                    TimeUnit::Nanoseconds => 1_000_000_000,
                    TimeUnit::Microseconds => 1_000_000,
                    TimeUnit::Milliseconds => 1_000,
                };
                let raw = column
                    .cast(&DataType::Int64)
                    .map_err(|e| read_error(file)(&e))?;
                let raw = raw.i64().map_err(|e| read_error(file)(&e))?;
                raw.iter()
                    .map(|v| {
                        v.and_then(|v| {
                            DateTime::<Utc>::from_timestamp(
                                v.div_euclid(per_second),
                                (v.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32,
                            )
                        })
                        .map(|t| t.to_rfc3339())
                    })
                    .collect()
            }
            _ => {
                let text = column
                    .cast(&DataType::String)
                    .map_err(|e| read_error(file)(&e))?;
                let text = text.str().map_err(|e| read_error(file)(&e))?;
                text.iter().map(|v| v.map(str::to_owned)).collect()
            }
        };
        columns.push((name, values));
    }
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for i in 0..frame.height() {
        let line = i + 1;
        let field = |name: &str| {
            columns
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v[i].clone())
        };
        match row_from(line, &field) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("row {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

/// Runs a reader of untrusted bytes that may panic on a corrupt file (polars' Parquet reader
/// asserts on some), turning a panic into an error with its message, printed by no one.
fn without_panics<T>(read: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(read);
    std::panic::set_hook(hook);
    result.map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the reader failed".to_owned())
    })
}

/// Stores the rows of several files in one transaction, each file's summary in order;
/// event ids already stored, repeated in a file or in an earlier file are skipped.
pub fn store(
    store: &mut Store,
    files: &[Vec<EventRow>],
    now: DateTime<Utc>,
) -> Result<Vec<ImportSummary>, StoreError> {
    let conn = store.conn_mut();
    let tx = conn
        .transaction()
        .map_err(query_error("cannot start the import"))?;
    let summaries = files
        .iter()
        .map(|rows| store_rows(&tx, rows, now))
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit()
        .map_err(query_error("cannot commit the import"))?;
    Ok(summaries)
}

/// Stores one file's rows inside the import's transaction.
fn store_rows(
    tx: &duckdb::Connection,
    rows: &[EventRow],
    now: DateTime<Utc>,
) -> Result<ImportSummary, StoreError> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS import_staging (line BIGINT, event_id VARCHAR, ts_us BIGINT, key_id VARCHAR, model VARCHAR, input_tokens BIGINT, output_tokens BIGINT, ingested_us BIGINT);
         DELETE FROM import_staging;",
    )
    .map_err(query_error("cannot stage the import"))?;
    {
        let mut appender = tx
            .appender("import_staging")
            .map_err(query_error("cannot stage the import"))?;
        for row in rows {
            appender
                .append_row(params![
                    row.line as i64,
                    row.event_id,
                    row.ts.timestamp_micros(),
                    row.key_id,
                    row.model,
                    row.input_tokens,
                    row.output_tokens,
                    row.ingested_at.unwrap_or(now).timestamp_micros()
                ])
                .map_err(query_error("cannot stage the import"))?;
        }
        appender
            .flush()
            .map_err(query_error("cannot stage the import"))?;
    }
    let stored = tx
        .execute(
            "INSERT INTO usage_events
             SELECT event_id, make_timestamp(ts_us)::TIMESTAMPTZ, key_id, model, input_tokens, output_tokens,
                    make_timestamp(ingested_us)::TIMESTAMPTZ
             FROM import_staging s
             WHERE NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.event_id = s.event_id)
             QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY line) = 1
             ORDER BY line",
            [],
        )
        .map_err(query_error("cannot store the events"))?;
    Ok(ImportSummary {
        read: rows.len(),
        stored,
        skipped: rows.len() - stored,
    })
}

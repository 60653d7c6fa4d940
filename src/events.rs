//! `events import`: usage events from CSV, JSON Lines or Parquet files into `usage_events`.
//!
//! A file is stored whole or not at all: any row that can't be stored (a missing, repeated or
//! extra column, a repeated JSON key, a non-numeric token count, an unparsable or implausible
//! time, a record longer than [`MAX_RECORD_BYTES`]) refuses the file, and every such row is
//! reported by line, the values it echoes with control characters escaped. Rows that can be stored but not billed (negative tokens, unknown keys or
//! models) are stored; the billing job quarantines them with a reason (B13). Exact repeats of
//! a row (same id, time, key, model and token counts) already stored or earlier in the files
//! are skipped, so importing a file twice stores nothing twice; any other row is stored, even
//! one that shares an event id, and the billing run decides duplicates (B21). Rows already
//! too late for the window (B21) are counted, and stored all the same.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit};

use crate::calendar;
use crate::ids::{self, shown};
use crate::store::{NewEvent, Store, StoreError};
use crate::unique_keys::UniqueKeys;

/// The columns of `usage_events` a file must have (`ingested_at` is optional).
pub const COLUMNS: [&str; 6] = [
    "event_id",
    "ts",
    "key_id",
    "model",
    "input_tokens",
    "output_tokens",
];

/// The longest record an import reads (a CSV record, a JSON Lines line), in bytes: an event's
/// record is a few hundred bytes, and a longer one refuses its file instead of being read
/// into memory whole (a line that never ends).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// How far after the clock an event may be stamped: Stripe's tolerance for meter events.
/// Anything later is a wrong clock on the gateway, and would be billed on a day not yet come.
pub const CLOCK_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// How many characters of a value a message echoes.
const ECHOED: usize = 64;

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
    #[error("cannot read `{file}`")]
    Read {
        file: String,
        #[source]
        source: ReadCause,
    },
    /// The extension names no supported format.
    #[error("`{file}`: unknown format; name files `.csv`, `.jsonl` (or `.ndjson`) or `.parquet`")]
    Format { file: String },
    /// Rows that can't be stored.
    #[error("`{file}`: {} row(s) can't be stored, so nothing of the file was:\n{}", rows.len(), rows.iter().take(20).map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    Rows {
        file: String,
        /// `line N: reason`, in line order.
        rows: Vec<String>,
    },
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
    /// Rows skipped: exact repeats of a row already stored or earlier in the files.
    pub skipped: usize,
    /// Rows already too late (B21) for the next day to bill: their time is before the day W
    /// days earlier began in every billing zone. `None` before any day is billed.
    pub too_late: Option<TooLate>,
}

/// Rows of a file too late for the next day to bill (B21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLate {
    pub rows: usize,
    /// The next day to bill.
    pub day: NaiveDate,
    /// W, in days.
    pub window_days: u32,
}

/// Reads the rows of a file, by its extension; `now` is the clock that event times may not
/// be later than (by more than [`CLOCK_TOLERANCE`]).
pub fn read(path: &Path, now: DateTime<Utc>) -> Result<Vec<EventRow>, ImportError> {
    let file = crate::ids::escaped(&path.display().to_string());
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let plausible = Plausible {
        latest: now + CLOCK_TOLERANCE,
    };
    let (rows, bad) = match extension.as_str() {
        "csv" => read_csv(path, &file, &plausible)?,
        "jsonl" | "ndjson" => read_jsonl(path, &file, &plausible)?,
        "parquet" => read_parquet(path, &file, &plausible)?,
        _ => return Err(ImportError::Format { file }),
    };
    if bad.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Rows { file, rows: bad })
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadCause {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
    /// The Parquet reader gave up (it panics on some malformed files).
    #[error("not a readable Parquet file ({0})")]
    Parquet(String),
}

fn read_error<E: Into<ReadCause>>(file: &str) -> impl Fn(E) -> ImportError + '_ {
    move |e| ImportError::Read {
        file: file.to_owned(),
        source: e.into(),
    }
}

/// The times an event's `ts` may hold: from the first instant of [`calendar::FIRST_DAY`] to
/// `latest`. An earlier `ts` is a reset clock or an unset field (`1970-01-01`, `0001-01-01`),
/// and would make the first billing run start that many days back.
struct Plausible {
    latest: DateTime<Utc>,
}

impl Plausible {
    /// `Err` says why `ts` is not a time an event can have.
    fn check(&self, ts: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        if ts.date_naive() < calendar::FIRST_DAY {
            Err(format!(
                "`ts` {} is before {}: no usage is that old (a reset clock or an unset field?)",
                ts.to_rfc3339(),
                calendar::FIRST_DAY
            ))
        } else if ts > self.latest {
            Err(format!(
                "`ts` {} is more than {} minutes after the clock ({}): fix the gateway's clock",
                ts.to_rfc3339(),
                CLOCK_TOLERANCE.num_minutes(),
                (self.latest - CLOCK_TOLERANCE).to_rfc3339()
            ))
        } else {
            Ok(ts)
        }
    }
}

/// Parses one row from its fields by column name; `Err` names the field and the problem.
fn row_from(
    line: usize,
    field: &dyn Fn(&str) -> Option<String>,
    plausible: &Plausible,
) -> Result<EventRow, String> {
    let text = |name: &str| -> Result<String, String> {
        field(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("`{name}` is empty"))
    };
    let time = |name: &str, value: &str| -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                format!(
                    "`{name}` is not an RFC 3339 time (`{}`): {e}",
                    shown(value, ECHOED)
                )
            })
    };
    let tokens = |name: &str| -> Result<i64, String> {
        let value = text(name)?;
        value.trim().parse().map_err(|_| {
            format!(
                "`{name}` is not a whole number (`{}`)",
                shown(&value, ECHOED)
            )
        })
    };
    let ts = text("ts")?;
    let ingested_at = match field("ingested_at").filter(|v| !v.is_empty()) {
        Some(v) => Some(time("ingested_at", &v)?),
        None => None,
    };
    Ok(EventRow {
        line,
        event_id: text("event_id")?,
        ts: plausible.check(time("ts", &ts)?)?,
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

/// A record longer than [`MAX_RECORD_BYTES`], as the I/O error [`Bounded`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("longer than {MAX_RECORD_BYTES} bytes, so the file was read no further")]
struct RecordTooLong {
    /// The 1-based line where the record starts.
    line: usize,
}

impl RecordTooLong {
    /// The record `error` is about, if it is one too long.
    fn of(error: &io::Error) -> Option<&RecordTooLong> {
        error.get_ref()?.downcast_ref()
    }

    fn row(&self) -> String {
        format!("line {}: {self}", self.line)
    }
}

/// A reader that fails once a record has grown past [`MAX_RECORD_BYTES`]. A record ends at a
/// line break outside quotes: `quote` is CSV's `"`, or `None` where every line is a record.
struct Bounded<R> {
    inner: R,
    quote: Option<u8>,
    quoted: bool,
    record_bytes: usize,
    line: usize,
    record_line: usize,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, quote: Option<u8>) -> Self {
        Bounded {
            inner,
            quote,
            quoted: false,
            record_bytes: 0,
            line: 1,
            record_line: 1,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if self.record_bytes == 0 {
                self.record_line = self.line;
            }
            self.record_bytes += 1;
            if self.record_bytes > MAX_RECORD_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    RecordTooLong {
                        line: self.record_line,
                    },
                ));
            }
            if Some(byte) == self.quote {
                self.quoted = !self.quoted;
            }
            if byte == b'\n' {
                self.line += 1;
                if !self.quoted {
                    self.record_bytes = 0;
                }
            }
        }
        Ok(n)
    }
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

/// Refuses a header that lacks a required column or repeats one.
fn check_columns(file: &str, present: &[String]) -> Result<(), ImportError> {
    let refuse = |reason: String| ImportError::Rows {
        file: file.to_owned(),
        rows: vec![format!("line 1: {reason}")],
    };
    if let Some(missing) = lacking(|c| present.iter().any(|p| p == c)) {
        return Err(refuse(format!("missing column(s) {missing}")));
    }
    match present
        .iter()
        .enumerate()
        .find(|(i, name)| present[..*i].contains(name))
    {
        Some((_, repeated)) => Err(refuse(format!(
            "column `{}` appears twice; each column may appear once",
            shown(repeated, ECHOED)
        ))),
        None => Ok(()),
    }
}

type Rows = (Vec<EventRow>, Vec<String>);

/// The I/O error inside a CSV error, if it is one.
fn io_error(error: &csv::Error) -> Option<&io::Error> {
    match error.kind() {
        csv::ErrorKind::Io(error) => Some(error),
        _ => None,
    }
}

fn read_csv(path: &Path, file: &str, plausible: &Plausible) -> Result<Rows, ImportError> {
    let handle = File::open(path).map_err(read_error(file))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(Bounded::new(handle, Some(b'"')));
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(|h| h.trim().to_owned()).collect(),
        Err(e) => {
            return Err(match io_error(&e).and_then(RecordTooLong::of) {
                Some(too_long) => ImportError::Rows {
                    file: file.to_owned(),
                    rows: vec![too_long.row()],
                },
                None => read_error(file)(e),
            });
        }
    };
    check_columns(file, &headers)?;
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                if let Some(io) = io_error(&e) {
                    match RecordTooLong::of(io) {
                        Some(too_long) => bad.push(too_long.row()),
                        None => return Err(read_error(file)(e)),
                    }
                    break;
                }
                let line = e.position().map_or(0, |p| p.line() as usize);
                bad.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != headers.len() {
            bad.push(format!(
                "line {line}: {} field(s), but the header has {}",
                record.len(),
                headers.len()
            ));
            continue;
        }
        let field = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(|v| v.trim().to_owned())
        };
        match row_from(line, &field, plausible) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("line {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

/// A JSON error's message and column, without serde_json's `at line 1` (the line is the
/// file's, which the caller names).
fn json_problem(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

/// The object on one JSON Lines line; `Err` says why it is not one.
fn json_object(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    serde_json::from_str::<UniqueKeys>(text)
        .and_then(|_| serde_json::from_str::<serde_json::Value>(text))
        .map_err(|e| format!("not JSON: {}", json_problem(&e)))
        .and_then(|value| match value {
            serde_json::Value::Object(object) => Ok(object),
            _ => Err("not a JSON object".to_owned()),
        })
}

fn read_jsonl(path: &Path, file: &str, plausible: &Plausible) -> Result<Rows, ImportError> {
    let handle = File::open(path).map_err(read_error(file))?;
    let lines = BufReader::new(Bounded::new(handle, None)).split(b'\n');
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    for (i, bytes) in lines.enumerate() {
        let line = i + 1;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => match RecordTooLong::of(&e) {
                Some(too_long) => {
                    bad.push(too_long.row());
                    break;
                }
                None => return Err(read_error(file)(e)),
            },
        };
        let Ok(line_text) = std::str::from_utf8(&bytes) else {
            bad.push(format!("line {line}: not UTF-8"));
            continue;
        };
        if line_text.trim().is_empty() {
            continue;
        }
        let object = match json_object(line_text) {
            Ok(object) => object,
            Err(reason) => {
                bad.push(format!("line {line}: {reason}"));
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
        match row_from(line, &field, plausible) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("line {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

fn read_parquet(path: &Path, file: &str, plausible: &Plausible) -> Result<Rows, ImportError> {
    let handle = File::open(path).map_err(read_error(file))?;
    parquet_rows(handle, file, plausible)
}

/// Reads the rows of the Parquet file `name` (a lake's object, say) from `bytes`; `now` as
/// for [`read`].
pub fn read_parquet_bytes(
    name: &str,
    bytes: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Vec<EventRow>, ImportError> {
    let file = crate::ids::escaped(name);
    let plausible = Plausible {
        latest: now + CLOCK_TOLERANCE,
    };
    let (rows, bad) = parquet_rows(std::io::Cursor::new(bytes), &file, &plausible)?;
    if bad.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Rows { file, rows: bad })
    }
}

/// The rows of a Parquet file read from `handle`, and the reasons of those that can't be
/// stored.
fn parquet_rows(
    handle: impl polars::io::mmap::MmapBytesReader + std::panic::UnwindSafe,
    file: &str,
    plausible: &Plausible,
) -> Result<Rows, ImportError> {
    let frame = without_panics(|| ParquetReader::new(handle).finish())
        .map_err(|e| read_error(file)(ReadCause::Parquet(e)))?
        .map_err(read_error(file))?;
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    check_columns(file, &names)?;
    // Every column as text: times as RFC 3339, numbers as digits; then the same row parser.
    let mut columns = Vec::new();
    for name in COLUMNS.iter().copied().chain(
        names
            .iter()
            .any(|n| n == "ingested_at")
            .then_some("ingested_at"),
    ) {
        let column = frame.column(name).map_err(read_error(file))?;
        let values: Vec<Option<String>> = match column.dtype() {
            DataType::Datetime(unit, _) => {
                let per_second: i64 = match unit {
                    TimeUnit::Nanoseconds => 1_000_000_000,
                    TimeUnit::Microseconds => 1_000_000,
                    TimeUnit::Milliseconds => 1_000,
                };
                let raw = column.cast(&DataType::Int64).map_err(read_error(file))?;
                let raw = raw.i64().map_err(read_error(file))?;
                raw.iter()
                    .map(|v| v.map(|v| time_text(v, per_second)))
                    .collect()
            }
            _ => {
                let text = column.cast(&DataType::String).map_err(read_error(file))?;
                let text = text.str().map_err(read_error(file))?;
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
        match row_from(line, &field, plausible) {
            Ok(row) => rows.push(row),
            Err(reason) => bad.push(format!("row {line}: {reason}")),
        }
    }
    Ok((rows, bad))
}

/// A Parquet time, `value` units of `1 / per_second` s since the epoch, as RFC 3339 text; one
/// outside the calendar as what it is, so the row is refused saying so (never as empty).
fn time_text(value: i64, per_second: i64) -> String {
    let nanos = value.rem_euclid(per_second) * (1_000_000_000 / per_second);
    match DateTime::<Utc>::from_timestamp(value.div_euclid(per_second), nanos as u32) {
        Some(time) => time.to_rfc3339(),
        None if value == i64::MAX => "infinity".to_owned(),
        None if value == i64::MIN => "-infinity".to_owned(),
        None => format!("{value} × 1/{per_second} s from 1970, outside the calendar"),
    }
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
/// exact repeats of a row already stored, earlier in a file or in an earlier file are
/// skipped. A row without `ingested_at` is stamped `now`.
pub fn store(
    store: &mut Store,
    files: &[Vec<EventRow>],
    now: DateTime<Utc>,
) -> Result<Vec<ImportSummary>, StoreError> {
    let events: Vec<Vec<NewEvent<'_>>> = files
        .iter()
        .map(|rows| {
            rows.iter()
                .map(|row| NewEvent {
                    line: row.line,
                    event_id: &row.event_id,
                    ts: row.ts,
                    key_id: &row.key_id,
                    model: &row.model,
                    input_tokens: row.input_tokens,
                    output_tokens: row.output_tokens,
                    ingested_at: row.ingested_at.unwrap_or(now),
                })
                .collect()
        })
        .collect();
    let stored = store.import_events(&events)?;
    let window = too_late_before(store)?;
    Ok(files
        .iter()
        .zip(stored)
        .map(|(rows, stored)| ImportSummary {
            read: rows.len(),
            stored,
            skipped: rows.len() - stored,
            too_late: window.map(|(day, window_days, before)| TooLate {
                rows: rows.iter().filter(|row| row.ts < before).count(),
                day,
                window_days,
            }),
        })
        .collect())
}

/// The next day to bill, W, and the instant before which an event is too late for it in every
/// billing zone (B21: its usage day more than W days before that day); `None` before any day
/// is billed.
fn too_late_before(store: &Store) -> Result<Option<(NaiveDate, u32, DateTime<Utc>)>, StoreError> {
    let (Some(latest), Some(window)) = (store.latest_billed_day()?, store.window()?) else {
        return Ok(None);
    };
    let next = calendar::next_day(latest);
    let window_start = calendar::from_day_number(crate::store::window_start(
        calendar::day_number(next),
        window.days,
    ))
    .ok_or_else(|| StoreError::Corrupt {
        table: "billing_window",
        message: format!("a window of {} days before {next}", window.days),
    })?;
    Ok(Some((
        next,
        window.days,
        calendar::day_span(window_start).0,
    )))
}

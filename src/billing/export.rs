//! Statements as rows, one per line, for data warehouses (`billing export`) and for
//! `billing show --format csv`: CSV with amounts as exact decimal text, or Parquet with amounts
//! as `DECIMAL(18, 2)`.

use std::io::Write;

use chrono::NaiveDate;
use gatekeeper::Region;
use polars::prelude::{
    Column, DataFrame, IntoColumn, NamedFrom, ParquetCompression, ParquetWriter, PolarsError,
    Series,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::statement::{Statement, StatementLine, Usage};
use crate::money::Amount;
use crate::prices::Currency;

/// One statement line as a row; the columns that do not apply to its kind are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub team: String,
    pub day: NaiveDate,
    pub region: Region,
    pub currency: Currency,
    /// `subscription`, `proration`, `plan`, `credits`, `payg` or `adjustment`.
    pub kind: &'static str,
    pub tier: Option<String>,
    pub user: Option<String>,
    pub key: Option<String>,
    pub model: Option<String>,
    pub usage_day: Option<NaiveDate>,
    pub late: Option<bool>,
    pub events: Option<u64>,
    /// Input and output tokens.
    pub tokens: Option<i64>,
    pub seats: Option<u32>,
    /// Days billed of a proration.
    pub days: Option<i64>,
    pub amount: Amount,
}

/// The columns, in order.
pub const COLUMNS: [&str; 16] = [
    "team",
    "day",
    "region",
    "currency",
    "kind",
    "tier",
    "user",
    "key",
    "model",
    "usage_day",
    "late",
    "events",
    "tokens",
    "seats",
    "days",
    "amount",
];

/// The rows of `statement`'s lines, in its order.
pub fn rows(statement: &Statement) -> Vec<ExportRow> {
    statement
        .lines
        .iter()
        .map(|line| {
            let row = ExportRow {
                team: statement.team.to_string(),
                day: statement.day,
                region: statement.region,
                currency: statement.currency,
                kind: "",
                tier: None,
                user: None,
                key: None,
                model: None,
                usage_day: None,
                late: None,
                events: None,
                tokens: None,
                seats: None,
                days: None,
                amount: line.amount(),
            };
            let usage = |kind, u: &Usage| ExportRow {
                kind,
                tier: u.tier.clone(),
                user: Some(u.user.clone()),
                key: Some(u.key.clone()),
                model: Some(u.model.clone()),
                usage_day: Some(u.usage_day),
                late: Some(u.late),
                events: Some(u.events),
                tokens: Some(u.input_tokens.saturating_add(u.output_tokens)),
                ..row.clone()
            };
            match line {
                StatementLine::Subscription { tier, seats, .. } => ExportRow {
                    kind: "subscription",
                    tier: Some(tier.clone()),
                    seats: Some(*seats),
                    ..row
                },
                StatementLine::Proration {
                    tier, seats, days, ..
                } => ExportRow {
                    kind: "proration",
                    tier: Some(tier.clone()),
                    seats: Some(*seats),
                    days: Some(*days),
                    ..row
                },
                StatementLine::Plan(u) => usage("plan", u),
                StatementLine::Credits(u) => usage("credits", u),
                StatementLine::Payg(u) => usage("payg", u),
                StatementLine::Adjustment(_) => ExportRow {
                    kind: "adjustment",
                    ..row
                },
            }
        })
        .collect()
}

/// Writes rows as CSV, the header first.
pub struct CsvExport<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> CsvExport<W> {
    /// Starts the CSV on `out` with its header.
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        writer.write_record(COLUMNS)?;
        Ok(CsvExport { writer })
    }

    /// Appends `rows`.
    pub fn write(&mut self, rows: &[ExportRow]) -> Result<(), csv::Error> {
        rows.iter().try_for_each(|row| self.writer.serialize(row))
    }

    /// Flushes what is written.
    pub fn finish(mut self) -> Result<(), std::io::Error> {
        self.writer.flush()
    }
}

/// Writes `rows` as one zstd Parquet file to `out`: dates as dates, counts as integers,
/// amounts as `DECIMAL(18, 2)`.
pub fn write_parquet(rows: &[ExportRow], out: impl Write) -> Result<(), PolarsError> {
    let cents: Vec<i128> = rows.iter().map(|r| cents(r.amount)).collect();
    let amount = Series::new("amount".into(), cents).into_decimal(18, 2)?;
    let mut frame = DataFrame::new(
        rows.len(),
        vec![
            column(rows, "team", |r| Some(r.team.clone())),
            column(rows, "day", |r| Some(r.day)),
            column(rows, "region", |r| Some(r.region.as_str().to_owned())),
            column(rows, "currency", |r| Some(r.currency.as_str().to_owned())),
            column(rows, "kind", |r| Some(r.kind.to_owned())),
            column(rows, "tier", |r| r.tier.clone()),
            column(rows, "user", |r| r.user.clone()),
            column(rows, "key", |r| r.key.clone()),
            column(rows, "model", |r| r.model.clone()),
            column(rows, "usage_day", |r| r.usage_day),
            column(rows, "late", |r| r.late),
            column(rows, "events", |r| r.events),
            column(rows, "tokens", |r| r.tokens),
            column(rows, "seats", |r| r.seats.map(i64::from)),
            column(rows, "days", |r| r.days),
            amount.into_column(),
        ],
    )?;
    ParquetWriter::new(out)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut frame)
        .map(drop)
}

/// The column `name` of `value` of each row.
fn column<T>(rows: &[ExportRow], name: &str, value: impl Fn(&ExportRow) -> T) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Series::new(name.into(), rows.iter().map(value).collect::<Vec<_>>()).into_column()
}

/// An amount in cents (amounts have two decimals).
fn cents(amount: Amount) -> i128 {
    let mut decimal: Decimal = amount.decimal();
    decimal.rescale(2);
    decimal.mantissa()
}

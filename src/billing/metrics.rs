//! The nightly run in Prometheus' text format, for node_exporter's textfile collector: written
//! to a temporary file beside the target, then renamed, so the collector never reads half.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::classify::Quarantine;
use super::run::RunReport;
use crate::prices::Currency;

/// What one `billing run` did, as the metrics report it.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    /// When the run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The end of the latest run that exited 0, this one included.
    pub last_success: Option<DateTime<Utc>>,
    /// The run's exit status.
    pub exit_status: i32,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
    /// Days billed and reproduced.
    pub days_billed: u64,
    /// Days reproduced (B15).
    pub days_reproduced: u64,
    /// Events of the days billed, per outcome (`billed`, `unfunded`, `duplicate`,
    /// `quarantined`).
    pub events: BTreeMap<&'static str, u64>,
    /// Quarantined events per reason.
    pub quarantined: BTreeMap<Quarantine, u64>,
    /// Late events billed (B14).
    pub late: u64,
    /// Statements written.
    pub statements: u64,
    /// Statement totals per currency.
    pub totals: BTreeMap<Currency, Decimal>,
    /// Balances below zero (B16).
    pub overdrawn: u64,
    /// The latest billed day's first instant, in UTC.
    pub latest_billed_day: Option<DateTime<Utc>>,
}

impl RunMetrics {
    /// Adds one day's report; a reproduced day counts only as reproduced.
    pub fn add(&mut self, report: &RunReport) {
        if report.reproduced {
            self.days_reproduced += 1;
            return;
        }
        let summary = &report.summary;
        self.days_billed += 1;
        for (outcome, n) in [
            ("billed", summary.billed),
            ("unfunded", summary.unfunded),
            ("duplicate", summary.duplicates),
            ("quarantined", summary.quarantined.values().sum()),
        ] {
            *self.events.entry(outcome).or_default() += n;
        }
        for (reason, n) in &summary.quarantined {
            *self.quarantined.entry(*reason).or_default() += n;
        }
        self.late += summary.late;
        self.statements += summary.statements;
        for statement in &report.statements {
            *self.totals.entry(statement.currency).or_default() += statement.totals.total;
            self.overdrawn += statement.overdrawn.len() as u64;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut metric = |name: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(text, "# HELP tokenplan_billing_{name} {help}");
            let _ = writeln!(text, "# TYPE tokenplan_billing_{name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(text, "tokenplan_billing_{name}{labels} {value}");
            }
        };
        let plain = |value: String| vec![(String::new(), value)];
        let seconds = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp().to_string());
        if let Some(at) = seconds(self.last_success) {
            metric(
                "last_success_timestamp_seconds",
                "When a billing run last exited 0.",
                &plain(at),
            );
        }
        if let Some(at) = seconds(self.finished_at) {
            metric(
                "last_run_timestamp_seconds",
                "When the last billing run ended.",
                &plain(at),
            );
        }
        metric(
            "last_exit_status",
            "The last run's exit status: 0 ok, 1 failed, 2 bad input, 3 billed but files not written, 75 store busy.",
            &plain(self.exit_status.to_string()),
        );
        metric(
            "duration_seconds",
            "How long the last run took.",
            &plain(format!("{:.3}", self.duration_seconds)),
        );
        if let Some(at) = seconds(self.latest_billed_day) {
            metric(
                "latest_billed_day_timestamp_seconds",
                "The first instant (UTC) of the latest billed day.",
                &plain(at),
            );
        }
        metric(
            "days",
            "Days the last run billed or reproduced.",
            &[
                (label("outcome", "billed"), self.days_billed.to_string()),
                (
                    label("outcome", "reproduced"),
                    self.days_reproduced.to_string(),
                ),
            ],
        );
        let events: Vec<_> = ["billed", "unfunded", "duplicate", "quarantined"]
            .iter()
            .map(|outcome| {
                let n = self.events.get(outcome).copied().unwrap_or(0);
                (label("outcome", outcome), n.to_string())
            })
            .collect();
        metric(
            "events",
            "Events of the days billed, per outcome (B13).",
            &events,
        );
        let quarantined: Vec<_> = self
            .quarantined
            .iter()
            .map(|(reason, n)| (label("reason", reason.as_str()), n.to_string()))
            .collect();
        metric(
            "quarantined_events",
            "Quarantined events of the days billed, per reason.",
            &quarantined,
        );
        metric(
            "late_events",
            "Events of earlier days billed late (B14).",
            &plain(self.late.to_string()),
        );
        metric(
            "statements",
            "Statements written for the days billed.",
            &plain(self.statements.to_string()),
        );
        let totals: Vec<_> = self
            .totals
            .iter()
            .map(|(currency, total)| (label("currency", currency.as_str()), total.to_string()))
            .collect();
        metric(
            "total",
            "Statement totals of the days billed, per currency.",
            &totals,
        );
        metric(
            "overdrawn_balances",
            "Credits pools and wallets below zero on the days billed (B16).",
            &plain(self.overdrawn.to_string()),
        );
        text
    }

    /// Writes [`RunMetrics::render`] to `path` atomically (a temporary file, then a rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let directory = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(directory)?;
        file.write_all(self.render().as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `{name="value"}`, the value escaped as the text format asks.
fn label(name: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{name}=\"{escaped}\"}}")
}

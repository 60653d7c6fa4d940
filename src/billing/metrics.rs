//! The nightly run in Prometheus' text format, for node_exporter's textfile collector: written
//! to a temporary file beside the target, then renamed, so the collector never reads half, and
//! readable by all (node_exporter runs as another user). Every metric is a gauge: none is named
//! `_total`, the suffix Prometheus keeps for counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::files::os_error;
use super::outcome::Quarantine;
use super::run::DayReport;
use crate::prices::Currency;
use crate::store::Store;

/// A metrics file that can't be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file `{path}`")]
pub struct MetricsUnwritable {
    path: String,
    #[source]
    source: std::io::Error,
}

impl MetricsUnwritable {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        move |source| MetricsUnwritable {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What one `billing run` did, as the metrics report it.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    pub finished_at: Option<DateTime<Utc>>,
    /// The end of the latest run that exited 0, this one included.
    pub last_success: Option<DateTime<Utc>>,
    pub exit_status: i32,
    pub duration_seconds: f64,
    /// Days billed (not reproduced).
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
    /// Statements written for the days billed.
    pub statements: u64,
    /// Statement totals of the days billed, per currency.
    pub totals: BTreeMap<Currency, Decimal>,
    /// Balances below zero (B16).
    pub overdrawn: u64,
    /// The latest billed day's first instant, in UTC.
    pub latest_billed_day: Option<DateTime<Utc>>,
    /// Spool files `events import` refused, waiting in the spool's `refused/` (with `--spool`).
    pub refused_spool_files: Option<u64>,
}

impl RunMetrics {
    /// Adds one day's report; a reproduced day counts only as reproduced.
    pub fn add(&mut self, report: &DayReport) {
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
            *self.totals.entry(statement.currency).or_default() += statement.totals.total.decimal();
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
            "billed_amount",
            "Statement totals of the days billed, per currency.",
            &totals,
        );
        metric(
            "overdrawn_balances",
            "Credits pools and wallets below zero on the days billed (B16).",
            &plain(self.overdrawn.to_string()),
        );
        if let Some(refused) = self.refused_spool_files {
            metric(
                "refused_spool_files",
                "Spool files events import refused, waiting in the spool's refused/ directory.",
                &plain(refused.to_string()),
            );
        }
        text
    }

    /// Takes the last success and the latest billed day from `store`; one it can't read is
    /// logged and left out.
    pub fn carry_from_store(&mut self, store: &Store) {
        match store.last_attempts() {
            Ok((_, success)) => self.last_success = success,
            Err(e) => tracing::warn!("{}", crate::error_chain(&e)),
        }
        match store.latest_billed_day() {
            Ok(latest) => {
                self.latest_billed_day =
                    latest.map(|d| crate::calendar::day_start(d, gatekeeper::Region::Overseas));
            }
            Err(e) => tracing::warn!("{}", crate::error_chain(&e)),
        }
    }

    /// Takes the last success and the latest billed day from the metrics file a previous run
    /// wrote at `path`, for a run that could not read them from the store (busy, or missing):
    /// the stale-run alert must see them whatever the outcome. A file that is absent or not
    /// ours carries nothing.
    pub fn carry_from(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        self.last_success = gauge_timestamp(&text, "last_success_timestamp_seconds");
        self.latest_billed_day = gauge_timestamp(&text, "latest_billed_day_timestamp_seconds");
    }

    /// Writes [`RunMetrics::render`] to `path` atomically (a temporary file, then a rename),
    /// mode 0644.
    pub fn write(&self, path: &Path) -> Result<(), MetricsUnwritable> {
        (|| -> std::io::Result<()> {
            let mut file = tempfile::NamedTempFile::new_in(directory_of(path)).map_err(os_error)?;
            file.write_all(self.render().as_bytes())?;
            file.as_file().sync_all()?;
            readable_by_all(file.as_file())?;
            file.persist(path).map_err(|e| e.error)?;
            Ok(())
        })()
        .map_err(MetricsUnwritable::at(path))
    }

    /// Whether [`RunMetrics::write`] can write `path`: a temporary file is made in its
    /// directory, then removed. A run checks this before it bills anything.
    pub fn check_writable(path: &Path) -> Result<(), MetricsUnwritable> {
        tempfile::NamedTempFile::new_in(directory_of(path))
            .map_err(os_error)
            .and_then(tempfile::NamedTempFile::close)
            .map_err(MetricsUnwritable::at(path))
    }
}

/// The directory a file at `path` is in.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Mode 0644: the textfile collector runs as another user. (A temporary file is made 0600.)
#[cfg(unix)]
fn readable_by_all(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn readable_by_all(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// The instant of the unlabelled gauge `tokenplan_billing_{name}` in a metrics text.
fn gauge_timestamp(text: &str, name: &str) -> Option<DateTime<Utc>> {
    let prefix = format!("tokenplan_billing_{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse::<i64>().ok())
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

/// `{name="value"}`, the value escaped as the text format asks.
fn label(name: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{name}=\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_success_and_latest_billed_day_are_carried_from_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenplan.prom");
        let at = |s| DateTime::from_timestamp(s, 0);
        let previous = RunMetrics {
            last_success: at(1_780_000_000),
            latest_billed_day: at(1_779_926_400),
            ..RunMetrics::default()
        };
        previous.write(&path).unwrap();
        let mut busy = RunMetrics::default();
        busy.carry_from(&path);
        assert_eq!(
            (busy.last_success, busy.latest_billed_day),
            (previous.last_success, previous.latest_billed_day)
        );
        let mut first = RunMetrics::default();
        first.carry_from(&dir.path().join("absent.prom"));
        assert_eq!((first.last_success, first.latest_billed_day), (None, None));
    }
}

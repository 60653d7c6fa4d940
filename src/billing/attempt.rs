//! One `billing run` as operators read it afterwards: its metrics, assembled day by day and
//! written at its end, and how it ended, recorded in the store for `billing status`.

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};

use super::days::default_day;
use super::error::BillingError;
use super::metrics::{MetricsUnwritable, RunMetrics};
use super::run::{DayReport, Observer, Stage};
use super::status::RefusedFiles;
use crate::store::{self, Store, StoreError};

/// A `billing run` from its start to its end.
#[derive(Debug)]
pub struct Attempt {
    started_at: DateTime<Utc>,
    clock: Instant,
    through_day: NaiveDate,
    metrics: RunMetrics,
}

impl Attempt {
    /// A run started at `now` to bill through `day` (by default, the latest day that has
    /// ended everywhere).
    pub fn start(now: DateTime<Utc>, day: Option<NaiveDate>) -> Attempt {
        Attempt {
            started_at: now,
            clock: Instant::now(),
            through_day: day.unwrap_or_else(|| default_day(now)),
            metrics: RunMetrics::default(),
        }
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The day the run bills through.
    pub fn through_day(&self) -> NaiveDate {
        self.through_day
    }

    /// Counts the files the spool's `refused/` directory holds, for the metrics.
    pub fn count_refused(&mut self, spool: &Path) -> Result<(), BillingError> {
        self.metrics.refused_spool_files = Some(RefusedFiles::count(spool)?.count);
        Ok(())
    }

    /// `observer`, with every day it sees also added to the metrics.
    pub fn counting<'a, O: Observer>(&'a mut self, observer: &'a mut O) -> Counting<'a, O> {
        Counting {
            metrics: &mut self.metrics,
            observer,
        }
    }

    /// Ends the run at `now`.
    pub fn end(self, now: DateTime<Utc>) -> Ended {
        let mut metrics = self.metrics;
        metrics.finished_at = Some(now);
        metrics.duration_seconds = self.clock.elapsed().as_secs_f64();
        Ended {
            started_at: self.started_at,
            finished_at: now,
            through_day: self.through_day,
            metrics,
        }
    }
}

/// A `billing run` that has ended, to be written as metrics and recorded.
#[derive(Debug)]
pub struct Ended {
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    through_day: NaiveDate,
    metrics: RunMetrics,
}

impl Ended {
    /// Writes the metrics of the run, which exits with `exit_status`, to `path`, with the last
    /// success and the latest billed day: from `store` when it opened, else carried from the
    /// metrics file a previous run wrote.
    pub fn write_metrics(
        &mut self,
        path: &Path,
        store: Option<&Store>,
        exit_status: i32,
    ) -> Result<(), MetricsUnwritable> {
        let metrics = &mut self.metrics;
        metrics.exit_status = exit_status;
        match store {
            Some(store) => metrics.carry_from_store(store),
            None => metrics.carry_from(path),
        }
        if exit_status == 0 {
            metrics.last_success = Some(self.finished_at);
        }
        metrics.write(path)
    }

    /// Records in `store` that the run ended with `exit_status` and `message` (empty when
    /// it succeeded).
    pub fn record(
        &self,
        store: &Store,
        exit_status: i32,
        message: String,
    ) -> Result<(), StoreError> {
        let count = |days: u64| u32::try_from(days).unwrap_or(u32::MAX);
        store.record_attempt(&store::Attempt {
            started_at: self.started_at,
            finished_at: self.finished_at,
            through_day: self.through_day,
            exit_status,
            days_billed: count(self.metrics.days_billed),
            days_reproduced: count(self.metrics.days_reproduced),
            message,
        })
    }
}

/// An observer whose days are counted in a run's metrics.
pub struct Counting<'a, O> {
    metrics: &'a mut RunMetrics,
    observer: &'a mut O,
}

impl<O: Observer> Observer for Counting<'_, O> {
    fn stage(&mut self, stage: Stage) {
        self.observer.stage(stage);
    }

    fn day(&mut self, report: &DayReport) {
        self.metrics.add(report);
        self.observer.day(report);
    }
}

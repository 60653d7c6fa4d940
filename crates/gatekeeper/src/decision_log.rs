//! Decision logs: a hook that receives every decision a [`Gatekeeper`](crate::Gatekeeper)
//! makes, and a writer of JSON Lines for it.
//!
//! Attach one with [`Gatekeeper::with_decision_log`](crate::Gatekeeper::with_decision_log); a
//! gatekeeper without one checks a single `Option` per decision and does nothing else.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::decision::Decision;
use crate::request::{ActionRequest, Actor, TeamFacts};

/// One decision as a decision log receives it: the request's facts, the decision (verdict,
/// deciding policies and rules, the set's digest) and when it was made.
#[derive(Debug, Clone, Copy)]
pub struct LoggedDecision<'a> {
    /// Who asked.
    pub actor: &'a Actor,
    /// The Team's facts.
    pub team: &'a TeamFacts,
    /// The action asked for, with its facts.
    pub action: &'a ActionRequest,
    /// The decision.
    pub decision: &'a Decision,
    /// When it was made.
    pub at: SystemTime,
}

/// A hook that receives every decision, on the thread that made it. It can't change or fail
/// the decision: a log that can't record must keep its error for its owner to report.
pub trait DecisionLog: Send + Sync {
    /// Records one decision.
    fn record(&self, entry: &LoggedDecision<'_>);
}

/// A [`DecisionLog`] that writes one JSON object a line:
///
/// ```json
/// {"at":"2026-12-03T08:00:00.123Z","digest":"sha256:…","action":"invite","allowed":false,
///  "policies":["member-limit"],"rules":["T5"],"errors":[],
///  "actor":{"member":{"user":"olga","role":"owner"}},"team":{"id":"acme",…},
///  "request":{"invite":{"target":{"user":"nina","role":null,"has_seat":false},"role":"reader"}}}
/// ```
///
/// Each line is written whole, under a lock, in the order decisions were made. The first
/// write error is kept (and later lines dropped) until [`JsonLinesLog::finish`] reports it.
pub struct JsonLinesLog {
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    error: Option<io::Error>,
}

impl JsonLinesLog {
    /// Writes to `out`.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        JsonLinesLog {
            state: Mutex::new(State {
                out: Box::new(out),
                error: None,
            }),
        }
    }

    /// Appends to the file at `path`, creating it if needed.
    pub fn append_to(path: &Path) -> io::Result<Self> {
        let file: File = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::new(file))
    }

    /// Flushes, and returns the first error writing any line.
    pub fn finish(&self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        state.out.flush()
    }
}

impl std::fmt::Debug for JsonLinesLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesLog").finish_non_exhaustive()
    }
}

/// A line of [`JsonLinesLog`].
#[derive(Serialize)]
struct Line<'a> {
    at: String,
    digest: &'a str,
    action: &'a str,
    allowed: bool,
    policies: Vec<&'a str>,
    rules: Vec<&'a str>,
    errors: &'a [String],
    actor: &'a Actor,
    team: &'a TeamFacts,
    request: &'a ActionRequest,
}

impl DecisionLog for JsonLinesLog {
    fn record(&self, entry: &LoggedDecision<'_>) {
        let decision = entry.decision;
        let line = Line {
            at: rfc3339(entry.at),
            digest: decision.digest(),
            action: decision.action(),
            allowed: decision.is_allowed(),
            policies: decision.policies().iter().map(|p| p.id.as_str()).collect(),
            rules: decision.rules(),
            errors: decision.errors(),
            actor: entry.actor,
            team: entry.team,
            request: entry.action,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.error.is_some() {
            return;
        }
        let written = serde_json::to_vec(&line)
            .map_err(io::Error::other)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                state.out.write_all(&bytes)
            });
        if let Err(error) = written {
            state.error = Some(error);
        }
    }
}

/// `instant` in UTC as RFC 3339 with milliseconds (`2026-12-03T08:00:00.123Z`).
fn rfc3339(instant: SystemTime) -> String {
    let since = instant.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (counting in 400-year eras of
/// 146,097 days, with years starting on 1 March so that leap days fall at their end).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instants_are_written_as_rfc3339_utc() {
        let at = |secs: u64, millis: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century divisible by 400), 23:59:59.
        assert_eq!(at(951_868_799, 5), "2000-02-29T23:59:59.005Z");
        // 2026-12-03T08:30:00Z.
        assert_eq!(at(1_796_286_600, 123), "2026-12-03T08:30:00.123Z");
        assert_eq!(at(1_709_251_200, 0), "2024-03-01T00:00:00.000Z");
    }
}

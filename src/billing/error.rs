//! Why a run could not bill, reproduce or write a day.

use chrono::{DateTime, NaiveDate, Utc};

use super::columns::MissingColumn;
use super::lookup::LookupError;
use super::metrics::MetricsUnwritable;
use super::price::PriceError;
use crate::prices::Currency;
use crate::store::StoreError;

/// A run that could not bill its day; unless a variant says otherwise, nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run was stopped before committing (fault injection).
    #[error("interrupted before committing; nothing was written")]
    Interrupted,
    /// A Team subscribes to a tier the price list does not price.
    #[error(
        "Team `{team}` subscribes to tier `{tier}`, which the price list does not price; nothing was written"
    )]
    Unpriced { team: String, tier: String },
    /// A Team's stored history can't be folded (a store edited by hand).
    #[error("the history of Team `{team}` can't be replayed; nothing was written")]
    History {
        team: String,
        #[source]
        source: crate::teams::Overflow,
    },
    /// An amount of a Team's statement does not fit in a decimal.
    #[error("an amount of Team `{team}` is too large to compute; nothing was written")]
    Money {
        team: String,
        #[source]
        source: crate::money::Overflow,
    },
    /// An adjustment of a Team the day does not bill (a store edited by hand).
    #[error(
        "an adjustment of Team `{team}` can't be billed on {day}: the day has no such Team; nothing was written"
    )]
    AdjustedUnknownTeam { team: String, day: NaiveDate },
    /// The day's total in one currency does not fit in a decimal.
    #[error("the total in {currency} of {day} is too large to compute; nothing was written")]
    DayTotal {
        day: NaiveDate,
        currency: Currency,
        #[source]
        source: crate::money::Overflow,
    },
    /// A Team id in the store breaks rule T7 (a store edited by hand or by an older version):
    /// it would name a file outside `--out`.
    #[error("the store holds a Team whose id breaks rule T7; nothing was written")]
    TeamId(#[source] crate::ids::IdError),
    /// `--window` differs from the window the store's first billed day fixed (B21).
    #[error("the store's window is {} days, fixed on {}; it can't become {asked} days (rule B21)", fixed.days, fixed.fixed_on)]
    WindowFixed {
        asked: u32,
        fixed: crate::store::Window,
    },
    /// The day has not ended in every region's billing zone (B20).
    #[error("{day} has not ended in every region's billing zone: it ends at {ends} (rule B20)")]
    Unfinished {
        day: NaiveDate,
        /// When it has ended everywhere.
        ends: DateTime<Utc>,
    },
    /// Billing `day` would leave earlier days unbilled (B18).
    #[error("{day} can't be billed before {next}: billed days form one unbroken run (rule B18)")]
    OutOfOrder {
        day: NaiveDate,
        /// The next day to bill.
        next: NaiveDate,
    },
    /// A day before the latest billed day that was never billed (a store from before B18).
    #[error(
        "{day} was never billed, and days up to {latest} are closed: it can only be reproduced (rule B18)"
    )]
    Skipped {
        day: NaiveDate,
        /// The latest billed day.
        latest: NaiveDate,
    },
    /// The day's keys and seats can't be coded for polars.
    #[error("cannot build the day's lookup tables; nothing was written")]
    Lookup(#[from] LookupError),
    /// A frame handed from one stage to the next lacks a column.
    #[error("the day's usage can't be billed; nothing was written")]
    Columns(#[from] MissingColumn),
    #[error("aggregating usage failed")]
    Polars(#[from] polars::prelude::PolarsError),
    /// The grouped usage can't be named or priced.
    #[error("cannot assemble the day's statements; nothing was written")]
    Price(#[from] PriceError),
    /// The run's counts or sums do not add up (B13).
    #[error("reconciliation failed for {day}: {message}; nothing was written")]
    Reconciliation {
        day: NaiveDate,
        /// What does not add up.
        message: String,
    },
    /// Statement files could not be written; the day is billed in the store.
    #[error("cannot write statements to `{path}`")]
    Files {
        path: String,
        source: std::io::Error,
    },
    /// The `--out` directory can't be written, found before billing anything.
    #[error("cannot write statements to `{path}`; nothing was billed")]
    Unwritable {
        path: String,
        source: std::io::Error,
    },
    /// The metrics file can't be written, found before billing anything.
    #[error(transparent)]
    Metrics(#[from] MetricsUnwritable),
    /// The spool's `refused/` directory can't be read.
    #[error("cannot count the refused spool files in `{path}`")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    /// A statement or summary could not be serialized or read back.
    #[error("the statement of Team `{team}` can't be written or read as JSON")]
    Statement {
        team: String,
        #[source]
        source: serde_json::Error,
    },
}

impl BillingError {
    /// An amount of `team`'s statement that overflowed.
    pub fn money(team: &str) -> impl FnOnce(crate::money::Overflow) -> BillingError {
        let team = team.to_owned();
        move |source| BillingError::Money { team, source }
    }

    /// A statement or summary (of `team`) that cannot be written or read as JSON.
    pub fn json(team: &str) -> impl FnOnce(serde_json::Error) -> BillingError {
        let team = team.to_owned();
        move |source| BillingError::Statement { team, source }
    }
}

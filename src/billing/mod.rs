//! The nightly billing job: extract a day's events from DuckDB as Arrow, classify and fund
//! them with polars, price them exactly, add the day's subscription charges, assemble one
//! statement per Team, reconcile, and commit (B1-B17).

mod archive;
mod arrow_bridge;
mod assemble;
mod classify;
mod extract;
mod id_hashes;
mod lookup;
mod metrics;
mod replay;
mod run;
mod statement;
mod status;
mod view;

pub use archive::{ArchiveError, ArchivedDay, Checked, Problem, archive, first_kept_day, verify};
pub use classify::ABSURD_TOKENS;
pub use metrics::RunMetrics;
pub use run::{
    BillingError, RunReport, Summary, days_through, default_day, run, run_day, statement_of,
};
pub use statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
pub use status::{RefusedFiles, Status, WindowStatus};
pub use view::{UnitPrice, View, ViewError, Whose, view};

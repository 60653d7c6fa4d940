//! The nightly billing job: extract a day's events from DuckDB as Arrow, classify and fund
//! them with polars, price them exactly, add the day's subscription charges, assemble one
//! statement per Team, reconcile, and commit (B1-B17).

mod arrow_bridge;
mod assemble;
mod classify;
mod extract;
mod id_hashes;
mod lookup;
mod replay;
mod run;
mod statement;
mod view;

pub use classify::ABSURD_TOKENS;
pub use run::{BillingError, RunReport, Summary, default_day, run, statement_of};
pub use statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage};
pub use view::{ViewError, view};

//! The nightly billing job (B1-B20). [`run`] tells one night from top to bottom; its stages,
//! in order:
//!
//! - [`days`]: which days the run bills or reproduces (B15, B18, B20);
//! - [`carry`]: where the histories start (the latest billed day's carried state) and what
//!   each Team spent and used of its seat cycles before the day;
//! - [`replay`]: every Team's history replayed to the end of the day: key intervals
//!   ([`intervals`]) and the day's subscription charges;
//! - [`lookup`]: the run's integer codes for keys, intervals, seat cycles, users, tiers and
//!   models;
//! - [`extract`]: the store's settlement of the day, as polars frames;
//! - [`reduce`]: each chunk of events reduced to quarantine counts and token sums, duplicates
//!   corrected;
//! - [`fund`]: funding on the sums, and event by event for the seat cycles the day crosses;
//! - [`group`]: the funded usage grouped into lines, counts and seat usage;
//! - [`price`]: the lines named and priced;
//! - [`assemble`]: one statement per Team, with the adjustments not yet billed ([`adjust`]);
//! - [`reconcile`]: the summary, and the check that everything adds up;
//! - [`commit`]: the day committed to the store, or a billed day read back;
//! - [`files`]: the day's files written atomically.
//!
//! Only `run`, `days`, `commit` and `extract` (and, for operators, `attempt`, `metrics` and
//! `status`) talk to the store. Replay, lookup, reduce, fund, group, price, assemble and
//! reconcile compute on what they are handed: a night can be split into shards that never
//! open the store.

mod adjust;
mod archive;
mod arrow_bridge;
mod assemble;
mod attempt;
mod carry;
mod columns;
mod commit;
mod days;
mod error;
mod export;
mod extract;
mod files;
mod frames;
mod fund;
mod group;
mod id_hashes;
mod intervals;
mod invoice;
mod lookup;
mod metrics;
mod outcome;
mod preview;
mod price;
mod reconcile;
mod reduce;
mod replay;
mod run;
mod shards;
mod statement;
mod status;
mod view;

pub use adjust::{AdjustError, AdjustRequest, Adjusted, adjust};
pub use archive::{ArchiveError, ArchivedDay, Checked, Problem, archive, first_kept_day, verify};
pub use attempt::{Attempt, Ended};
pub use commit::{each_statement, statement_of};
pub use days::{Days, default_day};
pub use error::BillingError;
pub use export::{COLUMNS, CsvExport, ExportRow, rows as export_rows, write_parquet};
pub use invoice::{Charge, Invoice, InvoiceError, Month, invoice};
pub use metrics::{MetricsUnwritable, RunMetrics};
pub use outcome::{ABSURD_TOKENS, Quarantine};
pub use preview::{Preview, PreviewError, preview};
pub use reconcile::Summary;
pub use run::{DayReport, Observer, RunOptions, Stage, run};
pub use shards::{
    CommitOptions, PlanOptions, Planned, ShardDone, ShardError, bucket, commit, plan, shard,
    shard_of,
};
pub use statement::{
    Adjustment, AppliesTo, Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded, Usage,
};
pub use status::{RefusedFiles, Status, WindowStatus};
pub use view::{UnitPrice, View, ViewError, Whose, view};

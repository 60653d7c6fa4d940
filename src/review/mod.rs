//! What the security reviewer runs: `policy check`, `matrix`, `diff`, `verify`, `report` and
//! `explain`. Everything here reads the policies and proves or samples their decisions; nothing
//! writes the store.
//!
//! - [`check`]: the matrix and probe samples of `policy diff`;
//! - [`coverage`]: `policy coverage`, the policies and rules the test files exercise;
//! - [`lint`]: `policy check`'s solver warnings (dead and redundant policies);
//! - [`verify`]: `policy verify`'s properties, and the one place a solver is started;
//! - [`diff`]: `policy diff`'s proof per request environment, with counterexamples;
//! - [`report`]: the Markdown a reviewer attaches to a review;
//! - [`explain`]: requests for `policy explain`, against a Team's state;
//! - [`set`]: which policy set a command reads, where its files are, and its digest;
//! - [`counterexample`]: a request and its decision in the reviewer's terms;
//! - [`markdown`]: `policy diff` as a pull-request comment;
//! - [`sarif`]: `policy check`'s and `policy diff`'s findings as SARIF 2.1.0;
//! - [`conditions`]: `policy explain`'s clauses, held or failed, of the policies it names.

pub mod check;
pub mod conditions;
pub mod counterexample;
pub mod coverage;
pub mod diff;
pub mod explain;
pub mod lint;
pub mod markdown;
pub mod report;
pub mod sarif;
pub mod set;
pub mod verify;

pub use check::PolicyDiff;

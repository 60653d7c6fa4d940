//! End-to-end tests: the real `tokenplan` binary on scenario files, compared with whole
//! statements computed by hand (tests/golden/README.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod adjustments;
mod archive;
mod billing;
mod coverage;
mod decision_log;
mod events;
mod export;
mod fuzz;
mod hostile;
mod hostile_files;
mod invoice;
mod lake;
mod nightly;
mod policy;
mod preview;
mod properties;
mod review;
mod shards;
mod statements;
mod support;
mod teams;
mod window;

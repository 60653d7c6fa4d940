//! The gatekeeper's integration tests, one binary: the reviewed policies evaluated, reloads
//! under concurrent decisions, unreadable policy entries, and decisions checked against Cedar's own authorizer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod decision_log;
mod equivalence;
mod pin;
mod policies;
mod reload;
mod support;
mod unreadable;

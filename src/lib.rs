//! `tokenplan`: Token Plan Teams. The policies in `policies/` decide every operation through
//! the [`gatekeeper`] crate; [`teams`] applies operations to the DuckDB [`store`]; the
//! [`billing`] job turns a day's usage events into next-day statements.

#![allow(
    missing_docs,
    reason = "a doc comment only where it says more than the name; gatekeeper's public API keeps them all"
)]

pub mod balance;
pub mod billing;
pub mod calendar;
pub mod demo;
pub mod events;
pub mod generate;
pub mod ids;
pub mod invoice_page;
pub mod lake;
pub mod money;
pub mod objects;
pub mod prices;
pub mod render;
pub mod review;
pub mod store;
pub mod teams;
pub mod unique_keys;

pub use gatekeeper::error_chain;

//! `tokenplan`: Token Plan Teams. The policies in `policies/` decide every operation through
//! the [`gatekeeper`] crate; [`teams`] applies operations to the DuckDB [`store`]; the
//! [`billing`] job turns a day's usage events into next-day statements.

pub mod billing;
pub mod calendar;
pub mod demo;
pub mod events;
pub mod generate;
pub mod ids;
pub mod prices;
pub mod render;
pub mod review;
pub mod store;
pub mod teams;

/// An error and its causes on one line, each said once (`what failed: why: deeper why`): every
/// error here says only its own part and keeps its cause as `source()`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

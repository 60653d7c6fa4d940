//! Polars helpers the stages share: sums of events and tokens, joins on one column, and
//! several lazy plans collected at once.

use polars::prelude::*;

use super::columns::{EVENTS, INPUT_TOKENS, OUTPUT_TOKENS, USAGE};

/// Events, input and output tokens of a group of events.
pub fn sums() -> [Expr; 3] {
    [
        len().cast(DataType::Int64).alias(EVENTS),
        col(INPUT_TOKENS).sum().alias(INPUT_TOKENS),
        col(OUTPUT_TOKENS).sum().alias(OUTPUT_TOKENS),
    ]
}

/// [`sums`] of a group of rows that are sums already.
pub fn summed() -> [Expr; 3] {
    [
        col(EVENTS).sum(),
        col(INPUT_TOKENS).sum(),
        col(OUTPUT_TOKENS).sum(),
    ]
}

/// Input and output tokens together.
pub fn tokens() -> Expr {
    col(INPUT_TOKENS) + col(OUTPUT_TOKENS)
}

/// The columns of [`USAGE`], in order.
pub fn usage_columns() -> [Expr; 7] {
    USAGE.map(col)
}

/// Joins on one column of the same name on both sides.
pub trait JoinOn {
    fn join_on(self, other: LazyFrame, column: &str, how: JoinType) -> LazyFrame;
}

impl JoinOn for LazyFrame {
    fn join_on(self, other: LazyFrame, column: &str, how: JoinType) -> LazyFrame {
        self.join(other, [col(column)], [col(column)], JoinArgs::new(how))
    }
}

/// The frames, one after another, as one lazy frame.
pub fn concat_frames(frames: &[DataFrame]) -> PolarsResult<LazyFrame> {
    concat(
        frames.iter().map(|f| f.clone().lazy()).collect::<Vec<_>>(),
        UnionArgs::default(),
    )
}

/// Collects `N` plans in one go, so polars can share their common parts.
pub fn collect_all<const N: usize>(frames: [LazyFrame; N]) -> PolarsResult<[DataFrame; N]> {
    let optimizations = frames
        .first()
        .map(LazyFrame::get_current_optimizations)
        .unwrap_or_default();
    let plans = frames.into_iter().map(|frame| frame.logical_plan).collect();
    LazyFrame::collect_all_with_engine(plans, Engine::Auto, optimizations)?
        .try_into()
        .map_err(|_| PolarsError::ComputeError("a result is missing".into()))
}

//! Classifies and funds a day's events with lazy polars (B9-B14): duplicates, quarantine
//! reasons, the key's state at the event's time, seat quota by cumulative usage, then Credits,
//! then unfunded; and aggregates the results per statement line.

use polars::prelude::*;

use super::extract::day_number;
use super::replay::{KeyInterval, KeyKind, SeatUsage};
use crate::prices::Prices;

/// A single event with more tokens than this, in or out, is quarantined as absurd (B13).
pub const ABSURD_TOKENS: i64 = 100_000_000;

/// Inputs beside the events, as frames built once per run.
pub struct Context {
    intervals: DataFrame,
    models: DataFrame,
    quotas: DataFrame,
    prior: DataFrame,
    day: i64,
}

impl Context {
    /// The run's prices, key intervals, earlier seat usage and day (days since the epoch).
    pub fn new(
        prices: &Prices,
        intervals: &[KeyInterval],
        prior: &[SeatUsage],
        day: i64,
    ) -> PolarsResult<Self> {
        Ok(Context {
            intervals: intervals_frame(intervals)?,
            models: df!(
                "model" => prices.models.keys().map(String::as_str).collect::<Vec<_>>(),
                "known_model" => vec![true; prices.models.len()],
            )?,
            quotas: df!(
                "iv_tier" => prices.tiers.keys().map(String::as_str).collect::<Vec<_>>(),
                "quota" => prices.tiers.values().map(|t| t.quota_tokens).collect::<Vec<_>>(),
            )?,
            prior: df!(
                "team_id" => prior.iter().map(|p| p.team.as_str()).collect::<Vec<_>>(),
                "iv_tier" => prior.iter().map(|p| p.tier.as_str()).collect::<Vec<_>>(),
                "iv_seat" => prior.iter().map(|p| p.seat).collect::<Vec<_>>(),
                "iv_cycle" => prior.iter().map(|p| day_number(p.cycle_start)).collect::<Vec<_>>(),
                "prior_tokens" => prior.iter().map(|p| p.tokens).collect::<Vec<_>>(),
            )?,
            day,
        })
    }
}

/// The aggregated results.
pub struct Classified {
    /// Billed usage per Team, kind, key, user, tier, model and usage day.
    pub lines: DataFrame,
    /// Unfunded usage per Team, user and key.
    pub unfunded: DataFrame,
    /// Event counts per outcome and lateness.
    pub counts: DataFrame,
    /// Tokens each seat's quota covered, per cycle.
    pub seat_usage: DataFrame,
}

fn intervals_frame(intervals: &[KeyInterval]) -> PolarsResult<DataFrame> {
    let mut kind = Vec::with_capacity(intervals.len());
    let (mut tier, mut seat, mut cycle, mut access) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for interval in intervals {
        let (k, t, s, c, a) = match &interval.kind {
            KeyKind::TokenPlan {
                seat: Some((tier, seat, start)),
                credits_access,
            } => (
                "token_plan",
                Some(tier.clone()),
                Some(i64::from(*seat)),
                Some(day_number(*start)),
                *credits_access,
            ),
            KeyKind::TokenPlan {
                seat: None,
                credits_access,
            } => ("token_plan", None, None, None, *credits_access),
            KeyKind::Payg => ("payg", None, None, None, false),
            KeyKind::Deleted => ("deleted", None, None, None, false),
        };
        kind.push(k);
        tier.push(t);
        seat.push(s);
        cycle.push(c);
        access.push(a);
    }
    df!(
        "key_id" => intervals.iter().map(|i| i.key_id.as_str()).collect::<Vec<_>>(),
        "iv_user" => intervals.iter().map(|i| i.user.as_str()).collect::<Vec<_>>(),
        "iv_from" => intervals.iter().map(|i| i.from_us).collect::<Vec<_>>(),
        "iv_to" => intervals.iter().map(|i| i.to_us).collect::<Vec<_>>(),
        "iv_kind" => kind,
        "iv_tier" => tier,
        "iv_seat" => seat,
        "iv_cycle" => cycle,
        "iv_access" => access,
    )
}

fn seat_keys() -> [Expr; 4] {
    [
        col("team_id"),
        col("iv_tier"),
        col("iv_seat"),
        col("iv_cycle"),
    ]
}

fn sorted(frame: LazyFrame) -> LazyFrame {
    frame.sort(
        ["ts_us", "event_id", "row_id"],
        SortMultipleOptions::default()
            .with_nulls_last(true)
            .with_maintain_order(true),
    )
}

/// Classifies, funds and aggregates `events` (whole Teams).
pub fn classify(events: DataFrame, context: &Context) -> PolarsResult<Classified> {
    let left = || JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        ..JoinArgs::new(JoinType::Left)
    };

    let events = sorted(events.lazy()).with_columns([
        col("seen_before").or(col("repeated")).alias("duplicate"),
        col("usage_day")
            .lt(lit(context.day))
            .fill_null(lit(false))
            .alias("late"),
    ]);
    // The key's interval that contains the event's time, if any.
    let matched = events
        .clone()
        .select([col("row_id"), col("key_id"), col("ts_us")])
        .join(
            context.intervals.clone().lazy(),
            [col("key_id")],
            [col("key_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(
            col("iv_from")
                .lt_eq(col("ts_us"))
                .and(col("ts_us").lt(col("iv_to"))),
        )
        .drop(by_name(
            ["key_id", "ts_us", "iv_from", "iv_to"],
            true,
            false,
        ));
    let malformed = [
        "event_id",
        "ts_us",
        "key_id",
        "model",
        "input_tokens",
        "output_tokens",
    ]
    .into_iter()
    .map(|c| col(c).is_null())
    .reduce(Expr::or)
    .unwrap_or(lit(false));
    let reason = when(col("duplicate"))
        .then(lit("duplicate"))
        .when(malformed)
        .then(lit("quarantined:malformed"))
        .when(
            col("input_tokens")
                .lt(lit(0))
                .or(col("output_tokens").lt(lit(0))),
        )
        .then(lit("quarantined:negative_tokens"))
        .when(
            col("input_tokens")
                .gt(lit(ABSURD_TOKENS))
                .or(col("output_tokens").gt(lit(ABSURD_TOKENS))),
        )
        .then(lit("quarantined:absurd_tokens"))
        .when(col("known_model").is_null())
        .then(lit("quarantined:unknown_model"))
        .when(col("iv_kind").is_null())
        .then(lit("quarantined:unknown_key"))
        .when(col("iv_kind").eq(lit("deleted")))
        .then(lit("quarantined:key_deleted"))
        .otherwise(col("iv_kind"));
    let seat_eligible = col("reason")
        .eq(lit("token_plan"))
        .and(col("iv_seat").is_not_null());
    let seat_tokens = when(seat_eligible.clone())
        .then(col("input_tokens") + col("output_tokens"))
        .otherwise(lit(0i64));
    // Joins keep the left order, so the events stay in (ts, event_id) order (B12).
    let funded = events
        .join(
            context.models.clone().lazy(),
            [col("model")],
            [col("model")],
            left(),
        )
        .join(matched, [col("row_id")], [col("row_id")], left())
        .with_column(reason.alias("reason"))
        .join(
            context.prior.clone().lazy(),
            seat_keys(),
            seat_keys(),
            left(),
        )
        .join(
            context.quotas.clone().lazy(),
            [col("iv_tier")],
            [col("iv_tier")],
            left(),
        )
        .with_column(seat_tokens.alias("seat_tokens"))
        .with_column(
            (col("prior_tokens").fill_null(lit(0i64))
                + col("seat_tokens").cum_sum(false).over(seat_keys())?
                - col("seat_tokens"))
            .alias("usage_before"),
        )
        .with_column(
            when(col("reason").neq(lit("token_plan")))
                .then(col("reason"))
                .when(seat_eligible.and(col("usage_before").lt(col("quota"))))
                .then(lit("plan"))
                .when(col("iv_access"))
                .then(lit("credits"))
                .otherwise(lit("unfunded"))
                .alias("outcome"),
        )
        .with_column(
            when(col("outcome").eq(lit("plan")))
                .then(col("iv_tier"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("line_tier"),
        )
        .cache();

    let billed = col("outcome")
        .eq(lit("plan"))
        .or(col("outcome").eq(lit("credits")))
        .or(col("outcome").eq(lit("payg")));
    let sums = || {
        [
            len().cast(DataType::Int64).alias("events"),
            col("input_tokens").sum().alias("input_tokens"),
            col("output_tokens").sum().alias("output_tokens"),
        ]
    };
    let lines = funded
        .clone()
        .filter(billed)
        .group_by([
            col("team_id"),
            col("outcome"),
            col("key_id"),
            col("iv_user"),
            col("line_tier"),
            col("model"),
            col("usage_day"),
            col("late"),
        ])
        .agg(sums())
        .sort(
            [
                "team_id",
                "outcome",
                "iv_user",
                "key_id",
                "model",
                "usage_day",
            ],
            SortMultipleOptions::default().with_nulls_last(true),
        );
    let unfunded = funded
        .clone()
        .filter(col("outcome").eq(lit("unfunded")))
        .group_by([col("team_id"), col("iv_user"), col("key_id")])
        .agg(sums())
        .sort(
            ["team_id", "iv_user", "key_id"],
            SortMultipleOptions::default(),
        );
    let counts = funded
        .clone()
        .group_by([col("outcome"), col("late")])
        .agg([len().cast(DataType::Int64).alias("events")])
        .sort(["outcome", "late"], SortMultipleOptions::default());
    let seat_usage = funded
        .filter(col("outcome").eq(lit("plan")))
        .group_by(seat_keys())
        .agg([col("seat_tokens").sum().alias("tokens")])
        .sort(
            ["team_id", "iv_tier", "iv_seat", "iv_cycle"],
            SortMultipleOptions::default(),
        );
    // One query with four sinks: the shared pipeline runs once.
    let optimizations = lines.get_current_optimizations();
    let plans = [lines, unfunded, counts, seat_usage]
        .map(|frame| frame.logical_plan)
        .to_vec();
    let mut frames =
        LazyFrame::collect_all_with_engine(plans, Engine::Auto, optimizations)?.into_iter();
    let mut next = || {
        frames
            .next()
            .ok_or_else(|| PolarsError::ComputeError("a result is missing".into()))
    };
    Ok(Classified {
        lines: next()?,
        unfunded: next()?,
        counts: next()?,
        seat_usage: next()?,
    })
}

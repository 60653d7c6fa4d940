//! What a step would bill (`apply --dry-run`): a purchase's subscription line or a seat
//! addition's proration line, made by the functions the night makes them with (B5, B6).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::replay::{proration_line, subscription_line};
use super::statement::StatementLine;
use crate::calendar;
use crate::money::Overflow;
use crate::prices::{Currency, Prices};
use crate::teams::{Operation, TeamState};

/// A line a step would bill, with the seat price it was worked out from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub line: StatementLine,
    pub seat_price: Decimal,
}

/// A step that can't be previewed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("tier `{0}` has no price")]
    Unpriced(String),
    #[error(transparent)]
    Money(#[from] Overflow),
}

impl Preview {
    /// How the amount is worked out: `2 × 20.00 × 30 ÷ 30 days = 40.00, 2026-11-23 to 2026-12-23`.
    pub fn working(&self) -> String {
        let (kind, tier, unit) = match &self.line {
            StatementLine::Subscription { tier, .. } => ("subscription", tier, ""),
            StatementLine::Proration { tier, .. } => ("proration", tier, " days"),
            other => return other.amount().to_string(),
        };
        let working = self.line.working(&self.seat_price.to_string());
        let period = self.line.period().map(|p| format!(", {p}"));
        format!(
            "{kind} {tier}: {}{unit} = {}{}",
            working.unwrap_or_default(),
            self.line.amount(),
            period.unwrap_or_default()
        )
    }
}

/// What `operation`, allowed at `at`, bills on that day's statement of its Team, whose state
/// was `before` it and is `after`; `None` for an operation that bills nothing (and for seats
/// that only undo pending removals, O4).
pub fn preview(
    operation: &Operation,
    at: DateTime<Utc>,
    before: &TeamState,
    after: &TeamState,
    prices: &Prices,
) -> Result<Option<Preview>, PreviewError> {
    let day = calendar::billing_day(at, after.region);
    let seat_price = |tier: &str| {
        prices
            .tiers
            .get(tier)
            .map(|t| t.seat_price.get(Currency::of(after.region)))
            .ok_or_else(|| PreviewError::Unpriced(tier.to_owned()))
    };
    let (line, seat_price) = match operation {
        Operation::BuySubscription { tier, seats, .. } => {
            let price = seat_price(tier)?;
            let cycle = calendar::cycle_of(day, day);
            (subscription_line(tier, seats.get(), cycle, price)?, price)
        }
        Operation::AddSeats { tier, seats, .. } => {
            let added = before.new_seats(tier, seats.get());
            let Some(subscription) = after.subscriptions.get(tier).filter(|_| added > 0) else {
                return Ok(None);
            };
            let price = seat_price(tier)?;
            let cycle = subscription.cycle(day);
            (proration_line(tier, added, day, cycle, price)?, price)
        }
        _ => return Ok(None),
    };
    Ok(Some(Preview { line, seat_price }))
}

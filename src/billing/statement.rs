//! Statements: one per Team and day, with lines, totals, balances, unfunded usage and
//! overdrawn balances (interfaces.md). Serialized with a fixed field and line order, so a
//! statement's bytes depend only on its content (B15).

use chrono::{DateTime, NaiveDate, Utc};
use gatekeeper::Region;
use serde::{Deserialize, Serialize};

use crate::balance::Balance;
use crate::ids::TeamId;
use crate::money::{Amount, Overflow};
use crate::prices::Currency;

/// One line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatementLine {
    /// A purchase or renewal: the whole cycle (B5).
    Subscription {
        tier: String,
        seats: u32,
        /// First day of the cycle.
        period_start: NaiveDate,
        /// The next renewal.
        period_end: NaiveDate,
        amount: Amount,
    },
    /// Seats added during a cycle (B6).
    Proration {
        tier: String,
        /// Seats added (removals undone are not billed, O4).
        seats: u32,
        /// The first day billed: the day of the addition (absent from days billed before it was
        /// shown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        period_start: Option<NaiveDate>,
        /// The next renewal, the first day not billed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        period_end: Option<NaiveDate>,
        /// Days to the next renewal.
        days: i64,
        /// Days in the cycle.
        cycle_days: i64,
        amount: Amount,
    },
    /// Token Plan usage covered by a seat (B9).
    Plan(Usage),
    /// Token Plan usage paid from the Credits pool (B10).
    Credits(Usage),
    /// Pay-as-you-go usage paid from the wallet (P4).
    Payg(Usage),
    /// A correction of an issued statement (B24).
    Adjustment(Adjustment),
}

/// A correction, billed on the first statement of its Team for a day not yet billed (B24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// The billed day it corrects.
    pub corrects_day: NaiveDate,
    /// What it changes.
    pub applies_to: AppliesTo,
    /// Why, as the operator wrote it.
    pub reason: String,
    /// Positive: more is owed or taken; negative: a credit.
    pub amount: Amount,
}

/// What an adjustment changes (B24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    /// The amount the Team owes.
    Charges,
    /// The Credits pool.
    Credits,
    /// The pay-as-you-go wallet.
    Wallet,
}

impl AppliesTo {
    /// Every target, as the command line lists them.
    pub const ALL: [AppliesTo; 3] = [AppliesTo::Charges, AppliesTo::Credits, AppliesTo::Wallet];

    /// Its name on the command line, in the store and in statements.
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::Charges => "charges",
            AppliesTo::Credits => "credits",
            AppliesTo::Wallet => "wallet",
        }
    }

    /// The balance it changes, if any.
    pub fn balance(self) -> Option<Balance> {
        match self {
            AppliesTo::Charges => None,
            AppliesTo::Credits => Some(Balance::Credits),
            AppliesTo::Wallet => Some(Balance::Wallet),
        }
    }
}

impl std::fmt::Display for AppliesTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AppliesTo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppliesTo::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not `charges`, `credits` or `wallet`"))
    }
}

/// The usage of one key, model and usage day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The seat's tier (plan lines only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The key's holder or creator.
    pub user: String,
    pub key: String,
    pub model: String,
    /// The day the events belong to (B3).
    pub usage_day: NaiveDate,
    /// Usage of an earlier, already billed day (B14).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    pub events: u64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// The events' exact prices summed, rounded once (B7, B11).
    pub amount: Amount,
}

impl StatementLine {
    /// The line's amount.
    pub fn amount(&self) -> Amount {
        match self {
            StatementLine::Subscription { amount, .. }
            | StatementLine::Proration { amount, .. } => *amount,
            StatementLine::Plan(u) | StatementLine::Credits(u) | StatementLine::Payg(u) => u.amount,
            StatementLine::Adjustment(a) => a.amount,
        }
    }

    /// The days a subscription or proration line covers, `START to END`; `None` for other
    /// lines and for a proration billed before its period was shown.
    pub fn period(&self) -> Option<String> {
        let (start, end) = match self {
            StatementLine::Subscription {
                period_start,
                period_end,
                ..
            } => (Some(period_start), Some(period_end)),
            StatementLine::Proration {
                period_start,
                period_end,
                ..
            } => (period_start.as_ref(), period_end.as_ref()),
            _ => return None,
        };
        Some(format!("{} to {}", start?, end?))
    }

    /// How a subscription's or proration's amount is worked out from the seat price `price`:
    /// `2 × 20.00`, or `1 × 20.00 × 20 ÷ 30` (seats × price × days left ÷ days in the cycle,
    /// B5, B6); `None` for other lines.
    pub fn working(&self, price: &str) -> Option<String> {
        match self {
            StatementLine::Subscription { seats, .. } => Some(format!("{seats} × {price}")),
            StatementLine::Proration {
                seats,
                days,
                cycle_days,
                ..
            } => Some(format!("{seats} × {price} × {days} ÷ {cycle_days}")),
            _ => None,
        }
    }

    /// The usage, for usage lines.
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            StatementLine::Plan(u) | StatementLine::Credits(u) | StatementLine::Payg(u) => Some(u),
            _ => None,
        }
    }

    /// The order lines appear in: subscriptions, prorations, usage by kind, user, key, model,
    /// day and tier, then adjustments by the day they correct (then as recorded: the sort is
    /// stable).
    pub fn sort_key(&self) -> (u8, String, String, String, NaiveDate, Option<String>) {
        let usage = |rank, u: &Usage| {
            (
                rank,
                u.user.clone(),
                u.key.clone(),
                u.model.clone(),
                u.usage_day,
                u.tier.clone(),
            )
        };
        match self {
            StatementLine::Subscription {
                tier, period_start, ..
            } => (
                0,
                tier.clone(),
                String::new(),
                String::new(),
                *period_start,
                None,
            ),
            StatementLine::Proration { tier, .. } => (
                1,
                tier.clone(),
                String::new(),
                String::new(),
                NaiveDate::MIN,
                None,
            ),
            StatementLine::Plan(u) => usage(2, u),
            StatementLine::Credits(u) => usage(3, u),
            StatementLine::Payg(u) => usage(4, u),
            StatementLine::Adjustment(a) => (
                5,
                String::new(),
                String::new(),
                String::new(),
                a.corrects_day,
                None,
            ),
        }
    }
}

/// Totals: each the sum of its rounded lines (B7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Subscription and proration lines.
    pub subscriptions: Amount,
    /// Credits lines.
    pub credits: Amount,
    /// Pay-as-you-go lines.
    pub payg: Amount,
    /// Adjustment lines (B24); absent when there are none.
    #[serde(default, skip_serializing_if = "Amount::is_zero")]
    pub adjustments: Amount,
    /// All lines.
    pub total: Amount,
}

impl Totals {
    /// The totals of `lines`; a sum too large for an amount is an error.
    pub fn of(lines: &[StatementLine]) -> Result<Totals, Overflow> {
        let sum = |pick: fn(&StatementLine) -> bool| {
            Amount::checked_sum(lines.iter().filter(|l| pick(l)).map(StatementLine::amount))
        };
        let subscriptions = sum(|l| {
            matches!(
                l,
                StatementLine::Subscription { .. } | StatementLine::Proration { .. }
            )
        })?;
        let credits = sum(|l| matches!(l, StatementLine::Credits(_)))?;
        let payg = sum(|l| matches!(l, StatementLine::Payg(_)))?;
        let plan = sum(|l| matches!(l, StatementLine::Plan(_)))?;
        let adjustments = sum(|l| matches!(l, StatementLine::Adjustment(_)))?;
        Ok(Totals {
            subscriptions,
            credits,
            payg,
            adjustments,
            total: Amount::checked_sum([subscriptions, credits, payg, plan, adjustments])?,
        })
    }
}

/// Balances at the end of the day.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balances {
    /// The Credits pool.
    pub credits: Amount,
    /// The pay-as-you-go wallet.
    pub wallet: Amount,
}

/// The sum of the adjustments among `lines` that apply to `balance`.
pub fn adjustments_to(lines: &[StatementLine], balance: Balance) -> Result<Amount, Overflow> {
    Amount::checked_sum(lines.iter().filter_map(|line| match line {
        StatementLine::Adjustment(a) if a.applies_to.balance() == Some(balance) => Some(a.amount),
        _ => None,
    }))
}

/// How each balance moved over the day (B25).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movements {
    pub credits: Movement,
    pub wallet: Movement,
}

/// One balance over the day: `opening + top_ups - spend - adjustments = closing`, to the cent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// The balance when the day starts: the closing balance of the Team's previous statement.
    pub opening: Amount,
    /// The day's top-ups, in time order.
    pub top_ups: Vec<TopUpMovement>,
    /// The usage it paid.
    pub spend: Amount,
    /// The adjustments applied to it (B24; positive: taken).
    pub adjustments: Amount,
    /// The balance when the day ends, as in `balances`.
    pub closing: Amount,
}

/// A top-up as it moved the balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpMovement {
    pub at: DateTime<Utc>,
    /// What it added to the balance shown in cents (see [`Amount::round_balance`]).
    pub amount: Amount,
}

/// Token Plan usage that nothing funded (B10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfunded {
    /// The holder.
    pub user: String,
    pub key: String,
    pub events: u64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// A balance below zero (B16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdrawn {
    pub balance: Balance,
    /// The (negative) balance.
    pub amount: Amount,
}

/// One Team's statement for one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The Team; a statement read back with an id that breaks T7 is refused.
    pub team: TeamId,
    /// The billing day.
    pub day: NaiveDate,
    /// `overseas` or `domestic`.
    pub region: Region,
    /// `USD` or `CNY`.
    pub currency: Currency,
    /// The billing zone (B3): `UTC` or `UTC+08:00`. This and the day's bounds are absent from
    /// days billed before they were shown (B15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The day's first instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_start: Option<DateTime<Utc>>,
    /// The next day's first instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_end: Option<DateTime<Utc>>,
    /// Lines, in [`StatementLine::sort_key`] order.
    pub lines: Vec<StatementLine>,
    /// Totals of the lines.
    pub totals: Totals,
    /// Balances at the end of the day (absent from a view that may not see them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balances: Option<Balances>,
    /// How the balances moved (B25; absent where balances are, and from days billed before
    /// it was shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movements: Option<Movements>,
    /// Unfunded Token Plan usage, by user and key.
    pub unfunded: Vec<Unfunded>,
    /// Balances below zero.
    pub overdrawn: Vec<Overdrawn>,
}

impl Statement {
    /// What the day took from `balance`: its spend and the adjustments applied to it.
    pub fn taken(&self, balance: Balance) -> Result<Amount, Overflow> {
        let spend = match balance {
            Balance::Credits => self.totals.credits,
            Balance::Wallet => self.totals.payg,
        };
        adjustments_to(&self.lines, balance)?.checked_add(spend)
    }

    /// The statement as pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|s| s + "\n")
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn subscription(amount: Decimal) -> StatementLine {
        StatementLine::Subscription {
            tier: "plus".into(),
            seats: 1,
            period_start: NaiveDate::MIN,
            period_end: NaiveDate::MIN,
            amount: Amount::round(amount),
        }
    }

    #[test]
    fn totals_too_large_for_an_amount_are_an_error_not_a_panic() {
        let lines = [subscription(Decimal::MAX), subscription(Decimal::ONE)];
        assert!(Totals::of(&lines).is_err());
        let totals = Totals::of(&[subscription(Decimal::TEN)]).unwrap();
        let ten = Amount::round(Decimal::TEN);
        assert_eq!((totals.subscriptions, totals.total), (ten, ten));
    }

    #[test]
    fn amounts_are_written_with_two_decimals_and_read_back_only_so() {
        let balances = Balances {
            credits: Amount::round("1.5".parse().unwrap()),
            wallet: Amount::round("-0.004".parse().unwrap()),
        };
        let json = serde_json::to_string(&balances).unwrap();
        assert_eq!(json, r#"{"credits":"1.50","wallet":"0.00"}"#);
        assert_eq!(serde_json::from_str::<Balances>(&json).unwrap(), balances);
        let unrounded = r#"{"credits":"1.005","wallet":"0.00"}"#;
        assert!(serde_json::from_str::<Balances>(unrounded).is_err());
    }
}

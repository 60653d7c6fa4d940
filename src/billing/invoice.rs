//! A Team's month (`billing invoice`): its daily statements as a member may see them (V1, V2)
//! by their standing at the end of the month's last billed day, with the seat price each
//! subscription and proration line was worked out from, checked against the amount billed.
//! [`crate::invoice_page`] renders it.

use chrono::{Datelike, Duration, NaiveDate};
use gatekeeper::{Gatekeeper, Region};
use rust_decimal::Decimal;

use super::commit::each_statement;
use super::error::BillingError;
use super::replay::{proration_line, subscription_line};
use super::statement::{Statement, StatementLine};
use super::view::{ViewError, Whose, view};
use crate::calendar::{self, Cycle};
use crate::ids::escaped;
use crate::prices::{Currency, Prices};
use crate::store::Store;
use crate::teams;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    /// Its first day.
    pub first: NaiveDate,
}

impl Month {
    /// Its last day.
    pub fn last(self) -> NaiveDate {
        let next = if self.first.month() == 12 {
            NaiveDate::from_ymd_opt(self.first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.first.year(), self.first.month() + 1, 1)
        };
        next.map_or(self.first, |next| next - Duration::days(1))
    }
}

impl std::str::FromStr for Month {
    type Err = String;
    /// `YYYY-MM`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 7)
            .ok_or_else(|| format!("`{}` is not a month such as `2026-11`", escaped(text)))?;
        calendar::check_day(first).map_err(|e| e.to_string())?;
        Ok(Month { first })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

/// A subscription or proration line with the seat price its amount was worked out from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub day: NaiveDate,
    pub line: StatementLine,
    pub seat_price: Decimal,
}

/// A Team's month as one member may see it.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub team: String,
    pub month: Month,
    pub region: Region,
    pub currency: Currency,
    /// The viewer, and whether they see the Team's billing or only their own usage (alike on
    /// every day).
    pub user: String,
    pub whose: Whose,
    /// Each day's statement as the viewer may see it, in day order.
    pub days: Vec<Statement>,
    /// The subscription and proration lines of those days, with their seat prices.
    pub charges: Vec<Charge>,
}

/// An invoice that can't be made.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    #[error("no Team `{}`", escaped(.0))]
    UnknownTeam(String),
    #[error("Team `{team}` has no statement in {month}")]
    Empty { team: String, month: Month },
    #[error(
        "the price list does not give the {amount} billed for `{tier}` on {day}: the month was billed with other prices"
    )]
    OtherPrices {
        tier: String,
        day: NaiveDate,
        amount: String,
    },
    #[error(transparent)]
    View(#[from] ViewError),
    #[error(transparent)]
    Billing(#[from] BillingError),
}

impl From<crate::store::StoreError> for InvoiceError {
    fn from(error: crate::store::StoreError) -> Self {
        InvoiceError::Billing(error.into())
    }
}

/// The invoice of `team` for `month` as `user` may see it, its charges worked out with
/// `prices` (which must give the amounts billed).
pub fn invoice(
    store: &Store,
    gate: &Gatekeeper,
    prices: &Prices,
    team: &str,
    month: Month,
    user: &str,
) -> Result<Invoice, InvoiceError> {
    let row = store
        .team(team)?
        .ok_or_else(|| InvoiceError::UnknownTeam(team.to_owned()))?;
    let mut statements: Vec<Statement> = Vec::new();
    each_statement(
        store,
        month.first,
        month.last(),
        Some(team),
        |statement| -> Result<(), InvoiceError> {
            statements.push(statement);
            Ok(())
        },
    )?;
    let Some(last) = statements.last() else {
        return Err(InvoiceError::Empty {
            team: team.to_owned(),
            month,
        });
    };
    // One standing for the whole page: the user's at the end of the month's last billed day,
    // so a member whose role changed during the month sees every day alike.
    let end = calendar::day_end(last.day, last.region) - Duration::microseconds(1);
    let state = teams::team_state(store, team, end)?
        .ok_or_else(|| InvoiceError::UnknownTeam(team.to_owned()))?;
    let whose = view(gate, &state, user, last)?.whose;
    let days = statements
        .iter()
        .map(|statement| view(gate, &state, user, statement).map(|shown| shown.statement))
        .collect::<Result<Vec<_>, _>>()?;
    let currency = Currency::of(row.region);
    let charges = days
        .iter()
        .flat_map(|s| s.lines.iter().map(move |line| (s.day, line)))
        .filter_map(|(day, line)| charge(prices, currency, day, line).transpose())
        .collect::<Result<_, _>>()?;
    Ok(Invoice {
        team: team.to_owned(),
        month,
        region: row.region,
        currency,
        user: user.to_owned(),
        whose,
        days,
        charges,
    })
}

/// `line` of `day` with its seat price, if it is a subscription or proration line: the line
/// the night would make with `prices` must have its amount.
fn charge(
    prices: &Prices,
    currency: Currency,
    day: NaiveDate,
    line: &StatementLine,
) -> Result<Option<Charge>, InvoiceError> {
    let (tier, remade) = match line {
        StatementLine::Subscription {
            tier,
            seats,
            period_start,
            period_end,
            ..
        } => {
            let cycle = Cycle {
                start: *period_start,
                end: *period_end,
            };
            (
                tier,
                price(prices, currency, tier)
                    .map(|p| (subscription_line(tier, *seats, cycle, p), p)),
            )
        }
        StatementLine::Proration {
            tier,
            seats,
            days,
            cycle_days,
            period_start,
            period_end,
            ..
        } => {
            let end = period_end.unwrap_or(day + Duration::days(*days));
            let cycle = Cycle {
                start: end - Duration::days(*cycle_days),
                end,
            };
            let added = period_start.unwrap_or(day);
            (
                tier,
                price(prices, currency, tier)
                    .map(|p| (proration_line(tier, *seats, added, cycle, p), p)),
            )
        }
        _ => return Ok(None),
    };
    match remade {
        Some((Ok(remade), seat_price)) if remade.amount() == line.amount() => Ok(Some(Charge {
            day,
            line: line.clone(),
            seat_price,
        })),
        _ => Err(InvoiceError::OtherPrices {
            tier: tier.clone(),
            day,
            amount: line.amount().to_string(),
        }),
    }
}

fn price(prices: &Prices, currency: Currency, tier: &str) -> Option<Decimal> {
    prices.tiers.get(tier).map(|t| t.seat_price.get(currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_yyyy_mm_and_ends_on_its_last_day() {
        let month: Month = "2026-02".parse().unwrap();
        assert_eq!(month.last().to_string(), "2026-02-28");
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().last().to_string(),
            "2026-12-31"
        );
        assert_eq!(month.to_string(), "2026-02");
        for bad in ["2026-13", "2026-1", "2026-02-01", "nov", ""] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}

//! Adjustments (B24): a correction of an issued statement, checked, decided by the policies
//! (`adjust_statement`: an operator is its own principal type, a Team role is denied), and
//! recorded append-only; a night bills every adjustment not yet billed on its Team's statement.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use gatekeeper::{ActionRequest, Actor, Decision, Gatekeeper, Request};
use rust_decimal::Decimal;

use super::error::BillingError;
use super::statement::{Adjustment, AppliesTo};
use crate::calendar;
use crate::ids::{TeamId, escaped};
use crate::money::Amount;
use crate::store::{NewAdjustment, Store, StoreError};
use crate::teams;

/// The largest amount an adjustment may have, in cents: what `DECIMAL(18, 2)` holds.
const MAX_CENTS: i64 = 999_999_999_999_999_999;

/// The longest reason, in characters.
const MAX_REASON: usize = 1000;

/// An adjustment asked for.
#[derive(Debug, Clone)]
pub struct AdjustRequest<'a> {
    /// Who asks: a billing operator, or anyone else (whom the policies deny).
    pub actor: &'a str,
    pub team: &'a str,
    /// The billed day it corrects.
    pub day: NaiveDate,
    /// The amount as given: a decimal with at most two places, not zero.
    pub amount: &'a str,
    pub applies_to: AppliesTo,
    pub reason: &'a str,
    /// When it is made.
    pub at: DateTime<Utc>,
}

/// What became of an adjustment asked for.
#[derive(Debug)]
pub enum Adjusted {
    /// Recorded with this id and amount; the Team's next statement bills it.
    Recorded {
        id: i64,
        amount: Amount,
        decision: Decision,
    },
    /// Denied by the policies; the decision is in `audit_log`, nothing else is stored.
    Denied(Decision),
}

/// An adjustment that can't be asked for; nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    #[error("no Team `{}`", escaped(.0))]
    UnknownTeam(String),
    #[error("{day} has not been billed{}", match .latest {
        Some(latest) => format!(" (the latest billed day is {latest})"),
        None => " (no day has)".to_owned(),
    })]
    NotBilled {
        day: NaiveDate,
        latest: Option<NaiveDate>,
    },
    #[error("Team `{team}` did not exist on {day}")]
    BeforeTeam { team: String, day: NaiveDate },
    #[error("the amount `{}` is not a decimal number such as `-12.50`", escaped(.0))]
    NotDecimal(String),
    #[error("the amount `{0}` has more than 2 decimal places")]
    TooPrecise(Decimal),
    #[error("the amount is zero: an adjustment changes something")]
    Zero,
    #[error("the amount `{0}` is too large for a statement")]
    TooLarge(Decimal),
    #[error("the reason is empty")]
    EmptyReason,
    #[error("the reason has a control character (a line break, a tab, ...): `{}`", escaped(.0))]
    ReasonControl(String),
    #[error("the reason is longer than {MAX_REASON} characters")]
    ReasonTooLong,
    #[error("`--at` {0} is in the future")]
    Future(DateTime<Utc>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `request`, decides it with `gate` and records it (the decision always, the
/// adjustment when allowed), in one transaction.
pub fn adjust(
    store: &mut Store,
    gate: &Gatekeeper,
    request: &AdjustRequest<'_>,
) -> Result<Adjusted, AdjustError> {
    let amount = amount(request.amount)?;
    let reason = reason(request.reason)?;
    if request.at > Utc::now() {
        return Err(AdjustError::Future(request.at));
    }
    let unknown = || AdjustError::UnknownTeam(request.team.to_owned());
    let team: TeamId = request.team.parse().map_err(|_| unknown())?;
    let state = teams::team_state(store, team.as_str(), request.at)?.ok_or_else(unknown)?;
    let created_at = store.team(team.as_str())?.ok_or_else(unknown)?.created_at;
    // A Team billed on the day: every later night replays it, so the adjustment is billed.
    if created_at >= calendar::day_end(request.day, state.region) {
        return Err(AdjustError::BeforeTeam {
            team: team.to_string(),
            day: request.day,
        });
    }
    if !store.is_billed(request.day)? {
        let latest = store.latest_billed_day()?;
        return Err(AdjustError::NotBilled {
            day: request.day,
            latest,
        });
    }
    let actor = if store.is_operator(request.actor)? {
        Actor::Operator(request.actor.to_owned())
    } else {
        teams::actor(&state, request.actor)
    };
    let decision = gate.decide(&Request::new(
        actor,
        teams::team_facts(&state),
        ActionRequest::AdjustStatement,
    ));
    let new = NewAdjustment {
        team: &team,
        corrects_day: request.day,
        applies_to: request.applies_to.as_str(),
        amount,
        reason,
        actor: request.actor,
        at: request.at,
    };
    Ok(match store.record_adjustment(&new, &decision)? {
        Some(id) => Adjusted::Recorded {
            id,
            amount: Amount::round(amount),
            decision,
        },
        None => Adjusted::Denied(decision),
    })
}

fn amount(text: &str) -> Result<Decimal, AdjustError> {
    let digits = text.trim().trim_start_matches(['-', '+']);
    let (whole, cents) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !(plain(whole) && plain(cents)) || text.trim().len() - digits.len() > 1 {
        return Err(AdjustError::NotDecimal(text.to_owned()));
    }
    let amount: Decimal = text
        .trim()
        .parse()
        .map_err(|_| AdjustError::NotDecimal(text.to_owned()))?;
    if amount.scale() > 2 {
        return Err(AdjustError::TooPrecise(amount));
    }
    if amount.is_zero() {
        return Err(AdjustError::Zero);
    }
    if amount.abs() > Decimal::new(MAX_CENTS, 2) {
        return Err(AdjustError::TooLarge(amount));
    }
    Ok(amount)
}

fn reason(text: &str) -> Result<&str, AdjustError> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err(AdjustError::EmptyReason);
    }
    if reason.chars().any(char::is_control) {
        return Err(AdjustError::ReasonControl(reason.to_owned()));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(AdjustError::ReasonTooLong);
    }
    Ok(reason)
}

/// The adjustments a run's first day bills, by Team, and the highest id among them (-1 when
/// there are none).
#[derive(Debug, Default)]
pub struct Pending {
    pub by_team: BTreeMap<String, Vec<Adjustment>>,
    pub through: i64,
}

/// Every adjustment no day has billed yet.
pub fn pending(store: &Store) -> Result<Pending, BillingError> {
    let mut pending = Pending {
        by_team: BTreeMap::new(),
        through: -1,
    };
    for row in store.pending_adjustments()? {
        let corrupt = |message: String| StoreError::Corrupt {
            table: "adjustments",
            message: format!("adjustment {}: {message}", row.id),
        };
        let applies_to = row.applies_to.parse().map_err(corrupt)?;
        if row.amount.scale() > 2 {
            return Err(corrupt(format!("the amount `{}` is not in cents", row.amount)).into());
        }
        pending.through = pending.through.max(row.id);
        pending
            .by_team
            .entry(row.team)
            .or_default()
            .push(Adjustment {
                corrects_day: row.corrects_day,
                applies_to,
                reason: row.reason,
                amount: Amount::round(row.amount),
            });
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b24_an_amount_is_a_decimal_in_cents_not_zero_and_fits_a_statement() {
        assert_eq!(amount("-12.5").unwrap().to_string(), "-12.5");
        assert_eq!(amount(" 3 ").unwrap().to_string(), "3");
        for bad in [
            "", "abc", "1,5", "0.001", "0", "-0.00", "1e3", "--1", "1.", ".5", "1_000",
        ] {
            assert!(amount(bad).is_err(), "{bad}");
        }
        assert!(amount("9999999999999999.99").is_ok());
        assert!(matches!(
            amount("10000000000000000"),
            Err(AdjustError::TooLarge(_))
        ));
    }

    #[test]
    fn b24_a_reason_is_one_non_empty_line() {
        assert_eq!(reason("  refund  ").unwrap(), "refund");
        assert!(matches!(reason("   "), Err(AdjustError::EmptyReason)));
        assert!(matches!(reason("a\nb"), Err(AdjustError::ReasonControl(_))));
        assert!(matches!(
            reason(&"x".repeat(MAX_REASON + 1)),
            Err(AdjustError::ReasonTooLong)
        ));
    }
}

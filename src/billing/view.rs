//! A statement as one member may see it (V1, V2, B17): each part is shown only where the
//! gatekeeper allows it; the filter is the policies', not this code's.

use gatekeeper::{ActionRequest, Gatekeeper};
use rust_decimal::Decimal;

use super::statement::{Statement, StatementLine, Totals, Usage};
use crate::money::Amount;
use crate::prices::Prices;
use crate::teams::{TeamState, actor, key_facts, team_facts};

/// Why a statement can't be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The user is not a member and may see nothing.
    #[error("`{user}` may see nothing of Team `{team}`'s billing: {reason}")]
    Nothing {
        user: String,
        team: String,
        /// The gatekeeper's explanation.
        reason: String,
    },
    /// An amount of the statement does not fit in a decimal (a store edited by hand).
    #[error("an amount of the statement is too large to compute")]
    Money(#[from] crate::money::Overflow),
    /// A usage line's model is not in the price list.
    #[error("the price list has no model `{model}`, which the statement bills")]
    Unpriced { model: String },
    /// The price list does not give a usage line's amount: the day was billed with another.
    #[error(
        "the price list prices the `{model}` usage of key `{key}` on {usage_day} at {listed}, but the statement billed {billed}: the day was billed with another price list"
    )]
    Repriced {
        model: String,
        key: String,
        /// The line's usage day.
        usage_day: chrono::NaiveDate,
        /// The amount the price list gives.
        listed: Amount,
        /// The amount billed.
        billed: Amount,
    },
}

/// A statement as one member may see it.
#[derive(Debug, Clone)]
pub struct View {
    /// What they may see of it.
    pub statement: Statement,
    /// Whether it is the whole Team's statement or only the member's own usage.
    pub whose: Whose,
}

/// Whose usage a [`View`] shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// The whole Team's (Owner, Admin: V2).
    Team,
    /// Only this member's own keys' (a Reader: V1).
    Member(String),
}

/// A model's price per million tokens, as a usage line was billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice {
    /// Per million input tokens.
    pub input_per_million: Decimal,
    /// Per million output tokens.
    pub output_per_million: Decimal,
}

impl UnitPrice {
    /// The unit price of a Credits or pay-as-you-go line in `prices`, checked against the
    /// amount billed (B11, B7): a price list that does not give that amount is not the one the
    /// day was billed with, and its prices would be false.
    pub fn of(
        prices: &Prices,
        currency: crate::prices::Currency,
        usage: &Usage,
    ) -> Result<UnitPrice, ViewError> {
        let unpriced = || ViewError::Unpriced {
            model: usage.model.clone(),
        };
        let model = prices.models.get(&usage.model).ok_or_else(unpriced)?;
        let listed = prices
            .usage_price(
                &usage.model,
                currency,
                usage.input_tokens,
                usage.output_tokens,
            )?
            .map(Amount::round)
            .ok_or_else(unpriced)?;
        if listed != usage.amount {
            return Err(ViewError::Repriced {
                model: usage.model.clone(),
                key: usage.key.clone(),
                usage_day: usage.usage_day,
                listed,
                billed: usage.amount,
            });
        }
        Ok(UnitPrice {
            input_per_million: model.input_per_million.get(currency),
            output_per_million: model.output_per_million.get(currency),
        })
    }

    /// The unit prices of `statement`'s lines, in order: one for each Credits or
    /// pay-as-you-go line, none for a line a seat covers or a subscription's.
    pub fn of_lines(
        prices: &Prices,
        statement: &Statement,
    ) -> Result<Vec<Option<UnitPrice>>, ViewError> {
        statement
            .lines
            .iter()
            .map(|line| match line {
                StatementLine::Credits(u) | StatementLine::Payg(u) => {
                    UnitPrice::of(prices, statement.currency, u).map(Some)
                }
                _ => Ok(None),
            })
            .collect()
    }
}

/// `statement` as `user` may see it, given the Team's state at the end of the day.
pub fn view(
    gate: &Gatekeeper,
    state: &TeamState,
    user: &str,
    statement: &Statement,
) -> Result<View, ViewError> {
    let actor = actor(state, user);
    let allowed = |action| {
        gate.decide(&gatekeeper::Request::new(
            actor.clone(),
            team_facts(state),
            action,
        ))
    };
    let sees_usage =
        |key: &str| allowed(ActionRequest::ViewUsage(key_facts(state, key))).is_allowed();
    let billing = allowed(ActionRequest::ViewBilling);
    if billing.is_allowed() {
        return Ok(View {
            statement: statement.clone(),
            whose: Whose::Team,
        });
    }
    let lines: Vec<_> = statement
        .lines
        .iter()
        .filter(|line| line.usage().is_some_and(|u| sees_usage(&u.key)))
        .cloned()
        .collect();
    let unfunded: Vec<_> = statement
        .unfunded
        .iter()
        .filter(|u| sees_usage(&u.key))
        .cloned()
        .collect();
    if lines.is_empty() && unfunded.is_empty() && !state.members.contains_key(user) {
        return Err(ViewError::Nothing {
            user: user.to_owned(),
            team: state.id.clone(),
            reason: billing.explain(),
        });
    }
    Ok(View {
        statement: Statement {
            totals: Totals::of(&lines)?,
            lines,
            unfunded,
            balances: None,
            movements: None,
            overdrawn: Vec::new(),
            ..statement.clone()
        },
        whose: Whose::Member(user.to_owned()),
    })
}

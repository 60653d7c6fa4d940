//! One statement per Team from its priced usage, the day's charges and top-ups of its replay,
//! its adjustments not yet billed and what it took from its balances before: totals, balances
//! and their movements rounded once, and the balances overdrawn (B5-B8, B10, B16, B24, B25).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::error::BillingError;
use super::price::Priced;
use super::replay::{Replay, TopUpMade};
use super::statement::{
    self, Adjustment, Balances, Movement, Movements, Overdrawn, Statement, StatementLine,
    TopUpMovement, Totals, Unfunded,
};
use crate::balance::Balance;
use crate::calendar;
use crate::money::{self, Amount, Overflow};
use crate::prices::Currency;
use crate::store::Spent;

/// The statements of `day`, one per Team of `replays` with anything to bill or a balance
/// change, in Team order. The usage of each Team is taken from `priced` (what is left there
/// belongs to no known Team), its adjustments from `adjustments` (one left there is an error:
/// an adjustment is never dropped).
pub fn statements(
    day: NaiveDate,
    replays: &BTreeMap<String, Replay>,
    priced: &mut Priced,
    spent: &BTreeMap<String, Spent>,
    adjustments: &mut BTreeMap<String, Vec<Adjustment>>,
) -> Result<Vec<Statement>, BillingError> {
    let statements = replays
        .iter()
        .filter_map(|(team, replay)| {
            let mut lines = priced.usage.remove(team).unwrap_or_default();
            let adjusted = adjustments.remove(team).unwrap_or_default();
            lines.extend(adjusted.into_iter().map(StatementLine::Adjustment));
            statement(
                day,
                replay,
                lines,
                priced.unfunded.remove(team).unwrap_or_default(),
                spent.get(team).copied().unwrap_or_default(),
            )
            .transpose()
        })
        .collect::<Result<_, _>>()?;
    match adjustments.keys().next() {
        Some(team) => Err(BillingError::AdjustedUnknownTeam {
            team: team.clone(),
            day,
        }),
        None => Ok(statements),
    }
}

/// One Team's statement, or `None` when the Team has nothing to bill and no balance change.
fn statement(
    day: NaiveDate,
    replay: &Replay,
    mut lines: Vec<StatementLine>,
    unfunded: Vec<Unfunded>,
    spent_before: Spent,
) -> Result<Option<Statement>, BillingError> {
    lines.extend(replay.charges.iter().cloned());
    if lines.is_empty() && unfunded.is_empty() && replay.top_ups.is_empty() {
        return Ok(None);
    }
    lines.sort_by_cached_key(StatementLine::sort_key);
    let state = &replay.state;
    let totals = Totals::of(&lines).map_err(BillingError::money(&state.id))?;
    let movement = |balance, topped_up, spent_before, spend| {
        let top_ups = replay.top_ups.iter().filter(|t| t.balance == balance);
        statement::adjustments_to(&lines, balance)
            .and_then(|adjusted| movement(topped_up, spent_before, top_ups, spend, adjusted))
            .map_err(BillingError::money(&state.id))
    };
    let movements = Movements {
        credits: movement(
            Balance::Credits,
            state.credits_topped_up,
            spent_before.credits,
            totals.credits,
        )?,
        wallet: movement(
            Balance::Wallet,
            state.wallet_topped_up,
            spent_before.wallet,
            totals.payg,
        )?,
    };
    let balances = Balances {
        credits: movements.credits.closing,
        wallet: movements.wallet.closing,
    };
    let overdrawn = [
        (Balance::Credits, balances.credits),
        (Balance::Wallet, balances.wallet),
    ]
    .into_iter()
    .filter(|(_, amount)| amount.is_negative())
    .map(|(balance, amount)| Overdrawn { balance, amount })
    .collect();
    let region = state.region;
    Ok(Some(Statement {
        team: replay.team.clone(),
        day,
        region,
        currency: Currency::of(region),
        timezone: Some(calendar::zone_name(region).to_owned()),
        day_start: Some(calendar::day_start(day, region)),
        day_end: Some(calendar::day_end(day, region)),
        lines,
        totals,
        balances: Some(balances),
        movements: Some(movements),
        unfunded,
        overdrawn,
    }))
}

/// One balance over the day (B25), from everything topped up by its end (`topped_up`, exact),
/// everything taken on days before (`spent_before`: spend and adjustments), the day's top-ups, spend and adjustments.
/// The balance is exact and rounded where it is shown ([`Amount::round_balance`]): the opening,
/// after each top-up (a top-up shows what it moved the rounded balance by), and the closing.
/// Spend and adjustments are whole cents, so the closing is the opening, plus the top-ups, less
/// them, exactly.
fn movement<'a>(
    topped_up: Decimal,
    spent_before: Decimal,
    top_ups: impl Iterator<Item = &'a TopUpMade> + Clone,
    spend: Amount,
    adjustments: Amount,
) -> Result<Movement, Overflow> {
    let today = top_ups
        .clone()
        .try_fold(Decimal::ZERO, |sum, t| money::add(sum, t.amount))?;
    let mut exact = money::sub(money::sub(topped_up, today)?, spent_before)?;
    let opening = Amount::round_balance(exact)?;
    let mut shown = opening;
    let top_ups = top_ups
        .map(|top_up| {
            exact = money::add(exact, top_up.amount)?;
            let after = Amount::round_balance(exact)?;
            let amount = after.checked_sub(shown)?;
            shown = after;
            Ok(TopUpMovement {
                at: top_up.at,
                amount,
            })
        })
        .collect::<Result<_, Overflow>>()?;
    let taken = money::add(spend.decimal(), adjustments.decimal())?;
    Ok(Movement {
        opening,
        top_ups,
        spend,
        adjustments,
        closing: Amount::round_balance(money::sub(exact, taken)?)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use rust_decimal::prelude::ToPrimitive;

    use super::*;

    fn cents(amount: Amount) -> i64 {
        (amount.decimal() * Decimal::ONE_HUNDRED).to_i64().unwrap()
    }

    proptest! {
        /// B25: opening + top-ups - spend - adjustments = closing, to the cent, for any
        /// exact balance (top-ups have up to six decimals), and each day opens where the day
        /// before closed.
        #[test]
        fn b25_movements_add_up_to_the_cent_and_chain_day_to_day(
            days in prop::collection::vec(
                (
                    prop::collection::vec(1_i64..5_000_000_000, 0..4),
                    0_i64..100_000,
                    -50_000_i64..50_000,
                ),
                1..12,
            ),
        ) {
            let (mut topped_up, mut taken) = (Decimal::ZERO, Decimal::ZERO);
            let mut closed: Option<Amount> = None;
            for (micros, spend_cents, adjustment_cents) in days {
                let made: Vec<TopUpMade> = micros
                    .iter()
                    .map(|&m| TopUpMade {
                        balance: Balance::Credits,
                        at: DateTime::<Utc>::UNIX_EPOCH,
                        amount: Decimal::new(m, 6),
                    })
                    .collect();
                topped_up += made.iter().map(|t| t.amount).sum::<Decimal>();
                let spend = Amount::round(Decimal::new(spend_cents, 2));
                let adjustments = Amount::round(Decimal::new(adjustment_cents, 2));
                let m = movement(topped_up, taken, made.iter(), spend, adjustments).unwrap();
                let moved = cents(m.opening)
                    + m.top_ups.iter().map(|t| cents(t.amount)).sum::<i64>()
                    - cents(m.spend)
                    - cents(m.adjustments);
                prop_assert_eq!(moved, cents(m.closing));
                if let Some(closed) = closed {
                    prop_assert_eq!(m.opening, closed);
                }
                taken += spend.decimal() + adjustments.decimal();
                prop_assert_eq!(m.closing, Amount::round_balance(topped_up - taken).unwrap());
                closed = Some(m.closing);
            }
        }
    }
}

//! One statement per Team from its priced usage, the day's charges of its replay and what it
//! spent before: totals, balances rounded once, and the balances overdrawn (B5-B8, B10, B16).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::error::BillingError;
use super::price::Priced;
use super::replay::Replay;
use super::statement::{Balances, Overdrawn, Statement, StatementLine, Totals, Unfunded};
use crate::balance::Balance;
use crate::money::{self, Amount};
use crate::prices::Currency;
use crate::store::Spent;

/// The statements of `day`, one per Team of `replays` with anything to bill or a balance
/// change, in Team order. The usage of each Team is taken from `priced`: what is left there
/// belongs to no known Team.
pub fn statements(
    day: NaiveDate,
    replays: &BTreeMap<String, Replay>,
    priced: &mut Priced,
    spent: &BTreeMap<String, Spent>,
) -> Result<Vec<Statement>, BillingError> {
    replays
        .iter()
        .filter_map(|(team, replay)| {
            statement(
                day,
                replay,
                priced.usage.remove(team).unwrap_or_default(),
                priced.unfunded.remove(team).unwrap_or_default(),
                spent.get(team).copied().unwrap_or_default(),
            )
            .transpose()
        })
        .collect()
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
    if lines.is_empty() && unfunded.is_empty() && !replay.topped_up_today {
        return Ok(None);
    }
    lines.sort_by_cached_key(StatementLine::sort_key);
    let state = &replay.state;
    let totals = Totals::of(&lines).map_err(BillingError::money(&state.id))?;
    // A balance is exact (top-ups may have up to six decimals) and rounded once, here, so that
    // whether it is overdrawn is decided on the amount the statement shows.
    let left = |topped_up, spent, today: Amount| {
        money::sub(topped_up, spent)
            .and_then(|l| money::sub(l, today.decimal()))
            .map(Amount::round)
            .map_err(BillingError::money(&state.id))
    };
    let balances = Balances {
        credits: left(
            state.credits_topped_up,
            spent_before.credits,
            totals.credits,
        )?,
        wallet: left(state.wallet_topped_up, spent_before.wallet, totals.payg)?,
    };
    let overdrawn = [
        (Balance::Credits, balances.credits),
        (Balance::Wallet, balances.wallet),
    ]
    .into_iter()
    .filter(|(_, amount)| amount.is_negative())
    .map(|(balance, amount)| Overdrawn { balance, amount })
    .collect();
    Ok(Some(Statement {
        team: replay.team.clone(),
        day,
        region: state.region,
        currency: Currency::of(state.region),
        lines,
        totals,
        balances: Some(balances),
        unfunded,
        overdrawn,
    }))
}

//! `tokenplan operator add` and `tokenplan billing adjust` (B24).

use chrono::{DateTime, Utc};
use tokenplan::billing::{AdjustError, AdjustRequest, Adjusted, AppliesTo};
use tokenplan::ids::escaped;

use super::*;

/// Makes `id` a billing operator: whoever holds the store may.
pub(super) fn operator_add(cli: &Cli, id: &UserId) -> CommandResult {
    let mut store = open_store(cli)?;
    let added = store.add_operator(id, Utc::now()).map_err(Failure::work)?;
    if added {
        out!("{id} is now a billing operator\n");
    } else {
        out!("{id} was a billing operator already; nothing changed\n");
    }
    Ok(Exit::Success)
}

/// What `billing adjust` was asked.
pub(super) struct AdjustArgs<'a> {
    pub actor: &'a UserId,
    pub team: &'a TeamId,
    pub day: NaiveDate,
    pub amount: &'a str,
    pub applies_to: AppliesTo,
    pub reason: &'a str,
    pub at: Option<DateTime<Utc>>,
}

/// Records an adjustment, if the policies allow `--as`: exit 1 when they deny it, 2 for bad
/// input; either way nothing but the decision is stored.
pub(super) fn adjust(cli: &Cli, args: &AdjustArgs<'_>) -> CommandResult {
    let gate = gatekeeper(cli)?;
    let mut store = open_existing_store(cli)?;
    let request = AdjustRequest {
        actor: args.actor.as_str(),
        team: args.team.as_str(),
        day: args.day,
        amount: args.amount,
        applies_to: args.applies_to,
        reason: args.reason,
        at: args.at.unwrap_or_else(Utc::now),
    };
    let adjusted = tokenplan::billing::adjust(&mut store, &gate, &request).map_err(|e| {
        let hint = match &e {
            AdjustError::NotBilled { .. } => Some(
                "an adjustment corrects a billed day; a day not billed yet is billed as it is",
            ),
            AdjustError::UnknownTeam(_) => Some("check --team"),
            AdjustError::NotDecimal(_) | AdjustError::TooPrecise(_) | AdjustError::Zero => {
                Some("give the amount in the Team's currency with at most 2 decimals: positive is owed or taken, negative is a credit")
            }
            _ => None,
        };
        let failure = match e {
            AdjustError::Store(e) => Failure::work(e),
            e => Failure::input(e),
        };
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    })?;
    match adjusted {
        Adjusted::Recorded {
            id,
            amount,
            decision,
        } => {
            out!(
                "adjustment {id} recorded: {} {} {amount} correcting {}; the Team's next statement bills it\n{}\n",
                args.team,
                args.applies_to,
                args.day,
                decision.explain()
            );
            Ok(Exit::Success)
        }
        Adjusted::Denied(decision) => {
            eprintln!(
                "error: `{}` may not adjust a statement of `{}`: {}",
                escaped(args.actor.as_str()),
                args.team,
                decision.explain()
            );
            eprintln!(
                "hint: only a billing operator may (`tokenplan operator add ID`); nothing was stored but the decision, in `audit_log`"
            );
            Ok(Exit::Problems)
        }
    }
}

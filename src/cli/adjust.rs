//! `tokenplan operator add` and `tokenplan billing adjust` (B24).

use chrono::Utc;
use tokenplan::billing::{AdjustError, AdjustRequest, Adjusted};
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

/// Records an adjustment, if the policies allow `--as`: exit 1 when they deny it, 2 for bad
/// input; either way nothing but the decision is stored.
pub(super) fn adjust(cli: &Cli, request: &AdjustRequest<'_>) -> CommandResult {
    let gate = gatekeeper(cli)?;
    let mut store = open_existing_store(cli)?;
    let adjusted = tokenplan::billing::adjust(&mut store, &gate, request).map_err(|e| {
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
                request.team,
                request.applies_to,
                request.day,
                decision.explain()
            );
            Ok(Exit::Success)
        }
        Adjusted::Denied(decision) => {
            eprintln!(
                "error: `{}` may not adjust a statement of `{}`: {}",
                escaped(request.actor),
                request.team,
                decision.explain()
            );
            eprintln!(
                "hint: only a billing operator may (`tokenplan operator add ID`); nothing was stored but the decision, in `audit_log`"
            );
            Ok(Exit::Problems)
        }
    }
}

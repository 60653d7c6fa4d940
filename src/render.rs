//! Statements and summaries as plain-text tables for people.

use std::fmt::Write as _;

use crate::billing::{Statement, StatementLine, Status, Summary};

/// A statement as an aligned table.
pub fn statement_table(statement: &Statement) -> String {
    let mut rows: Vec<(String, String, String)> = statement
        .lines
        .iter()
        .map(|line| {
            let (kind, what) = match line {
                StatementLine::Subscription {
                    tier,
                    seats,
                    period_start,
                    period_end,
                    ..
                } => (
                    "subscription",
                    format!("{tier} × {seats} seats, {period_start} → {period_end}"),
                ),
                StatementLine::Proration {
                    tier,
                    seats,
                    days,
                    cycle_days,
                    ..
                } => (
                    "proration",
                    format!("{tier} +{seats} seats, {days}/{cycle_days} days"),
                ),
                StatementLine::Plan(u) | StatementLine::Credits(u) | StatementLine::Payg(u) => {
                    let kind = match line {
                        StatementLine::Plan(_) => "plan",
                        StatementLine::Credits(_) => "credits",
                        _ => "payg",
                    };
                    let late = if u.late { " (late)" } else { "" };
                    let what = format!(
                        "{} {} {} {}{late}: {} events, {} in / {} out",
                        u.user,
                        u.key,
                        u.model,
                        u.usage_day,
                        u.events,
                        u.input_tokens,
                        u.output_tokens
                    );
                    (kind, what)
                }
            };
            (kind.to_owned(), what, format!("{:.2}", line.amount()))
        })
        .collect();
    let t = &statement.totals;
    rows.push((
        "total".to_owned(),
        format!(
            "subscriptions {:.2}, credits {:.2}, payg {:.2}",
            t.subscriptions, t.credits, t.payg
        ),
        format!("{:.2}", t.total),
    ));
    let width = rows
        .iter()
        .map(|(_, what, _)| what.chars().count())
        .max()
        .unwrap_or(0);
    let amount = rows.iter().map(|(_, _, a)| a.len()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · {} · {} ({})",
        statement.team,
        statement.day,
        statement.region.as_str(),
        statement.currency
    );
    for (kind, what, money) in &rows {
        let pad = width - what.chars().count();
        let _ = writeln!(
            out,
            "  {kind:<13} {what}{}  {money:>amount$}",
            " ".repeat(pad)
        );
    }
    if let Some(b) = &statement.balances {
        let _ = writeln!(
            out,
            "  balances: credits {:.2}, wallet {:.2}",
            b.credits, b.wallet
        );
    }
    for u in &statement.unfunded {
        let _ = writeln!(
            out,
            "  unfunded: {} {}: {} events, {} in / {} out",
            u.user, u.key, u.events, u.input_tokens, u.output_tokens
        );
    }
    for o in &statement.overdrawn {
        let _ = writeln!(out, "  OVERDRAWN: {} {:.2}", o.balance, o.amount);
    }
    out
}

/// A run summary in one paragraph.
pub fn summary_table(summary: &Summary) -> String {
    let quarantined: Vec<String> = summary
        .quarantined
        .iter()
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect();
    let totals: Vec<String> = summary
        .totals
        .iter()
        .map(|(c, t)| format!("{t} {c}"))
        .collect();
    format!(
        "{}: {} events read: {} billed ({} late), {} unfunded, {} duplicates, {} quarantined ({}); {} statements; totals {}\n",
        summary.day,
        summary.events_read,
        summary.billed,
        summary.late,
        summary.unfunded,
        summary.duplicates,
        summary.quarantined.values().sum::<u64>(),
        if quarantined.is_empty() {
            "none".into()
        } else {
            quarantined.join(", ")
        },
        summary.statements,
        if totals.is_empty() {
            "none".into()
        } else {
            totals.join(", ")
        }
    )
}

/// `billing status` as aligned lines.
pub fn status_table(status: &Status) -> String {
    let none = || "none".to_owned();
    let latest = status
        .latest_billed_day
        .map_or_else(none, |d| d.to_string());
    let unbilled = match (status.unbilled_days.first(), status.unbilled_days.last()) {
        (Some(first), Some(last)) if first == last => format!("{first} (1 day)"),
        (Some(first), Some(last)) => {
            format!("{first} to {last} ({} days)", status.unbilled_days.len())
        }
        _ => none(),
    };
    let events = &status.unsettled_events;
    let unsettled = match events.oldest_usage_day {
        Some(oldest) => format!(
            "{} (oldest usage day {oldest}; {} late)",
            events.count, events.late
        ),
        None => events.count.to_string(),
    };
    let last_run = status.last_run.as_ref().map_or_else(none, |run| {
        let how = if run.message.is_empty() {
            String::new()
        } else {
            format!(": {}", run.message)
        };
        format!(
            "{} through {}: exit {}, {} day(s) billed, {} reproduced{how}",
            run.finished_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            run.through_day,
            run.exit_status,
            run.days_billed,
            run.days_reproduced
        )
    });
    let success = status.last_success.map_or_else(none, |at| {
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    let mut out = String::new();
    for (name, value) in [
        ("latest billed day", latest),
        ("not yet billed", unbilled),
        ("unsettled events", unsettled),
        ("last run", last_run),
        ("last success", success),
    ] {
        let _ = writeln!(out, "{name:<18} {value}");
    }
    out
}

//! Statements, summaries and the nightly status as plain-text tables for people.

use std::fmt::Write as _;

use crate::balance::Balance;
use crate::billing::{Statement, StatementLine, Status, Summary, UnitPrice, Usage, View, Whose};
use crate::money::Amount;

/// A statement as a member reads it: what is charged to the Team (subscriptions and seats)
/// apart from the usage, each usage line with who paid for it and its unit price, and what
/// was drawn from the Credits pool and the wallet beside their balances. A Reader's view is
/// labelled as their own. `unit_prices` are [`UnitPrice::of_lines`] of the statement.
pub fn statement_table(view: &View, unit_prices: &[Option<UnitPrice>]) -> String {
    let statement = &view.statement;
    let mut out = String::new();
    let place = format!(
        "Team {} · {} · {} · amounts in {}",
        statement.team,
        statement.day,
        statement.region.as_str(),
        statement.currency
    );
    match &view.whose {
        Whose::Team => {
            let _ = writeln!(out, "Statement of {place}");
            out.push('\n');
            out.push_str(&charges(statement));
            out.push_str(&adjustments(statement));
        }
        Whose::Member(user) => {
            let _ = writeln!(out, "Your usage ({user}) on the statement of {place}");
            let _ = writeln!(
                out,
                "As a Reader you see only your own keys' usage: the Team's charges and balances are not shown."
            );
        }
    }
    out.push('\n');
    out.push_str(&usage(statement, unit_prices));
    out.push('\n');
    out.push_str(&drawn(view));
    out
}

/// The subscription and seat lines, charged to the Team, and their total.
fn charges(statement: &Statement) -> String {
    let mut rows: Vec<Vec<Cell>> = statement
        .lines
        .iter()
        .filter_map(|line| match line {
            StatementLine::Subscription {
                tier,
                seats,
                period_start,
                period_end,
                amount,
            } => Some(vec![
                Cell::left("subscription"),
                Cell::left(format!(
                    "{tier}, {}, {period_start} to {period_end}",
                    count(*seats, "seat")
                )),
                Cell::right(money(*amount)),
            ]),
            StatementLine::Proration {
                tier,
                seats,
                days,
                cycle_days,
                amount,
                ..
            } => Some(vec![
                Cell::left("seats added"),
                Cell::left(format!(
                    "{tier}, {}, for {days} of {cycle_days} days{}",
                    count(*seats, "seat"),
                    line.period().map(|p| format!(", {p}")).unwrap_or_default()
                )),
                Cell::right(money(*amount)),
            ]),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return "Charged to the Team: nothing\n".to_owned();
    }
    rows.push(vec![
        Cell::left("total charged"),
        Cell::left(""),
        Cell::right(money(statement.totals.subscriptions)),
    ]);
    format!("Charged to the Team\n{}", grid(&rows))
}

/// The adjustment lines (B24), each with the day it corrects, what it applies to and why;
/// nothing when there are none.
fn adjustments(statement: &Statement) -> String {
    let rows: Vec<Vec<Cell>> = statement
        .lines
        .iter()
        .filter_map(|line| match line {
            StatementLine::Adjustment(a) => Some(vec![
                Cell::left(format!("corrects {}", a.corrects_day)),
                Cell::left(a.applies_to.as_str()),
                Cell::left(crate::ids::escaped(&a.reason)),
                Cell::right(money(a.amount)),
            ]),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("\nAdjustments\n{}", grid(&rows))
}

/// Every usage line, and the usage nothing funded, with who paid for each.
fn usage(statement: &Statement, unit_prices: &[Option<UnitPrice>]) -> String {
    let mut rows = vec![
        ["paid by", "member", "key", "model", "usage day"]
            .map(Cell::left)
            .into_iter()
            .chain(
                [
                    "requests",
                    "input tokens",
                    "output tokens",
                    "price per 1M in / out",
                    "amount",
                ]
                .map(Cell::right),
            )
            .collect(),
    ];
    for (line, price) in statement.lines.iter().zip(unit_prices) {
        let (paid_by, u) = match line {
            StatementLine::Plan(u) => {
                (format!("seat ({})", u.tier.as_deref().unwrap_or("plan")), u)
            }
            StatementLine::Credits(u) => (Balance::Credits.name().to_owned(), u),
            StatementLine::Payg(u) => (Balance::Wallet.name().to_owned(), u),
            _ => continue,
        };
        let price = match price {
            Some(p) => format!(
                "{} / {}",
                grouped(&p.input_per_million.to_string()),
                grouped(&p.output_per_million.to_string())
            ),
            None => "in the seat's quota".to_owned(),
        };
        rows.push(usage_row(paid_by, u, price, money(u.amount)));
    }
    for u in &statement.unfunded {
        rows.push(vec![
            Cell::left("nobody: not funded"),
            Cell::left(&u.user),
            Cell::left(&u.key),
            Cell::left(""),
            Cell::left(""),
            Cell::right(grouped(&u.events.to_string())),
            Cell::right(grouped(&u.input_tokens.to_string())),
            Cell::right(grouped(&u.output_tokens.to_string())),
            Cell::left(""),
            Cell::right("not billed"),
        ]);
    }
    if rows.len() == 1 {
        return "Usage: none\n".to_owned();
    }
    format!("Usage\n{}", grid(&rows))
}

fn usage_row(paid_by: String, u: &Usage, price: String, amount: String) -> Vec<Cell> {
    let day = if u.late {
        format!("{} (late)", u.usage_day)
    } else {
        u.usage_day.to_string()
    };
    vec![
        Cell::left(paid_by),
        Cell::left(&u.user),
        Cell::left(&u.key),
        Cell::left(&u.model),
        Cell::left(day),
        Cell::right(grouped(&u.events.to_string())),
        Cell::right(grouped(&u.input_tokens.to_string())),
        Cell::right(grouped(&u.output_tokens.to_string())),
        Cell::right(price),
        Cell::right(amount),
    ]
}

/// What the usage drew from the Credits pool and the wallet, beside each balance at the end
/// of the day (when the view shows balances), and any balance below zero.
fn drawn(view: &View) -> String {
    let statement = &view.statement;
    let totals = &statement.totals;
    let yours = match view.whose {
        Whose::Team => "",
        Whose::Member(_) => "Your usage ",
    };
    let balances = statement.balances.as_ref();
    let rows: Vec<Vec<Cell>> = [
        (
            "drawn from the Credits pool",
            totals.credits,
            balances.map(|b| b.credits),
        ),
        (
            "drawn from the wallet",
            totals.payg,
            balances.map(|b| b.wallet),
        ),
    ]
    .into_iter()
    .map(|(what, amount, balance)| {
        let what = if yours.is_empty() {
            capitalized(what)
        } else {
            format!("{yours}{what}")
        };
        let mut row = vec![Cell::left(what), Cell::right(money(amount))];
        if let Some(balance) = balance {
            row.push(Cell::left("balance at the end of the day"));
            row.push(Cell::right(money(balance)));
        }
        row
    })
    .collect();
    let mut out = grid_at(&rows, "");
    let movements = statement
        .movements
        .iter()
        .flat_map(|m| [(Balance::Credits, &m.credits), (Balance::Wallet, &m.wallet)]);
    for (balance, movement) in movements {
        for top_up in &movement.top_ups {
            let _ = writeln!(
                out,
                "Topped up the {balance} at {}: {}",
                top_up
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                money(top_up.amount)
            );
        }
    }
    for o in &statement.overdrawn {
        let _ = writeln!(
            out,
            "OVERDRAWN: the {} is at {}",
            o.balance,
            money(o.amount)
        );
    }
    out
}

/// `text` with its first letter in capitals.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `n thing` or `n things`.
fn count(n: u32, thing: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {thing}{s}", grouped(&n.to_string()))
}

/// An amount with its 2 decimals and thousands separators: `1,234.50`.
pub fn money(amount: Amount) -> String {
    grouped(&amount.to_string())
}

/// A decimal number's integer digits in groups of three: `-1234567.5` → `-1,234,567.5`.
pub fn grouped(number: &str) -> String {
    let (sign, unsigned) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (digits, fraction) = unsigned.split_at(unsigned.find('.').unwrap_or(unsigned.len()));
    let mut out = String::from(sign);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out + fraction
}

/// A table cell: its text and which side it is aligned to.
struct Cell {
    text: String,
    right: bool,
}

impl Cell {
    fn left(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            right: false,
        }
    }

    fn right(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            right: true,
        }
    }
}

/// Rows aligned in columns, indented by two spaces.
fn grid(rows: &[Vec<Cell>]) -> String {
    grid_at(rows, "  ")
}

/// Rows aligned in columns two spaces apart, each line starting with `indent` and without
/// trailing spaces.
fn grid_at(rows: &[Vec<Cell>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.text.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (cell, width) in row.iter().zip(&widths) {
            let pad = " ".repeat(width - cell.text.chars().count());
            if cell.right {
                line.push_str(&pad);
                line.push_str(&cell.text);
            } else {
                line.push_str(&cell.text);
                line.push_str(&pad);
            }
            line.push_str("  ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
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
            "{} (oldest usage day {oldest}; {} late, {} too late)",
            events.count, events.late, events.too_late
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
    let window = match status.window.fixed_on {
        Some(day) => format!("{} days (fixed on {day})", status.window.days),
        None => format!(
            "{} days (fixed when the first day is billed)",
            status.window.days
        ),
    };
    let archive = &status.archive;
    let archived = match (archive.first_day, archive.last_day) {
        (Some(first), Some(last)) => format!(
            "{} day(s) from {first} to {last}, {} events, in {}",
            archive.days,
            grouped(&archive.events.to_string()),
            archive.locations.join(", ")
        ),
        _ => none(),
    };
    let refused = status.refused_spool_files.as_ref().map(|r| {
        (
            "refused files",
            format!("{} in {}", r.count, r.directory.display()),
        )
    });
    let mut out = String::new();
    for (name, value) in [
        ("latest billed day", latest),
        ("not yet billed", unbilled),
        ("unsettled events", unsettled),
        ("window", window),
        ("archived", archived),
    ]
    .into_iter()
    .chain(refused)
    .chain([("last run", last_run), ("last success", success)])
    {
        let _ = writeln!(out, "{name:<18} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (number, expected) in [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("1000000", "1,000,000"),
            ("-1234567.50", "-1,234,567.50"),
            ("12345.125", "12,345.125"),
        ] {
            assert_eq!(grouped(number), expected);
        }
        let amount = Amount::round(rust_decimal::Decimal::new(-123_456_789, 2));
        assert_eq!(money(amount), "-1,234,567.89");
    }
}

//! A monthly invoice as one self-contained, printable HTML page: no script, no external asset,
//! every text escaped; the chart of daily spend is inline SVG. The same invoice always gives
//! the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;

use crate::billing::{Charge, Invoice, Statement, StatementLine, Whose};
use crate::money::{Amount, Overflow};
use crate::render::{grouped, money};

/// The page of `invoice`; a month's sum too large for an amount is an error.
pub fn page(invoice: &Invoice) -> Result<String, Overflow> {
    let title = format!("Invoice · Team {} · {}", invoice.team, invoice.month);
    let mut body = String::new();
    let viewer = match &invoice.whose {
        Whose::Team => format!("as seen by {}: the Team's billing", invoice.user),
        Whose::Member(user) => format!("as seen by {user}: only their own usage"),
    };
    let _ = writeln!(
        body,
        "<header><h1>{}</h1><p>{} · {} · amounts in {} · billing days in {} · {}</p></header>",
        esc(&title),
        esc(invoice.region.as_str()),
        esc(&format!(
            "{} to {}",
            invoice.month.first,
            invoice.month.last()
        )),
        invoice.currency,
        esc(crate::calendar::zone_name(invoice.region)),
        esc(&viewer)
    );
    body.push_str(&totals(invoice)?);
    body.push_str(&chart(&invoice.days));
    if invoice.whose == Whose::Team {
        body.push_str(&charges(&invoice.charges));
    }
    body.push_str(&usage(&invoice.days)?);
    if invoice.whose == Whose::Team {
        body.push_str(&adjustments(&invoice.days));
        body.push_str(&movements(&invoice.days));
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(&title)
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%}th,td{padding:.25em .5em;border-bottom:1px solid #ddd;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.total td{font-weight:bold;border-top:2px solid #111}\
svg{width:100%;height:auto}@media print{body{margin:0}}";

/// The month's totals: each the sum of the days' totals as the viewer sees them.
fn totals(invoice: &Invoice) -> Result<String, Overflow> {
    let sum = |pick: fn(&Statement) -> Amount| {
        Amount::checked_sum(invoice.days.iter().map(pick)).map(money)
    };
    let rows = [
        ("Subscriptions and seats", sum(|s| s.totals.subscriptions)?),
        ("Credits pool usage", sum(|s| s.totals.credits)?),
        ("Pay-as-you-go usage", sum(|s| s.totals.payg)?),
        ("Adjustments", sum(|s| s.totals.adjustments)?),
    ];
    let mut html = format!(
        "<section id=\"totals\"><h2>Totals ({})</h2><table>",
        invoice.currency
    );
    for (what, amount) in rows {
        let _ = write!(
            html,
            "<tr><td>{what}</td><td class=\"n\">{amount}</td></tr>"
        );
    }
    let _ = writeln!(
        html,
        "<tr class=\"total\"><td>Total</td><td class=\"n\" id=\"total\">{} {}</td></tr></table></section>",
        sum(|s| s.totals.total)?,
        invoice.currency
    );
    Ok(html)
}

/// Daily spend (each day's total) as bars.
fn chart(days: &[Statement]) -> String {
    const WIDTH: i64 = 620;
    const HEIGHT: i64 = 160;
    const BAR: i64 = 18;
    // Bars are drawn in whole cents; a negative day (a credit) has none.
    let cents = |s: &Statement| {
        (s.totals.total.decimal() * rust_decimal::Decimal::ONE_HUNDRED)
            .to_i64()
            .unwrap_or(i64::MAX)
            .max(0)
    };
    let max = days.iter().map(cents).max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<section id=\"chart\"><h2>Daily spend</h2><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"daily spend\">",
        HEIGHT + 20
    );
    for s in days {
        let day = i64::from(chrono::Datelike::day(&s.day));
        let height = cents(s).saturating_mul(HEIGHT) / max;
        let x = (day - 1) * (BAR + 2);
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"{BAR}\" height=\"{height}\" fill=\"#3b6ea5\"><title>{} {}</title></rect><text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{day}</text>",
            HEIGHT - height,
            s.day,
            money(s.totals.total),
            x + BAR / 2,
            HEIGHT + 12
        );
    }
    svg.push_str("</svg></section>\n");
    svg
}

/// Subscription and proration lines with their working.
fn charges(charges: &[Charge]) -> String {
    let mut html = String::from(
        "<section id=\"charges\"><h2>Subscriptions and seats</h2><table><tr><th>Day</th><th>Item</th><th>Period</th><th>Working</th><th class=\"n\">Amount</th></tr>",
    );
    for c in charges {
        let price = money(Amount::round(c.seat_price));
        // A proration billed before periods were shown names only its days.
        let (item, no_period) = match &c.line {
            StatementLine::Subscription { tier, .. } => {
                (format!("subscription {tier}"), String::new())
            }
            StatementLine::Proration { tier, days, .. } => {
                (format!("seats added {tier}"), format!("{days} days"))
            }
            _ => continue,
        };
        let period = c.line.period().unwrap_or(no_period);
        let working = c.line.working(&price).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            c.day,
            esc(&item),
            period,
            working,
            money(c.line.amount())
        );
    }
    html.push_str("</table></section>\n");
    html
}

/// Usage lines summed by member, key, model and who paid.
fn usage(days: &[Statement]) -> Result<String, Overflow> {
    #[derive(Default)]
    struct Sum {
        events: u64,
        input: i64,
        output: i64,
        amount: Amount,
    }
    let mut sums: BTreeMap<(String, String, String, &str), Sum> = BTreeMap::new();
    for line in days.iter().flat_map(|s| &s.lines) {
        let (paid_by, u) = match line {
            StatementLine::Plan(u) => ("seat", u),
            StatementLine::Credits(u) => ("Credits pool", u),
            StatementLine::Payg(u) => ("wallet", u),
            _ => continue,
        };
        let sum = sums
            .entry((u.user.clone(), u.key.clone(), u.model.clone(), paid_by))
            .or_default();
        sum.events = sum.events.saturating_add(u.events);
        sum.input = sum.input.saturating_add(u.input_tokens);
        sum.output = sum.output.saturating_add(u.output_tokens);
        sum.amount = sum.amount.checked_add(u.amount)?;
    }
    let mut html = String::from(
        "<section id=\"usage\"><h2>Usage by member, key and model</h2><table><tr><th>Member</th><th>Key</th><th>Model</th><th>Paid by</th><th class=\"n\">Requests</th><th class=\"n\">Input tokens</th><th class=\"n\">Output tokens</th><th class=\"n\">Amount</th></tr>",
    );
    for ((user, key, model, paid_by), s) in &sums {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{paid_by}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(user),
            esc(key),
            esc(model),
            grouped(&s.events.to_string()),
            grouped(&s.input.to_string()),
            grouped(&s.output.to_string()),
            money(s.amount)
        );
    }
    html.push_str("</table></section>\n");
    Ok(html)
}

/// Adjustments with their reasons.
fn adjustments(days: &[Statement]) -> String {
    let mut html = String::from(
        "<section id=\"adjustments\"><h2>Adjustments</h2><table><tr><th>Billed on</th><th>Corrects</th><th>Applies to</th><th>Reason</th><th class=\"n\">Amount</th></tr>",
    );
    for s in days {
        for line in &s.lines {
            if let StatementLine::Adjustment(a) = line {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    s.day,
                    a.corrects_day,
                    a.applies_to,
                    esc(&a.reason),
                    money(a.amount)
                );
            }
        }
    }
    html.push_str("</table></section>\n");
    html
}

/// Each day's movements of the Credits pool and the wallet (B25).
fn movements(days: &[Statement]) -> String {
    let mut html = String::from(
        "<section id=\"movements\"><h2>Credits pool and wallet</h2><table><tr><th>Day</th><th>Balance</th><th class=\"n\">Opening</th><th class=\"n\">Top-ups</th><th class=\"n\">Spend</th><th class=\"n\">Adjustments</th><th class=\"n\">Closing</th></tr>",
    );
    for s in days {
        let Some(m) = &s.movements else { continue };
        for (name, movement) in [("Credits pool", &m.credits), ("wallet", &m.wallet)] {
            let top_ups = movement
                .top_ups
                .iter()
                .map(|t| money(t.amount))
                .collect::<Vec<_>>()
                .join(" + ");
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                s.day,
                money(movement.opening),
                if top_ups.is_empty() {
                    "—".to_owned()
                } else {
                    top_ups
                },
                money(movement.spend),
                money(movement.adjustments),
                money(movement.closing)
            );
        }
    }
    html.push_str("</table></section>\n");
    html
}

/// `text` safe in HTML text and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}

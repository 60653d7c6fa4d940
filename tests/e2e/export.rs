//! `billing export` and `billing show --format csv` through the real binary: one row per
//! statement line, whose amounts add up to the statements' totals.

use std::collections::BTreeMap;

use polars::prelude::{DataType, ParquetReader, SerReader};
use rust_decimal::Decimal;

use crate::support::Env;

/// Overseas and domestic Teams with subscriptions, prorations and usage, billed through
/// 2026-04-10.
fn billed() -> Env {
    let env = Env::new();
    env.load("seats-overseas", &[]);
    env.load("domestic", &[]);
    env.bill("2026-04-10", &[]).ok();
    env
}

/// Each statement's total under `--out`, by (Team, day).
fn totals(env: &Env) -> BTreeMap<(String, String), Decimal> {
    let mut totals = BTreeMap::new();
    for day in std::fs::read_dir(env.out()).unwrap() {
        let day = day.unwrap().path();
        for file in std::fs::read_dir(&day).unwrap() {
            let file = file.unwrap().path();
            if file.file_name().unwrap() == "summary.json" {
                continue;
            }
            let statement: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let total = statement["totals"]["total"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let key = (
                statement["team"].as_str().unwrap().to_owned(),
                statement["day"].as_str().unwrap().to_owned(),
            );
            totals.insert(key, total);
        }
    }
    totals
}

/// The rows of a CSV export, each a map of column to text.
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "team",
            "day",
            "region",
            "currency",
            "kind",
            "tier",
            "user",
            "key",
            "model",
            "usage_day",
            "late",
            "events",
            "tokens",
            "seats",
            "days",
            "amount"
        ]
    );
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The amounts of `rows` summed by (Team, day).
fn summed(
    rows: impl IntoIterator<Item = ((String, String), Decimal)>,
) -> BTreeMap<(String, String), Decimal> {
    let mut sums = BTreeMap::new();
    for (key, amount) in rows {
        *sums.entry(key).or_insert(Decimal::ZERO) += amount;
    }
    sums
}

#[test]
fn b24_an_export_has_a_row_per_line_and_its_amounts_add_up_to_the_statements_totals() {
    let env = billed();
    let totals = totals(&env);
    let csv = env
        .run(&[
            "billing",
            "export",
            "--from",
            "2026-01-01",
            "--to",
            "2026-04-10",
            "--format",
            "csv",
        ])
        .ok()
        .stdout;
    let rows = csv_rows(&csv);
    let kinds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["credits", "plan", "proration", "subscription"].into(),
        "{csv}"
    );
    let proration = rows
        .iter()
        .find(|r| r["kind"] == "proration" && r["team"] == "t1" && r["day"] == "2026-02-10")
        .unwrap();
    assert_eq!(
        (
            &proration["seats"][..],
            &proration["days"][..],
            &proration["amount"][..],
            &proration["currency"][..]
        ),
        ("1", "18", "12.86", "USD")
    );
    let sums = summed(rows.iter().map(|r| {
        (
            (r["team"].clone(), r["day"].clone()),
            r["amount"].parse().unwrap(),
        )
    }));
    // A statement without lines (a day of balances only) has no row.
    let with_lines: BTreeMap<_, _> = totals
        .iter()
        .filter(|(k, _)| sums.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(sums, with_lines);
    assert!(
        totals
            .iter()
            .all(|(k, v)| sums.contains_key(k) || v.is_zero())
    );

    // Parquet: the same rows, amounts as DECIMAL(18, 2).
    let file = env.dir.path().join("export.parquet");
    env.run(&[
        "billing",
        "export",
        "--from",
        "2026-01-01",
        "--to",
        "2026-04-10",
        "--format",
        "parquet",
        "--out",
        file.to_str().unwrap(),
    ])
    .ok();
    let frame = ParquetReader::new(std::fs::File::open(&file).unwrap())
        .finish()
        .unwrap();
    assert_eq!(frame.height(), rows.len());
    let amount = frame.column("amount").unwrap();
    assert_eq!(amount.dtype(), &DataType::Decimal(18, 2));
    let text = |name: &str| -> Vec<String> {
        let column = frame.column(name).unwrap().cast(&DataType::String).unwrap();
        column
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_owned())
            .collect()
    };
    let (teams, days, amounts) = (text("team"), text("day"), text("amount"));
    let parquet = (0..frame.height()).map(|i| {
        (
            (teams[i].clone(), days[i].clone()),
            amounts[i].parse::<Decimal>().unwrap(),
        )
    });
    assert_eq!(summed(parquet), with_lines);

    // One Team, one day.
    let one = env
        .run(&[
            "billing",
            "export",
            "--from",
            "2026-02-10",
            "--to",
            "2026-02-10",
            "--team",
            "z1",
            "--format",
            "csv",
        ])
        .ok()
        .stdout;
    let rows = csv_rows(&one);
    assert_eq!(rows.len(), 2, "{one}");
    assert!(
        rows.iter()
            .all(|r| r["team"] == "z1" && r["currency"] == "CNY" && r["region"] == "domestic")
    );
}

#[test]
fn b24_a_bad_export_is_refused_with_exit_2_and_writes_nothing() {
    let env = billed();
    let file = env.dir.path().join("never.parquet");
    for args in [
        &[
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
            "--format",
            "csv",
        ][..],
        &[
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--team",
            "nobody",
            "--format",
            "csv",
        ][..],
        &[
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--format",
            "parquet",
        ][..],
        &[
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--format",
            "xml",
            "--out",
            file.to_str().unwrap(),
        ][..],
    ] {
        let mut command = vec!["billing", "export"];
        command.extend_from_slice(args);
        let out = env.run(&command);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert!(out.stderr.starts_with("error:"), "{}", out.stderr);
    }
    assert!(!file.exists());
}

#[test]
fn v2_a_readers_csv_holds_only_their_own_usage() {
    let env = Env::new();
    env.load("usage", &[]);
    env.bill("2026-05-02", &[]).ok();
    let show = |user: &str| {
        let args = [
            "--date",
            "2026-05-02",
            "--team",
            "t3",
            "--as",
            user,
            "--format",
            "csv",
        ];
        csv_rows(
            &env.run(&[&["billing", "show"][..], &args].concat())
                .ok()
                .stdout,
        )
    };
    let users: std::collections::BTreeSet<String> =
        show("own").into_iter().map(|r| r["user"].clone()).collect();
    assert!(users.len() > 1, "{users:?}");
    let rows = show("u1");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["user"] == "u1"), "{rows:?}");
}

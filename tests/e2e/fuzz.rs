//! Random bytes and structured mutations thrown at every parser of user input, and at the
//! command line: nothing panics, every refusal is an error with a message, and a refused
//! `apply` or import changes nothing stored. Repeated keys, prices whose products could
//! overflow and records that never end are refused with an error naming their line. Bounded
//! so CI stays fast.

use proptest::prelude::*;
use proptest::sample::Index;
use tokenplan::error_chain;
use tokenplan::events;
use tokenplan::prices::Prices;
use tokenplan::teams::scenario;

use crate::support::{Env, repo};

const SCENARIO: &str = include_str!("../../fixtures/demo/scenario.yaml");
const PRICES: &str = include_str!("../../fixtures/prices.yaml");
const EVENTS: &str = include_str!("../../fixtures/demo/events.csv");

/// `text` with the bytes in `range` replaced by `insert` (a structured mutation: fields
/// dropped, values swapped for hostile ones).
fn mutate(text: &str, at: usize, len: usize, insert: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % (bytes.len() + 1);
    let end = (at + len).min(bytes.len());
    bytes.splice(at..end, insert.bytes());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Values a hostile or careless user types.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("../../escape".to_owned()),
        Just("summary".to_owned()),
        Just("\u{0}".to_owned()),
        Just("79228162514264337593543950335".to_owned()),
        Just("-1".to_owned()),
        Just("9999999999999999999999".to_owned()),
        Just("caf\u{e9}".to_owned()),
        Just("{ at: x }".to_owned()),
        Just("\n- ".to_owned()),
        Just(": : :".to_owned()),
        "\\PC{0,12}",
    ]
}

/// Whether `result` is a success, or a refusal whose message names `file`.
fn refusal_names<T, E: std::error::Error>(file: &str, result: Result<T, E>) -> bool {
    match result {
        Ok(_) => true,
        Err(error) => error_chain(&error).contains(file),
    }
}

/// [`refusal_names`] for reading the events of `path`.
fn read_refusal_names(path: &std::path::Path) -> bool {
    let file = path.display().to_string();
    refusal_names(&file, events::read(path, chrono::Utc::now()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_scenario_parser_never_panics(text in "\\PC{0,400}", at in 0usize..4000, len in 0usize..40, insert in hostile()) {
        for text in [text.clone(), mutate(SCENARIO, at, len, &insert)] {
            prop_assert!(refusal_names("s.yaml", scenario::parse("s.yaml", &text)), "{text:?}");
        }
    }

    #[test]
    fn the_prices_parser_never_panics(text in "\\PC{0,400}", at in 0usize..1000, len in 0usize..20, insert in hostile()) {
        for text in [text.clone(), mutate(PRICES, at, len, &insert)] {
            prop_assert!(refusal_names("p.yaml", Prices::parse("p.yaml", &text)), "{text:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_event_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), at in 0usize..2000, len in 0usize..30, insert in hostile()) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["e.csv", "e.jsonl", "e.parquet"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            prop_assert!(read_refusal_names(&path));
        }
        let path = dir.path().join("m.csv");
        std::fs::write(&path, mutate(EVENTS, at, len, &insert)).unwrap();
        prop_assert!(read_refusal_names(&path));
        // A Parquet file cut short or with bytes flipped.
        let parquet = dir.path().join("p.parquet");
        let mut frame = polars::prelude::df!(
            "event_id" => ["a"], "ts" => ["2026-01-01T00:00:00Z"], "key_id" => ["k"],
            "model" => ["m"], "input_tokens" => [1i64], "output_tokens" => [2i64],
        ).unwrap();
        polars::prelude::ParquetWriter::new(std::fs::File::create(&parquet).unwrap()).finish(&mut frame).unwrap();
        let mut good = std::fs::read(&parquet).unwrap();
        let cut = at % good.len();
        if len % 2 == 0 { good.truncate(cut) } else { good[cut] ^= 0xff }
        std::fs::write(&parquet, &good).unwrap();
        prop_assert!(read_refusal_names(&parquet));
    }
}

/// `text` with line `at` (0-based) replaced by `edit` of it.
fn edit_line(text: &str, at: usize, edit: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| if i == at { edit(line) } else { line.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The 0-based lines of `text` that `keep` accepts.
fn lines_where(text: &str, keep: impl Fn(&str) -> bool) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| keep(line))
        .map(|(i, _)| i)
        .collect()
}

/// Whether a price list's line is a `key: value` of a block mapping.
fn is_mapping_entry(line: &str) -> bool {
    let line = line.trim_start();
    line.contains(':') && !line.starts_with('#') && !line.starts_with('-')
}

/// A price over the bound, up to what a decimal holds.
fn overflowing_price() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{7,27}",
        "[1-9][0-9]{7,20}\\.[0-9]{1,6}",
        Just("1000000.000001".to_owned()),
        Just("79228162514264337593543950335".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A mapping entry of the price list written twice (a tier, a model, a field).
    #[test]
    fn a_repeated_price_list_key_is_refused_naming_the_repeat_s_line(pick in any::<Index>()) {
        let at = *pick.get(&lines_where(PRICES, is_mapping_entry));
        let doubled = edit_line(PRICES, at, |line| format!("{line}\n{line}"));
        let error = error_chain(&Prices::parse("p.yaml", &doubled).unwrap_err());
        prop_assert!(error.contains("duplicate key"), "{error}");
        prop_assert!(error.contains(&format!("at line {} ", at + 2)), "{error}");
    }

    /// A key every step has, written twice in one step of the scenario.
    #[test]
    fn a_repeated_scenario_key_is_refused_naming_the_step_s_line(pick in any::<Index>(), key in prop_oneof![Just("at"), Just("as"), Just("do")]) {
        let at = *pick.get(&lines_where(SCENARIO, |line| line.starts_with("- {")));
        let doubled = edit_line(SCENARIO, at, |line| {
            format!("{}, {key}: x }}", line.trim_end().trim_end_matches('}').trim_end())
        });
        let error = error_chain(&scenario::parse("s.yaml", &doubled).unwrap_err());
        prop_assert!(error.contains("duplicate key"), "{error}");
        prop_assert!(error.contains(&format!("at line {} ", at + 1)), "{error}");
    }

    /// Any price of the list over the bound, where price × tokens could overflow.
    #[test]
    fn a_price_whose_products_could_overflow_is_refused_naming_its_line(pick in any::<Index>(), price in overflowing_price()) {
        let at = *pick.get(&lines_where(PRICES, |line| line.contains("USD: \"")));
        let priced = edit_line(PRICES, at, |line| {
            let start = line.find("USD: \"").unwrap() + "USD: \"".len();
            let end = start + line[start..].find('"').unwrap();
            format!("{}{price}{}", &line[..start], &line[end..])
        });
        let error = error_chain(&Prices::parse("p.yaml", &priced).unwrap_err());
        prop_assert!(error.contains("is over the highest price"), "{error}");
        prop_assert!(error.contains(&format!("at line {} ", at + 1)), "{error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// A column or a JSON key repeated, or a record that never ends, anywhere in a file.
    #[test]
    fn repeated_columns_keys_and_endless_records_are_refused_naming_the_line(
        column in any::<Index>(),
        row in any::<Index>(),
        quoted in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let refusal = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            error_chain(&events::read(&path, now).unwrap_err())
        };
        let columns: Vec<&str> = EVENTS.lines().next().unwrap().split(',').collect();
        let repeated = column.get(&columns);
        let text = edit_line(EVENTS, 0, |header| format!("{header},{repeated}"));
        let error = refusal("e.csv", &text);
        prop_assert!(error.contains(&format!("line 1: column `{repeated}` appears twice")), "{error}");

        let rows = EVENTS.lines().count() - 1;
        let at = row.index(rows) + 1;
        let jsonl: String = EVENTS.lines().skip(1).enumerate().map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let mut object: Vec<String> = columns.iter().zip(&fields).map(|(c, v)| format!("\"{c}\": \"{v}\"")).collect();
            if i + 1 == at {
                object.push(format!("\"{repeated}\": \"x\""));
            }
            format!("{{{}}}\n", object.join(", "))
        }).collect();
        let error = refusal("e.jsonl", &jsonl);
        prop_assert!(error.contains(&format!("line {at}: not JSON: duplicate key `{repeated}`")), "{error}");

        let endless = "x".repeat(events::MAX_RECORD_BYTES);
        let text = edit_line(EVENTS, at, |line| {
            if quoted { format!("{line},\"{}", endless.replace("xx", "x\n")) } else { format!("{line}{endless}") }
        });
        let error = refusal("e.csv", &text);
        prop_assert!(error.contains(&format!("line {}: longer than", at + 1)), "{error}");
    }
}

/// Table sizes, to see that a refusal stored nothing.
fn snapshot(env: &Env) -> Vec<i64> {
    [
        "users",
        "teams",
        "team_records",
        "audit_log",
        "usage_events",
        "billing_runs",
    ]
    .iter()
    .map(|table| env.rows(table))
    .collect()
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("apply".to_owned()),
        Just("events".to_owned()),
        Just("import".to_owned()),
        Just("billing".to_owned()),
        Just("run".to_owned()),
        Just("show".to_owned()),
        Just("status".to_owned()),
        Just("policy".to_owned()),
        Just("explain".to_owned()),
        Just("matrix".to_owned()),
        Just("--date".to_owned()),
        Just("--team".to_owned()),
        Just("--as".to_owned()),
        Just("--action".to_owned()),
        Just("--format".to_owned()),
        Just("--keep-going".to_owned()),
        Just("2026-11-23".to_owned()),
        Just("9999-99-99".to_owned()),
        Just("262143-12-31".to_owned()),
        // An argument can't carry a NUL byte: the OS refuses to start such a process.
        hostile().prop_filter("argv holds no NUL", |s| !s.contains('\0')),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The real binary on random arguments and on mutated scenario files: exit 0, 1 or 2 with
    /// a message, never a panic; a refused apply leaves the store as it was.
    #[test]
    fn the_command_line_never_panics_and_a_refusal_changes_nothing(
        args in proptest::collection::vec(word(), 0..6),
        at in 0usize..4000,
        len in 0usize..40,
        insert in hostile(),
    ) {
        let env = Env::new();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&refs);
        prop_assert!(matches!(out.status, 0..=2), "{args:?}: {}", out.stderr);
        prop_assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);

        let base = repo().join("fixtures/demo/scenario.yaml");
        env.run(&["apply", base.to_str().unwrap()]).ok();
        let before = snapshot(&env);
        let path = env.dir.path().join("m.yaml");
        std::fs::write(&path, mutate(SCENARIO, at, len, &insert)).unwrap();
        let out = env.run(&["apply", path.to_str().unwrap()]);
        prop_assert!(matches!(out.status, 0..=2), "{}", out.stderr);
        prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        if out.status != 0 {
            prop_assert!(out.stderr.contains("error:"), "{}", out.stderr);
            prop_assert_eq!(snapshot(&env), before, "a refused apply stored something");
        }
    }
}

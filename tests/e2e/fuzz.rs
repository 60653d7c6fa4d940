//! Random bytes and structured mutations thrown at every parser of user input, and at the
//! command line: nothing panics, every refusal is an error with a message, and a refused
//! `apply` or import changes nothing stored. Bounded so CI stays fast.

use proptest::prelude::*;
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_scenario_parser_never_panics(text in "\\PC{0,400}", at in 0usize..4000, len in 0usize..40, insert in hostile()) {
        let _ = scenario::parse("s.yaml", &text);
        let _ = scenario::parse("s.yaml", &mutate(SCENARIO, at, len, &insert));
    }

    #[test]
    fn the_prices_parser_never_panics(text in "\\PC{0,400}", at in 0usize..1000, len in 0usize..20, insert in hostile()) {
        let _ = Prices::parse("p.yaml", &text);
        let _ = Prices::parse("p.yaml", &mutate(PRICES, at, len, &insert));
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
            let _ = events::read(&path);
        }
        let path = dir.path().join("m.csv");
        std::fs::write(&path, mutate(EVENTS, at, len, &insert)).unwrap();
        let _ = events::read(&path);
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
        let _ = events::read(&parquet);
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

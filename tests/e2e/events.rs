//! `events import`: CSV, JSON Lines and Parquet; bad rows refuse the file; no event twice.

use polars::prelude::*;

use crate::support::Env;

fn count(env: &Env) -> i64 {
    env.rows("usage_events")
}

#[test]
fn csv_jsonl_and_parquet_import_and_a_second_import_stores_nothing() {
    let env = Env::new();
    env.run(&["events", "import", "--help"]).ok();
    let csv = env.dir.path().join("e.csv");
    std::fs::write(&csv, "event_id,ts,key_id,model,input_tokens,output_tokens\na,2026-01-01T00:00:00Z,k,m,1,2\nb,2026-01-01T00:00:01+08:00,k,m,3,4\n").unwrap();
    let jsonl = env.dir.path().join("e.jsonl");
    std::fs::write(&jsonl, "{\"event_id\":\"c\",\"ts\":\"2026-01-01T00:00:00Z\",\"key_id\":\"k\",\"model\":\"m\",\"input_tokens\":5,\"output_tokens\":6,\"ingested_at\":\"2026-01-01T01:00:00Z\"}\n").unwrap();
    let parquet = env.dir.path().join("e.parquet");
    let mut frame = df!(
        "event_id" => ["d", "a"],
        "ts" => ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],
        "key_id" => ["k", "k"],
        "model" => ["m", "m"],
        "input_tokens" => [7i64, 1],
        "output_tokens" => [8i64, 2],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut frame)
        .unwrap();
    let out = env
        .run(&[
            "events",
            "import",
            csv.to_str().unwrap(),
            jsonl.to_str().unwrap(),
            parquet.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout
            .contains("e.parquet: read 2, stored 1, skipped 1"),
        "{}",
        out.stdout
    );
    assert_eq!(count(&env), 4);
    env.run(&["events", "import", csv.to_str().unwrap()]).ok();
    assert_eq!(count(&env), 4, "a second import stores nothing twice");
}

#[test]
fn a_file_with_bad_rows_is_refused_whole_naming_each_line() {
    let env = Env::new();
    let csv = env.dir.path().join("bad.csv");
    std::fs::write(&csv, "event_id,ts,key_id,model,input_tokens,output_tokens\nok,2026-01-01T00:00:00Z,k,m,1,2\nx,2026-01-01T00:00:00Z,k,m,lots,2\ny,noon,k,m,1,2\n").unwrap();
    let out = env.run(&["events", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("line 3: `input_tokens` is not a whole number (`lots`)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("line 4: `ts` is not an RFC 3339 time (`noon`)"),
        "{}",
        out.stderr
    );
    assert_eq!(count(&env), 0);
    let missing = env.dir.path().join("missing.csv");
    std::fs::write(&missing, "event_id,ts\na,2026-01-01T00:00:00Z\n").unwrap();
    let out = env.run(&["events", "import", missing.to_str().unwrap()]);
    assert!(
        out.stderr
            .contains("missing column(s) `key_id`, `model`, `input_tokens`, `output_tokens`"),
        "{}",
        out.stderr
    );
    let unknown = env.dir.path().join("events.xml");
    std::fs::write(&unknown, "<x/>").unwrap();
    assert_eq!(
        env.run(&["events", "import", unknown.to_str().unwrap()])
            .status,
        2
    );
}

/// Found by `fuzz::the_event_readers_never_panic`: a Parquet file with one byte flipped made
/// polars' reader assert (`offset + length <= self.length`) and the import panic.
#[test]
fn a_corrupt_parquet_file_is_refused_with_a_message_not_a_panic() {
    let env = Env::new();
    let parquet = env.dir.path().join("e.parquet");
    let mut frame = df!(
        "event_id" => ["a"], "ts" => ["2026-01-01T00:00:00Z"], "key_id" => ["k"],
        "model" => ["m"], "input_tokens" => [1i64], "output_tokens" => [2i64],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut frame)
        .unwrap();
    let mut bytes = std::fs::read(&parquet).unwrap();
    let at = 631 % bytes.len();
    bytes[at] ^= 0xff;
    std::fs::write(&parquet, &bytes).unwrap();
    let out = env.run(&["events", "import", parquet.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.stderr.contains("e.parquet: refused"), "{}", out.stderr);
    assert_eq!(count(&env), 0);
}

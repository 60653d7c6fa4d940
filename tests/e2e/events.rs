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

const HEADER: &str = "event_id,ts,key_id,model,input_tokens,output_tokens\n";

/// `events import FILE` of `text` written to `name`: it must be refused (exit 2) with nothing
/// stored; returns stderr.
fn refused(env: &Env, name: &str, text: &[u8]) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = env.run(&["events", "import", path.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(count(env), 0, "a refused file stored events");
    out.stderr
}

#[test]
fn repeated_columns_repeated_keys_and_ragged_rows_are_refused_naming_the_line() {
    let env = Env::new();
    // A repeated column: CSV kept the first `ts`.
    let stderr = refused(
        &env,
        "columns.csv",
        b"event_id,ts,key_id,model,input_tokens,output_tokens,ts\na,2026-01-01T00:00:00Z,k,m,1,2,2026-06-01T00:00:00Z\n",
    );
    assert!(
        stderr.contains("line 1: column `ts` appears twice"),
        "{stderr}"
    );
    // A row with more or fewer fields than the header.
    let text = format!(
        "{HEADER}a,2026-01-01T00:00:00Z,k,m,1,2\nb,2026-01-01T00:00:00Z,k,m,1,2,9\nc,2026-01-01T00:00:00Z,k,m,1\n"
    );
    let stderr = refused(&env, "ragged.csv", text.as_bytes());
    assert!(
        stderr.contains("line 3: 7 field(s), but the header has 6")
            && stderr.contains("line 4: 5 field(s), but the header has 6"),
        "{stderr}"
    );
    // A repeated key: JSON Lines kept the last `input_tokens`.
    let stderr = refused(
        &env,
        "keys.jsonl",
        b"{\"event_id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"key_id\":\"k\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":2}\n{\"event_id\":\"b\",\"ts\":\"2026-01-01T00:00:00Z\",\"key_id\":\"k\",\"model\":\"m\",\"input_tokens\":900000000,\"output_tokens\":2,\"input_tokens\":1}\n",
    );
    assert!(
        stderr.contains("line 2: not JSON: duplicate key `input_tokens`"),
        "{stderr}"
    );
}

/// Found by hand: a CSV line that never ends was read into memory whole, until the import
/// aborted on allocation (exit 134).
#[test]
fn a_record_longer_than_the_bound_is_refused_naming_its_line() {
    let env = Env::new();
    let long = "x".repeat(tokenplan::events::MAX_RECORD_BYTES + 1);
    let text = format!("{HEADER}a,2026-01-01T00:00:00Z,k,m,1,2\n{long}");
    let stderr = refused(&env, "long.csv", text.as_bytes());
    assert!(
        stderr.contains("line 3: longer than 1048576 bytes"),
        "{stderr}"
    );
    // A quoted field that goes on over many short lines is one record.
    let text = format!(
        "{HEADER}\"{}",
        "x\n".repeat(tokenplan::events::MAX_RECORD_BYTES)
    );
    let stderr = refused(&env, "quoted.csv", text.as_bytes());
    assert!(
        stderr.contains("line 2: longer than 1048576 bytes"),
        "{stderr}"
    );
    let text = format!("{{\"event_id\":\"a\"}}\n{{\"event_id\":\"{long}\"}}\n");
    let stderr = refused(&env, "long.jsonl", text.as_bytes());
    assert!(
        stderr.contains("line 2: longer than 1048576 bytes"),
        "{stderr}"
    );
}

/// Found by hand: one event stamped 0001-01-01 made the first run bill 739,951 days, and an
/// event in the future was accepted.
#[test]
fn implausible_times_are_refused_naming_the_line_and_echoed_escaped() {
    let env = Env::new();
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::TimeDelta::minutes(4)).to_rfc3339();
    let text = format!(
        "{HEADER}a,0001-01-01T00:00:00Z,k,m,1,2\nb,1999-12-31T23:59:59Z,k,m,1,2\nc,{future},k,m,1,2\nd,\x1b[31m\t\x07,k,m,1,2\ne,2000-01-01T00:00:00Z,k,m,1,2\nf,{soon},k,m,1,2\n"
    );
    let stderr = refused(&env, "times.csv", text.as_bytes());
    assert!(
        stderr.contains("line 2: `ts` 0001-01-01T00:00:00+00:00 is before 2000-01-01")
            && stderr.contains("line 3: `ts` 1999-12-31T23:59:59+00:00 is before 2000-01-01")
            && stderr.contains("line 4: `ts`")
            && stderr.contains("is more than 5 minutes after the clock"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: `ts` is not an RFC 3339 time (`\\u{1b}[31m\\t\\u{7}`)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\x07'),
        "control characters reached the terminal raw: {stderr:?}"
    );
    assert!(
        !stderr.contains("line 6") && !stderr.contains("line 7"),
        "{stderr}"
    );
}

/// Found by hand: a Parquet `ts` of infinity was reported as empty.
#[test]
fn a_parquet_time_of_infinity_is_refused_saying_so() {
    let env = Env::new();
    let parquet = env.dir.path().join("e.parquet");
    let ts = Series::new("ts".into(), [i64::MAX])
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .unwrap();
    let mut frame = df!(
        "event_id" => ["a"], "key_id" => ["k"], "model" => ["m"],
        "input_tokens" => [1i64], "output_tokens" => [2i64],
    )
    .unwrap();
    frame.with_column(ts.into_column()).unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut frame)
        .unwrap();
    let out = env.run(&["events", "import", parquet.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("row 1: `ts` is not an RFC 3339 time (`infinity`)"),
        "{}",
        out.stderr
    );
    assert_eq!(count(&env), 0);
}

/// A file's name is echoed escaped too, whether the file is refused or imported.
#[test]
fn a_file_name_with_control_characters_is_echoed_escaped() {
    let env = Env::new();
    let stderr = refused(&env, "bad\x1b[31m\x07.csv", b"event_id\n");
    assert!(stderr.contains("bad\\u{1b}[31m\\u{7}.csv"), "{stderr}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\x07'),
        "{stderr:?}"
    );
    let path = env.dir.path().join("good\x1b[31m.csv");
    std::fs::write(&path, HEADER).unwrap();
    let out = env.run(&["events", "import", path.to_str().unwrap()]).ok();
    assert!(
        out.stdout.contains("good\\u{1b}[31m.csv: read 0"),
        "{}",
        out.stdout
    );
}

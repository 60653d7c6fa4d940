//! Usage events from a lake of Parquet files (`--events`) through the real binary: `billing
//! run` and a sharded night over the lake bill what `billing run` bills over the same events
//! imported into the store; a file that appears later is late usage; a settled file that
//! changes, a bad file and a row outside its partition are refused before anything is stored.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::{ParquetWriter, df};

use crate::nightly::{files, summaries};
use crate::shards::{FIRST, NIGHTS, SECOND, lines, local_stage, sharded, stored};
use crate::support::{Env, Moto, Output, scenario};

/// One event: id, UTC time (`YYYY-MM-DD HH:MM:SS`), key, model, input and output tokens.
type Event = (String, String, String, String, i64, i64);

/// The events of a scenario's CSV file.
fn csv_events(name: &str) -> Vec<Event> {
    let text = std::fs::read_to_string(scenario(&format!("{name}.csv"))).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let ts = f[1].replace('T', " ").trim_end_matches('Z').to_owned();
            let number = |i: usize| f[i].parse().unwrap();
            (
                f[0].into(),
                ts,
                f[2].into(),
                f[3].into(),
                number(4),
                number(5),
            )
        })
        .collect()
}

/// The events of the tests' SQL `VALUES` lists (`shards::FIRST`, `shards::SECOND`).
fn sql_events(values: &str) -> Vec<Event> {
    values
        .split("),")
        .map(|row| {
            let f: Vec<String> = row
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(", ")
                .map(|f| {
                    f.trim_start_matches("TIMESTAMPTZ ")
                        .trim_matches('\'')
                        .to_owned()
                })
                .collect();
            let ts = f[1].trim_end_matches("+00").to_owned();
            (
                f[0].clone(),
                ts,
                f[2].clone(),
                f[3].clone(),
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

/// The lake's files for `events` (named `day=D/NAME.parquet`, one per UTC day), as bytes by
/// name, in name order.
fn lake_files(events: &[Event], name: &str) -> BTreeMap<String, Vec<u8>> {
    let mut days: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for event in events {
        days.entry(event.1[..10].to_owned())
            .or_default()
            .push(event);
    }
    days.into_iter()
        .map(|(day, events)| {
            let column = |f: fn(&Event) -> String| events.iter().map(|e| f(e)).collect::<Vec<_>>();
            let mut frame = df!(
                "event_id" => column(|e| e.0.clone()),
                "ts" => column(|e| format!("{}Z", e.1.replace(' ', "T"))),
                "key_id" => column(|e| e.2.clone()),
                "model" => column(|e| e.3.clone()),
                "input_tokens" => events.iter().map(|e| e.4).collect::<Vec<_>>(),
                "output_tokens" => events.iter().map(|e| e.5).collect::<Vec<_>>(),
            )
            .unwrap();
            let mut bytes = Vec::new();
            ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
            (format!("day={day}/{name}.parquet"), bytes)
        })
        .collect()
}

/// Writes `files` under the directory `lake`.
fn write_lake(lake: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in files {
        let path = lake.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The first night's files (the scenarios' events and `FIRST`), and the second's (`SECOND`).
fn nights() -> [BTreeMap<String, Vec<u8>>; 2] {
    let mut first = csv_events("seats-overseas");
    first.extend(csv_events("domestic"));
    first.extend(sql_events(FIRST));
    [
        lake_files(&first, "part-0"),
        lake_files(&sql_events(SECOND), "part-1"),
    ]
}

/// A store with the scenarios' Teams and no events.
fn teams() -> Env {
    let env = Env::new();
    for name in ["seats-overseas", "domestic"] {
        let yaml = scenario(&format!("{name}.yaml"));
        env.run(&["apply", yaml.to_str().unwrap()]).ok();
    }
    env
}

fn lake_dir(env: &Env) -> String {
    env.dir.path().join("lake").display().to_string()
}

/// Both nights by `billing run` over the files imported with `events import`, in name order.
fn reference(nights: &[BTreeMap<String, Vec<u8>>; 2]) -> (Env, Vec<Vec<serde_json::Value>>) {
    let env = teams();
    let lake = lake_dir(&env);
    let mut summaries = Vec::new();
    for (files, day) in nights.iter().zip(NIGHTS) {
        write_lake(Path::new(&lake), files);
        let paths: Vec<String> = files.keys().map(|name| format!("{lake}/{name}")).collect();
        let mut args = vec!["events", "import"];
        args.extend(paths.iter().map(String::as_str));
        env.run(&args).ok();
        summaries.push(lines(&env.bill(day, &[]).ok()));
    }
    (env, summaries)
}

#[track_caller]
fn assert_same(
    env: &Env,
    nights: &[Vec<serde_json::Value>],
    reference: &(Env, Vec<Vec<serde_json::Value>>),
) {
    assert_eq!(nights, reference.1);
    assert_eq!(files(&env.out()), files(&reference.0.out()));
    assert_eq!(stored(env), stored(&reference.0));
}

#[test]
fn b23_a_night_over_a_lake_bills_what_a_night_over_the_store_bills_and_a_later_file_is_late() {
    let nights = nights();
    let reference = reference(&nights);
    assert_eq!(
        reference.1[1]
            .iter()
            .map(|s| s["late"].as_u64().unwrap())
            .sum::<u64>(),
        1,
        "the second night bills a late event"
    );

    // `billing run --events DIR`.
    let env = teams();
    let lake = lake_dir(&env);
    let mut billed = Vec::new();
    for (files, day) in nights.iter().zip(NIGHTS) {
        write_lake(Path::new(&lake), files);
        let out = env.bill(day, &["--events", &lake]).ok();
        assert!(
            out.stderr
                .contains(&format!("took {} new file(s)", files.len())),
            "{}",
            out.stderr
        );
        billed.push(lines(&out));
    }
    assert_same(&env, &billed, &reference);
    assert_eq!(
        env.rows("lake_files"),
        (nights[0].len() + nights[1].len()) as i64
    );
    // Billed again, the lake is taken from no more.
    let again = env.bill(NIGHTS[1], &["--events", &lake]).ok();
    assert!(
        again.stderr.contains("took 0 new file(s)"),
        "{}",
        again.stderr
    );

    // Plan, three shards and commit over the same lake.
    let env = teams();
    let (lake, stage) = (lake_dir(&env), local_stage(&env));
    let mut billed = Vec::new();
    for (files, day) in nights.iter().zip(NIGHTS) {
        write_lake(Path::new(&lake), files);
        billed.push(lines(&sharded(
            &env,
            day,
            (3, &["--events", &lake]),
            &stage,
            &[],
        )));
    }
    assert_same(&env, &billed, &reference);
}

#[test]
fn b23_a_night_over_a_lake_on_s3_bills_what_a_night_over_the_store_bills() {
    let Some(moto) = Moto::start() else {
        return;
    };
    moto.create_bucket("lake");
    moto.create_bucket("stage");
    let vars = moto.env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let nights = nights();
    let reference = reference(&nights);
    let env = teams();
    let mut billed = Vec::new();
    for (files, day) in nights.iter().zip(NIGHTS) {
        for (name, bytes) in files {
            moto.put("lake", &format!("events/{name}"), bytes);
        }
        let plan = ["--events", "s3://lake/events"];
        billed.push(lines(&sharded(
            &env,
            day,
            (2, &plan),
            "s3://stage/night",
            &vars,
        )));
    }
    assert_same(&env, &billed, &reference);
}

/// A store billed through the first night over its lake.
fn first_night() -> (Env, String, BTreeMap<String, Vec<u8>>) {
    let [first, _] = nights();
    let env = teams();
    let lake = lake_dir(&env);
    write_lake(Path::new(&lake), &first);
    env.bill(NIGHTS[0], &["--events", &lake]).ok();
    (env, lake, first)
}

/// A night over the lake that is refused with `status`, naming `file` and saying `what`, and
/// stores nothing.
#[track_caller]
fn assert_refused(env: &Env, lake: &str, status: i32, file: &str, what: &str) -> Output {
    let (events, runs) = (env.rows("usage_events"), env.rows("billing_runs"));
    let out = env.bill(NIGHTS[1], &["--events", lake]);
    assert_eq!(out.status, status, "{}", out.stderr);
    assert!(
        out.stderr.contains(file) && out.stderr.contains(what),
        "{}",
        out.stderr
    );
    assert!(summaries(&out.stdout).is_empty());
    assert_eq!(
        (env.rows("usage_events"), env.rows("billing_runs")),
        (events, runs)
    );
    out
}

#[test]
fn b23_a_settled_lake_file_that_changes_is_an_error_and_nothing_is_billed() {
    let (env, lake, first) = first_night();
    let (name, bytes) = first.iter().next().unwrap();
    let mut changed = bytes.clone();
    changed.extend_from_slice(b"\0");
    std::fs::write(Path::new(&lake).join(name), changed).unwrap();
    assert_refused(&env, &lake, 1, name, "changed after its events were taken");
}

#[test]
fn b23_a_bad_lake_file_is_refused_by_name_before_anything_is_stored() {
    let (env, lake, _) = first_night();
    // A file with a column missing.
    let mut frame = df!("event_id" => ["z-1"], "ts" => ["2026-02-13T10:00:00Z"]).unwrap();
    let dir = Path::new(&lake).join("day=2026-02-13");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.parquet");
    ParquetWriter::new(std::fs::File::create(&bad).unwrap())
        .finish(&mut frame)
        .unwrap();
    // And a good one beside it: nothing of the lake is taken.
    let good = lake_files(&sql_events(SECOND), "good");
    write_lake(Path::new(&lake), &good);
    assert_refused(
        &env,
        &lake,
        2,
        "day=2026-02-13/bad.parquet",
        "missing column",
    );
    std::fs::remove_file(&bad).unwrap();

    // A row of another day than its partition's.
    let misplaced = lake_files(&sql_events(SECOND)[..1], "x");
    let (name, bytes) = misplaced.into_iter().next().unwrap();
    let path = Path::new(&lake).join(name.replace("day=2026-02-01", "day=2026-02-03"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    assert_refused(
        &env,
        &lake,
        2,
        "day=2026-02-03/x.parquet",
        "not of the partition's 2026-02-03",
    );
    std::fs::remove_file(&path).unwrap();
    env.bill(NIGHTS[1], &["--events", &lake]).ok();
}

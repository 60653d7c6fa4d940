//! `billing archive` (B22) as an operator meets it: old days' events leave the store for Parquet
//! files and stay reproducible (B15), a later night bills as before, `--verify` names a day
//! whose file is missing or changed, a location that can't be written deletes nothing, and an
//! archive killed at any stage loses and doubles nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, SerReader};

use crate::nightly::{files, kill_at_log, status_json, summaries};
use crate::support::{Env, Moto, Output};

/// `billing archive --to DIR` (or other arguments after `archive`).
fn archive(env: &Env, args: &[&str]) -> Output {
    env.run(&[&["billing", "archive"], args].concat())
}

fn archive_dir(env: &Env) -> PathBuf {
    env.dir.path().join("archive")
}

/// The files under `dir`, relative to it, sorted.
fn parquet_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(days) = std::fs::read_dir(dir) else {
        return found;
    };
    for day in days {
        let day = day.unwrap().path();
        if !day.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&day).unwrap() {
            let file = file.unwrap().path();
            found.push(file.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    found.sort();
    found
}

/// How many times each event id is in the Parquet file `path`.
fn ids_in_file(path: &Path, ids: &mut BTreeMap<String, u32>) {
    let frame = ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap();
    for id in frame.column("event_id").unwrap().str().unwrap().iter() {
        *ids.entry(id.unwrap().to_owned()).or_default() += 1;
    }
}

/// The rows of `sql` on the store, each read by `row`.
fn query<T>(
    env: &Env,
    sql: &str,
    row: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Vec<T> {
    let conn = duckdb::Connection::open(env.db()).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], row)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// How many times each event id is in the store.
fn ids_in_store(env: &Env) -> BTreeMap<String, u32> {
    query(
        env,
        "SELECT event_id, count(*)::INTEGER FROM usage_events GROUP BY ALL",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .into_iter()
    .collect()
}

/// The files the store records (location/file).
fn recorded(env: &Env) -> Vec<String> {
    query(
        env,
        "SELECT location || '/' || file FROM archived_files ORDER BY ALL",
        |r| r.get(0),
    )
}

/// How many times each event id is in the store and the files it records together.
fn ids_in_store_and_archive(env: &Env) -> BTreeMap<String, u32> {
    let mut ids = ids_in_store(env);
    for file in recorded(env) {
        ids_in_file(Path::new(&file), &mut ids);
    }
    ids
}

/// The usage scenario (events of 2026-05-02) billed through 2026-06-10: 2026-05-02 is the one
/// UTC day with events more than 35 days (plus one) before it.
fn usage_billed() -> Env {
    let env = Env::new();
    env.load("usage", &[]);
    env.bill("2026-06-10", &[]).ok();
    env
}

#[test]
fn b22_old_days_leave_for_parquet_files_and_verify_names_a_missing_or_changed_day() {
    let env = usage_billed();
    let before = ids_in_store(&env);
    let dir = archive_dir(&env);
    let out = archive(&env, &["--to", dir.to_str().unwrap()]).ok();
    let lines = summaries(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let file = dir.join("day=2026-05-02/events-0.parquet");
    assert_eq!(lines[0]["day"], "2026-05-02");
    assert_eq!(lines[0]["rows"], 6);
    assert_eq!(lines[0]["file"], file.display().to_string());
    assert_eq!(lines[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(env.rows("usage_events"), 0);
    assert_eq!(ids_in_store_and_archive(&env), before);
    // The store says what it holds, and its window.
    let status = status_json(&env, &[]);
    assert_eq!(status["window"]["days"], 35);
    assert_eq!(status["window"]["fixed_on"], "2026-05-01");
    assert_eq!(status["archive"]["days"], 1);
    assert_eq!(status["archive"]["events"], 6);
    let table = env.run(&["billing", "status"]).ok().stdout;
    assert!(
        table.contains("window             35 days (fixed on 2026-05-01)")
            && table
                .contains("archived           1 day(s) from 2026-05-02 to 2026-05-02, 6 events"),
        "{table}"
    );
    // Nothing more to move: a second run archives nothing.
    let again = archive(&env, &["--to", dir.to_str().unwrap()]).ok();
    assert!(again.stdout.is_empty(), "{}", again.stdout);
    assert_eq!(parquet_files(&dir), ["day=2026-05-02/events-0.parquet"]);

    let verified = archive(&env, &["--verify"]).ok();
    assert_eq!(summaries(&verified.stdout).len(), 1);
    let bytes = std::fs::read(&file).unwrap();
    let mut changed = bytes.clone();
    changed.push(0);
    std::fs::write(&file, &changed).unwrap();
    let verified = archive(&env, &["--verify"]);
    assert_eq!(verified.status, 1, "{}", verified.stderr);
    assert!(
        verified.stderr.contains("2026-05-02") && verified.stderr.contains("changed"),
        "{}",
        verified.stderr
    );
    std::fs::remove_file(&file).unwrap();
    let verified = archive(&env, &["--verify"]);
    assert_eq!(verified.status, 1, "{}", verified.stderr);
    assert!(
        verified.stderr.contains("2026-05-02") && verified.stderr.contains("missing"),
        "{}",
        verified.stderr
    );
    // The archive moved elsewhere verifies there.
    let moved = env.dir.path().join("moved");
    std::fs::create_dir_all(moved.join("day=2026-05-02")).unwrap();
    std::fs::write(moved.join("day=2026-05-02/events-0.parquet"), &bytes).unwrap();
    archive(&env, &["--verify", "--to", moved.to_str().unwrap()]).ok();
}

#[test]
fn b22_b15_an_archived_day_is_reproduced_byte_for_byte_and_a_later_night_bills_as_before() {
    let late = "event_id,ts,key_id,model,input_tokens,output_tokens\nu-e7,2026-05-02T23:00:00Z,tp:t3:u1,MiniMax-M2,1000000,0\n";
    let reference = usage_billed();
    let env = usage_billed();
    let dir = archive_dir(&env);
    archive(&env, &["--to", dir.to_str().unwrap()]).ok();
    let billed = files(&env.out());

    let again = env.dir.path().join("again");
    let run = env
        .run(&[
            "billing",
            "run",
            "--date",
            "2026-05-02",
            "--out",
            again.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(summaries(&run.stdout)[0]["outcome"], "reproduced");
    let day = |files: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        files
            .iter()
            .filter(|(name, _)| name.starts_with("2026-05-02"))
            .map(|(name, text)| (name.clone(), text.clone()))
            .collect()
    };
    assert_eq!(day(&files(&again)), day(&billed));

    // A late event of the archived day arrives: the next night settles it as it would have
    // (an archived day is older than the window, so the event is too late, B21).
    for env in [&reference, &env] {
        let path = env.write("late.csv", late);
        env.run(&["events", "import", &path]).ok();
        let run = env.bill("2026-06-11", &[]).ok();
        let days = summaries(&run.stdout);
        assert_eq!(days[0]["quarantined"]["too_late"], 1, "{}", run.stdout);
    }
    let next = |env: &Env| -> BTreeMap<String, String> {
        files(&env.out())
            .into_iter()
            .filter(|(name, _)| name.starts_with("2026-06-11"))
            .collect()
    };
    assert_eq!(next(&env), next(&reference));
}

#[test]
fn b22_a_utc_day_leaves_only_once_its_events_usage_days_are_all_beyond_the_window() {
    // d-e1 is at 2026-01-14T23:30Z: usage day 2026-01-15 in its domestic Team's zone.
    let env = Env::new();
    env.load("domestic", &[]);
    let dir = archive_dir(&env);
    env.bill("2026-02-19", &[]).ok();
    let out = archive(&env, &["--to", dir.to_str().unwrap()]).ok();
    assert!(
        out.stdout.is_empty(),
        "35 days after its usage day: {}",
        out.stdout
    );
    assert_eq!(env.rows("usage_events WHERE event_id = 'd-e1'"), 1);
    env.bill("2026-02-20", &[]).ok();
    let out = archive(&env, &["--to", dir.to_str().unwrap()]).ok();
    let lines = summaries(&out.stdout);
    assert_eq!(lines.len(), 1, "36 days after it: {}", out.stdout);
    assert_eq!(lines[0]["day"], "2026-01-14");
    assert_eq!(env.rows("usage_events WHERE event_id = 'd-e1'"), 0);
    assert_eq!(env.rows("usage_events WHERE event_id = 'd-e2'"), 1);
}

#[test]
fn b22_a_location_that_cannot_be_written_fails_before_anything_is_deleted() {
    let env = usage_billed();
    // A regular file where a directory should be: nothing can be made under it, even by root.
    let blocked = env.dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let to = blocked.join("archive");
    for (to, names) in [
        (to.to_str().unwrap(), to.display().to_string()),
        ("gs://bucket/prefix", "gs://bucket/prefix".to_owned()),
    ] {
        let out = archive(&env, &["--to", to]);
        assert_eq!(out.status, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("`{names}`")) && out.stderr.contains("hint:"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert_eq!(env.rows("usage_events"), 6);
        assert_eq!(env.rows("archived_files"), 0);
    }
}

/// A generated store (events of 2026-01-01 to 2026-01-04) billed through 2026-02-09: the
/// events of 2026-01-01 to 2026-01-03 may leave.
fn generated_store() -> Env {
    let env = Env::new();
    env.run(&[
        "generate",
        "--teams",
        "200",
        "--members",
        "3",
        "--days",
        "4",
        "--events",
        "120000",
        "--last-day",
        "2026-01-04",
    ])
    .ok();
    env.bill("2026-02-09", &[]).ok();
    env
}

#[test]
fn b22_an_archive_killed_at_each_stage_loses_and_doubles_nothing_and_the_next_run_completes_it() {
    let reference = generated_store();
    let everything = ids_in_store(&reference);
    for stage in ["written", "verified", "committing", "committed"] {
        let env = Env::new();
        std::fs::copy(reference.db(), env.db()).unwrap();
        let dir = archive_dir(&env);
        let args = ["billing", "archive", "--to", dir.to_str().unwrap()];
        assert!(
            kill_at_log(&env, &args, stage),
            "the archive ended before `{stage}`"
        );
        assert_eq!(ids_in_store_and_archive(&env), everything, "{stage}");
        match stage {
            // A file is written before it is recorded: the next run writes it again.
            "written" | "verified" => assert!(!parquet_files(&dir).is_empty(), "{stage}"),
            "committed" => assert_eq!(recorded(&env).len(), 3, "{stage}"),
            _ => {}
        }
        archive(&env, &["--to", dir.to_str().unwrap()]).ok();
        assert_eq!(ids_in_store_and_archive(&env), everything, "{stage}");
        let recorded = recorded(&env);
        assert_eq!(recorded.len(), 3, "{stage}");
        let on_disk: Vec<String> = parquet_files(&dir)
            .iter()
            .map(|f| dir.join(f).display().to_string())
            .collect();
        assert_eq!(on_disk, recorded, "{stage}: no file left over");
        let verified = archive(&env, &["--verify"]).ok();
        assert_eq!(summaries(&verified.stdout).len(), 3, "{stage}");
        assert_eq!(
            env.rows("usage_events WHERE ts < TIMESTAMPTZ '2026-01-04 00:00:00+00'"),
            0
        );
        assert!(env.rows("usage_events") > 0, "2026-01-04 stays");
    }
}

#[test]
fn b22_old_days_leave_for_s3_and_verify_names_a_day_whose_object_is_missing() {
    let Some(moto) = Moto::start() else {
        return;
    };
    moto.create_bucket("archive");
    let env = usage_billed();
    let before = ids_in_store(&env);
    let vars = moto.env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |args: &[&str]| env.run_with(&[&["billing", "archive"], args].concat(), &vars);
    let out = run(&["--to", "s3://archive/tokenplan/"]).ok();
    let lines = summaries(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert_eq!(
        lines[0]["file"],
        "s3://archive/tokenplan/day=2026-05-02/events-0.parquet"
    );
    assert_eq!(lines[0]["rows"], 6);
    assert_eq!(env.rows("usage_events"), 0);
    assert_eq!(env.rows("archived_files"), 1);
    run(&["--verify"]).ok();
    assert_eq!(before.len(), 6);

    // Looked for where it is not, the day's object is missing.
    let verified = run(&["--verify", "--to", "s3://archive/elsewhere"]);
    assert_eq!(verified.status, 1, "{}", verified.stderr);
    assert!(
        verified.stderr.contains("2026-05-02") && verified.stderr.contains("missing"),
        "{}",
        verified.stderr
    );
    // A bucket that does not exist can't be written: nothing happens.
    let env = usage_billed();
    let out = env.run_with(
        &[
            "billing",
            "archive",
            "--to",
            "s3://no-such-bucket/tokenplan",
        ],
        &vars,
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`s3://no-such-bucket/tokenplan`"),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("usage_events"), 6);
}

//! The nightly job as an operator meets it: missed nights caught up (B18), closed days (B19),
//! days that have not ended (B20), and what each run prints.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Env, scenario};

/// Every file under `dir`'s day directories by relative path; summaries without their `duration_ms`, the one
/// field that measures the run rather than the day.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for day in std::fs::read_dir(dir).unwrap() {
        let day = day.unwrap().path();
        if day.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue; // what an interrupted run left; the next run removes it
        }
        for file in std::fs::read_dir(&day).unwrap() {
            let file = file.unwrap().path();
            let mut text = std::fs::read_to_string(&file).unwrap();
            if file.ends_with("summary.json") {
                let mut summary: serde_json::Value = serde_json::from_str(&text).unwrap();
                summary.as_object_mut().unwrap().remove("duration_ms");
                text = summary.to_string();
            }
            files.insert(file.strip_prefix(dir).unwrap().display().to_string(), text);
        }
    }
    files
}

/// The summary lines a run printed, as JSON.
fn summaries(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn load_both(env: &Env) {
    env.load("seats-overseas", &[]);
    env.load("domestic", &[]);
}

const LATE: &str = "event_id,ts,key_id,model,input_tokens,output_tokens\nlate-1,2026-01-25T10:00:00Z,tp:z1:mei,MiniMax-M2,100,100\n";

#[test]
fn b18_missed_nights_are_billed_by_one_run_exactly_as_night_by_night() {
    let nightly = Env::new();
    let caught_up = Env::new();
    for env in [&nightly, &caught_up] {
        load_both(env);
        // The first run on a store with history bills from its first day (01-01).
        let first = env.bill("2026-01-31", &[]).ok();
        let days = summaries(&first.stdout);
        assert_eq!(days.len(), 31, "{}", first.stdout);
        assert_eq!(days[0]["day"], "2026-01-01");
        assert!(days.iter().all(|d| d["outcome"] == "billed"));
        // An event of a billed day arrives during the gap: late on the next day billed (B14).
        let late = env.dir.path().join("late.csv");
        std::fs::write(&late, LATE).unwrap();
        env.run(&["events", "import", late.to_str().unwrap()]).ok();
    }
    // 02-01 to 04-01: z1's canceled tier ending and a new one bought (02-10), seats added
    // (02-10, 02-20, 03-05, 03-25), t1's renewals (02-28, 03-31, the removal of 03-20 applied).
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    while day <= last {
        let run = nightly.bill(&day.to_string(), &[]).ok();
        assert_eq!(summaries(&run.stdout).len(), 1);
        day = day.succ_opt().unwrap();
    }
    let run = caught_up.bill("2026-04-01", &[]).ok();
    let days = summaries(&run.stdout);
    assert_eq!(days.len(), 60);
    assert_eq!(
        (days[0]["day"].as_str(), days[0]["late"].as_u64()),
        (Some("2026-02-01"), Some(1))
    );
    let caught_up_files = files(&caught_up.out());
    assert_eq!(files(&nightly.out()), caught_up_files);
    for statement in [
        "2026-02-10/z1.json",
        "2026-02-28/t1.json",
        "2026-03-31/t1.json",
        "2026-04-01/t1.json",
    ] {
        assert!(caught_up_files.contains_key(statement), "{statement}");
    }

    // A billed day is only reproduced, byte for byte (B15).
    let before = std::fs::read(caught_up.out().join("2026-02-10/z1.json")).unwrap();
    let again = caught_up.bill("2026-02-10", &[]).ok();
    let days = summaries(&again.stdout);
    assert_eq!(
        (days.len(), days[0]["outcome"].as_str()),
        (1, Some("reproduced"))
    );
    assert_eq!(
        std::fs::read(caught_up.out().join("2026-02-10/z1.json")).unwrap(),
        before
    );
}

#[test]
fn b19_an_operation_dated_inside_a_billed_day_is_refused() {
    let env = Env::new();
    load_both(&env);
    env.bill("2026-04-15", &[]).ok();
    let step = |at: &str, team: &str, who: &str| {
        let path = env.dir.path().join("late.yaml");
        std::fs::write(
            &path,
            format!(
                "- {{ at: '{at}', as: {who}, do: top_up_credits, team: {team}, amount: '5' }}\n"
            ),
        )
        .unwrap();
        env.run(&["apply", path.to_str().unwrap()])
    };
    let out = step("2026-04-15T12:00:00Z", "t1", "own");
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("step 1")
            && out
                .stderr
                .contains("2026-04-15, which is billed and closed (rule B19)")
            && out.stderr.contains("2026-04-16 00:00:00 UTC"),
        "{}",
        out.stderr
    );
    // The domestic day 04-15 ended at 16:00 UTC: 17:00 UTC is 04-16 there, and open.
    let out = step("2026-04-15T15:59:59Z", "z1", "li");
    assert_eq!(out.status, 2, "{}", out.stderr);
    step("2026-04-15T17:00:00Z", "z1", "li").ok();
    step("2026-04-16T00:00:00Z", "t1", "own").ok();
}

#[test]
fn b20_a_day_that_has_not_ended_everywhere_is_refused_and_nothing_is_billed() {
    let env = Env::new();
    env.load("usage", &[]);
    // Today (or, in the last hour before midnight UTC, tomorrow): a day that has not ended.
    let today = (chrono::Utc::now() + chrono::Duration::hours(1))
        .date_naive()
        .to_string();
    for day in ["2099-01-01", today.as_str()] {
        let out = env.bill(day, &[]);
        assert_eq!(out.status, 2, "{day}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("has not ended in every region's billing zone")
                && out.stderr.contains("rule B20"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(env.rows("billing_runs"), 0);
}

#[test]
fn b18_a_day_after_a_gap_can_only_be_billed_with_the_days_before_it() {
    // Through the library: run_day refuses to skip a day, even when asked directly.
    let env = Env::new();
    env.load("usage", &[]);
    let mut store = tokenplan::store::Store::open(&env.db()).unwrap();
    let prices =
        tokenplan::prices::Prices::from_file(&scenario("small-quota-prices.yaml")).unwrap();
    let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
    let hidden = indicatif::ProgressBar::hidden();
    let err = tokenplan::billing::run_day(
        &mut store,
        &prices,
        day("2026-05-03"),
        chrono::Utc::now(),
        None,
        &hidden,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("can't be billed before") && err.contains("rule B18"),
        "{err}"
    );
}

#[test]
fn metrics_are_a_prometheus_text_file_and_status_says_what_is_left_to_bill() {
    let env = Env::new();
    env.load("usage", &[]);
    let metrics = env.dir.path().join("tokenplan.prom");
    let metrics_arg = ["--metrics", metrics.to_str().unwrap()];
    env.bill("2026-05-02", &metrics_arg).ok();
    let text = std::fs::read_to_string(&metrics).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == format!("tokenplan_billing_{name}")
                    && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                ref other => panic!("{name} is not a gauge: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{text}"))
    };
    assert_eq!(value("last_exit_status", None), 0.0);
    assert_eq!(value("days", Some(("outcome", "billed"))), 2.0);
    assert_eq!(value("events", Some(("outcome", "billed"))), 5.0);
    assert_eq!(
        value("quarantined_events", Some(("reason", "key_deleted"))),
        1.0
    );
    assert!(value("last_success_timestamp_seconds", None) > 1.7e9);
    assert!(value("total", Some(("currency", "USD"))) > 0.0);
    // Every sample line has a HELP and TYPE above it (the text format's rules).
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{line}");
    }

    let status = env.run(&["billing", "status", "--format", "json"]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["latest_billed_day"], "2026-05-02");
    assert_eq!(status["last_run"]["exit_status"], 0);
    assert!(
        status["unbilled_days"].as_array().unwrap().len() > 100,
        "every day from 05-03 to yesterday"
    );
    assert_eq!(status["unsettled_events"]["count"], 0);
    // A late event shows as unsettled and late until the next run.
    env.sql(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
         VALUES ('late-1', TIMESTAMPTZ '2026-05-02 10:00:00+00', 'k3', 'MiniMax-M2', 1, 1)",
    );
    let table = env.run(&["billing", "status"]).ok();
    assert!(
        table
            .stdout
            .contains("unsettled events   1 (oldest usage day 2026-05-02; 1 late)"),
        "{}",
        table.stdout
    );

    // A failed run is recorded with its exit status, and the last success stays.
    let failed = env.bill("2099-01-01", &metrics_arg);
    assert_eq!(failed.status, 2);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("tokenplan_billing_last_exit_status 2"),
        "{text}"
    );
    assert!(
        text.contains("tokenplan_billing_last_success_timestamp_seconds "),
        "{text}"
    );
}

#[test]
fn a_busy_store_is_waited_for_then_refused_with_75_having_changed_nothing() {
    let env = Env::new();
    env.load("usage", &[]);
    let csv = env.dir.path().join("e.csv");
    std::fs::write(&csv, "event_id,ts,key_id,model,input_tokens,output_tokens\nw-1,2026-05-02T10:00:00Z,k3,MiniMax-M2,1,1\n").unwrap();
    let csv = csv.to_str().unwrap();
    let holder = duckdb::Connection::open(env.db()).unwrap();
    let busy = env.run(&["--wait", "1", "events", "import", csv]);
    assert_eq!(busy.status, 75, "{}", busy.stderr);
    assert!(
        busy.stderr.contains("waiting up to 1s") && busy.stderr.contains("try again later"),
        "{}",
        busy.stderr
    );
    // With a longer wait, the import goes through once the holder lets go.
    let child = env.spawn(&["--wait", "60", "events", "import", csv]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let before: i64 = holder
        .query_row("SELECT count(*) FROM usage_events", [], |r| r.get(0))
        .unwrap();
    drop(holder);
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(env.rows("usage_events"), before + 1);
}

#[test]
fn a_run_an_import_and_an_apply_started_together_lose_nothing() {
    let env = Env::new();
    env.load("usage", &[]);
    let csv = env.dir.path().join("e.csv");
    std::fs::write(&csv, "event_id,ts,key_id,model,input_tokens,output_tokens\nc-1,2026-05-02T10:00:00Z,k3,MiniMax-M2,1,1\nc-2,2026-05-03T10:00:00Z,k3,MiniMax-M2,1,1\n").unwrap();
    let yaml = env.dir.path().join("s.yaml");
    std::fs::write(
        &yaml,
        "- { at: '2026-05-04T10:00:00Z', as: own, do: top_up_wallet, team: t3, amount: '1' }\n",
    )
    .unwrap();
    let spawn = |args: &[&str]| env.spawn(&[&["--wait", "120"], args].concat());
    let children = [
        spawn(&["billing", "run", "--date", "2026-05-03"]),
        spawn(&["events", "import", csv.to_str().unwrap()]),
        spawn(&["apply", yaml.to_str().unwrap()]),
    ];
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Whatever the order, every event is settled exactly once by the days through 05-04.
    let run = env.bill("2026-05-04", &[]).ok();
    let stored = env.rows("usage_events");
    let conn = duckdb::Connection::open(env.db()).unwrap();
    let read: i64 = conn
        .prepare("SELECT summary FROM billing_runs")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(&s.unwrap()).unwrap()["events_read"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(stored, read, "{}", run.stdout);
    drop(conn);
    assert_eq!(
        env.rows("team_records WHERE operation = 'top_up_wallet' AND occurred_at = TIMESTAMPTZ '2026-05-04 10:00:00+00'"),
        1
    );
}

#[test]
fn the_documented_nightly_unit_imports_the_spool_then_bills_while_another_import_runs() {
    let env = Env::new();
    env.load("usage", &[]);
    let spool = env.dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let event = |id: &str, ts: &str| {
        format!(
            "{{\"event_id\":\"{id}\",\"ts\":\"{ts}\",\"key_id\":\"k3\",\"model\":\"MiniMax-M2\",\"input_tokens\":1,\"output_tokens\":1}}\n"
        )
    };
    std::fs::write(spool.join("a.jsonl"), event("s-1", "2026-05-02T10:00:00Z")).unwrap();
    std::fs::write(spool.join("bad.jsonl"), "{\"event_id\":\"s-2\"}\n").unwrap();
    std::fs::write(
        spool.join("partial.jsonl.tmp"),
        event("s-3", "2026-05-02T10:00:00Z"),
    )
    .unwrap();
    let other = env.dir.path().join("other.jsonl");
    std::fs::write(&other, event("s-4", "2026-05-03T10:00:00Z")).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tokenplan"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let import = env.spawn(&["events", "import", other.to_str().unwrap()]);
    let nightly = std::process::Command::new(crate::support::repo().join("jobs/nightly.sh"))
        .env("PATH", &path)
        .env("TOKENPLAN_DB", env.db())
        .env("TOKENPLAN_SPOOL", &spool)
        .env("TOKENPLAN_OUT", env.out())
        .env("TOKENPLAN_METRICS", env.dir.path().join("m.prom"))
        .output()
        .unwrap();
    let import = import.wait_with_output().unwrap();
    assert_eq!(
        import.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(
        nightly.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&nightly.stderr)
    );
    assert!(spool.join("imported/a.jsonl").exists());
    assert!(spool.join("refused/bad.jsonl").exists());
    assert!(
        spool.join("partial.jsonl.tmp").exists(),
        "an unfinished file waits"
    );
    let days = summaries(&String::from_utf8_lossy(&nightly.stdout));
    assert!(days.len() > 100, "every day through yesterday");
    assert!(env.dir.path().join("m.prom").exists());
}

/// A generated store whose days before `KILL_DAY` are billed.
fn generated(events: u64) -> Env {
    let env = Env::new();
    env.run(&[
        "generate",
        "--teams",
        "300",
        "--members",
        "5",
        "--days",
        "2",
        "--events",
        &events.to_string(),
        "--last-day",
        KILL_DAY,
    ])
    .ok();
    env.run(&[
        "billing",
        "run",
        "--date",
        "2026-11-22",
        "--out",
        env.out().to_str().unwrap(),
    ])
    .ok();
    env
}

const KILL_DAY: &str = "2026-11-23";

/// Starts `billing run --date KILL_DAY` and kills it with SIGKILL at the first log line that
/// contains `stage`; whether the line came before the run ended.
fn kill_at(env: &Env, stage: &str) -> bool {
    use std::io::BufRead as _;
    let out = env.out();
    let args = [
        "billing",
        "run",
        "--date",
        KILL_DAY,
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = env
        .command(&args, &[("TOKENPLAN_LOG", "tokenplan=debug")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().contains(stage) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
    }
    child.wait().unwrap();
    false
}

#[test]
fn b13_b15_a_run_killed_at_any_stage_leaves_days_whole_and_the_next_run_is_uninterrupted() {
    let events = 400_000;
    let reference = generated(events);
    reference.bill(KILL_DAY, &[]).ok();
    let expected = files(&reference.out());
    for stage in [
        "copied the events to settle",
        "reduced a chunk",
        "committing",
        "writing statement files",
    ] {
        let env = generated(events);
        assert!(kill_at(&env, stage), "the run ended before `{stage}`");
        // Killed: the day is either not billed at all, or billed whole.
        let statements = env.rows(&format!("statements WHERE day = DATE '{KILL_DAY}'"));
        let runs = env.rows(&format!("billing_runs WHERE day = DATE '{KILL_DAY}'"));
        let reference_statements = expected
            .keys()
            .filter(|f| f.starts_with(KILL_DAY) && !f.ends_with("summary.json"))
            .count() as i64;
        assert!(
            (runs, statements) == (0, 0) || (runs, statements) == (1, reference_statements),
            "{stage}: {runs} run(s), {statements} statement(s)"
        );
        if env.out().join(KILL_DAY).exists() {
            let day = files(&env.out());
            assert_eq!(day, expected, "{stage}: a day directory is whole or absent");
        }
        // The next run finishes the job: the bytes of an uninterrupted run, nothing left over.
        env.bill(KILL_DAY, &[]).ok();
        assert_eq!(files(&env.out()), expected, "{stage}");
        let hidden: Vec<_> = std::fs::read_dir(env.out())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{stage}: left {hidden:?}");
    }
}

#[test]
fn files_that_cannot_be_written_exit_3_with_the_day_billed_and_the_next_run_writes_them() {
    let env = Env::new();
    env.load("usage", &[]);
    // A regular file where the output directory should be: no directory can be made under it.
    let blocked = env.dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let out = blocked.join("statements");
    let run = env.run(&[
        "billing",
        "run",
        "--date",
        "2026-05-02",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("the day is billed in the store"),
        "{}",
        run.stderr
    );
    let days = summaries(&run.stdout);
    assert_eq!(days.len(), 1, "the run stops at the day whose files failed");
    // The directory is fixed; the next run writes the billed day's files, then goes on.
    std::fs::remove_file(&blocked).unwrap();
    let again = env
        .run(&[
            "billing",
            "run",
            "--date",
            "2026-05-02",
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
    let days = summaries(&again.stdout);
    assert_eq!(
        days.iter()
            .map(|d| (d["day"].as_str().unwrap(), d["outcome"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("2026-05-01", "reproduced"), ("2026-05-02", "billed")]
    );
    let fresh = Env::new();
    fresh.load("usage", &[]);
    fresh.bill("2026-05-02", &[]).ok();
    assert_eq!(files(&out), files(&fresh.out()));
}

#[test]
fn b13_an_unknown_key_is_settled_only_by_the_run_of_its_day_or_later() {
    let env = Env::new();
    env.load("usage", &[]);
    env.sql(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
         VALUES ('ghost-1', TIMESTAMPTZ '2026-05-04 10:00:00+00', 'ghost', 'MiniMax-M2', 1, 1)",
    );
    let run = env.bill("2026-05-03", &[]).ok();
    assert!(
        summaries(&run.stdout)
            .iter()
            .all(|d| d["quarantined"].get("unknown_key").is_none()),
        "{}",
        run.stdout
    );
    let run = env.bill("2026-05-04", &[]).ok();
    let days = summaries(&run.stdout);
    assert_eq!(days[0]["quarantined"]["unknown_key"], 1, "{}", run.stdout);
    assert_eq!(days[0]["late"], 0);
}

#[test]
fn logs_can_be_json_lines_for_a_log_shipper() {
    let env = Env::new();
    env.load("usage", &[]);
    let run = env
        .run(&[
            "--log-format",
            "json",
            "--verbose",
            "billing",
            "run",
            "--date",
            "2026-05-01",
        ])
        .ok();
    let logs: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logs.is_empty(), "{}", run.stderr);
    for line in logs {
        let log: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            log["level"].is_string() && log["fields"].is_object(),
            "{line}"
        );
    }
}

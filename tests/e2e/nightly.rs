//! The nightly job as an operator meets it: missed nights caught up (B18), closed days (B19),
//! days that have not ended (B20), and what each run prints.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Env, scenario};

/// Every file under `dir`'s day directories by relative path; summaries without their `duration_ms`, the one
/// field that measures the run rather than the day.
pub(crate) fn files(dir: &Path) -> BTreeMap<String, String> {
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

/// The lines a command printed, as JSON.
pub(crate) fn summaries(stdout: &str) -> Vec<serde_json::Value> {
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

/// Bills `days` of the store of `env` (the `usage` scenario's prices) through the library,
/// with `observer`.
fn bill_in_library(
    env: &Env,
    days: tokenplan::billing::Days,
    observer: &mut impl tokenplan::billing::Observer,
) -> Result<tokenplan::billing::DayReport, tokenplan::billing::BillingError> {
    let mut store = tokenplan::store::Store::open(&env.db()).unwrap();
    let prices =
        tokenplan::prices::Prices::from_file(&scenario("small-quota-prices.yaml")).unwrap();
    let options = tokenplan::billing::RunOptions {
        prices: &prices,
        days,
        now: chrono::Utc::now(),
        out: None,
        metrics: None,
        window: None,
    };
    tokenplan::billing::run(&mut store, &options, observer)
}

fn date(d: &str) -> chrono::NaiveDate {
    d.parse().unwrap()
}

#[test]
fn b18_a_day_after_a_gap_can_only_be_billed_with_the_days_before_it() {
    // Through the library: a run of one day refuses to skip a day, even when asked directly.
    let env = Env::new();
    env.load("usage", &[]);
    let only = tokenplan::billing::Days::Only(date("2026-05-03"));
    let err = bill_in_library(&env, only, &mut ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("can't be billed before") && err.contains("rule B18"),
        "{err}"
    );
}

#[test]
fn an_observer_of_the_library_sees_each_stage_and_each_day_in_order() {
    use tokenplan::billing::{DayReport, Days, Observer, Stage};
    #[derive(Default)]
    struct Seen {
        stages: Vec<Stage>,
        days: Vec<(String, bool)>,
    }
    impl Observer for Seen {
        fn stage(&mut self, stage: Stage) {
            self.stages.push(stage);
        }
        fn day(&mut self, report: &DayReport) {
            self.days
                .push((report.summary.day.to_string(), report.reproduced));
        }
    }
    let env = Env::new();
    env.load("usage", &[]);
    let mut seen = Seen::default();
    let last = bill_in_library(&env, Days::Through(date("2026-05-02")), &mut seen).unwrap();
    assert_eq!(
        seen.days,
        [
            ("2026-05-01".to_owned(), false),
            ("2026-05-02".to_owned(), false)
        ]
    );
    assert_eq!(
        (last.summary.day, last.summary.events_read),
        (date("2026-05-02"), 6)
    );
    let night = [
        Stage::Replaying,
        Stage::Reading,
        Stage::FindingDuplicates,
        Stage::FundingInOrder,
        Stage::Assembling,
        Stage::Committing,
    ];
    let stages: Vec<Stage> = seen
        .stages
        .iter()
        .copied()
        .filter(|stage| !matches!(stage, Stage::Read(_)))
        .collect();
    assert_eq!(stages, [night, night].concat());
    assert!(seen.stages.contains(&Stage::Read(6)), "{:?}", seen.stages);

    // A day billed is reproduced, and no stage is gone through again.
    let mut again = Seen::default();
    let report = bill_in_library(&env, Days::Only(date("2026-05-01")), &mut again).unwrap();
    assert!(report.reproduced);
    assert_eq!(again.days, [("2026-05-01".to_owned(), true)]);
    assert!(again.stages.is_empty(), "{:?}", again.stages);
}

/// A metrics file as Prometheus reads it: every sample a gauge with its HELP and TYPE, none
/// named `_total` (the suffix Prometheus keeps for counters).
struct Metrics {
    text: String,
    scrape: prometheus_parse::Scrape,
}

impl Metrics {
    fn read(path: &Path) -> Metrics {
        let text = std::fs::read_to_string(path).unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        for sample in &scrape.samples {
            let name = &sample.metric;
            assert!(
                matches!(sample.value, prometheus_parse::Value::Gauge(_)),
                "{name} is not a gauge"
            );
            assert!(!name.ends_with("_total"), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        Metrics { text, scrape }
    }

    /// The sample `tokenplan_billing_{name}` (with `label`), if written.
    fn get(&self, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        self.scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == format!("tokenplan_billing_{name}")
                    && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                _ => f64::NAN,
            })
    }

    #[track_caller]
    fn value(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        self.get(name, label)
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{}", self.text))
    }
}

#[test]
fn metrics_are_a_prometheus_text_file_and_status_says_what_is_left_to_bill() {
    let env = Env::new();
    env.load("usage", &[]);
    let metrics = env.dir.path().join("tokenplan.prom");
    let metrics_arg = ["--metrics", metrics.to_str().unwrap()];
    env.bill("2026-05-02", &metrics_arg).ok();
    let scraped = Metrics::read(&metrics);
    let value = |name, label| scraped.value(name, label);
    assert_eq!(value("last_exit_status", None), 0.0);
    assert_eq!(value("days", Some(("outcome", "billed"))), 2.0);
    assert_eq!(value("events", Some(("outcome", "billed"))), 5.0);
    assert_eq!(
        value("quarantined_events", Some(("reason", "key_deleted"))),
        1.0
    );
    assert!(value("last_success_timestamp_seconds", None) > 1.7e9);
    assert!(value("billed_amount", Some(("currency", "USD"))) > 0.0);
    // Readable by node_exporter, which runs as another user.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&metrics).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "{mode:o}");

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
            .contains("unsettled events   1 (oldest usage day 2026-05-02; 1 late, 0 too late)"),
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

/// `jobs/nightly.sh` as cron starts it: a bare environment (cron's PATH, without the
/// directory of the binary) holding only the crontab's variables, `TOKENPLAN_BIN` among them
/// when `bin` is given, and `TOKENPLAN_ARCHIVE` when `archive` is.
fn nightly_sh(
    env: &Env,
    spool: &Path,
    bin: Option<&Path>,
    archive: Option<&Path>,
) -> std::process::Command {
    let var = |name: &str, value: &Path| format!("{name}={}", value.display());
    let mut command = std::process::Command::new("env");
    command.args([
        "-i".to_owned(),
        "PATH=/usr/bin:/bin".to_owned(),
        "SHELL=/bin/sh".to_owned(),
        var("HOME", env.dir.path()),
        var("TOKENPLAN_DB", &env.db()),
        var("TOKENPLAN_SPOOL", spool),
        var("TOKENPLAN_OUT", &env.out()),
        var("TOKENPLAN_METRICS", &env.dir.path().join("m.prom")),
    ]);
    if let Some(bin) = bin {
        command.arg(var("TOKENPLAN_BIN", bin));
    }
    if let Some(archive) = archive {
        command.arg(var("TOKENPLAN_ARCHIVE", archive));
    }
    command.arg(crate::support::repo().join("jobs/nightly.sh"));
    command
}

/// A spool with a complete good file `a.jsonl`, a complete file with a row that can't be
/// stored `bad.jsonl`, and `partial.jsonl.tmp`, still being written.
fn spool_of_three(env: &Env) -> std::path::PathBuf {
    let spool = env.dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        spool.join("a.jsonl"),
        spooled("s-1", "2026-05-02T10:00:00Z"),
    )
    .unwrap();
    std::fs::write(spool.join("bad.jsonl"), "{\"event_id\":\"s-2\"}\n").unwrap();
    std::fs::write(
        spool.join("partial.jsonl.tmp"),
        spooled("s-3", "2026-05-02T10:00:00Z"),
    )
    .unwrap();
    spool
}

fn spooled(id: &str, ts: &str) -> String {
    format!(
        "{{\"event_id\":\"{id}\",\"ts\":\"{ts}\",\"key_id\":\"k3\",\"model\":\"MiniMax-M2\",\"input_tokens\":1,\"output_tokens\":1}}\n"
    )
}

/// The names in `dir`, sorted; none when it does not exist.
fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tokenplan"))
}

#[test]
fn the_nightly_unit_under_cron_imports_the_spool_then_bills_while_another_import_runs() {
    let env = Env::new();
    env.load("usage", &[]);
    let spool = spool_of_three(&env);
    let other = env.dir.path().join("other.jsonl");
    std::fs::write(&other, spooled("s-4", "2026-05-03T10:00:00Z")).unwrap();
    let import = env.spawn(&["events", "import", other.to_str().unwrap()]);
    let nightly = nightly_sh(&env, &spool, Some(bin()), None)
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
    assert_eq!(names(&spool.join("imported")), ["a.jsonl"]);
    assert_eq!(names(&spool.join("refused")), ["bad.jsonl"]);
    assert!(
        spool.join("partial.jsonl.tmp").exists(),
        "an unfinished file waits"
    );
    assert_eq!(env.rows("usage_events WHERE event_id IN ('s-1', 's-4')"), 2);
    let days = summaries(&String::from_utf8_lossy(&nightly.stdout));
    assert!(days.len() > 100, "every day through yesterday");
    // The refused file is counted where an operator looks.
    let metrics = Metrics::read(&env.dir.path().join("m.prom"));
    assert_eq!(metrics.value("refused_spool_files", None), 1.0);
    assert_eq!(metrics.value("last_exit_status", None), 0.0);
}

#[test]
fn the_nightly_unit_without_a_binary_it_can_run_touches_nothing() {
    let env = Env::new();
    env.load("usage", &[]);
    let spool = spool_of_three(&env);
    let before = names(&spool);
    // Cron's PATH has no tokenplan, and TOKENPLAN_BIN is unset or wrong: before, a good file
    // was moved to refused/ (the shell's exit 127).
    let missing = env.dir.path().join("no-such-tokenplan");
    for bin in [None, Some(missing.as_path())] {
        let nightly = nightly_sh(&env, &spool, bin, None).output().unwrap();
        let stderr = String::from_utf8_lossy(&nightly.stderr);
        assert_eq!(nightly.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("set TOKENPLAN_BIN to the tokenplan binary")
                && stderr.contains("nothing was imported or billed"),
            "{stderr}"
        );
        assert_eq!(names(&spool), before, "the spool is untouched");
    }
    assert_eq!(env.rows("billing_runs"), 0);
    assert_eq!(env.rows("usage_events WHERE event_id LIKE 's-%'"), 0);
}

#[test]
fn the_nightly_unit_moves_a_file_to_refused_only_when_the_import_refused_it() {
    let env = Env::new();
    let spool = spool_of_three(&env);
    // A binary that runs but whose imports fail otherwise than by refusing a row (a crash, a
    // missing library): the file stays for the next night and the job fails with that status.
    let broken = env.dir.path().join("broken-tokenplan");
    std::fs::write(
        &broken,
        "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho 'cannot load a library' >&2\nexit 127\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let nightly = nightly_sh(&env, &spool, Some(&broken), None)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&nightly.stderr);
    assert_eq!(nightly.status.code(), Some(127), "{stderr}");
    assert!(stderr.contains("it stays in"), "{stderr}");
    assert!(spool.join("a.jsonl").exists() && spool.join("bad.jsonl").exists());
    assert!(names(&spool.join("refused")).is_empty());
    assert!(names(&spool.join("imported")).is_empty());
}

#[test]
fn the_nightly_unit_archives_after_a_successful_run_and_a_failed_archive_unbills_nothing() {
    let env = Env::new();
    env.load("usage", &[]);
    let spool = env.dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    // A regular file where the archive directory should be: nothing can be made under it.
    let blocked = env.dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let nightly = nightly_sh(&env, &spool, Some(bin()), Some(&blocked.join("archive")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&nightly.stderr);
    assert_eq!(nightly.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the days stay billed"), "{stderr}");
    let billed = env.rows("billing_runs");
    assert!(billed > 100, "every day through yesterday");
    assert_eq!(env.rows("usage_events"), 6);

    let archive = env.dir.path().join("archive");
    let nightly = nightly_sh(&env, &spool, Some(bin()), Some(&archive))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&nightly.stderr);
    assert_eq!(nightly.status.code(), Some(0), "{stderr}");
    assert_eq!(env.rows("billing_runs"), billed);
    assert_eq!(env.rows("usage_events"), 0);
    assert!(archive.join("day=2026-05-02/events-0.parquet").is_file());
    // The archive's lines go to the log: stdout holds only the run's summaries.
    assert!(stderr.contains("\"day\":\"2026-05-02\""), "{stderr}");
    for line in summaries(&String::from_utf8_lossy(&nightly.stdout)) {
        assert!(line.get("outcome").is_some(), "{line}");
    }
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
    let out = env.out();
    let args = [
        "billing",
        "run",
        "--date",
        KILL_DAY,
        "--out",
        out.to_str().unwrap(),
    ];
    kill_at_log(env, &args, stage)
}

/// Starts `tokenplan ARGS` logging at debug and kills it with SIGKILL at the first log line
/// that contains `stage`; whether the line came before the command ended.
pub(crate) fn kill_at_log(env: &Env, args: &[&str], stage: &str) -> bool {
    use std::io::BufRead as _;
    let mut child = env
        .command(args, &[("TOKENPLAN_LOG", "tokenplan=debug")])
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

/// `billing status --format json`.
pub(crate) fn status_json(env: &Env, extra: &[&str]) -> serde_json::Value {
    let out = env
        .run(&[&["billing", "status", "--format", "json"], extra].concat())
        .ok();
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn an_out_or_metrics_path_that_cannot_be_written_bills_nothing_and_exits_2_naming_it() {
    let env = Env::new();
    env.load("usage", &[]);
    // A regular file where the output directory should be: no directory can be made under it.
    let blocked = env.dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let out = blocked.join("statements");
    let missing = env.dir.path().join("no-such-dir/tokenplan.prom");
    let metrics = env.dir.path().join("m.prom");
    for (args, path) in [
        (
            [
                "--out",
                out.to_str().unwrap(),
                "--metrics",
                metrics.to_str().unwrap(),
            ],
            &out,
        ),
        (
            [
                "--out",
                env.out().to_str().unwrap(),
                "--metrics",
                missing.to_str().unwrap(),
            ],
            &missing,
        ),
    ] {
        let run = env.run(&[&["billing", "run", "--date", "2026-05-02"], &args[..]].concat());
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("`{}`", path.display()))
                && run.stderr.contains("nothing was billed"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(env.rows("billing_runs"), 0);
        // `billing status` says what the run said.
        let status = status_json(&env, &[]);
        assert_eq!(status["last_run"]["exit_status"], 2);
        assert_eq!(status["last_run"]["days_billed"], 0);
    }
    let metrics = Metrics::read(&metrics);
    assert_eq!(metrics.value("last_exit_status", None), 2.0);
    assert_eq!(metrics.get("last_success_timestamp_seconds", None), None);
}

#[test]
fn metrics_after_exits_0_2_3_and_75_carry_the_last_success_and_agree_with_status() {
    let env = Env::new();
    env.load("usage", &[]);
    let spool = env.dir.path().join("spool");
    std::fs::create_dir_all(spool.join("refused")).unwrap();
    std::fs::write(spool.join("refused/bad.jsonl"), "{}\n").unwrap();
    let path = env.dir.path().join("tokenplan.prom");
    let args = [
        "--metrics",
        path.to_str().unwrap(),
        "--spool",
        spool.to_str().unwrap(),
    ];
    let day_start = |day: &str| {
        format!("{day}T00:00:00Z")
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp() as f64
    };

    // 0: the run's own end is the last success.
    env.bill("2026-05-02", &args).ok();
    let ok = Metrics::read(&path);
    let success = ok.value("last_success_timestamp_seconds", None);
    assert_eq!(ok.value("last_exit_status", None), 0.0);
    assert_eq!(ok.value("last_run_timestamp_seconds", None), success);
    assert_eq!(
        ok.value("latest_billed_day_timestamp_seconds", None),
        day_start("2026-05-02")
    );
    assert_eq!(ok.value("refused_spool_files", None), 1.0);
    let status = status_json(&env, &["--spool", spool.to_str().unwrap()]);
    assert_eq!(status["refused_spool_files"]["count"], 1);
    let table = env
        .run(&["billing", "status", "--spool", spool.to_str().unwrap()])
        .ok();
    assert!(
        table.stdout.contains(&format!(
            "refused files      1 in {}",
            spool.join("refused").display()
        )),
        "{}",
        table.stdout
    );

    // 2: a price list that can't be read; the last success and latest billed day stay.
    let bad_prices = env.dir.path().join("prices.yaml");
    std::fs::write(&bad_prices, "regions: [").unwrap();
    let failed = env.bill(
        "2026-05-03",
        &[&args[..], &["--prices", bad_prices.to_str().unwrap()]].concat(),
    );
    assert_eq!(failed.status, 2, "{}", failed.stderr);
    let bad = Metrics::read(&path);
    assert_eq!(bad.value("last_exit_status", None), 2.0);
    assert_eq!(bad.value("last_success_timestamp_seconds", None), success);
    assert_eq!(
        bad.value("latest_billed_day_timestamp_seconds", None),
        day_start("2026-05-02")
    );
    assert_eq!(status_json(&env, &[])["last_run"]["exit_status"], 2);

    // 75: the store is held by another process, so the values come from the previous file.
    let holder = duckdb::Connection::open(env.db()).unwrap();
    let busy = env.bill("2026-05-03", &[&args[..], &["--wait", "1"]].concat());
    assert_eq!(busy.status, 75, "{}", busy.stderr);
    let busy = Metrics::read(&path);
    assert_eq!(busy.value("last_exit_status", None), 75.0);
    assert_eq!(busy.value("last_success_timestamp_seconds", None), success);
    assert_eq!(
        busy.value("latest_billed_day_timestamp_seconds", None),
        day_start("2026-05-02")
    );
    assert_eq!(busy.value("refused_spool_files", None), 1.0);
    drop(holder);

    // 3: the day is committed, then its files can't be put in place (a regular file where the
    // previous copy of the day would go); nothing says they are there.
    std::fs::create_dir_all(env.out().join("2026-05-03")).unwrap();
    let obstacle = env.out().join(".2026-05-03.previous");
    std::fs::write(&obstacle, "").unwrap();
    let unwritten = env.bill("2026-05-03", &args);
    assert_eq!(unwritten.status, 3, "{}", unwritten.stderr);
    assert_eq!(summaries(&unwritten.stdout).len(), 1);
    assert!(
        unwritten
            .stderr
            .contains("2026-05-03: billed: 0 statement(s)\n")
            && !unwritten.stderr.contains(" in /"),
        "no \"in DIR\" for files that are not there:\n{}",
        unwritten.stderr
    );
    let three = Metrics::read(&path);
    assert_eq!(three.value("last_exit_status", None), 3.0);
    assert_eq!(three.value("last_success_timestamp_seconds", None), success);
    assert_eq!(
        three.value("latest_billed_day_timestamp_seconds", None),
        day_start("2026-05-03")
    );
    let status = status_json(&env, &[]);
    assert_eq!(status["last_run"]["exit_status"], 3);
    assert_eq!(status["latest_billed_day"], "2026-05-03");

    // The obstacle removed, the next run writes the billed day's files.
    std::fs::remove_file(&obstacle).unwrap();
    let again = env.bill("2026-05-03", &args).ok();
    assert!(
        again.stderr.contains(&format!(
            "2026-05-03: reproduced: 0 statement(s) in {}",
            env.out().join("2026-05-03").display()
        )),
        "{}",
        again.stderr
    );
    assert!(env.out().join("2026-05-03/summary.json").exists());
}

#[test]
fn a_metrics_file_that_cannot_be_written_after_the_commit_exits_3_and_status_says_3() {
    let env = Env::new();
    env.load("usage", &[]);
    // The metrics path is writable when checked, and is then the day's own output directory.
    std::fs::create_dir_all(env.out()).unwrap();
    let metrics = env.out().join("2026-05-01");
    let run = env.bill("2026-05-01", &["--metrics", metrics.to_str().unwrap()]);
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "cannot write the metrics file `{}`",
            metrics.display()
        )) && run.stderr.contains("the days are billed in the store"),
        "{}",
        run.stderr
    );
    assert_eq!(env.rows("billing_runs"), 1);
    let status = status_json(&env, &[]);
    assert_eq!(status["last_run"]["exit_status"], 3);
    assert!(
        status["last_run"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot write the metrics file"),
        "{status}"
    );
    assert_eq!(status["last_success"], serde_json::Value::Null);
}

#[test]
fn files_that_cannot_be_written_exit_3_with_the_day_billed_and_the_next_run_writes_them() {
    let env = Env::new();
    env.load("usage", &[]);
    // 05-01 billed and written; 05-02's files meet a regular file where its previous copy goes.
    env.bill("2026-05-01", &[]).ok();
    std::fs::create_dir_all(env.out().join("2026-05-02")).unwrap();
    let obstacle = env.out().join(".2026-05-02.previous");
    std::fs::write(&obstacle, "").unwrap();
    let run = env.bill("2026-05-02", &[]);
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("the day is billed in the store"),
        "{}",
        run.stderr
    );
    let days = summaries(&run.stdout);
    assert_eq!(days.len(), 1, "the run stops at the day whose files failed");
    // Fixed, the next run writes the billed day's files, then goes on.
    std::fs::remove_file(&obstacle).unwrap();
    let again = env.bill("2026-05-03", &[]).ok();
    let days = summaries(&again.stdout);
    assert_eq!(
        days.iter()
            .map(|d| (d["day"].as_str().unwrap(), d["outcome"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("2026-05-02", "reproduced"), ("2026-05-03", "billed")]
    );
    let fresh = Env::new();
    fresh.load("usage", &[]);
    fresh.bill("2026-05-03", &[]).ok();
    assert_eq!(files(&env.out()), files(&fresh.out()));
}

#[test]
fn b18_an_event_stamped_before_every_team_record_does_not_start_the_billed_calendar() {
    let env = Env::new();
    env.load("usage", &[]);
    // Inserted directly, as any system may: a clock reset to year 1 on the gateway.
    let conn = duckdb::Connection::open(env.db()).unwrap();
    conn.execute_batch(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens)
         VALUES ('y1', TIMESTAMPTZ '0001-01-01 00:00:00+00', 'tp:t3:u1', 'MiniMax-M2', 1, 1)",
    )
    .unwrap();
    drop(conn);
    // The first day is the first Team record's (2026-05-01), not year 1.
    let status = status_json(&env, &[]);
    assert_eq!(status["unbilled_days"][0], "2026-05-01");
    let run = env.bill("2026-05-01", &[]).ok();
    let days = summaries(&run.stdout);
    assert_eq!(days.len(), 1, "{}", run.stdout);
    assert_eq!(days[0]["day"], "2026-05-01");
    // It is read by the first day and quarantined: far more than W days late (B21).
    assert_eq!(days[0]["quarantined"]["too_late"], 1, "{}", run.stdout);
    assert_eq!(days[0]["late"], 0);
    assert_eq!(status_json(&env, &[])["unsettled_events"]["count"], 6);
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
fn logs_can_be_json_lines_for_a_log_shipper_errors_included() {
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
    // The error that ends a command is a log line like the others.
    let failed = env.run(&[
        "--log-format",
        "json",
        "billing",
        "run",
        "--date",
        "2099-01-01",
    ]);
    assert_eq!(failed.status, 2);
    let lines: Vec<serde_json::Value> = failed
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let error = lines.last().unwrap();
    assert_eq!(error["level"], "ERROR");
    assert!(
        error["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("2099-01-01 has not ended"),
        "{error}"
    );
    assert!(error["fields"]["hint"].is_string(), "{error}");
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let env = Env::new();
    env.load("usage", &[]);
    let run = env
        .run(&["--verbose", "billing", "run", "--date", "2026-05-01"])
        .ok();
    assert!(run.stderr.contains("billing day"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

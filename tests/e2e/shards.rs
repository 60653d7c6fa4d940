//! A night across machines (B23) through the real binary: `billing plan`, N `billing shard`
//! processes started as a Kubernetes Indexed Job starts them (`JOB_COMPLETION_INDEX`), and
//! `billing commit`, against `billing run` on a copy of the same store: the same files, the
//! same summaries less their duration, the same stored rows.

use std::path::Path;

use crate::nightly::{files, kill_at_log, summaries};
use crate::support::{Env, Moto, Output};

/// Events besides the scenarios': the same id in two Teams, an id repeated within a Team, a
/// key of no Team, all on 2026-02-11 (the first night's catch-up).
pub(crate) const FIRST: &str = "
    ('x-1', TIMESTAMPTZ '2026-02-11 10:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 1000, 10),
    ('x-1', TIMESTAMPTZ '2026-02-11 10:00:00+00', 'tp:t1:r3', 'MiniMax-M2', 1000, 10),
    ('x-2', TIMESTAMPTZ '2026-02-11 11:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 2000, 20),
    ('x-2', TIMESTAMPTZ '2026-02-11 12:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 2000, 20),
    ('x-3', TIMESTAMPTZ '2026-02-11 13:00:00+00', 'nobody', 'MiniMax-M2', 1, 1)";

/// Events that arrive after the first night: late usage of a billed day (B14), one too late
/// (B21), a repeat of a settled id, and usage of the second night's days.
pub(crate) const SECOND: &str = "
    ('y-1', TIMESTAMPTZ '2026-02-01 10:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 3000, 30),
    ('y-2', TIMESTAMPTZ '2025-12-01 10:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 3000, 30),
    ('x-2', TIMESTAMPTZ '2026-02-12 09:00:00+00', 'tp:z1:mei', 'MiniMax-M2', 2000, 20),
    ('y-3', TIMESTAMPTZ '2026-04-02 10:00:00+00', 'tp:t1:r3', 'MiniMax-M2', 4000, 40)";

/// The first night bills through this day, the second through the last.
pub(crate) const NIGHTS: [&str; 2] = ["2026-02-12", "2026-04-15"];

/// A store with the overseas seats and domestic scenarios and the events of `FIRST`, billed
/// by `billing run` through 2026-02-09 (made once per test process, then copied: every night
/// compared starts from the same store).
fn loaded() -> Env {
    static BILLED: std::sync::OnceLock<Env> = std::sync::OnceLock::new();
    let billed = BILLED.get_or_init(|| {
        let env = Env::new();
        env.load("seats-overseas", &[]);
        env.load("domestic", &[]);
        insert(&env, FIRST);
        env.bill("2026-02-09", &[]).ok();
        env.run(&["operator", "add", "fin"]).ok();
        adjust(&env, "t1", "2026-02-09", "-3.50", "charges");
        adjust(&env, "z1", "2026-02-08", "1.25", "credits");
        env
    });
    let env = Env::new();
    std::fs::copy(billed.db(), env.db()).unwrap();
    env
}

/// Records an adjustment (B24) by the operator `fin`, made on 2026-02-10.
fn adjust(env: &Env, team: &str, day: &str, amount: &str, applies_to: &str) {
    let extra = ["--reason", "a correction", "--at", "2026-02-10T00:00:00Z"];
    env.adjust("fin", (team, day), (amount, applies_to), &extra)
        .ok();
}

/// What arrives between the two nights: the events of `SECOND` and two adjustments.
fn between_nights(env: &Env) {
    insert(env, SECOND);
    adjust(env, "t1", "2026-02-12", "-2.00", "wallet");
    adjust(env, "z1", "2026-02-11", "0.75", "charges");
}

fn insert(env: &Env, values: &str) {
    env.sql(&format!(
        "INSERT INTO usage_events (event_id, ts, key_id, model, input_tokens, output_tokens) VALUES {values}"
    ));
}

/// Everything a night stores, as text, with each summary's duration left out.
pub(crate) fn stored(env: &Env) -> String {
    let conn = duckdb::Connection::open(env.db()).unwrap();
    let rows = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let runs =
        rows("SELECT day || ' ' || max_rowid || ' ' || summary FROM billing_runs ORDER BY day")
            .into_iter()
            .map(|run| {
                let (head, summary) = run.split_at(run.find('{').unwrap());
                let mut summary: serde_json::Value = serde_json::from_str(summary).unwrap();
                summary.as_object_mut().unwrap().remove("duration_ms");
                format!("{head}{summary}")
            });
    let tables = [
        "SELECT day || ' ' || team_id || ' ' || credits_spent || ' ' || wallet_spent || ' ' || body FROM statements ORDER BY ALL",
        "SELECT concat_ws(' ', team_id, tier, seat, cycle_start, billed_day, tokens) FROM seat_usage ORDER BY ALL",
        "SELECT day || ' ' || team_id || ' ' || body FROM carried_state ORDER BY ALL",
        "SELECT days || ' ' || fixed_on FROM billing_window",
        "SELECT adjustment_id || ' ' || day FROM adjustments_billed ORDER BY ALL",
    ];
    runs.chain(tables.iter().flat_map(|sql| rows(sql)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summary lines of a night's stdout, less their duration.
pub(crate) fn lines(out: &Output) -> Vec<serde_json::Value> {
    let mut lines = summaries(&out.stdout);
    for line in &mut lines {
        line.as_object_mut().unwrap().remove("duration_ms");
    }
    lines
}

/// Bills through `day` as `billing plan` (with `plan` besides), `shards` shard processes at
/// once (as an Indexed Job's pods, by `JOB_COMPLETION_INDEX`) and `billing commit`, with the
/// stage at `stage` and the `AWS_*` variables `vars`; returns the commit's output.
pub(crate) fn sharded(
    env: &Env,
    day: &str,
    (shards, plan): (u32, &[&str]),
    stage: &str,
    vars: &[(&str, &str)],
) -> Output {
    let n = shards.to_string();
    let args = [
        "billing", "plan", "--date", day, "--stage", stage, "--shards", &n,
    ];
    env.run_with(&[&args[..], plan].concat(), vars).ok();
    let pods: Vec<_> = (0..shards)
        .map(|k| {
            let index = k.to_string();
            let mut vars = vars.to_vec();
            vars.push(("JOB_COMPLETION_INDEX", &index));
            env.command(&["billing", "shard", "--stage", stage], &vars)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for pod in pods {
        let done = pod.wait_with_output().unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
    commit(env, stage, vars).ok()
}

pub(crate) fn commit(env: &Env, stage: &str, vars: &[(&str, &str)]) -> Output {
    let out = env.out();
    env.run_with(
        &[
            "billing",
            "commit",
            "--stage",
            stage,
            "--out",
            out.to_str().unwrap(),
        ],
        vars,
    )
}

/// The two nights billed by `billing run`: each night's summary lines, and the store.
fn reference() -> (Env, [Vec<serde_json::Value>; 2]) {
    let env = loaded();
    let first = lines(&env.bill(NIGHTS[0], &[]).ok());
    between_nights(&env);
    let second = lines(&env.bill(NIGHTS[1], &[]).ok());
    (env, [first, second])
}

/// The two nights billed in `shards` shards with the stage at `stage`, compared with
/// `billing run`'s.
#[track_caller]
fn assert_same_as_one_run(
    single: &(Env, [Vec<serde_json::Value>; 2]),
    shards: u32,
    stage: impl Fn(&Env) -> String,
    vars: &[(&str, &str)],
) {
    let (single, nights) = single;
    let env = loaded();
    let stage = stage(&env);
    let first = lines(&sharded(&env, NIGHTS[0], (shards, &[]), &stage, vars));
    between_nights(&env);
    let second = lines(&sharded(&env, NIGHTS[1], (shards, &[]), &stage, vars));
    assert_eq!([first, second], *nights, "{shards} shards");
    assert_eq!(files(&env.out()), files(&single.out()), "{shards} shards");
    assert_eq!(stored(&env), stored(single), "{shards} shards");
}

pub(crate) fn local_stage(env: &Env) -> String {
    env.dir.path().join("stage").display().to_string()
}

#[test]
fn b23_one_two_three_and_seven_shards_bill_what_one_run_bills_byte_for_byte() {
    let single = reference();
    let [first, second] = &single.1;
    // The nights hold what the comparison is about.
    let day = |night: &[serde_json::Value], day: &str| {
        night.iter().find(|s| s["day"] == day).unwrap().clone()
    };
    assert_eq!(
        first[0]["outcome"], "reproduced",
        "the files of 2026-02-09, missing"
    );
    assert_eq!(first.len(), 4, "and a catch-up of 2026-02-10 to 2026-02-12");
    assert_eq!(day(first, "2026-02-11")["duplicates"], 1);
    assert_eq!(day(first, "2026-02-11")["quarantined"]["unknown_key"], 1);
    let night = day(second, "2026-02-13");
    assert_eq!(night["late"], 1, "{night}");
    assert_eq!(night["duplicates"], 1, "{night}");
    assert_eq!(night["quarantined"]["too_late"], 1, "{night}");
    assert_eq!(
        single.0.rows("adjustments_billed"),
        4,
        "each night bills its adjustments"
    );
    for shards in [1, 2, 3, 7] {
        assert_same_as_one_run(&single, shards, local_stage, &[]);
    }
}

#[test]
fn b23_shards_through_an_s3_stage_bill_what_one_run_bills() {
    let Some(moto) = Moto::start() else {
        return;
    };
    moto.create_bucket("stage");
    let vars = moto.env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_same_as_one_run(&reference(), 3, |_| "s3://stage/night".to_owned(), &vars);
}

/// A store billed through the first night, planned in 3 shards for the second.
fn planned() -> (Env, String) {
    let env = loaded();
    env.bill(NIGHTS[0], &[]).ok();
    between_nights(&env);
    let stage = local_stage(&env);
    env.run(&[
        "billing", "plan", "--date", NIGHTS[1], "--stage", &stage, "--shards", "3",
    ])
    .ok();
    (env, stage)
}

fn shard(env: &Env, stage: &str, index: &str) -> Output {
    env.run(&["billing", "shard", "--stage", stage, "--index", index])
}

#[track_caller]
fn assert_refused(env: &Env, stage: &str, message: &str) {
    let before = stored(env);
    let out = commit(env, stage, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains(message), "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing was committed"),
        "{}",
        out.stderr
    );
    assert_eq!(stored(env), before);
    assert!(!env.out().join(NIGHTS[1]).exists());
}

#[test]
fn b23_a_missing_truncated_or_stale_shard_is_refused_and_nothing_is_committed() {
    let (env, stage) = planned();
    shard(&env, &stage, "0").ok();
    shard(&env, &stage, "2").ok();
    assert_refused(&env, &stage, "shard 1 of 3 is missing");

    shard(&env, &stage, "1").ok();
    let output = Path::new(&stage).join("output/shard-1-of-3.json");
    let whole = std::fs::read(&output).unwrap();
    std::fs::write(&output, &whole[..whole.len() / 2]).unwrap();
    assert_refused(&env, &stage, "shard 1 of 3 is incomplete");

    // Shard 1's output of this plan, kept; a new plan; only shards 0 and 2 of it run.
    std::fs::write(&output, &whole).unwrap();
    env.run(&[
        "billing", "plan", "--date", NIGHTS[1], "--stage", &stage, "--shards", "3",
    ])
    .ok();
    shard(&env, &stage, "0").ok();
    shard(&env, &stage, "2").ok();
    assert_refused(&env, &stage, "shard 1 of 3 is of another plan");

    // Once it runs, the night commits; committing again is a no-op.
    shard(&env, &stage, "1").ok();
    let committed = commit(&env, &stage, &[]).ok();
    assert!(
        summaries(&committed.stdout)
            .iter()
            .all(|s| s["outcome"] == "billed")
    );
    let stored_once = stored(&env);
    let again = commit(&env, &stage, &[]).ok();
    assert!(
        summaries(&again.stdout)
            .iter()
            .all(|s| s["outcome"] == "reproduced")
    );
    assert_eq!(stored(&env), stored_once);
}

#[test]
fn b23_a_plan_the_store_billed_past_is_refused() {
    let (env, stage) = planned();
    for index in ["0", "1", "2"] {
        shard(&env, &stage, index).ok();
    }
    env.bill("2026-02-20", &[]).ok();
    assert_refused(
        &env,
        &stage,
        "the plan was made when the latest billed day was 2026-02-12",
    );
}

#[test]
fn b23_a_shard_killed_midway_and_run_again_alone_gives_the_same_night() {
    let single = reference();
    let env = loaded();
    let stage = local_stage(&env);
    sharded(&env, NIGHTS[0], (2, &[]), &stage, &[]);
    between_nights(&env);
    env.run(&[
        "billing", "plan", "--date", NIGHTS[1], "--stage", &stage, "--shards", "2",
    ])
    .ok();
    shard(&env, &stage, "0").ok();
    // Killed once it has committed a day to its cut, before its output is written.
    assert!(kill_at_log(
        &env,
        &["billing", "shard", "--stage", &stage, "--index", "1"],
        "committed"
    ));
    // What the stage holds for it is the first night's.
    assert_refused(&env, &stage, "shard 1 of 2 is of another plan");
    shard(&env, &stage, "1").ok();
    commit(&env, &stage, &[]).ok();
    assert_eq!(files(&env.out()), files(&single.0.out()));
    assert_eq!(stored(&env), stored(&single.0));
}

#[test]
fn b23_a_shard_needs_an_index_in_the_plan() {
    let (env, stage) = planned();
    let out = env.run(&["billing", "shard", "--stage", &stage]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("JOB_COMPLETION_INDEX"),
        "{}",
        out.stderr
    );
    let out = shard(&env, &stage, "3");
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("shard 3 is not one of the plan's 3 shards"),
        "{}",
        out.stderr
    );
    let out = env.run(&[
        "billing", "shard", "--stage", &stage, "--index", "0", "--of", "4",
    ]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    let nowhere = env.dir.path().join("nowhere").display().to_string();
    let out = shard(&env, &nowhere, "0");
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("holds no plan"), "{}", out.stderr);
}

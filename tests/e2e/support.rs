//! Running the binary against a temporary store.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary store and output directory.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What a run printed and returned.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.status, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

pub fn scenario(name: &str) -> PathBuf {
    repo().join("tests/scenarios").join(name)
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("store.duckdb")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Runs `tokenplan --db STORE ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = self.command(args, env).output().unwrap();
        Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `tokenplan --db STORE ARGS...` with `env` set, ready to run or spawn.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenplan"));
        command
            .arg("--db")
            .arg(self.db())
            .args(args)
            .env_remove("TOKENPLAN_DB");
        for (k, v) in env {
            command.env(k, v);
        }
        command
    }

    /// Starts `tokenplan --db STORE ARGS...` with stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args, &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Applies a scenario of tests/scenarios and imports its events file, if any.
    pub fn load(&self, name: &str, extra: &[&str]) {
        let yaml = scenario(&format!("{name}.yaml"));
        let mut args = vec!["apply", yaml.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args).ok();
        let csv = scenario(&format!("{name}.csv"));
        if csv.exists() {
            self.run(&["events", "import", csv.to_str().unwrap()]).ok();
        }
    }

    /// Bills `day` into the output directory.
    pub fn bill(&self, day: &str, extra: &[&str]) -> Output {
        let out = self.out();
        let mut args = vec![
            "billing",
            "run",
            "--date",
            day,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Writes `text` to the file `name` in the test's directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    pub fn statement(&self, day: &str, team: &str) -> Option<String> {
        std::fs::read_to_string(self.out().join(day).join(format!("{team}.json"))).ok()
    }

    /// `SELECT count(*) FROM {rows}` on the store (`rows`: a table, with a `WHERE` if need be);
    /// 0 when no store was made.
    pub fn rows(&self, rows: &str) -> i64 {
        if !self.db().exists() {
            return 0;
        }
        let conn = duckdb::Connection::open(self.db()).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {rows}"), [], |r| r.get(0))
            .unwrap()
    }

    /// The store, opened directly (as a gateway writing usage events would).
    pub fn sql(&self, sql: &str) {
        let conn = duckdb::Connection::open(self.db()).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

/// Compares a statement with tests/golden/NAME. `UPDATE_GOLDEN=1` writes the file instead, and
/// fails, so a run that rewrote a golden file can never pass.
#[track_caller]
pub fn assert_golden(actual: &str, name: &str) {
    let path = repo().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        panic!(
            "wrote {}: review the change, then run without UPDATE_GOLDEN",
            path.display()
        );
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no golden file {}", path.display()));
    assert_eq!(
        actual,
        expected,
        "statement differs from {}",
        path.display()
    );
}

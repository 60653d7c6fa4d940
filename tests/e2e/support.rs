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

    /// `billing adjust` of `team`'s `day` by `actor` (B24), with `extra` arguments.
    pub fn adjust(
        &self,
        actor: &str,
        (team, day): (&str, &str),
        (amount, applies_to): (&str, &str),
        extra: &[&str],
    ) -> Output {
        let args = [
            "billing",
            "adjust",
            "--as",
            actor,
            "--team",
            team,
            "--day",
            day,
            "--amount",
            amount,
            "--applies-to",
            applies_to,
        ];
        self.run(&[&args[..], extra].concat())
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

    /// The statement file of `team` on `day`, parsed; it must exist.
    pub fn statement_json(&self, day: &str, team: &str) -> serde_json::Value {
        serde_json::from_str(&self.statement(day, team).unwrap()).unwrap()
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

/// Compares a statement with tests/golden/NAME. `UPDATE_GOLDEN=1` writes a file that differs
/// instead, and fails, so a run that rewrote a golden file can never pass.
#[track_caller]
pub fn assert_golden(actual: &str, name: &str) {
    let path = repo().join("tests/golden").join(name);
    let differs = std::fs::read_to_string(&path).ok().as_deref() != Some(actual);
    if differs && std::env::var_os("UPDATE_GOLDEN").is_some() {
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

/// A local S3 server (moto, in memory) for as long as it lives.
pub struct Moto {
    server: std::process::Child,
    port: u16,
}

impl Moto {
    /// Starts `moto_server` when it is on PATH; without it the test is skipped, unless CI=true
    /// (`.ci/run` installs it).
    pub fn start() -> Option<Moto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let server = match server {
            Ok(server) => server,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert_ne!(
                    std::env::var("CI").as_deref(),
                    Ok("true"),
                    "moto_server is not on PATH: pip install 'moto[server]'"
                );
                eprintln!("skipped: moto_server is not on PATH");
                return None;
            }
            Err(e) => panic!("cannot start moto_server: {e}"),
        };
        let moto = Moto { server, port };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Makes the bucket `name` (moto takes an unsigned request for it).
    pub fn create_bucket(&self, name: &str) {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    /// Puts `bytes` at `key` in the bucket `bucket` (moto takes an unsigned request).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            bytes.len()
        )
        .unwrap();
        stream.write_all(bytes).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    /// The `AWS_*` variables of a client of this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "tokenplan".into()),
            ("AWS_SECRET_ACCESS_KEY", "tokenplan".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

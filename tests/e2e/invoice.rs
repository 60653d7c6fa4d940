//! `billing invoice` (issue 23): a Team's month as one self-contained HTML page, as the member
//! asking may see it (V1, V2), compared whole with a golden page and rendered by a real browser
//! (Debian's `chromium`, headless).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Env, assert_golden};

/// The seats scenario billed through April 2026, with an operator's correction of 1 April
/// billed on 2 April.
fn april() -> Env {
    april_with(|_| {})
}

/// [`april`], with `between` done after the correction and before the night of 10 April.
fn april_with(between: impl Fn(&Env)) -> Env {
    let env = Env::new();
    env.load("seats-overseas", &[]);
    env.bill("2026-04-01", &[]).ok();
    env.run(&["operator", "add", "fin"]).ok();
    let extra = [
        "--reason",
        "seat <billed> twice & more",
        "--at",
        "2026-04-02T08:00:00Z",
    ];
    env.adjust("fin", ("t1", "2026-04-01"), ("-2.00", "charges"), &extra)
        .ok();
    between(&env);
    env.bill("2026-04-10", &[]).ok();
    env
}

fn invoice(env: &Env, user: &str) -> (String, std::path::PathBuf) {
    let out = env.dir.path().join(format!("t1-2026-04-{user}.html"));
    env.run(&[
        "billing",
        "invoice",
        "--team",
        "t1",
        "--month",
        "2026-04",
        "--as",
        user,
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    (std::fs::read_to_string(&out).unwrap(), out)
}

#[test]
fn v1_v2_b24_b25_a_month_on_one_page_for_an_owner_and_a_reader() {
    let env = april();
    let (owner, owner_file) = invoice(&env, "own");
    assert_golden(&owner, "invoice/t1-2026-04-own.html");
    // 1.50 of Credits on 1 April, -2.00 adjusted on 2 April, 13.33 of seats on 10 April.
    assert!(
        owner.contains(r#"<td class="n" id="total">12.83 USD</td>"#),
        "{owner}"
    );
    assert!(owner.contains("1 × 20.00 × 20 ÷ 30"), "{owner}");
    assert!(
        owner.contains("seat &lt;billed&gt; twice &amp; more"),
        "{owner}"
    );
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!owner.contains(external), "{external}");
    }

    let (reader, reader_file) = invoice(&env, "r3");
    assert!(reader.contains("only their own usage"), "{reader}");
    assert!(reader.contains("tp:t1:r3"), "{reader}");
    assert!(reader.contains(r#"id="total">1.50 USD"#), "{reader}");
    for hidden in [
        "id=\"charges\"",
        "id=\"movements\"",
        "id=\"adjustments\"",
        "13.33",
        "tp:t1:r1",
    ] {
        assert!(!reader.contains(hidden), "{hidden} in {reader}");
    }

    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs chromium: the page must be rendered there"
        );
        eprintln!("chromium is not installed: the pages were not rendered");
        return;
    };
    for (file, total) in [(&owner_file, "12.83 USD"), (&reader_file, "1.50 USD")] {
        let dom = render(&chromium, file, &env);
        assert!(
            dom.contains(&format!(r#"id="total">{total}</td>"#)),
            "{dom}"
        );
    }
}

#[test]
fn v1_v2_a_member_promoted_during_the_month_sees_every_day_as_at_its_end() {
    let env = april_with(|env| {
        let promote = env.write(
            "promote.yaml",
            "- { at: \"2026-04-10T00:01:00Z\", as: own, do: change_role, team: t1, user: r3, role: admin }\n",
        );
        env.run(&["apply", &promote]).ok();
    });
    let (owner, _) = invoice(&env, "own");
    let (promoted, _) = invoice(&env, "r3");
    assert_eq!(promoted, owner.replace("as seen by own", "as seen by r3"));
}

#[test]
fn an_invoice_of_an_unknown_team_or_an_empty_month_is_refused() {
    let env = april();
    let out = env.dir.path().join("x.html");
    let run = |team: &str, month: &str, user: &str| {
        env.run(&[
            "billing",
            "invoice",
            "--team",
            team,
            "--month",
            month,
            "--as",
            user,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert_eq!(run("nope", "2026-04", "own").status, 2);
    assert_eq!(run("t1", "2026-06", "own").status, 2);
    assert_eq!(run("t1", "2026-13", "own").status, 2);
    assert_eq!(run("t1", "2026-04", "stranger").status, 1);
    assert!(!out.exists());
}

/// Debian's `chromium`, if installed.
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

/// Renders `page` headless to a PNG (checked to be one) and returns the DOM the browser built.
fn render(chromium: &str, page: &Path, env: &Env) -> String {
    let url = format!("file://{}", page.display());
    let png = page.with_extension("png");
    let profile = env.dir.path().join("chromium-profile");
    let dom = page.with_extension("dom");
    let run = |args: &[String]| {
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .stdout(std::fs::File::create(&dom).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("chromium did not finish rendering {url}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::read_to_string(&dom).unwrap()
    };
    run(&[
        format!("--screenshot={}", png.display()),
        "--window-size=1000,1600".to_owned(),
        url.clone(),
    ]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "{}",
        bytes.len()
    );
    run(&["--dump-dom".to_owned(), url.clone()])
}

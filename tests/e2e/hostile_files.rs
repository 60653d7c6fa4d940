//! Hostile and broken files through the real binary: policy entries that can't be read,
//! duplicate keys in every YAML the product reads, prices whose products could overflow.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::support::{Env, repo, scenario};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(env: &Env, name: &str, text: &str) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A copy of policies/ whose `teams.cedar` (T5's member limit among them) is a dangling
/// symlink.
fn policies_with_dangling_teams_file(env: &Env) -> PathBuf {
    let dir = env.dir.path().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("teams.cedar") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    symlink(dir.join("gone.cedar"), dir.join("teams.cedar")).unwrap();
    dir
}

#[test]
fn a_policy_file_that_cannot_be_read_is_a_load_error_in_every_command() {
    let env = Env::new();
    let policies = policies_with_dangling_teams_file(&env);
    let out = env.run(&["policy", "check", "--policies", s(&policies)]);
    assert_eq!(out.status, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("teams.cedar"), "{}", out.stderr);
    let steps = write(
        &env,
        "s.yaml",
        "- { at: '2026-01-01T00:00:00Z', as: own, do: create_account }\n",
    );
    // Policies that don't load stop `apply` as every other problem with them does (exit 1).
    let out = env.run(&["apply", s(&steps), "--policies", s(&policies)]);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("teams.cedar"), "{}", out.stderr);
    assert_eq!(env.rows("team_records"), 0);
}

#[test]
fn a_tier_defined_twice_in_a_price_list_is_refused_naming_the_line() {
    let env = Env::new();
    env.load("usage", &[]);
    let bundled = std::fs::read_to_string(repo().join("fixtures/prices.yaml")).unwrap();
    let twice = bundled.replace(
        "models:\n",
        "  plus:\n    quota_tokens: 1\n    seat_price: { USD: \"0.01\", CNY: \"0.01\" }\nmodels:\n",
    );
    let line = twice.lines().position(|l| l == "  plus:").unwrap();
    let line = twice
        .lines()
        .skip(line + 1)
        .position(|l| l == "  plus:")
        .unwrap()
        + line
        + 2;
    let prices = write(&env, "prices.yaml", &twice);
    let out = env.bill("2026-05-02", &["--prices", s(&prices)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("duplicate key `plus`")
            && out.stderr.contains(&format!("line {line} ")),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("billing_runs"), 0);
}

#[test]
fn a_key_repeated_in_a_scenario_or_an_expected_matrix_is_refused_naming_the_line() {
    let env = Env::new();
    let steps = write(
        &env,
        "s.yaml",
        "- at: '2026-01-01T00:00:00Z'\n  as: own\n  do: create_account\n  as: eve\n",
    );
    let out = env.run(&["apply", s(&steps)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("duplicate key `as`") && out.stderr.contains("line 4 "),
        "{}",
        out.stderr
    );
    assert_eq!(env.rows("team_records"), 0);

    // A split cell is a map: a repeated key kept the last value, matching the policies.
    let matrix = std::fs::read_to_string(repo().join("fixtures/role-matrix.yaml")).unwrap();
    let cell = "  owner: { regular: yes, default: no }";
    let line = matrix.lines().position(|l| l == cell).unwrap() + 1;
    let repeated = matrix.replacen(
        cell,
        "  owner: { regular: no, regular: yes, default: no }",
        1,
    );
    let expect = write(&env, "matrix.yaml", &repeated);
    let out = env.run(&["policy", "matrix", "--expect", s(&expect)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("duplicate key `regular`")
            && out.stderr.contains(&format!("line {line} ")),
        "{}",
        out.stderr
    );
}

/// Found by hand: a model price so large that price × tokens overflowed billed day 1, then
/// panicked ("Multiplication overflowed", exit 101) with no metrics.
#[test]
fn a_price_whose_products_could_overflow_is_refused_when_the_list_is_read() {
    let env = Env::new();
    env.load("usage", &[]);
    let bundled = std::fs::read_to_string(scenario("small-quota-prices.yaml")).unwrap();
    let huge = "\"79228162514264337593543950\"";
    let prices = bundled.replacen("\"0.30\"", huge, 1);
    assert_ne!(prices, bundled);
    let prices = write(&env, "prices.yaml", &prices);
    let out = env.bill("2026-05-02", &["--prices", s(&prices)]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "price `79228162514264337593543950` is over the highest price a list may hold, 1000000"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(env.rows("billing_runs"), 0);
}

//! Command-line definitions and dispatch. Data goes to stdout; logs and errors to stderr.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use gatekeeper::Gatekeeper;
use gatekeeper::matrix::RoleMatrix;
use tokenplan::billing;
use tokenplan::events;
use tokenplan::prices::Prices;
use tokenplan::review::{self, PolicyDiff};
use tokenplan::store::Store;
use tokenplan::teams::{self, Teams};

const EXAMPLES: &str = "\
Examples:
  tokenplan demo                                  the whole job on built-in data
  tokenplan apply fixtures/demo/scenario.yaml     run a scenario into tokenplan.duckdb
  tokenplan events import events.csv              load usage events
  tokenplan billing run --date 2026-11-23 --out statements
  tokenplan policy check && tokenplan policy matrix --expect fixtures/role-matrix.yaml";

/// Token Plan Teams: Cedar policies, team operations and the nightly billing job.
#[derive(Parser)]
#[command(name = "tokenplan", version, after_help = EXAMPLES)]
struct Cli {
    /// The DuckDB store.
    #[arg(
        long,
        global = true,
        env = "TOKENPLAN_DB",
        default_value = "tokenplan.duckdb"
    )]
    db: PathBuf,
    /// A policy directory to use instead of the reviewed policies compiled in.
    #[arg(long, global = true, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// A price list to use instead of fixtures/prices.yaml compiled in.
    #[arg(long, global = true, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Print only data and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Log what is being done (to stderr).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Review the policies: check, matrix, diff, explain.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run a scenario's steps, in order, through the gatekeeper into the store.
    #[command(after_help = "Example:\n  tokenplan apply fixtures/demo/scenario.yaml --keep-going")]
    Apply {
        /// The scenario (YAML list of steps).
        scenario: PathBuf,
        /// Go on after a step that ends against its expectation.
        #[arg(long)]
        keep_going: bool,
    },
    /// Usage events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// The nightly billing job and its statements.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// A synthetic store of that size, for benchmarks and load tests: Teams, members, seats and
    /// keys appended as records (without gatekeeper decisions), events generated in DuckDB.
    #[command(
        after_help = "Example:\n  tokenplan --db bench.duckdb generate --teams 10000 --members 10 --days 1 --events 10000000"
    )]
    Generate {
        /// Teams (every second one domestic).
        #[arg(long)]
        teams: usize,
        /// Members per Team, the Owner included (1 to 100).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        members: u8,
        /// Days of events, ending with --last-day.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
        /// Events in all.
        #[arg(long)]
        events: u64,
        /// The last day with events.
        #[arg(long, default_value = "2026-11-23")]
        last_day: chrono::NaiveDate,
    },
    /// The main job on built-in data: a temporary store, the demo scenario and events, a
    /// billing run, and the statements.
    #[command(after_help = "Example:\n  tokenplan demo --out statements")]
    Demo {
        /// Also write the statement files here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Bill a day: statements to the store (and files with --out), and the run summary.
    #[command(
        after_help = "Without --date, bills the latest day that has ended in every region's billing zone\n(yesterday in UTC). Re-running a billed day reproduces its statements byte for byte.\nExit 1 when reconciliation fails (nothing is written).\n\nExample:\n  tokenplan billing run --date 2026-11-23 --out /var/lib/tokenplan/statements"
    )]
    Run {
        /// The day (YYYY-MM-DD).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Write DIR/DAY/TEAM.json and DIR/DAY/summary.json.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// One statement as a member may see it (Owner/Admin: all; Reader: their own keys).
    #[command(
        after_help = "Example:\n  tokenplan billing show --date 2026-11-23 --team acme --as bob --format json"
    )]
    Show {
        /// The day (YYYY-MM-DD).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// The Team.
        #[arg(long)]
        team: String,
        /// The member looking.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ShowFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Load usage events (CSV, JSON Lines or Parquet, by extension) into `usage_events`.
    #[command(
        after_help = "A file with a row that can't be stored is refused whole; event ids already stored are skipped.\n\nExample:\n  tokenplan events import fixtures/demo/events.csv"
    )]
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Parse, strictly validate and lint every policy; list every problem with file:line.
    #[command(after_help = "Example:\n  tokenplan policy check --policies policies")]
    Check,
    /// The role matrix as the policies decide it, by evaluation.
    #[command(
        after_help = "Example:\n  tokenplan policy matrix --format md --expect fixtures/role-matrix.yaml"
    )]
    Matrix {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Compare with an expected matrix (YAML or JSON) and exit 1 on any difference.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
    },
    /// Matrix cells and limit boundaries whose decision differs between two policy directories.
    #[command(
        after_help = "Exits 1 when a decision was loosened (deny → allow).\n\nExample:\n  tokenplan policy diff old/policies policies"
    )]
    Diff {
        /// The policies before the change.
        old_dir: PathBuf,
        /// The policies after the change.
        new_dir: PathBuf,
    },
    /// Formal proofs (cedar-policy-symcc + cvc5) of the properties in policies/properties, and
    /// that no policy ever errors, over every entity store the schema allows.
    #[command(
        after_help = "Needs cvc5 on PATH (or CVC5=/path/to/cvc5): `apt-get install -y cvc5`.\nExit 1 when a property fails (its counterexample is printed), 2 without cvc5.\n\nExample:\n  tokenplan policy verify --properties policies/properties"
    )]
    Verify {
        /// The properties (default: DIR/properties of --policies, or policies/properties).
        #[arg(long, value_name = "DIR")]
        properties: Option<PathBuf>,
    },
    /// One Markdown report for a review: check results, the matrix, the proofs, and each
    /// rule with the policies that enforce it.
    #[command(after_help = "Example:\n  tokenplan policy report > review.md")]
    Report {
        /// The properties (default as for `verify`).
        #[arg(long, value_name = "DIR")]
        properties: Option<PathBuf>,
    },
    /// One decision against the store, with the policies and rules that made it.
    #[command(
        after_help = "Example:\n  tokenplan policy explain --as ada --action invite --team acme --target nina --role reader"
    )]
    Explain(Box<ExplainArgs>),
}

#[derive(Args)]
struct ExplainArgs {
    /// The acting user.
    #[arg(long = "as", value_name = "USER")]
    actor: String,
    /// A scenario operation (`invite`, `add_seats`, ...).
    #[arg(long)]
    action: String,
    /// The Team.
    #[arg(long)]
    team: String,
    /// The user the action is about (invite, remove_member, assign_seat, ...).
    #[arg(long)]
    target: Option<String>,
    /// The role, for invite and change_role.
    #[arg(long)]
    role: Option<String>,
    /// The tier, for subscription and seat actions.
    #[arg(long)]
    tier: Option<String>,
    /// The seat count, for buy, add and remove.
    #[arg(long)]
    seats: Option<u32>,
    /// The key id, for key actions.
    #[arg(long)]
    key: Option<String>,
    /// The member a seat is reassigned from.
    #[arg(long)]
    from: Option<String>,
    /// The instant to decide at (RFC 3339); default now.
    #[arg(long, conflicts_with = "as_role")]
    at: Option<String>,
    /// Decide on facts given here instead of the store: the actor's role (`none`: not a member).
    #[arg(long, value_name = "ROLE", help_heading = "Facts instead of a store")]
    as_role: Option<String>,
    /// The Team's region.
    #[arg(
        long,
        default_value = "overseas",
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    region: String,
    /// The Team is a Default Team.
    #[arg(long, requires = "as_role", help_heading = "Facts instead of a store")]
    default_team: bool,
    /// Members, actor and target included.
    #[arg(
        long,
        default_value_t = 1,
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    members: usize,
    /// Seats of --tier (default tier `plus`).
    #[arg(
        long,
        default_value_t = 0,
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    team_seats: u32,
    /// The target is a member with this role.
    #[arg(long, requires = "as_role", help_heading = "Facts instead of a store")]
    target_role: Option<String>,
    /// The target holds a seat.
    #[arg(long, requires = "as_role", help_heading = "Facts instead of a store")]
    target_seat: bool,
    /// The actor's live pay-as-you-go keys.
    #[arg(
        long,
        default_value_t = 0,
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    live_keys: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Md,
    Json,
}

/// A failure, with the exit status it maps to (interfaces.md).
struct Failure {
    status: i32,
    error: anyhow::Error,
    hint: Option<String>,
}

impl Failure {
    /// The work failed or a check found problems: exit 1.
    fn work(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: 1,
            error: error.into(),
            hint: None,
        }
    }

    /// Bad usage or unreadable input: exit 2.
    fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: 2,
            error: error.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

type Outcome = Result<i32, Failure>;

/// Runs the command line and returns the exit status.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging(cli.quiet, cli.verbose);
    match dispatch(&cli) {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            if let Some(hint) = failure.hint {
                eprintln!("hint: {hint}");
            }
            failure.status
        }
    }
}

fn init_logging(quiet: bool, verbose: bool) {
    let level = if verbose {
        "tokenplan=debug,info"
    } else if quiet {
        "error"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn dispatch(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Policy(command) => policy(cli, command),
        Command::Apply {
            scenario,
            keep_going,
        } => apply(cli, scenario, *keep_going),
        Command::Events(EventsCommand::Import { files }) => import(cli, files),
        Command::Billing(BillingCommand::Run { date, out }) => {
            let mut store = open_store(&cli.db)?;
            billing_run(cli, &mut store, *date, out.as_deref())
        }
        Command::Billing(BillingCommand::Show {
            date,
            team,
            actor,
            format,
        }) => show(cli, *date, team, actor, *format),
        Command::Demo { out } => demo(cli, out.as_deref()),
        Command::Generate {
            teams,
            members,
            days,
            events,
            last_day,
        } => {
            let shape = tokenplan::generate::Shape {
                teams: *teams,
                members: usize::from(*members),
                days: *days,
                events: *events,
                last_day: *last_day,
            };
            generate(cli, shape)
        }
    }
}

fn gatekeeper(cli: &Cli) -> Result<Gatekeeper, Failure> {
    review::load(cli.policies.as_deref()).map_err(|e| {
        Failure::work(e).hint("run `tokenplan policy check` for every problem with file:line")
    })
}

fn prices(cli: &Cli) -> Result<Prices, Failure> {
    match &cli.prices {
        Some(path) => Prices::from_file(path),
        None => Prices::bundled(),
    }
    .map_err(Failure::input)
}

fn open_store(path: &Path) -> Result<Store, Failure> {
    Store::open(path).map_err(|e| {
        Failure::input(e).hint("check --db (or TOKENPLAN_DB); another tokenplan may hold the file")
    })
}

fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .map_err(Failure::input)
}

fn policy(cli: &Cli, command: &PolicyCommand) -> Outcome {
    match command {
        PolicyCommand::Check => {
            let problems = review::check(cli.policies.as_deref()).map_err(Failure::input)?;
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                if !cli.quiet {
                    eprintln!(
                        "policies: ok (parsed, strictly validated, every policy has a unique @id and a known @rule)"
                    );
                }
                Ok(0)
            } else {
                eprintln!("{} problem(s)", problems.len());
                Ok(1)
            }
        }
        PolicyCommand::Matrix { format, expect } => {
            let gate = gatekeeper(cli)?;
            let matrix = RoleMatrix::evaluate(&gate);
            match format {
                Format::Md => print!("{}", matrix.to_markdown()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&matrix).map_err(Failure::work)?
                ),
            }
            let Some(expect) = expect else { return Ok(0) };
            let expected: RoleMatrix = serde_yaml::from_str(&read_file(expect)?)
                .with_context(|| format!("`{}` is not a role matrix", expect.display()))
                .map_err(Failure::input)?;
            let differences = expected.differences(&matrix);
            for difference in &differences {
                eprintln!("differs from {}: {difference}", expect.display());
            }
            Ok(if differences.is_empty() { 0 } else { 1 })
        }
        PolicyCommand::Diff { old_dir, new_dir } => {
            let load = |dir: &Path| {
                Gatekeeper::from_dir(dir)
                    .with_context(|| format!("policies `{}` do not load", dir.display()))
                    .map_err(Failure::input)
            };
            let diff = PolicyDiff::between(&load(old_dir)?, &load(new_dir)?);
            println!("{}", diff.render());
            if diff.loosens() {
                eprintln!("a decision was loosened (deny → allow): ask for a second review");
                Ok(1)
            } else {
                Ok(0)
            }
        }
        PolicyCommand::Explain(args) => explain(cli, args),
        PolicyCommand::Verify { properties } => {
            let gate = gatekeeper(cli)?;
            let checks = prove(cli, properties.as_deref(), &gate)?;
            let mut failed = 0;
            for check in &checks {
                match &check.counterexample {
                    None => println!(
                        "holds  {} ({}) for {}",
                        check.name,
                        check.rules.join(", "),
                        check.request_env
                    ),
                    Some(counterexample) => {
                        failed += 1;
                        println!(
                            "FAILS  {} ({}) for {}\n  counterexample:\n{}",
                            check.name,
                            check.rules.join(", "),
                            check.request_env,
                            indent(counterexample)
                        );
                    }
                }
            }
            eprintln!("{} proof obligation(s), {failed} failed", checks.len());
            Ok(if failed == 0 { 0 } else { 1 })
        }
        PolicyCommand::Report { properties } => {
            let problems = review::check(cli.policies.as_deref()).map_err(Failure::input)?;
            let gate = gatekeeper(cli)?;
            let proofs = match prove(cli, properties.as_deref(), &gate) {
                Ok(checks) => Ok(checks),
                Err(failure) => Err(format!("{:#}", failure.error)),
            };
            print!("{}", tokenplan::report::markdown(&gate, &problems, &proofs));
            Ok(0)
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn prove(
    cli: &Cli,
    properties: Option<&Path>,
    gate: &Gatekeeper,
) -> Result<Vec<tokenplan::verify::Check>, Failure> {
    let dir = properties.map(Path::to_owned).unwrap_or_else(|| {
        cli.policies
            .clone()
            .unwrap_or_else(|| PathBuf::from("policies"))
            .join("properties")
    });
    let solver = tokenplan::verify::find_solver()
        .map_err(|e| Failure::input(e).hint("install it with `apt-get install -y cvc5` (Debian's 1.0.3 works), or set CVC5 to its path"))?;
    let properties = tokenplan::verify::load_properties(&dir)
        .map_err(|e| Failure::input(e).hint("pass --properties DIR"))?;
    tokenplan::verify::verify(gate, &properties, &solver).map_err(Failure::work)
}

fn explain(cli: &Cli, args: &ExplainArgs) -> Outcome {
    let gate = gatekeeper(cli)?;
    let state = match &args.as_role {
        Some(role) => facts_state(args, role)?,
        None => stored_state(cli, args)?,
    };
    let request = tokenplan::explain::request(
        &state,
        &args.actor,
        &args.action,
        &tokenplan::explain::Fields {
            target: args.target.clone(),
            role: args.role.clone(),
            tier: args.tier.clone(),
            seats: args.seats,
            key: args.key.clone(),
            from: args.from.clone(),
        },
    )
    .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
    let decision = gate.decide(&request);
    println!("{}", decision.explain());
    for policy in decision.policies() {
        if let Some(location) = gate.locations().get(&policy.id) {
            println!(
                "  {} ({}) at policies/{}:{}",
                policy.id, policy.rule, location.file, location.line
            );
        }
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

fn facts_state(args: &ExplainArgs, role: &str) -> Result<tokenplan::teams::TeamState, Failure> {
    let parse_role = |text: &str| {
        text.parse::<gatekeeper::Role>()
            .map_err(|e| Failure::input(anyhow::anyhow!(e)))
    };
    let facts = tokenplan::explain::Facts {
        role: if role == "none" {
            None
        } else {
            Some(parse_role(role)?)
        },
        region: args
            .region
            .parse()
            .map_err(|e: String| Failure::input(anyhow::anyhow!(e)))?,
        is_default: args.default_team,
        members: args.members,
        seats: args.team_seats,
        tier: args.tier.clone().unwrap_or_else(|| "plus".into()),
        target_role: args.target_role.as_deref().map(parse_role).transpose()?,
        target_seat: args.target_seat,
        live_keys: args.live_keys,
    };
    Ok(tokenplan::explain::state_from_facts(
        &args.team,
        &args.actor,
        args.target.as_deref(),
        &facts,
    ))
}

fn stored_state(cli: &Cli, args: &ExplainArgs) -> Result<tokenplan::teams::TeamState, Failure> {
    let store = open_store(&cli.db)?;
    let at = match &args.at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("--at `{text}` is not an RFC 3339 time"))
            .map_err(Failure::input)?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    store
        .team_state(&args.team, at)
        .map_err(Failure::work)?
        .ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "no Team `{}` in `{}`",
                args.team,
                cli.db.display()
            ))
            .hint("or decide on facts: --as-role ROLE --members N ...")
        })
}

fn apply(cli: &Cli, scenario: &Path, keep_going: bool) -> Outcome {
    let text = read_file(scenario)?;
    let steps =
        teams::scenario::parse(&scenario.display().to_string(), &text).map_err(Failure::input)?;
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let mut store = open_store(&cli.db)?;
    let mut teams = Teams::new(&mut store, &gate, &prices);
    let mut failed = 0;
    for (i, step) in steps.iter().enumerate() {
        let number = i + 1;
        let decision = teams
            .apply(&step.actor, &step.operation, step.at)
            .map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "`{}` step {number}: {e}",
                    scenario.display()
                ))
            })?;
        let as_expected = decision.is_allowed() != step.expect_denied;
        let mark = match (decision.is_allowed(), step.expect_denied) {
            (true, false) => "ok",
            (false, true) => "ok (denied as expected)",
            (true, true) => "FAILED (expected denied)",
            (false, false) => "FAILED",
        };
        println!(
            "step {number} {} {} {} {}: {mark}: {}",
            step.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            step.actor,
            step.operation.name(),
            step.operation.team(&step.actor),
            decision.explain()
        );
        if !as_expected {
            failed += 1;
            if !keep_going {
                eprintln!(
                    "error: step {number} ended against its expectation; stopping (use --keep-going to go on)"
                );
                return Ok(1);
            }
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} step(s) ended against their expectation");
        return Ok(1);
    }
    if !cli.quiet {
        eprintln!("applied {} step(s) to {}", steps.len(), cli.db.display());
    }
    Ok(0)
}

fn import(cli: &Cli, files: &[PathBuf]) -> Outcome {
    let mut store = open_store(&cli.db)?;
    for file in files {
        let rows = events::read(file).map_err(|e| {
            Failure::input(e).hint(
                "fix the rows named above and import the file again; nothing of it was stored",
            )
        })?;
        let summary =
            events::store(&mut store, &rows, chrono::Utc::now()).map_err(Failure::work)?;
        println!(
            "{}: read {}, stored {}, skipped {} (event id already stored or repeated)",
            file.display(),
            summary.read,
            summary.stored,
            summary.skipped
        );
    }
    Ok(0)
}

fn progress(cli: &Cli) -> indicatif::ProgressBar {
    if cli.quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn billing_run(
    cli: &Cli,
    store: &mut Store,
    date: Option<chrono::NaiveDate>,
    out: Option<&Path>,
) -> Outcome {
    let prices = prices(cli)?;
    let day = date.unwrap_or_else(|| billing::default_day(chrono::Utc::now()));
    let bar = progress(cli);
    let report = billing::run(store, &prices, day, out, &bar);
    bar.finish_and_clear();
    let report = report.map_err(|e| match e {
        billing::BillingError::Reconciliation { .. } => Failure::work(e),
        other => Failure::work(other),
    })?;
    let summary = serde_json::to_string_pretty(&report.summary).map_err(Failure::work)?;
    println!("{summary}");
    if !cli.quiet {
        let how = if report.reproduced {
            "reproduced (already billed)"
        } else {
            "billed"
        };
        eprintln!(
            "{day}: {how}: {} statement(s){}",
            report.statements.len(),
            out.map(|o| format!(" in {}", o.join(day.to_string()).display()))
                .unwrap_or_default()
        );
    }
    Ok(0)
}

fn show(cli: &Cli, day: chrono::NaiveDate, team: &str, actor: &str, format: ShowFormat) -> Outcome {
    let gate = gatekeeper(cli)?;
    let store = open_store(&cli.db)?;
    let statement = billing::statement_of(&store, day, team)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no statement of Team `{team}` for {day}")).hint("run `tokenplan billing run --date` for that day first; a Team with nothing to bill has no statement"))?;
    let end =
        tokenplan::calendar::day_start(day.succ_opt().unwrap_or(day), statement_region(&statement))
            - chrono::Duration::microseconds(1);
    let state = store
        .team_state(team, end)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no Team `{team}`")))?;
    let visible = billing::view(&gate, &state, actor, &statement).map_err(Failure::work)?;
    match format {
        ShowFormat::Json => print!("{}", visible.to_json().map_err(Failure::work)?),
        ShowFormat::Table => print!("{}", tokenplan::render::statement_table(&visible)),
    }
    Ok(0)
}

fn statement_region(statement: &billing::Statement) -> gatekeeper::Region {
    statement
        .region
        .parse()
        .unwrap_or(gatekeeper::Region::Overseas)
}

fn demo(cli: &Cli, out: Option<&Path>) -> Outcome {
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let dir = tempfile::tempdir().map_err(Failure::work)?;
    let mut store = Store::open(&dir.path().join("demo.duckdb")).map_err(Failure::work)?;
    let day = tokenplan::demo::load(&mut store, &gate, &prices).map_err(Failure::work)?;
    let bar = progress(cli);
    let report = billing::run(&mut store, &prices, day, out, &bar);
    bar.finish_and_clear();
    let report = report.map_err(Failure::work)?;
    for statement in &report.statements {
        println!("{}", tokenplan::render::statement_table(statement));
    }
    println!("{}", tokenplan::render::summary_table(&report.summary));
    Ok(0)
}

fn generate(cli: &Cli, shape: tokenplan::generate::Shape) -> Outcome {
    let mut store = open_store(&cli.db)?;
    if !store.team_ids().map_err(Failure::work)?.is_empty() {
        return Err(
            Failure::input(anyhow::anyhow!("`{}` already has Teams", cli.db.display()))
                .hint("generate into a new --db file"),
        );
    }
    let bar = progress(cli);
    let started = std::time::Instant::now();
    let result = tokenplan::generate::generate(&mut store, shape, &bar);
    bar.finish_and_clear();
    result.map_err(Failure::work)?;
    if !cli.quiet {
        eprintln!(
            "generated {} Teams × {} members and {} events over {} day(s) ending {} in {:.1?}",
            shape.teams,
            shape.members,
            shape.events,
            shape.days,
            shape.last_day,
            started.elapsed()
        );
    }
    Ok(0)
}

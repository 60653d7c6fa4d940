//! Command-line definitions and dispatch. Data goes to stdout; logs and errors to stderr.

/// Writes data to stdout: a closed stdout ends the command quietly (exit 0, as ripgrep does);
/// any other write error exits 2.
macro_rules! out {
    ($($arg:tt)*) => {
        crate::cli::write_stdout(format_args!($($arg)*))?
    };
}

mod adjust;
mod archive;
mod billing;
mod coverage;
mod exit;
mod export;
mod operations;
mod policy;
mod shards;

use billing::{RunArgs, billing_run, demo, generate, show, status};
pub use exit::Exit;
use operations::{apply, import};
use policy::policy;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};
use gatekeeper::matrix::RoleMatrix;
use gatekeeper::{Action, Gatekeeper, Region, Role};
use tokenplan::calendar;
use tokenplan::events;
use tokenplan::ids::{IdError, TeamId, UserId};
use tokenplan::prices::Prices;
use tokenplan::review::{self, PolicyDiff};
use tokenplan::store::{Access, Store, StoreError};
use tokenplan::teams::{self, Teams};

const EXAMPLES: &str = "\
Examples:
  tokenplan demo                                  the whole job on built-in data
  tokenplan apply fixtures/demo/scenario.yaml     run a scenario into tokenplan.duckdb
  tokenplan events import events.csv              load usage events
  tokenplan billing run --date 2026-11-23 --out statements
  tokenplan policy check && tokenplan policy matrix --expect fixtures/role-matrix.yaml";

/// The longest `--wait`: a day.
const MAX_WAIT_SECONDS: u64 = 24 * 60 * 60;

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
    /// A policy directory, or `compiled-in` for the reviewed set compiled into the binary.
    /// `policy` commands default to ./policies when it exists, else compiled-in; `apply` and
    /// `billing` to compiled-in.
    #[arg(long, global = true, value_name = "DIR|compiled-in")]
    policies: Option<review::set::Choice>,
    /// A price list to use instead of fixtures/prices.yaml compiled in.
    #[arg(long, global = true, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Print only data and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Log what is being done (to stderr).
    #[arg(long, short, global = true)]
    verbose: bool,
    /// How long to wait for a store another process holds before exiting with 75 (try again
    /// later), in seconds (at most a day).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(..=MAX_WAIT_SECONDS)
    )]
    wait: u64,
    /// How logs are written to stderr: `text` for people, `json` (one object a line) for log
    /// shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Review the policies: check, matrix, diff, verify, report, explain. Each reads
    /// ./policies when it exists (else the compiled-in set), or the set named by --policies,
    /// and says on stderr which set it read.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run a scenario's steps, in order, through the gatekeeper into the store.
    #[command(
        after_help = "With --dry-run, every step is decided against the store and nothing is stored; each\nallowed purchase or seat addition prints the line it would bill on its day's statement,\nwith the working (seats × seat price × days left ÷ days in the cycle).\n\nExamples:\n  tokenplan apply fixtures/demo/scenario.yaml --keep-going\n  tokenplan apply add-seats.yaml --dry-run"
    )]
    Apply {
        /// The scenario (YAML list of steps).
        scenario: PathBuf,
        /// Go on after a step that ends against its expectation.
        #[arg(long)]
        keep_going: bool,
        /// Decide every step and show what it would bill; store nothing.
        #[arg(long, conflicts_with_all = ["keep_going", "decision_log"])]
        dry_run: bool,
        /// Append every decision to FILE as JSON Lines: the request's facts, the verdict, the
        /// deciding policies and rules, the policy set's digest and the time.
        #[arg(long, value_name = "FILE", env = "TOKENPLAN_DECISION_LOG")]
        decision_log: Option<PathBuf>,
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
        #[arg(long, default_value = "2026-11-23", value_parser = calendar_day)]
        last_day: NaiveDate,
    },
    /// Billing operators, who correct issued statements (B24).
    #[command(subcommand)]
    Operator(OperatorCommand),
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
enum OperatorCommand {
    /// Make ID a billing operator: whoever holds the store may; recorded in `operators`.
    #[command(after_help = "Example:\n  tokenplan operator add fin-ops")]
    Add {
        /// The operator's id (as a user id: letters, digits, `-`, `_`, `.`).
        #[arg(value_parser = IdParser::<UserId>::new())]
        id: UserId,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Correct an issued statement: an adjustment, billed on the Team's next statement (B24).
    #[command(
        after_help = "An issued statement never changes. The adjustment is recorded append-only and billed as an\n`adjustment` line on the Team's statement of the first day not yet billed; from then on it\nchanges what the Team owes (`charges`) or the balance it applies to (`credits`, `wallet`).\nPositive amounts are owed or taken, negative ones credited. Only a billing operator may make\none (`tokenplan operator add`); the policies decide (action `adjust_statement`) and deny every\nTeam role.\nExit 0 recorded; 1 denied by the policies (the decision is in `audit_log`); 2 bad input (an\nunknown Team, a day not billed, an amount not in cents or zero, an empty reason): nothing\nstored.\n\nExample:\n  tokenplan billing adjust --as fin-ops --team acme --day 2026-11-23 --amount -5.00 --applies-to charges --reason \"outage credit, ticket 4411\""
    )]
    Adjust {
        /// The billing operator making it.
        #[arg(long = "as", value_name = "OPERATOR", value_parser = IdParser::<UserId>::new())]
        actor: UserId,
        /// The Team whose statement it corrects.
        #[arg(long, value_parser = IdParser::<TeamId>::new())]
        team: TeamId,
        /// The billed day it corrects (YYYY-MM-DD).
        #[arg(long, value_parser = calendar_day)]
        day: NaiveDate,
        /// In the Team's currency, at most 2 decimals: positive owed or taken, negative credited.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// What it changes.
        #[arg(long, value_parser = PossibleValuesParser::new(["charges", "credits", "wallet"]).try_map(|s| s.parse::<tokenplan::billing::AppliesTo>()))]
        applies_to: tokenplan::billing::AppliesTo,
        /// Why: one line, shown on the statement.
        #[arg(long)]
        reason: String,
        /// When it is made (RFC 3339); default now.
        #[arg(long, value_parser = instant)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Bill a day: statements to the store (and files with --out), and the run summary.
    #[command(
        after_help = "Bills every day after the latest billed day, in order, through --date (default: the\nlatest day that has ended in every region's billing zone, yesterday in UTC); a billed day\nis reproduced byte for byte. Prints one JSON summary line per day.\nExit 0 done; 1 the run failed (days before the failing one stay billed, it is not);\n2 bad usage or input (a day not ended, a missing store, --out or --metrics not writable:\nnothing billed); 3 billed, but the --out files or the --metrics file could not be written\n(re-run to write them); 75 the store stayed busy (nothing changed).\n\nExample:\n  tokenplan billing run --out /var/lib/tokenplan/statements --metrics /var/lib/node_exporter/tokenplan.prom --spool /var/spool/tokenplan"
    )]
    Run {
        /// The day (YYYY-MM-DD).
        #[arg(long, value_parser = calendar_day)]
        date: Option<NaiveDate>,
        /// Write DIR/DAY/TEAM.json and DIR/DAY/summary.json.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the run's metrics here (Prometheus text format, for node_exporter's textfile
        /// collector), whatever the outcome.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// The gateway's spool directory: the files in its `refused/` are counted in the
        /// metrics.
        #[arg(long, value_name = "DIR", env = "TOKENPLAN_SPOOL")]
        spool: Option<PathBuf>,
        /// The window W in days (B21): duplicates are decided within it, and an event more
        /// than W days older than the day that first sees it is `too_late`. Fixed when the
        /// store's first day is billed (default 35); a different value later is refused.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        window: Option<u32>,
        /// Read the usage events from a lake of Parquet files (`day=YYYY-MM-DD/*.parquet`, the
        /// columns of `usage_events`) under a directory or s3://bucket/prefix: every file not
        /// taken yet is stored first, each file once.
        #[arg(long, value_name = "DIR|URL", env = "TOKENPLAN_EVENTS")]
        events: Option<String>,
    },
    /// What an operator checks in the morning: the latest billed day, the days not yet billed
    /// up to yesterday, the events not yet settled, the spool files refused, and how the last
    /// run ended.
    #[command(
        after_help = "Example:\n  tokenplan billing status --spool /var/spool/tokenplan --format json"
    )]
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
        /// The gateway's spool directory: count the files in its `refused/`.
        #[arg(long, value_name = "DIR", env = "TOKENPLAN_SPOOL")]
        spool: Option<PathBuf>,
    },
    /// Move the events of billed days older than the window to day-partitioned zstd Parquet
    /// files (B22), or verify the files against the store's record.
    #[command(
        after_help = "The window W is fixed when a store's first day is billed (35 days; `billing status` shows it).\nThe events of a UTC day leave once the day after it is more than W days before the latest\nbilled day (the events' usage days are at most a day later in UTC+08:00), if a billing run\nsettled them: to --to/day=YYYY-MM-DD/events-N.parquet, each file written, read back and\nchecked before one transaction records the files and removes their events. Events without a\ntime stay. Killed at any instant, the next run completes it. Prints one JSON line per day\narchived (day, rows, file, sha256); with --verify, one per file (and `problem` where it does\nnot match). Statements stay in the store: archived days are reproduced as before (B15).\nExit 0 done; 1 the archive failed (nothing deleted) or --verify found a day that does not\nmatch; 2 bad usage or a location that can't be written (nothing archived); 75 the store\nstayed busy.\n\nExamples:\n  tokenplan billing archive --to /var/lib/tokenplan/archive\n  AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ALLOW_HTTP=true tokenplan billing archive --to s3://events/tokenplan\n  tokenplan billing archive --verify"
    )]
    Archive {
        /// Where: a directory, or s3://bucket/prefix (credentials, region and endpoint from
        /// the AWS_* variables). With --verify, read the files here instead of where they were
        /// written.
        #[arg(
            long,
            value_name = "DIR|URL",
            env = "TOKENPLAN_ARCHIVE",
            required_unless_present = "verify"
        )]
        to: Option<String>,
        /// Re-read every archived file against its record (exists, SHA-256, rows).
        #[arg(long)]
        verify: bool,
    },
    /// Plan a night across machines (B23): decide the days, and write to the stage, for each
    /// of N shards, a cut of the store holding what its Teams' run reads.
    #[command(
        after_help = "Runs where the store is; no shard opens the store. A Team's shard is its bucket (FNV-1a\n64 of its id) modulo N. The stage is a directory or s3://bucket/prefix; the plan is\nwritten last, as plan.json, with input/shard-K-of-N.duckdb for each K. A day billed\nalready makes an empty plan (its shards and commit do nothing).\nExit 0 planned; 1 the plan failed; 2 bad usage, a day not ended, a stage that can't be\nused; 75 the store stayed busy.\n\nExample:\n  tokenplan billing plan --date 2026-11-23 --stage s3://billing/stage --shards 8"
    )]
    Plan {
        /// The day to bill through (YYYY-MM-DD; default: yesterday in UTC).
        #[arg(long, value_parser = calendar_day)]
        date: Option<NaiveDate>,
        /// Where the plan, the shards' inputs and their outputs go: a directory or
        /// s3://bucket/prefix (credentials, region and endpoint from the AWS_* variables).
        #[arg(long, value_name = "DIR|URL", env = "TOKENPLAN_STAGE")]
        stage: String,
        /// How many shards.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10000))]
        shards: u32,
        /// The window W in days, as for `billing run` (B21).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        window: Option<u32>,
        /// Read the usage events from a lake of Parquet files (`day=YYYY-MM-DD/*.parquet`, the
        /// columns of `usage_events`) under a directory or s3://bucket/prefix: every file not
        /// taken yet is stored first, each file once.
        #[arg(long, value_name = "DIR|URL", env = "TOKENPLAN_EVENTS")]
        events: Option<String>,
    },
    /// Bill one shard of the stage's plan (B23), on any machine that reaches the stage.
    #[command(
        after_help = "Fetches input/shard-K-of-N.duckdb, checks it against the plan, bills its Teams with the\ncode of `billing run`, and writes output/shard-K-of-N.json in one put: a retried index\noverwrites it. Without --index, K is $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).\nExit 0 done; 1 the shard failed; 2 bad usage, no plan, an index not in the plan;\n75 the stage could not be reached (retry).\n\nExamples:\n  tokenplan billing shard --stage s3://billing/stage --index 3\n  JOB_COMPLETION_INDEX=3 tokenplan billing shard --stage /mnt/stage"
    )]
    Shard {
        /// Where the plan is.
        #[arg(long, value_name = "DIR|URL", env = "TOKENPLAN_STAGE")]
        stage: String,
        /// The shard: 0 to N-1 (default: $JOB_COMPLETION_INDEX).
        #[arg(long)]
        index: Option<u32>,
        /// N, checked against the plan's (default: the plan's).
        #[arg(long)]
        of: Option<u32>,
    },
    /// Commit a planned night (B23): every shard present, of this plan and whole, and the
    /// counts adding up, or nothing is committed.
    #[command(
        after_help = "Commits the plan's days in one transaction, then writes the files and prints one summary\nline per day, as `billing run` does: the statements are byte for byte those of one run.\nCommitting again is a no-op (the days are reported as reproduced).\nExit 0 done; 1 a shard is missing, of another plan or incomplete, the store billed days\nsince the plan, or the counts do not add up (nothing committed); 2 bad usage or no plan;\n3 committed, but the --out files or --metrics could not be written; 75 the store stayed busy\nor the stage could not be reached.\n\nExample:\n  tokenplan billing commit --stage s3://billing/stage --out /var/lib/tokenplan/statements"
    )]
    Commit {
        /// Where the plan is.
        #[arg(long, value_name = "DIR|URL", env = "TOKENPLAN_STAGE")]
        stage: String,
        /// Write DIR/DAY/TEAM.json and DIR/DAY/summary.json.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the metrics here, as `billing run --metrics`.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
    },
    /// Statement lines as rows, one per line, for a data warehouse.
    #[command(
        after_help = "Columns: team, day, region, currency, kind, tier, user, key, model, usage_day, late,\nevents, tokens (input and output), seats, days (of a proration), amount; a column that does\nnot apply to a line's kind is empty. Amounts are exact decimals: text with two decimals in\nCSV, DECIMAL(18, 2) in Parquet. The amounts of a day's rows of a Team add up to its\nstatement's total. CSV goes to stdout without --out; a file is written whole or not at all.\nExit 0 done; 2 bad usage (--from after --to, an unknown Team, Parquet without --out).\n\nExamples:\n  tokenplan billing export --from 2026-11-01 --to 2026-11-30 --format csv > november.csv\n  tokenplan billing export --from 2026-11-01 --to 2026-11-30 --team acme --format parquet --out acme-november.parquet"
    )]
    Export {
        /// The first day (YYYY-MM-DD).
        #[arg(long, value_parser = calendar_day)]
        from: NaiveDate,
        /// The last day (YYYY-MM-DD), included.
        #[arg(long, value_parser = calendar_day)]
        to: NaiveDate,
        /// Only this Team's statements.
        #[arg(long, value_parser = IdParser::<TeamId>::new())]
        team: Option<TeamId>,
        #[arg(long, value_enum)]
        format: export::ExportFormat,
        /// Write here (needed for Parquet); CSV goes to stdout without it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A Team's month as one printable, self-contained HTML page, as USER may see it.
    #[command(
        after_help = "The month's daily statements rolled up: totals, a chart of daily spend, subscription and\nseat items with their periods and working (seats × price × days ÷ cycle days), usage by\nmember, key and model, adjustments with their reasons, and the Credits pool's and wallet's\nmovements. An Owner or Admin sees the Team's billing; a Reader only their own usage (V1,\nV2). The working uses --prices, which must give the amounts billed. No script and no\nexternal asset: print it or attach it as it is.\nExit 0 written; 1 USER may see nothing of the Team; 2 bad usage (an unknown Team, a month\nwithout statements, other prices, --out not writable).\n\nExample:\n  tokenplan billing invoice --team acme --month 2026-11 --as olga --out acme-2026-11.html"
    )]
    Invoice {
        /// The Team.
        #[arg(long, value_parser = IdParser::<TeamId>::new())]
        team: TeamId,
        /// The month (YYYY-MM).
        #[arg(long)]
        month: tokenplan::billing::Month,
        /// The member looking.
        #[arg(long = "as", value_name = "USER", value_parser = IdParser::<UserId>::new())]
        actor: UserId,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE.html")]
        out: PathBuf,
    },
    /// One statement as a member may see it (Owner/Admin: all; Reader: their own keys).
    #[command(
        after_help = "Example:\n  tokenplan billing show --date 2026-11-23 --team acme --as bob --format json"
    )]
    Show {
        /// The day (YYYY-MM-DD).
        #[arg(long, value_parser = calendar_day)]
        date: NaiveDate,
        /// The Team.
        #[arg(long, value_parser = IdParser::<TeamId>::new())]
        team: TeamId,
        /// The member looking.
        #[arg(long = "as", value_name = "USER", value_parser = IdParser::<UserId>::new())]
        actor: UserId,
        /// Output format.
        #[arg(long, value_enum, default_value_t = StatementFormat::Table)]
        format: StatementFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ShowFormat {
    Table,
    Json,
}

/// How `billing show` prints a statement.
#[derive(Clone, Copy, ValueEnum)]
enum StatementFormat {
    Table,
    Json,
    /// The rows of `billing export`, as the member may see them.
    Csv,
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
    /// Parse, strictly validate and lint every policy; list every problem with file:line; with
    /// cvc5, warn of policies that never take effect or are redundant.
    #[command(
        after_help = "With cvc5 on PATH (or CVC5=...), also warns of a permit that can never take effect, a\nforbid that can never match, and a policy whose removal changes no decision.\n\nExamples:\n  tokenplan policy check --policies policies --deny-warnings\n  tokenplan policy check --format sarif > check.sarif"
    )]
    Check {
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Output format: `text` lines, or `sarif` (2.1.0) for code scanning.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
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
    /// Prove that NEW allows nothing OLD denies, over every input the schema allows; report
    /// what became denied, and the matrix cells and limit boundaries that differ.
    #[command(
        after_help = "A proof per request environment (cedar-policy-symcc + cvc5): a counterexample in the\nreviewer's terms when NEW allows something OLD denies. Exit 1 when loosened, 0 otherwise\n(a tightening alone is 0), 2 without cvc5 or on policies that don't load.\nOLD and NEW are directories, or `compiled-in` for the set compiled into the binary.\n\nExamples:\n  tokenplan policy diff old/policies policies\n  tokenplan policy diff compiled-in policies         # what ./policies changes\n  tokenplan policy diff --git origin/main            # OLD from git, NEW as for --policies\n  tokenplan policy diff --git origin/main policies --format json\n  tokenplan policy diff --git origin/main --format markdown >> \"$GITHUB_STEP_SUMMARY\""
    )]
    Diff(DiffArgs),
    /// Formal proofs (cedar-policy-symcc + cvc5) of the properties in policies/properties, and
    /// that no policy ever errors, over every entity store the schema allows.
    #[command(
        after_help = "Needs cvc5 on PATH (or CVC5=/path/to/cvc5): `apt-get install -y cvc5`.\nExit 1 when a property fails (its counterexample is printed), 2 without cvc5.\n\nExamples:\n  tokenplan policy verify                              # ./policies and ./policies/properties\n  tokenplan policy verify --policies compiled-in       # from any directory\n  tokenplan policy verify --properties policies/properties"
    )]
    Verify {
        /// The properties (default: DIR/properties of the set checked; compiled in with the
        /// compiled-in set).
        #[arg(long, value_name = "DIR")]
        properties: Option<PathBuf>,
    },
    /// One Markdown report for a review: check results, the matrix, the proofs, and each
    /// rule with the policies that enforce it.
    #[command(
        after_help = "The first lines are the verdict and the set reviewed. Exit 1 when a check or a proof\nfails, 2 when the proofs could not run (no cvc5).\n\nExample:\n  tokenplan policy report > review.md"
    )]
    Report {
        /// The properties (default as for `verify`).
        #[arg(long, value_name = "DIR")]
        properties: Option<PathBuf>,
    },
    /// One decision against the store, with the policies and rules that made it, and the facts
    /// evaluated.
    #[command(
        after_help = "A flag the action does not use, an unknown Team, user or key is an error (exit 2).\n\nExamples:\n  tokenplan policy explain --as ada --action invite --team acme --target nina --role reader\n  tokenplan policy explain --as ada --action invite --team acme --target nina --role reader \\\n      --as-role admin --members 100"
    )]
    Explain(Box<ExplainArgs>),
    /// Which policies (`@id`) and rules the `cedar run-tests` files exercise, per file and in
    /// total; with --suggest, a test case found by the solver for each policy none exercises.
    #[command(
        after_help = "Every request of the test files is decided by the gatekeeper; a policy is covered when it\ndecided one (a permit that allowed it, a forbid that denied it). Exit 1 below --min, 2 on\na test file that can't be read, or --suggest without cvc5.\n\nExamples:\n  tokenplan policy coverage --min 100\n  tokenplan policy coverage --tests policies/tests --suggest suggested/\n  cat policies/*.cedar | cedar run-tests --schema policies/tokenplan.cedarschema --tests suggested/ID.json"
    )]
    Coverage(coverage::CoverageArgs),
}

#[derive(Args)]
struct DiffArgs {
    /// `OLD NEW`, or with `--git`, `[NEW]` (default as for --policies): directories, or
    /// `compiled-in`.
    #[arg(value_name = "DIR", num_args = 0..=2)]
    dirs: Vec<review::set::Choice>,
    /// Take OLD from this git revision's `policies/` (of the repository here).
    #[arg(long, value_name = "REV")]
    git: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Only evaluate the matrix and the limit probes: samples, which prove nothing.
    #[arg(long)]
    probes_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    /// A pull-request comment: the verdict, each loosening's counterexample as a table.
    Markdown,
    /// SARIF 2.1.0 for code scanning: one result per loosening, at the policy's file:line.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    /// SARIF 2.1.0 for code scanning: one result per problem and warning, at file:line.
    Sarif,
}

/// The largest count `policy explain` takes on the command line: far above every limit of the
/// policies, and small enough to build a Team of.
const MAX_FACT: i64 = 10_000;

#[derive(Args)]
struct ExplainArgs {
    /// The acting user.
    #[arg(long = "as", value_name = "USER", value_parser = IdParser::<UserId>::new())]
    actor: UserId,
    /// An action of the schema (`invite`, `add_seats`, `view_usage`, ...).
    #[arg(long, value_parser = one_of(Action::ALL, |a| a.as_str()), hide_possible_values = true)]
    action: Action,
    /// The Team.
    #[arg(long, value_parser = IdParser::<TeamId>::new())]
    team: TeamId,
    /// The user the action is about (invite, remove_member, assign_seat, ...).
    #[arg(long, value_parser = IdParser::<UserId>::new())]
    target: Option<UserId>,
    /// The role, for invite and change_role.
    #[arg(long, value_parser = one_of(&Role::ALL, |r| r.as_str()))]
    role: Option<Role>,
    /// The tier, for subscription and seat actions.
    #[arg(long)]
    tier: Option<String>,
    /// The seat count, for buy, add and remove (at most 10,000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(..=MAX_FACT))]
    seats: Option<u32>,
    /// The key id, for key actions (`use_token_plan_key`: default the actor's own,
    /// `tp:TEAM:USER`).
    #[arg(long)]
    key: Option<String>,
    /// The member a seat is reassigned from.
    #[arg(long, value_parser = IdParser::<UserId>::new())]
    from: Option<UserId>,
    /// The instant to decide at (RFC 3339); default now.
    #[arg(long, conflicts_with = "as_role")]
    at: Option<String>,
    /// Decide on facts given here instead of the store: the actor's role (`none`: not a member).
    #[arg(
        long,
        value_name = "ROLE",
        value_parser = member_role(),
        help_heading = "Facts instead of a store"
    )]
    as_role: Option<ActorRole>,
    /// The Team's region.
    #[arg(
        long,
        default_value = "overseas",
        value_parser = one_of(&Region::ALL, |r| r.as_str()),
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    region: Region,
    /// The Team is a Default Team.
    #[arg(long, requires = "as_role", help_heading = "Facts instead of a store")]
    default_team: bool,
    /// Members, the Owner, actor and target included (default: just those; at most 10,000).
    #[arg(
        long,
        value_parser = clap::value_parser!(u16).range(..=MAX_FACT),
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    members: Option<u16>,
    /// Seats of --tier (default tier `plus`; at most 10,000).
    #[arg(
        long,
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(..=MAX_FACT),
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    team_seats: u32,
    /// The target is a member with this role.
    #[arg(
        long,
        value_parser = one_of(&Role::ALL, |r| r.as_str()),
        requires_all = ["as_role", "target"],
        help_heading = "Facts instead of a store"
    )]
    target_role: Option<Role>,
    /// The target holds a seat.
    #[arg(
        long,
        requires_all = ["as_role", "target"],
        help_heading = "Facts instead of a store"
    )]
    target_seat: bool,
    /// The actor's live pay-as-you-go keys, `key-0`, `key-1`, ... (at most 10,000).
    #[arg(
        long,
        default_value_t = 0,
        value_parser = clap::value_parser!(u16).range(..=MAX_FACT),
        requires = "as_role",
        help_heading = "Facts instead of a store"
    )]
    live_keys: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Md,
    Json,
}

/// A failure, with the exit status it maps to (interfaces.md); without an error, the command
/// ends quietly (stdout was closed).
struct Failure {
    status: Exit,
    error: Option<anyhow::Error>,
    hint: Option<String>,
}

impl Failure {
    /// The work failed or a check found problems: exit 1.
    fn work(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: Exit::Problems,
            error: Some(error.into()),
            hint: None,
        }
    }

    /// Bad usage or unreadable input: exit 2.
    fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: Exit::Usage,
            error: Some(error.into()),
            hint: None,
        }
    }

    /// Writing to stdout failed: quietly with 0 when the reader went away (a closed pipe),
    /// else exit 2.
    fn stdout(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure {
                status: Exit::Success,
                error: None,
                hint: None,
            };
        }
        Failure::input(anyhow::Error::new(error).context("cannot write to stdout"))
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What a command returns: how it ended, or why it failed.
type CommandResult = Result<Exit, Failure>;

/// Runs the command line and returns the exit status.
pub fn run() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
        }
    };
    init_logging(cli.quiet, cli.verbose, cli.log_format);
    match dispatch(&cli) {
        Ok(status) => status,
        Err(failure) => {
            if let Some(error) = &failure.error {
                print_error(cli.log_format, error, failure.hint.as_deref());
            }
            failure.status
        }
    }
}

/// An error and its hint on stderr: `error: ...` and `hint: ...` lines, or with `--log-format
/// json` one object shaped as the log lines are, for the same log shipper.
fn print_error(format: LogFormat, error: &anyhow::Error, hint: Option<&str>) {
    let message = render(error.as_ref());
    match format {
        LogFormat::Text => {
            eprintln!("error: {message}");
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
        }
        LogFormat::Json => {
            let mut fields = serde_json::json!({ "message": message });
            if let Some(hint) = hint {
                fields["hint"] = hint.into();
            }
            let line = serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": "ERROR",
                "fields": fields,
                "target": "tokenplan",
            });
            eprintln!("{line}");
        }
    }
}

/// A parser for one of `all`, by name: `--help` and errors list the names.
fn one_of<T>(all: &'static [T], name: fn(&T) -> &'static str) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = gatekeeper::UnknownName> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(name)).try_map(|text| text.parse())
}

/// A day on the command line: a date of the calendar tokenplan takes.
fn calendar_day(text: &str) -> Result<NaiveDate, Box<dyn std::error::Error + Send + Sync>> {
    Ok(calendar::check_day(text.parse()?)?)
}

/// An RFC 3339 instant inside the calendar tokenplan takes.
fn instant(
    text: &str,
) -> Result<chrono::DateTime<chrono::Utc>, Box<dyn std::error::Error + Send + Sync>> {
    let at = chrono::DateTime::parse_from_rfc3339(text)?.with_timezone(&chrono::Utc);
    Ok(calendar::check_instant(at)?)
}

/// A parser for an id of rule T7 (`TeamId`, `UserId`): a refusal is a usage error (exit 2)
/// naming the flag, the id shown escaped as [`IdError`] shows it, never raw.
#[derive(Clone)]
struct IdParser<T>(std::marker::PhantomData<fn() -> T>);

impl<T> IdParser<T> {
    fn new() -> Self {
        IdParser(std::marker::PhantomData)
    }
}

impl<T> TypedValueParser for IdParser<T>
where
    T: std::str::FromStr<Err = IdError> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        // Bytes that are not UTF-8 become U+FFFD, which T7 refuses.
        value.to_string_lossy().parse().map_err(|e: IdError| {
            let arg = arg.map_or_else(|| "the id".to_owned(), ToString::to_string);
            let message = format!("invalid value for '{arg}': {e}");
            clap::Error::raw(ErrorKind::ValueValidation, message).format(&mut cmd.clone())
        })
    }
}

/// `--as-role`: the actor's role, `None` for `none` (not a member).
#[derive(Debug, Clone, Copy)]
struct ActorRole(Option<Role>);

fn member_role() -> impl TypedValueParser<Value = ActorRole> {
    let names = Role::ALL.iter().map(|r| r.as_str()).chain(["none"]);
    PossibleValuesParser::new(names).try_map(|text| match text.as_str() {
        "none" => Ok(ActorRole(None)),
        role => role.parse().map(|role| ActorRole(Some(role))),
    })
}

/// The error and its causes, each printed once.
fn render(error: &(dyn std::error::Error + 'static)) -> String {
    tokenplan::error_chain(error)
}

/// The writer behind [`out!`].
fn write_stdout(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(Failure::stdout)
}

fn init_logging(quiet: bool, verbose: bool, format: LogFormat) {
    let level = if verbose {
        "tokenplan=debug,info"
    } else if quiet {
        "error"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENPLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal: a log file or journal gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // Only fails when a subscriber is already set, and then logs go there.
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

fn dispatch(cli: &Cli) -> CommandResult {
    match &cli.command {
        Command::Policy(command) => policy(cli, command),
        Command::Apply {
            scenario,
            dry_run: true,
            ..
        } => operations::apply_dry_run(cli, scenario),
        Command::Apply {
            scenario,
            keep_going,
            decision_log,
            dry_run: false,
        } => apply(cli, scenario, *keep_going, decision_log.as_deref()),
        Command::Events(EventsCommand::Import { files }) => import(cli, files),
        Command::Billing(BillingCommand::Run {
            date,
            out,
            metrics,
            spool,
            window,
            events,
        }) => {
            let paths = RunArgs {
                out: out.as_deref(),
                metrics: metrics.as_deref(),
                spool: spool.as_deref(),
                window: *window,
                events: events.as_deref(),
            };
            billing_run(cli, *date, paths)
        }
        Command::Billing(BillingCommand::Status { format, spool }) => {
            status(cli, *format, spool.as_deref())
        }
        Command::Billing(BillingCommand::Archive { to, verify: true }) => {
            archive::verify(cli, to.as_deref())
        }
        Command::Billing(BillingCommand::Archive {
            to: Some(to),
            verify: false,
        }) => archive::archive(cli, to),
        Command::Billing(BillingCommand::Archive {
            to: None,
            verify: false,
        }) => Err(Failure::input(anyhow::anyhow!(
            "`billing archive` needs --to or --verify"
        ))),
        Command::Billing(BillingCommand::Plan {
            date,
            stage,
            shards,
            window,
            events,
        }) => shards::plan(cli, *date, stage, *shards, *window, events.as_deref()),
        Command::Billing(BillingCommand::Shard { stage, index, of }) => {
            shards::shard(cli, stage, *index, *of)
        }
        Command::Billing(BillingCommand::Commit {
            stage,
            out,
            metrics,
        }) => shards::commit(cli, stage, out.as_deref(), metrics.as_deref()),
        Command::Billing(BillingCommand::Export {
            from,
            to,
            team,
            format,
            out,
        }) => export::export(
            cli,
            *from,
            *to,
            team.as_ref().map(TeamId::as_str),
            *format,
            out.as_deref(),
        ),
        Command::Operator(OperatorCommand::Add { id }) => adjust::operator_add(cli, id),
        Command::Billing(BillingCommand::Adjust {
            actor,
            team,
            day,
            amount,
            applies_to,
            reason,
            at,
        }) => adjust::adjust(
            cli,
            &tokenplan::billing::AdjustRequest {
                actor: actor.as_str(),
                team: team.as_str(),
                day: *day,
                amount,
                applies_to: *applies_to,
                reason,
                at: at.unwrap_or_else(chrono::Utc::now),
            },
        ),
        Command::Billing(BillingCommand::Invoice {
            team,
            month,
            actor,
            out,
        }) => billing::invoice(cli, team.as_str(), *month, actor.as_str(), out),
        Command::Billing(BillingCommand::Show {
            date,
            team,
            actor,
            format,
        }) => show(cli, *date, team.as_str(), actor.as_str(), *format),
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

/// The policies `apply` and `billing` decide with: `--policies`, else the compiled-in set.
fn gatekeeper(cli: &Cli) -> Result<Gatekeeper, Failure> {
    let origin = cli
        .policies
        .clone()
        .unwrap_or(review::set::Choice::CompiledIn)
        .origin();
    review::set::ReviewedSet::load(&origin)
        .map(|set| set.gate)
        .map_err(|e| {
            Failure::work(e).hint(format!(
                "run `{}` for every problem with file:line",
                origin.check_command()
            ))
        })
}

fn prices(cli: &Cli) -> Result<Prices, Failure> {
    match &cli.prices {
        Some(path) => Prices::from_file(path),
        None => Prices::bundled(),
    }
    .map_err(Failure::input)
}

/// Opens (or creates, in a new or empty file) the store of `--db`, waiting up to `--wait` for
/// another process.
fn open_store(cli: &Cli) -> Result<Store, Failure> {
    open_store_with(cli, Access::Create)
}

/// Opens a store that must exist: a command that bills never creates an empty one from a
/// mistyped `--db`.
fn open_existing_store(cli: &Cli) -> Result<Store, Failure> {
    open_store_with(cli, Access::Existing)
}

/// Opens a store that must exist, read-only: a command that only reads works on a read-only
/// file, or beside other readers.
fn open_read_only_store(cli: &Cli) -> Result<Store, Failure> {
    open_store_with(cli, Access::ReadOnly)
}

fn open_store_with(cli: &Cli, access: Access) -> Result<Store, Failure> {
    let path = &cli.db;
    let wait = std::time::Duration::from_secs(cli.wait);
    let on_busy = |holder: &str| {
        eprintln!(
            "waiting up to {}s for `{}`, which another process holds ({holder})",
            cli.wait,
            path.display()
        );
    };
    Store::open_waiting(path, access, wait, on_busy).map_err(|e| {
        let hint = match &e {
            StoreError::Busy { .. } => {
                return Failure {
                    status: Exit::Busy,
                    error: Some(e.into()),
                    hint: Some(
                        "nothing was changed; try again later, or wait longer with --wait SECONDS"
                            .to_owned(),
                    ),
                };
            }
            StoreError::Foreign { .. } | StoreError::NotDuckDb { .. } => {
                "tokenplan keeps its store in a file of its own; pass another --db (or TOKENPLAN_DB)"
                    .to_owned()
            }
            StoreError::NoStore { .. } => CREATED_BY.to_owned(),
            StoreError::Outdated { .. } => {
                "a command that writes (`tokenplan billing run`, `tokenplan apply`) upgrades it"
                    .to_owned()
            }
            _ => match path
                .parent()
                .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
            {
                Some(d) => format!(
                    "the directory `{}` does not exist; create it or pass another --db",
                    d.display()
                ),
                None => "check --db (or TOKENPLAN_DB)".to_owned(),
            },
        };
        Failure::input(e).hint(hint)
    })
}

/// The hint for a `--db` that holds no store.
const CREATED_BY: &str = "check --db (or TOKENPLAN_DB); a store is created by `tokenplan apply`, `tokenplan events import` or `tokenplan generate`";

fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .map_err(Failure::input)
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

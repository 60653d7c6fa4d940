//! `billing export` and `billing show --format csv`: statements as rows, one per line.

use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use tokenplan::billing::{self, CsvExport, ExportRow};

use super::{CommandResult, Exit, Failure, open_read_only_store};

/// The formats of `billing export`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum ExportFormat {
    Csv,
    Parquet,
}

/// `billing export`: the lines of the statements of `from` through `to` (of `team` only),
/// to `out` or, as CSV, to stdout.
pub(super) fn export(
    cli: &super::Cli,
    from: NaiveDate,
    to: NaiveDate,
    team: Option<&str>,
    format: ExportFormat,
    out: Option<&Path>,
) -> CommandResult {
    if from > to {
        return Err(Failure::input(anyhow::anyhow!(
            "`--from {from}` is after `--to {to}`"
        )));
    }
    let store = open_read_only_store(cli)?;
    if let Some(team) = team
        && store.team(team).map_err(Failure::work)?.is_none()
    {
        return Err(Failure::input(anyhow::anyhow!("no Team `{team}`"))
            .hint("check the Team id: `--team` takes the id the Team was created with"));
    }
    let each = |each: &mut dyn FnMut(Vec<ExportRow>) -> Result<(), Failure>| {
        billing::each_statement(&store, from, to, team, |statement| {
            each(billing::export_rows(&statement))
        })
    };
    match (format, out) {
        (ExportFormat::Csv, None) => {
            csv_on_stdout(|csv| each(&mut |rows| csv.write(&rows).map_err(csv_to_stdout)))?;
        }
        (ExportFormat::Csv, Some(out)) => write_file(out, |file| {
            let mut csv = CsvExport::new(file).map_err(Failure::work)?;
            each(&mut |rows| csv.write(&rows).map_err(Failure::work))?;
            csv.finish().map_err(Failure::work)
        })?,
        (ExportFormat::Parquet, None) => {
            return Err(
                Failure::input(anyhow::anyhow!("Parquet needs `--out FILE`"))
                    .hint("pass --out export.parquet, or --format csv to write to stdout"),
            );
        }
        (ExportFormat::Parquet, Some(out)) => {
            let mut all = Vec::new();
            each(&mut |rows| {
                all.extend(rows);
                Ok(())
            })?;
            write_file(out, |file| {
                billing::write_parquet(&all, file).map_err(Failure::work)
            })?;
        }
    }
    Ok(Exit::Success)
}

/// `rows` as CSV on stdout.
pub(super) fn rows_to_stdout(rows: &[ExportRow]) -> CommandResult {
    csv_on_stdout(|csv| csv.write(rows).map_err(csv_to_stdout))?;
    Ok(Exit::Success)
}

/// CSV on stdout, its header first, then what `write` writes.
fn csv_on_stdout(
    write: impl FnOnce(&mut CsvExport<std::io::StdoutLock<'static>>) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut csv = CsvExport::new(std::io::stdout().lock()).map_err(csv_to_stdout)?;
    write(&mut csv)?;
    csv.finish().map_err(Failure::stdout)
}

/// Writes `out` whole or not at all: into a temporary file beside it, renamed over it once
/// `write` succeeded.
pub(super) fn write_file(
    out: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let cannot = |e: std::io::Error| {
        Failure::input(anyhow::Error::new(e).context(format!("cannot write `{}`", out.display())))
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(cannot)?;
    write(file.as_file_mut())?;
    file.as_file_mut().flush().map_err(cannot)?;
    file.persist(out).map_err(|e| cannot(e.error))?;
    Ok(())
}

/// A CSV error writing to stdout: a closed stdout ends the command quietly.
fn csv_to_stdout(error: csv::Error) -> Failure {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => Failure::stdout(error),
        other => Failure::work(anyhow::anyhow!("cannot write CSV: {other:?}")),
    }
}

impl From<billing::BillingError> for Failure {
    fn from(error: billing::BillingError) -> Self {
        super::billing::billing_failure(error)
    }
}

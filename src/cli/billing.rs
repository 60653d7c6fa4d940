//! `tokenplan billing ...`, `demo` and `generate`.

use std::path::Path;

use super::*;

pub(super) fn billing_run(
    cli: &Cli,
    store: &mut Store,
    date: Option<chrono::NaiveDate>,
    out: Option<&Path>,
) -> Outcome {
    let prices = prices(cli)?;
    let day = date.unwrap_or_else(|| tokenplan::billing::default_day(chrono::Utc::now()));
    let bar = progress(cli);
    let report = tokenplan::billing::run(store, &prices, day, out, &bar);
    bar.finish_and_clear();
    let report = report.map_err(Failure::work)?;
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

pub(super) fn show(
    cli: &Cli,
    day: chrono::NaiveDate,
    team: &str,
    actor: &str,
    format: ShowFormat,
) -> Outcome {
    let gate = gatekeeper(cli)?;
    let store = open_store(&cli.db)?;
    let statement = tokenplan::billing::statement_of(&store, day, team)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no statement of Team `{team}` for {day}")).hint("run `tokenplan billing run --date` for that day first; a Team with nothing to bill has no statement"))?;
    let end =
        tokenplan::calendar::day_start(day.succ_opt().unwrap_or(day), statement_region(&statement))
            - chrono::Duration::microseconds(1);
    let state = store
        .team_state(team, end)
        .map_err(Failure::work)?
        .ok_or_else(|| Failure::input(anyhow::anyhow!("no Team `{team}`")))?;
    let visible =
        tokenplan::billing::view(&gate, &state, actor, &statement).map_err(Failure::work)?;
    match format {
        ShowFormat::Json => print!("{}", visible.to_json().map_err(Failure::work)?),
        ShowFormat::Table => print!("{}", tokenplan::render::statement_table(&visible)),
    }
    Ok(0)
}

fn statement_region(statement: &tokenplan::billing::Statement) -> gatekeeper::Region {
    statement
        .region
        .parse()
        .unwrap_or(gatekeeper::Region::Overseas)
}

pub(super) fn demo(cli: &Cli, out: Option<&Path>) -> Outcome {
    let gate = gatekeeper(cli)?;
    let prices = prices(cli)?;
    let dir = tempfile::tempdir().map_err(Failure::work)?;
    let mut store = Store::open(&dir.path().join("demo.duckdb")).map_err(Failure::work)?;
    let day = tokenplan::demo::load(&mut store, &gate, &prices).map_err(Failure::work)?;
    let bar = progress(cli);
    let report = tokenplan::billing::run(&mut store, &prices, day, out, &bar);
    bar.finish_and_clear();
    let report = report.map_err(Failure::work)?;
    for statement in &report.statements {
        println!("{}", tokenplan::render::statement_table(statement));
    }
    println!("{}", tokenplan::render::summary_table(&report.summary));
    Ok(0)
}

pub(super) fn generate(cli: &Cli, shape: tokenplan::generate::Shape) -> Outcome {
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

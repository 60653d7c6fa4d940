//! The benchmark's baseline query run in the DuckDB that tokenplan bundles: the day's per-key,
//! per-model token totals, best of three, in seconds.
//!
//! cargo run --release --example baseline_query -- STORE DAY

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, day] = args.as_slice() else {
        return Err("usage: baseline_query STORE DAY".into());
    };
    let config = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly)?;
    let conn = duckdb::Connection::open_with_flags(store, config)?;
    // This DuckDB has no ICU: the day's end is written out rather than added as an interval.
    let next = day
        .parse::<chrono::NaiveDate>()?
        .succ_opt()
        .ok_or("no next day")?;
    let sql = format!(
        "SELECT key_id, model, sum(input_tokens), sum(output_tokens), count(*)
         FROM usage_events
         WHERE ts >= TIMESTAMPTZ '{day} 00:00:00+00'
           AND ts < TIMESTAMPTZ '{next} 00:00:00+00'
         GROUP BY ALL"
    );
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?
            .len();
        best = best.min(started.elapsed().as_secs_f64());
        if rows == 0 {
            return Err(format!("no usage on {day}").into());
        }
    }
    println!("{best:.3}");
    Ok(())
}

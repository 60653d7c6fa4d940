//! `billing shard`: bill the Teams of one shard on any machine that reaches the stage. The
//! shard's cut of the store is fetched and checked against the plan, billed by the code of
//! `billing run` (each planned day committed to the cut, as a run commits to the store), and
//! what each day committed is put in the stage in one object.

use chrono::NaiveDate;

use super::super::Days;
use super::super::run::{Observer, RunOptions, bill_days};
use super::error::ShardError;
use super::stage::{self, DayOutput, ShardOutput};
use crate::objects::{Objects, sha256_hex};
use crate::prices::Prices;
use crate::store::{Access, Store};

/// What a shard did.
#[derive(Debug, Clone)]
pub struct ShardDone {
    pub index: u32,
    pub of: u32,
    pub days: Vec<NaiveDate>,
    /// The events of its cut.
    pub events: u64,
}

/// Bills shard `index` of the stage's plan (`of`, if given, must be the plan's number of
/// shards) and puts its output in the stage.
pub fn shard(
    stage: &Objects,
    index: u32,
    of: Option<u32>,
    observer: &mut impl Observer,
) -> Result<ShardDone, ShardError> {
    let plan = stage::plan(stage)?;
    let planned = u32::try_from(plan.shards.len()).unwrap_or(u32::MAX);
    if let Some(asked) = of.filter(|asked| *asked != planned) {
        return Err(ShardError::Of { asked, planned });
    }
    let input = plan
        .shards
        .iter()
        .find(|shard| shard.index == index)
        .ok_or(ShardError::Index { index, of: planned })?;
    let mut output = ShardOutput {
        plan: plan.id.clone(),
        index,
        of: planned,
        input_events: 0,
        input_sha256: String::new(),
        days: Vec::new(),
        carried: Vec::new(),
    };
    if let Some(&last) = plan.days.last() {
        let name = stage::input(index, planned);
        let missing = |what| ShardError::Input {
            index,
            name: name.clone(),
            what,
        };
        let bytes = stage.get(&name)?.ok_or_else(|| missing("missing"))?;
        let sha256 = sha256_hex(&bytes);
        if sha256 != input.sha256 {
            return Err(missing("not the one the plan wrote (its SHA-256 differs)"));
        }
        let dir = tempfile::tempdir().map_err(ShardError::io("make a directory for the cut"))?;
        let path = dir.path().join("cut.duckdb");
        std::fs::write(&path, bytes)
            .map_err(ShardError::io(format!("write `{}`", path.display())))?;
        let mut cut = Store::open_with(&path, Access::Existing)?;
        let prices = Prices::parse(&plan.prices.name, &plan.prices.text)?;
        let options = RunOptions {
            prices: &prices,
            days: Days::Through(last),
            now: plan.made_at,
            out: None,
            metrics: None,
            window: Some(plan.window_days),
        };
        bill_days(&mut cut, &options, plan.window_days, &plan.days, observer)?;
        for &day in &plan.days {
            let (statements, seat_usage, summary) = cut.billed_rows(day)?;
            output.days.push(DayOutput {
                day,
                summary,
                statements,
                seat_usage,
            });
        }
        output.carried = cut.carried(last)?;
        output.input_events = cut.event_count()?;
        output.input_sha256 = sha256;
    }
    stage::put_json(stage, &stage::output(index, planned), &output)?;
    Ok(ShardDone {
        index,
        of: planned,
        days: plan.days,
        events: output.input_events,
    })
}

//! The demo's data, compiled in: the scenario and usage events of `fixtures/demo/`.

use chrono::NaiveDate;
use gatekeeper::Gatekeeper;

use crate::events;
use crate::prices::Prices;
use crate::store::Store;
use crate::teams::{Teams, scenario};

const SCENARIO: &str = include_str!("../fixtures/demo/scenario.yaml");
const EVENTS: &str = include_str!("../fixtures/demo/events.csv");
const LATE_EVENTS: &str = include_str!("../fixtures/demo/late-events.csv");

/// The day the demo bills.
pub const DAY: NaiveDate =
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date (checked as it builds)");

/// The day before, billed by the demo before [`DAY`]'s late events arrive.
const PREVIOUS_DAY: NaiveDate = DAY.pred_opt().expect("a date (checked as it builds)");

/// Fills `store` with the demo: the scenario, a billed previous day, then the day's events
/// (with a duplicate inserted directly, as a gateway might) and a late event. Returns the day
/// to bill.
pub fn load(store: &mut Store, gate: &Gatekeeper, prices: &Prices) -> anyhow::Result<NaiveDate> {
    let steps = scenario::parse("fixtures/demo/scenario.yaml", SCENARIO)?;
    let mut teams = Teams::new(store, gate, prices);
    for step in &steps {
        teams.apply(step)?;
    }
    let dir = tempfile::tempdir()?;
    let import = |store: &mut Store, name: &str, text: &str| -> anyhow::Result<()> {
        let path = dir.path().join(name);
        std::fs::write(&path, text)?;
        let now = chrono::Utc::now();
        events::store(store, &[events::read(&path, now)?], now)?;
        Ok(())
    };
    import(store, "events.csv", EVENTS)?;
    let options = crate::billing::RunOptions {
        prices,
        days: crate::billing::Days::Through(PREVIOUS_DAY),
        now: chrono::Utc::now(),
        out: None,
        metrics: None,
        window: None,
    };
    crate::billing::run(store, &options, &mut ())?;
    import(store, "late-events.csv", LATE_EVENTS)?;
    store.repeat_event("e-001")?;
    Ok(DAY)
}

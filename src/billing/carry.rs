//! What a billed day hands the next night (B21): per Team, its state and key intervals at the
//! end of the day, what it has spent, and the usage of its live seat cycles, committed with the
//! day's statements. A night starts from the latest billed day's carry, so it neither folds nor
//! sums all history; a store without one (billed before carries were kept, or never billed) is
//! folded from its first record, once.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use gatekeeper::Region;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::BillingError;
use super::replay::{Histories, History, Replay, SeatUsage, Start};
use super::statement::Statement;
use crate::balance::Balance;
use crate::calendar;
use crate::store::{CarriedRow, Spent, Store, StoreError};
use crate::teams;

/// One Team's carry, as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// Its state and key intervals.
    pub start: Start,
    /// Everything its statements billed so far.
    pub spent: Spent,
    /// Tokens each live seat cycle's quota has covered so far.
    pub seat_usage: Vec<CycleUsage>,
}

/// What one seat cycle's quota has covered so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleUsage {
    pub tier: String,
    pub seat: i64,
    pub cycle_start: NaiveDate,
    pub tokens: i64,
}

/// A seat cycle: Team, tier, seat and first day.
type Cycle = (String, String, i64, NaiveDate);

/// Every Team's spending and seat-cycle usage before the day being billed, kept up to date as
/// a run bills day after day.
#[derive(Debug, Default)]
pub struct Ledger {
    spent: BTreeMap<String, Spent>,
    seat_usage: BTreeMap<Cycle, i64>,
}

impl Ledger {
    /// What each Team spent, by Team.
    pub fn spent(&self) -> &BTreeMap<String, Spent> {
        &self.spent
    }

    /// The usage of every seat cycle so far.
    pub fn seat_usage(&self) -> Vec<SeatUsage> {
        self.seat_usage
            .iter()
            .map(|((team, tier, seat, cycle_start), tokens)| SeatUsage {
                team: team.clone(),
                tier: tier.clone(),
                seat: *seat,
                cycle_start: *cycle_start,
                tokens: *tokens,
            })
            .collect()
    }

    /// Adds billed `day`'s statements and seat usage, and forgets the seat cycles that ended
    /// before the window of the day after (with `window_days`).
    pub fn add_day(
        &mut self,
        day: NaiveDate,
        window_days: u32,
        statements: &[Statement],
        seat_usage: &[SeatUsage],
    ) -> Result<(), BillingError> {
        for statement in statements {
            let team = statement.team.as_str();
            let spent = self.spent.entry(team.to_owned()).or_default();
            let add = |before, balance| {
                statement
                    .taken(balance)
                    .and_then(|taken| crate::money::add(before, taken.decimal()))
                    .map_err(BillingError::money(team))
            };
            spent.credits = add(spent.credits, Balance::Credits)?;
            spent.wallet = add(spent.wallet, Balance::Wallet)?;
        }
        for usage in seat_usage {
            *self.seat_usage.entry(cycle_of(usage)).or_default() += usage.tokens;
        }
        if let Some(next) = day.succ_opt() {
            let oldest = oldest_live_cycle(next, window_days);
            self.seat_usage
                .retain(|(_, _, _, start), _| *start >= oldest);
        }
        Ok(())
    }

    /// Each Team's carry at the end of the day of `replays`, as stored rows.
    pub fn carry(
        &self,
        replays: &BTreeMap<String, Replay>,
    ) -> Result<Vec<CarriedRow>, BillingError> {
        let mut usage: BTreeMap<&str, Vec<CycleUsage>> = BTreeMap::new();
        for ((team, tier, seat, cycle_start), tokens) in &self.seat_usage {
            usage.entry(team).or_default().push(CycleUsage {
                tier: tier.clone(),
                seat: *seat,
                cycle_start: *cycle_start,
                tokens: *tokens,
            });
        }
        replays
            .par_iter()
            .map(|(team, replay)| {
                let carried = Carried {
                    start: Start {
                        state: replay.state.clone(),
                        intervals: replay.intervals.clone(),
                    },
                    spent: self.spent.get(team).copied().unwrap_or_default(),
                    seat_usage: usage.get(team.as_str()).cloned().unwrap_or_default(),
                };
                Ok(CarriedRow {
                    team: team.clone(),
                    body: serde_json::to_string(&carried).map_err(BillingError::json(team))?,
                })
            })
            .collect()
    }
}

/// The first day of the oldest seat cycle the run of `day` can fund an event from: the oldest
/// event billed is in the window, whose key intervals are kept from two days before it
/// ([`super::intervals::KeyIntervals::trim`]), and a cycle lasts at most 31 days (B4); one
/// more day to spare.
fn oldest_live_cycle(day: NaiveDate, window_days: u32) -> NaiveDate {
    day.checked_sub_days(Days::new(u64::from(window_days) + 2 + 32))
        .unwrap_or(NaiveDate::MIN)
}

fn cycle_of(usage: &SeatUsage) -> Cycle {
    (
        usage.team.clone(),
        usage.tier.clone(),
        usage.seat,
        usage.cycle_start,
    )
}

/// Every Team's history and ledger as a run billing `day` (the first after the latest billed)
/// through `through` starts them: from the latest billed day's carry when it has one, else
/// folded and summed from the first record.
pub fn resume(
    store: &Store,
    day: NaiveDate,
    through: NaiveDate,
    window_days: u32,
) -> Result<(Histories, Ledger), BillingError> {
    let until = calendar::day_end(through, Region::Overseas)
        .max(calendar::day_end(through, Region::Domestic));
    let latest = day.pred_opt();
    let carried = match latest {
        Some(latest) => store.carried(latest)?,
        None => Vec::new(),
    };
    let (Some(latest), false) = (latest, carried.is_empty()) else {
        return folded(store, day, until, window_days);
    };
    let mut ledger = Ledger::default();
    let mut starts = BTreeMap::new();
    for row in carried {
        let carried: Carried =
            serde_json::from_str(&row.body).map_err(|e| StoreError::Corrupt {
                table: "carried_state",
                message: format!("Team `{}`: {e}", row.team),
            })?;
        ledger.spent.insert(row.team.clone(), carried.spent);
        for usage in carried.seat_usage {
            ledger.seat_usage.insert(
                (row.team.clone(), usage.tier, usage.seat, usage.cycle_start),
                usage.tokens,
            );
        }
        starts.insert(row.team, carried.start);
    }
    let since = ended(latest);
    let histories = teams::histories(store, Some(since), until)?
        .into_iter()
        .map(|(team, mut records)| {
            let carried_to = calendar::day_end(latest, team.region);
            let start = starts.remove(&team.id);
            if start.is_none() && team.created_at < carried_to {
                return Err(StoreError::Corrupt {
                    table: "carried_state",
                    message: format!("the carry of {latest} has no Team `{}`", team.id),
                });
            }
            // What the carry folded in already: the records before the end of its day.
            records.retain(|record| record.at >= carried_to);
            Ok(History {
                team,
                start,
                records,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((Histories::new(histories, window_days)?, ledger))
}

/// Every Team's history folded from its first record, and its ledger summed from every earlier
/// statement: the reference a carry must equal, and a store's first night with carries.
pub fn folded(
    store: &Store,
    day: NaiveDate,
    until: DateTime<Utc>,
    window_days: u32,
) -> Result<(Histories, Ledger), BillingError> {
    let histories = teams::histories(store, None, until)?
        .into_iter()
        .map(|(team, records)| History {
            team,
            start: None,
            records,
        })
        .collect();
    let oldest = oldest_live_cycle(day, window_days);
    let ledger = Ledger {
        spent: store.spent_before(day, None)?,
        seat_usage: store
            .prior_seat_usage(day)?
            .iter()
            .filter(|usage| usage.cycle_start >= oldest)
            .map(|usage| (cycle_of(usage), usage.tokens))
            .collect(),
    };
    Ok((Histories::new(histories, window_days)?, ledger))
}

/// The earliest instant `day` ends in any billing zone: records before it are in every
/// region's carry of `day` or earlier.
fn ended(day: NaiveDate) -> DateTime<Utc> {
    calendar::day_end(day, Region::Overseas).min(calendar::day_end(day, Region::Domestic))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use gatekeeper::{Gatekeeper, Role};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;
    use crate::billing::{self, DayReport};
    use crate::ids::{TeamId, UserId};
    use crate::prices::Prices;
    use crate::store::NewEvent;
    use crate::teams::{Operation, Seats, Step, TopUp};

    const WINDOW: u32 = 3;
    const DAYS: u32 = 36;
    const TEAMS: [(&str, Region); 2] = [("t", Region::Overseas), ("d", Region::Domestic)];

    fn first_day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 20).expect("a day")
    }

    fn noon(day: u32, hour: u32) -> DateTime<Utc> {
        let date = first_day() + Duration::days(i64::from(day));
        Utc.from_utc_datetime(&date.and_hms_opt(hour % 24, 7, 0).expect("a time"))
    }

    fn user(team: &str, n: u32) -> UserId {
        format!("{team}u{}", n % 6).parse().expect("a user id")
    }

    /// One random step of Team `team`, by its owner.
    fn operation(team: &str, kind: u8, n: u32) -> Operation {
        let team_id: TeamId = team.parse().expect("a Team id");
        let tier = || "plus".to_owned();
        match kind % 9 {
            0 => Operation::Invite {
                team: team_id,
                user: user(team, n),
                role: Role::Reader,
            },
            1 => Operation::AddSeats {
                team: team_id,
                tier: tier(),
                seats: Seats::new(1 + n % 3).expect("seats"),
            },
            2 => Operation::AssignSeat {
                team: team_id,
                tier: tier(),
                user: user(team, n),
            },
            3 => Operation::RemoveSeats {
                team: team_id,
                tier: tier(),
                seats: Seats::ONE,
            },
            4 => Operation::CreatePaygKey {
                team: team_id,
                key: format!("{team}k{}", n % 4).parse().expect("a key id"),
            },
            5 => Operation::RemoveMember {
                team: team_id,
                user: user(team, n),
            },
            6 => Operation::SetCreditsAccess {
                team: team_id,
                user: user(team, n),
                enabled: n.is_multiple_of(2),
            },
            7 => Operation::TopUpCredits {
                team: team_id,
                amount: TopUp::new(Decimal::from(1 + n % 50)).expect("a top-up"),
            },
            _ => Operation::TopUpWallet {
                team: team_id,
                amount: TopUp::new(Decimal::new(i64::from(1 + n % 900), 2)).expect("a top-up"),
            },
        }
    }

    /// The Teams, their owners and six members each, a subscription and balances.
    fn setup() -> Vec<Step> {
        let mut steps = Vec::new();
        let at = |minute| noon(0, 0) - Duration::days(3) + Duration::minutes(minute);
        for (team, region) in TEAMS {
            let owner: UserId = format!("{team}own").parse().expect("a user id");
            steps.push(Step::new(
                owner.clone(),
                Operation::CreateAccount { region },
                at(0),
            ));
            for n in 0..6 {
                steps.push(Step::new(
                    user(team, n),
                    Operation::CreateAccount { region },
                    at(1),
                ));
            }
            let team_id: TeamId = team.parse().expect("a Team id");
            steps.push(Step::new(
                owner.clone(),
                Operation::CreateTeam {
                    team: team_id.clone(),
                    region,
                },
                at(2),
            ));
            steps.push(Step::new(
                owner.clone(),
                Operation::BuySubscription {
                    team: team_id.clone(),
                    tier: "plus".to_owned(),
                    seats: Seats::new(2).expect("seats"),
                },
                at(3),
            ));
            // Members, seats, pay-as-you-go keys (so wallets are spent), balances.
            for kind in [0, 2, 4, 7, 8] {
                for n in 0..3 {
                    steps.push(Step::new(owner.clone(), operation(team, kind, n), at(4)));
                }
            }
        }
        steps
    }

    /// What a day's events are: `(hour, team, member or pay-as-you-go key, tokens, days late)`.
    type DayEvents = Vec<(u32, u8, u32, i64, u32)>;

    fn events(day: u32, events: &DayEvents) -> Vec<(String, DateTime<Utc>, String, i64)> {
        events
            .iter()
            .enumerate()
            .map(|(i, &(hour, team, n, tokens, late))| {
                let (team, _) = TEAMS[usize::from(team % 2)];
                let key = if n % 5 == 4 {
                    format!("{team}k{}", n % 4)
                } else {
                    gatekeeper::TokenPlanKeyId::new(team, user(team, n).as_str()).to_string()
                };
                // Every seventh event repeats the id of the one before it.
                let id = if i % 7 == 6 { i - 1 } else { i };
                (
                    format!("e{day}-{id}"),
                    noon(day.saturating_sub(late), hour),
                    key,
                    tokens,
                )
            })
            .collect()
    }

    fn bill(store: &mut Store, prices: &Prices, day: u32) -> DayReport {
        let options = billing::RunOptions {
            prices,
            days: billing::Days::Through(first_day() + Duration::days(i64::from(day))),
            now: noon(DAYS + 5, 0),
            out: None,
            metrics: None,
            window: Some(WINDOW),
        };
        billing::run(store, &options, &mut ()).expect("a run")
    }

    /// The carry of `day` folded from every Team's first record, as [`resume`] would start
    /// the day after from a store without one.
    fn folded_carry(store: &Store, day: NaiveDate, prices: &Prices) -> BTreeMap<String, Carried> {
        let until = calendar::day_end(day, Region::Overseas);
        let next = day.succ_opt().expect("a day");
        let (mut histories, ledger) = folded(store, next, until, WINDOW).expect("folded");
        let replays = histories.day(day, prices).expect("replayed");
        parse(ledger.carry(&replays).expect("a carry"))
    }

    fn parse(rows: Vec<CarriedRow>) -> BTreeMap<String, Carried> {
        rows.into_iter()
            .map(|row| (row.team, serde_json::from_str(&row.body).expect("a carry")))
            .collect()
    }

    fn statements(report: &DayReport) -> String {
        serde_json::to_string(&report.statements).expect("JSON")
    }

    proptest! {
        // Each case bills 36 days twice (about a minute in a debug build): 2 cases unless
        // PROPTEST_CASES asks for more.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2),
            max_shrink_iters: 64,
            ..ProptestConfig::default()
        })]

        /// B21: the carry of every billed day equals the state folded from the first record, and
        /// nights started from carries bill what nights folding all history bill, whatever
        /// nights the days are billed in.
        #[test]
        fn b21_a_carry_equals_the_history_folded_from_the_first_record(
            steps in proptest::collection::vec(
                proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u32>()), 0..4),
                DAYS as usize,
            ),
            usage in proptest::collection::vec(
                proptest::collection::vec((0u32..24, any::<u8>(), any::<u32>(), 1i64..3_000_000, prop_oneof![6 => Just(0u32), 1 => 1u32..8]), 0..12),
                DAYS as usize,
            ),
            nights in proptest::collection::vec(any::<bool>(), DAYS as usize),
        ) {
            let gate = Gatekeeper::bundled().expect("the bundled policies");
            let prices = Prices::bundled().expect("the bundled prices");
            // `carried` starts each night from the carry; `folding` has its carry deleted before
            // each night, so it folds every history from the first record.
            let mut carried = Store::open_in_memory().expect("a store");
            let mut folding = Store::open_in_memory().expect("a store");
            for store in [&mut carried, &mut folding] {
                let mut teams = crate::teams::Teams::new(store, &gate, &prices);
                for step in setup() {
                    teams.apply(&step).expect("a setup step");
                }
            }
            for day in 0..DAYS {
                let index = day as usize;
                let day_events = events(day, &usage[index]);
                for store in [&mut carried, &mut folding] {
                    let mut teams = crate::teams::Teams::new(store, &gate, &prices);
                    for (i, &(kind, team, n)) in steps[index].iter().enumerate() {
                        let (team, _) = TEAMS[usize::from(team % 2)];
                        let owner: UserId = format!("{team}own").parse().expect("a user id");
                        let at = noon(day, 1 + 3 * i as u32);
                        // Steps a Team's state refuses are input errors: they change nothing.
                        let _ = teams.apply(&Step::new(owner, operation(team, kind, n), at));
                    }
                    let file: Vec<NewEvent<'_>> = day_events
                        .iter()
                        .enumerate()
                        .map(|(line, (id, ts, key, tokens))| NewEvent {
                            line,
                            event_id: id,
                            ts: *ts,
                            key_id: key,
                            model: "MiniMax-M2",
                            input_tokens: *tokens,
                            output_tokens: tokens / 3,
                            ingested_at: noon(day, 23),
                        })
                        .collect();
                    store.import_events(&[file]).expect("events stored");
                }
                if !nights[index] && day + 1 < DAYS {
                    continue;
                }
                folding.forget_carried_state().expect("carry deleted");
                let from_carry = bill(&mut carried, &prices, day);
                let from_first = bill(&mut folding, &prices, day);
                prop_assert_eq!(statements(&from_carry), statements(&from_first), "day {}", day);
                let billed = first_day() + Duration::days(i64::from(day));
                let stored = parse(carried.carried(billed).expect("the carry"));
                // Every account's Default Team, and the two Teams.
                prop_assert_eq!(stored.len(), TEAMS.len() * 8);
                prop_assert_eq!(stored, folded_carry(&carried, billed, &prices), "day {}", day);
            }
        }
    }
}

//! SQL fragments that more than one query needs, each spelled once.

use gatekeeper::TokenPlanKeyId;

/// Microseconds in a day.
pub(super) const DAY_US: i64 = 86_400_000_000;

/// The Team of the key `key_id`: `payg_team` (the key's Team in `payg_keys`), else the Team
/// named in a Token Plan Key id ([`TokenPlanKeyId`], `tp:TEAM:USER`), else `NULL`.
pub(super) fn team_of_key(key_id: &str, payg_team: &str) -> String {
    let token_plan_key = TokenPlanKeyId::new("%", "%");
    format!(
        "coalesce({payg_team}, CASE WHEN {key_id} LIKE '{token_plan_key}' THEN split_part({key_id}, ':', 2) END)"
    )
}

/// The usage day (B3) of an event at `ts`, as a day number: its day in the billing zone of
/// its key's Team's region, `offset_us` microseconds east of UTC.
pub(super) fn usage_day(ts: &str, offset_us: &str) -> String {
    format!("(epoch_us({ts}) + {offset_us}) // {DAY_US}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_team_of_a_key_is_its_payg_team_else_the_token_plan_keys() {
        let store = Store::open_in_memory().unwrap();
        let team = |key: &str, payg: &str| -> Option<String> {
            store
                .conn()
                .query_row(
                    &format!("SELECT {}", team_of_key(&format!("'{key}'"), payg)),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(team("tp:t1:u1", "NULL").as_deref(), Some("t1"));
        assert_eq!(team("k1", "'t2'").as_deref(), Some("t2"));
        assert_eq!(team("k1", "NULL"), None);
        assert_eq!(team("tp:t1", "NULL"), None);
    }

    #[test]
    fn the_usage_day_is_the_day_in_the_zone() {
        let store = Store::open_in_memory().unwrap();
        let day = |offset_us: i64| -> i64 {
            store
                .conn()
                .query_row(
                    &format!(
                        "SELECT {}",
                        usage_day(
                            "TIMESTAMPTZ '1970-01-02 20:00:00+00'",
                            &offset_us.to_string()
                        )
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(day(0), 1);
        assert_eq!(day(8 * 3_600_000_000), 2);
    }
}

//! Billing days and subscription cycles (B3, B4, B6), over the calendar tokenplan takes:
//! [`FIRST_DAY`] to [`LAST_DAY`]. Every date the command line, a scenario, an import or a
//! stored record brings in is checked against it ([`check_day`], [`check_instant`]), so the
//! days computed here (a few months past those, at most) are hundreds of thousands of years
//! from the ends of chrono's calendar: their starts, ends and next days always exist.

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveTime, TimeDelta, Utc};
use gatekeeper::Region;

/// The first day tokenplan takes: no usage of Token Plan Teams (nor of any large language
/// model billed by tokens) happened before 2000, so an earlier date is a reset clock or an
/// unset field.
pub const FIRST_DAY: NaiveDate =
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date (checked as it builds)");

/// The last day tokenplan takes: the last of four-digit years.
pub const LAST_DAY: NaiveDate =
    NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date (checked as it builds)");

/// A date outside [`FIRST_DAY`]..=[`LAST_DAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{day} is outside the calendar tokenplan takes, {FIRST_DAY} to {LAST_DAY}")]
pub struct OutsideCalendar {
    pub day: NaiveDate,
}

/// `day`, if it is inside the calendar tokenplan takes.
pub fn check_day(day: NaiveDate) -> Result<NaiveDate, OutsideCalendar> {
    if (FIRST_DAY..=LAST_DAY).contains(&day) {
        Ok(day)
    } else {
        Err(OutsideCalendar { day })
    }
}

/// `at`, if its day in UTC is inside the calendar tokenplan takes.
pub fn check_instant(at: DateTime<Utc>) -> Result<DateTime<Utc>, OutsideCalendar> {
    check_day(at.date_naive()).map(|_| at)
}

/// The billing time zone of a region (B3): UTC overseas, UTC+08:00 domestic.
#[expect(clippy::expect_used, reason = "0 and 8 hours are offsets within a day")]
pub fn zone(region: Region) -> FixedOffset {
    let hours = match region {
        Region::Overseas => 0,
        Region::Domestic => 8,
    };
    FixedOffset::east_opt(hours * 3600).expect("an offset within a day")
}

/// The billing zone's name as a statement shows it (B3, B25).
pub fn zone_name(region: Region) -> &'static str {
    match region {
        Region::Overseas => "UTC",
        Region::Domestic => "UTC+08:00",
    }
}

/// The billing day an instant falls in (B3).
pub fn billing_day(at: DateTime<Utc>, region: Region) -> NaiveDate {
    at.with_timezone(&zone(region)).date_naive()
}

/// The first instant of a billing day, as UTC.
#[expect(
    clippy::expect_used,
    reason = "the days computed with are near the calendar tokenplan takes, far inside chrono's"
)]
pub fn day_start(day: NaiveDate, region: Region) -> DateTime<Utc> {
    let offset = TimeDelta::seconds(i64::from(zone(region).local_minus_utc()));
    day.and_time(NaiveTime::MIN)
        .and_utc()
        .checked_sub_signed(offset)
        .expect("a day near the calendar tokenplan takes starts inside chrono's")
}

/// Days since 1970-01-01: how SQL and polars carry a day.
pub fn day_number(day: NaiveDate) -> i64 {
    (day - NaiveDate::default()).num_days()
}

/// The day `days` after 1970-01-01, if representable.
pub fn from_day_number(days: i64) -> Option<NaiveDate> {
    NaiveDate::default().checked_add_signed(chrono::Duration::try_days(days)?)
}

/// The instants that fall on `day` in some region's billing zone: from the earliest zone's
/// start to the latest zone's end, which is when the day has ended everywhere (B20).
pub fn day_span(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let [first, rest @ ..] = Region::ALL;
    rest.into_iter().fold(
        (day_start(day, first), day_end(day, first)),
        |(start, end), region| {
            (
                start.min(day_start(day, region)),
                end.max(day_end(day, region)),
            )
        },
    )
}

/// The day after `day`.
#[expect(
    clippy::expect_used,
    reason = "the days computed with are near the calendar tokenplan takes, far inside chrono's"
)]
pub fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt()
        .expect("a day near the calendar tokenplan takes has a next day")
}

/// The instant a billing day ends: the next day's first instant, as UTC.
pub fn day_end(day: NaiveDate, region: Region) -> DateTime<Utc> {
    day_start(next_day(day), region)
}

/// The `n`th renewal of a subscription bought on `anchor` (n = 0 is the purchase day), on the
/// anchor's day of the month, clamped to the month's last day (B4).
///
/// Renewals are asked for up to a month after the days computed with, which are near the
/// calendar tokenplan takes: leaving chrono's is an invariant broken.
#[expect(
    clippy::expect_used,
    reason = "a renewal a month after a day near the calendar tokenplan takes is inside chrono's, and a month's day 1 and its last day exist"
)]
pub fn renewal(anchor: NaiveDate, n: u32) -> NaiveDate {
    let month = anchor
        .with_day(1)
        .expect("every month has a day 1")
        .checked_add_months(Months::new(n))
        .expect("a renewal inside the calendar");
    let last = month
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .expect("a renewal's month ends inside the calendar")
        .day();
    month
        .with_day(anchor.day().min(last))
        .expect("a day of the month up to its last")
}

/// The cycle of a subscription bought on `anchor` that contains `day`: its start and end (the
/// next renewal, exclusive).
pub fn cycle_of(anchor: NaiveDate, day: NaiveDate) -> Cycle {
    let months = (day.year() - anchor.year()) * 12 + day.month() as i32 - anchor.month() as i32;
    let mut n = months.max(0).unsigned_abs();
    while n > 0 && renewal(anchor, n) > day {
        n -= 1;
    }
    while renewal(anchor, n + 1) <= day {
        n += 1;
    }
    Cycle {
        start: renewal(anchor, n),
        end: renewal(anchor, n + 1),
    }
}

/// One cycle of a subscription (B4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cycle {
    /// Its first day (a renewal day).
    pub start: NaiveDate,
    /// The next renewal day (exclusive).
    pub end: NaiveDate,
}

impl Cycle {
    /// Days in the cycle.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// Days from `day`, inclusive, to the next renewal, exclusive (B6).
    pub fn days_left(&self, day: NaiveDate) -> i64 {
        (self.end - day).num_days()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn b4_renewals_clamp_to_the_months_last_day() {
        let jan31 = d("2026-01-31");
        let renewals: Vec<_> = (0..5).map(|n| renewal(jan31, n)).collect();
        assert_eq!(
            renewals,
            [
                d("2026-01-31"),
                d("2026-02-28"),
                d("2026-03-31"),
                d("2026-04-30"),
                d("2026-05-31")
            ]
        );
        assert_eq!(renewal(d("2027-12-31"), 2), d("2028-02-29"));
    }

    #[test]
    fn b4_cycle_length_is_days_between_renewals() {
        let c = cycle_of(d("2026-01-31"), d("2026-02-28"));
        assert_eq!(
            (c.start, c.end, c.days()),
            (d("2026-02-28"), d("2026-03-31"), 31)
        );
        let c = cycle_of(d("2026-01-31"), d("2026-02-27"));
        assert_eq!((c.start, c.days()), (d("2026-01-31"), 28));
        assert_eq!(
            cycle_of(d("2026-11-23"), d("2026-12-22")).days_left(d("2026-12-22")),
            1
        );
    }

    #[test]
    fn dates_outside_2000_to_9999_are_refused_saying_so() {
        assert_eq!(check_day(FIRST_DAY), Ok(FIRST_DAY));
        assert_eq!(check_day(LAST_DAY), Ok(LAST_DAY));
        for day in [
            d("1999-12-31"),
            d("+10000-01-01"),
            NaiveDate::MAX,
            NaiveDate::MIN,
        ] {
            assert_eq!(check_day(day), Err(OutsideCalendar { day }));
        }
        assert_eq!(
            check_day(d("1999-12-31")).unwrap_err().to_string(),
            "1999-12-31 is outside the calendar tokenplan takes, 2000-01-01 to 9999-12-31"
        );
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(check_instant(at("2000-01-01T00:00:00Z")).is_ok());
        assert!(check_instant(at("1999-12-31T23:59:59Z")).is_err());
        assert!(check_instant(at("9999-12-31T23:59:59Z")).is_ok());
        assert!(check_instant(DateTime::<Utc>::MAX_UTC).is_err());
    }

    #[test]
    fn days_a_year_either_side_of_the_calendar_have_starts_ends_and_renewals() {
        let before = FIRST_DAY - chrono::Days::new(366);
        let after = LAST_DAY + chrono::Days::new(366);
        for day in [before, FIRST_DAY, LAST_DAY, after] {
            for region in Region::ALL {
                let (start, end) = (day_start(day, region), day_end(day, region));
                assert_eq!(end - start, TimeDelta::days(1), "{day} {region:?}");
                assert_eq!(billing_day(start, region), day);
                assert_eq!(billing_day(end, region), next_day(day));
            }
            let cycle = cycle_of(day, day + chrono::Days::new(31));
            assert!(cycle.days() >= 28, "{day}");
        }
        assert_eq!(
            day_end(LAST_DAY, Region::Overseas).to_rfc3339(),
            "+10000-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn b3_domestic_days_are_utc_plus_8() {
        let at: DateTime<Utc> = "2026-11-23T23:30:00Z".parse().unwrap();
        assert_eq!(billing_day(at, Region::Overseas), d("2026-11-23"));
        assert_eq!(billing_day(at, Region::Domestic), d("2026-11-24"));
        assert_eq!(
            day_start(d("2026-11-24"), Region::Domestic).to_rfc3339(),
            "2026-11-23T16:00:00+00:00"
        );
    }
}

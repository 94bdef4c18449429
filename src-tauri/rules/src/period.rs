//! Billing periods and months: month, quarter or year, anchored on a day of
//! the month in the workspace's time zone, half-open `[start, end)` (see
//! docs/billing.md "Periods"). Each boundary is computed from
//! its own month, never from the previous boundary, so an anchor of 31 falls
//! on the last day of a short month and returns to 31 when it can:
//! Jan 31 → Feb 28 → Mar 31 → Apr 30. A day starts at its local midnight, or
//! at the first instant after it where a zone skips midnight.

use std::fmt;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;

type Result<T> = std::result::Result<T, Problem>;

/// A calendar month, `YYYY-MM` on the wire: parsed once where it enters
/// (a command, a flag) and passed on typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// Month `YYYY-MM`; anything else is a problem of `field`.
    pub fn parse(text: &str, field: &str) -> Result<Month> {
        NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 7)
            .map(|first| Month { first })
            .ok_or_else(|| Problem::new(field, format!("\"{text}\" is not a month such as 2026-10")))
    }

    /// The month local date `day` lies in.
    pub fn of(day: NaiveDate) -> Month {
        Month { first: day.with_day(1).expect("every month has a 1st") }
    }

    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// The 1st of the month after.
    pub fn end_day(self) -> Result<NaiveDate> {
        self.first
            .checked_add_months(Months::new(1))
            .ok_or_else(|| Problem::new("month", format!("\"{self}\" is out of range")))
    }

    /// The month after.
    pub fn next(self) -> Result<Month> {
        self.end_day().map(|first| Month { first })
    }

    /// The month before.
    pub fn previous(self) -> Result<Month> {
        self.first
            .checked_sub_months(Months::new(1))
            .map(|first| Month { first })
            .ok_or_else(|| Problem::new("month", format!("\"{self}\" is out of range")))
    }

    /// Its local days in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        let month = self.first.month();
        self.first.iter_days().take_while(move |d| d.month() == month)
    }

    /// Its bounds in zone `tz` as UTC instants: from local midnight on the
    /// 1st to local midnight on the next 1st.
    pub fn bounds(self, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        Ok((day_start(tz, self.first)?, day_start(tz, self.end_day()?)?))
    }

    fn index(self) -> i64 {
        month_index(self.first)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Month, D::Error> {
        let text = String::deserialize(d)?;
        Month::parse(&text, "month").map_err(|p| serde::de::Error::custom(p.message))
    }
}

impl TS for Month {
    type WithoutGenerics = Month;
    type OptionInnerType = Month;
    fn name(_: &ts_rs::Config) -> String {
        "string".to_string()
    }
    fn inline(_: &ts_rs::Config) -> String {
        "string".to_string()
    }
}

/// When local day `d` starts in zone `tz`: its midnight, or, where the zone
/// skips midnight (a DST gap), the first instant of the day that exists.
pub fn day_start(tz: Tz, d: NaiveDate) -> Result<DateTime<Utc>> {
    (0..=180)
        .find_map(|minutes| {
            let local = d.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(minutes);
            tz.from_local_datetime(&local).earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Problem::new("day", format!("{d} has no start in {tz}")))
}

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Quarter,
    Year,
}

impl Interval {
    pub fn months(self) -> i64 {
        match self {
            Interval::Month => 1,
            Interval::Quarter => 3,
            Interval::Year => 12,
        }
    }
}

/// One billing period: local dates (end excluded) and the UTC instants they start at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct Period {
    #[ts(type = "string")]
    pub first_day: NaiveDate,
    /// The day after the last: the next period's first day.
    #[ts(type = "string")]
    pub end_day: NaiveDate,
    #[ts(type = "string")]
    pub start: DateTime<Utc>,
    #[ts(type = "string")]
    pub end: DateTime<Utc>,
}

impl Period {
    /// Days in the period, for prorating.
    pub fn days(&self) -> u32 {
        (self.end_day - self.first_day).num_days() as u32
    }

    /// Days of the period within local dates `[from, to)`: the part a
    /// subscription starting or ending mid-period is active.
    pub fn days_within(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        (to.min(self.end_day) - from.max(self.first_day)).num_days().max(0) as u32
    }
}

/// Periods of one interval and anchor day, on a grid of months counted from
/// `base` (the month a subscription starts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    interval: Interval,
    anchor_day: u32,
    /// Months since year 0 of the grid's first boundary.
    base: i64,
}

fn month_index(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The anchor day in the month `index` (months since year 0), on its last day if shorter.
fn boundary_in(index: i64, anchor_day: u32) -> Option<NaiveDate> {
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month0 as u32 + 1, 1)?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
    first.with_day(anchor_day.min(last.day()))
}

impl Schedule {
    /// A schedule whose grid runs through the anchor day of `start`'s month.
    pub fn new(interval: Interval, anchor_day: u32, start: NaiveDate) -> Result<Schedule> {
        if !(1..=31).contains(&anchor_day) {
            return Err(Problem::new("anchor_day", "must be from 1 to 31"));
        }
        Ok(Schedule { interval, anchor_day, base: month_index(start) })
    }

    /// Boundary `k` of the grid (k may be negative).
    fn boundary(&self, k: i64) -> Result<NaiveDate> {
        boundary_in(self.base + k * self.interval.months(), self.anchor_day)
            .ok_or_else(|| Problem::new("period", "the date is out of range"))
    }

    /// The number on the grid of the period containing local date `day`.
    pub fn index_of(&self, day: NaiveDate) -> Result<i64> {
        // An estimate from the month difference, then a step either way.
        let mut k = (month_index(day) - self.base).div_euclid(self.interval.months());
        while self.boundary(k)? > day {
            k -= 1;
        }
        while self.boundary(k + 1)? <= day {
            k += 1;
        }
        Ok(k)
    }

    /// The local dates of the period containing local date `day`.
    pub fn dates_containing(&self, day: NaiveDate) -> Result<(NaiveDate, NaiveDate)> {
        let k = self.index_of(day)?;
        Ok((self.boundary(k)?, self.boundary(k + 1)?))
    }

    /// The period containing local date `day`, with its instants in `tz`.
    pub fn containing(&self, tz: Tz, day: NaiveDate) -> Result<Period> {
        let (first_day, end_day) = self.dates_containing(day)?;
        Ok(Period { first_day, end_day, start: day_start(tz, first_day)?, end: day_start(tz, end_day)? })
    }

    /// The period that starts in month `YYYY-MM` (the `--period` of `invoice preview`).
    pub fn starting_in(&self, tz: Tz, month: Month) -> Result<Period> {
        let boundary = boundary_in(month.index(), self.anchor_day)
            .ok_or_else(|| Problem::new("period", format!("no period can start in {month}")))?;
        let period = self.containing(tz, boundary)?;
        if period.first_day != boundary {
            return Err(Problem::new(
                "period",
                format!("no {:?} period starts in {month}; one starts on {}", self.interval, period.first_day)
                    .to_lowercase(),
            ));
        }
        Ok(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse(s, "month").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_anchor_of_31_falls_on_short_months_last_day_and_returns() {
        // docs/billing.md: Jan 31 → Feb 28 → Mar 31 → Apr 30 (2026).
        let s = Schedule::new(Interval::Month, 31, date("2026-01-31")).unwrap();
        let starts: Vec<NaiveDate> = (0..4).map(|k| s.boundary(k).unwrap()).collect();
        assert_eq!(starts, [date("2026-01-31"), date("2026-02-28"), date("2026-03-31"), date("2026-04-30")]);
        // In a leap year February has its 29th; anchors 29 and 30 land there too.
        for anchor in [29, 30, 31] {
            let s = Schedule::new(Interval::Month, anchor, date("2028-01-15")).unwrap();
            assert_eq!(s.dates_containing(date("2028-03-01")).unwrap().0, date("2028-02-29"), "anchor {anchor}");
        }
        let s = Schedule::new(Interval::Month, 29, date("2027-01-15")).unwrap();
        assert_eq!(s.dates_containing(date("2027-03-01")).unwrap(), (date("2027-02-28"), date("2027-03-29")));
    }

    #[test]
    fn periods_are_half_open_in_the_workspace_zone() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::new(Interval::Month, 1, date("2026-10-15")).unwrap();
        // docs/billing.md: October 2026 in New York.
        let october = s.containing(ny, date("2026-10-15")).unwrap();
        assert_eq!((october.start, october.end), (utc("2026-10-01T04:00:00Z"), utc("2026-11-01T04:00:00Z")));
        assert_eq!(
            (october.days(), october.days_within(date("2026-10-15"), date("2026-11-01"))),
            (31, 17),
            "99 × 17/31 = 54.29"
        );
        // Across the end of daylight time (Nov 1): November starts at 04:00Z, December at 05:00Z.
        let november = s.starting_in(ny, m("2026-11")).unwrap();
        assert_eq!((november.start, november.end), (utc("2026-11-01T04:00:00Z"), utc("2026-12-01T05:00:00Z")));
        assert_eq!(november.days(), 30);
        // The last day of a period belongs to it; the end day starts the next.
        assert_eq!(s.dates_containing(date("2026-10-31")).unwrap().0, date("2026-10-01"));
        assert_eq!(s.dates_containing(date("2026-11-01")).unwrap().0, date("2026-11-01"));
    }

    #[test]
    fn periods_start_at_local_midnight_across_dst_or_the_first_instant_after_it() {
        // New York enters daylight time on 2027-03-14: March runs from 05:00Z to 04:00Z.
        let ny: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::new(Interval::Month, 1, date("2027-01-01")).unwrap();
        let march = s.starting_in(ny, m("2027-03")).unwrap();
        assert_eq!((march.start, march.end), (utc("2027-03-01T05:00:00Z"), utc("2027-04-01T04:00:00Z")));
        // Santiago skips midnight on 2026-09-06 (00:00 becomes 01:00): that day starts at 01:00 local, 04:00Z,
        // and the period before it ends at the same instant.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let s = Schedule::new(Interval::Month, 6, date("2026-08-06")).unwrap();
        let september = s.starting_in(santiago, m("2026-09")).unwrap();
        assert_eq!(september.start, utc("2026-09-06T04:00:00Z"));
        assert_eq!(s.starting_in(santiago, m("2026-08")).unwrap().end, september.start);
        // A leap day counts in the period's days: February 2028 has 29.
        let feb = Schedule::new(Interval::Month, 1, date("2028-01-01")).unwrap().starting_in(ny, m("2028-02")).unwrap();
        assert_eq!(feb.days(), 29);
    }

    #[test]
    fn quarters_and_years_run_on_the_start_months_grid() {
        let utc_zone: Tz = "UTC".parse().unwrap();
        let q = Schedule::new(Interval::Quarter, 15, date("2026-02-20")).unwrap();
        assert_eq!(q.dates_containing(date("2026-02-20")).unwrap(), (date("2026-02-15"), date("2026-05-15")));
        assert_eq!(q.dates_containing(date("2026-12-01")).unwrap(), (date("2026-11-15"), date("2027-02-15")));
        assert_eq!(q.dates_containing(date("2025-12-01")).unwrap(), (date("2025-11-15"), date("2026-02-15")));
        let y = Schedule::new(Interval::Year, 29, date("2028-02-29")).unwrap();
        assert_eq!(y.dates_containing(date("2029-06-01")).unwrap(), (date("2029-02-28"), date("2030-02-28")));
        assert_eq!(y.containing(utc_zone, date("2028-03-01")).unwrap().days(), 365);
        let err = q.starting_in(utc_zone, m("2026-03")).unwrap_err();
        assert!(err.message.contains("one starts on 2026-02-15"), "{err}");
        assert!(Schedule::new(Interval::Month, 0, date("2026-01-01")).is_err());
        assert!(Schedule::new(Interval::Month, 32, date("2026-01-01")).is_err());
    }

    #[test]
    fn every_day_of_ten_years_lies_in_exactly_one_period() {
        let ny: Tz = "America/New_York".parse().unwrap();
        for (interval, anchor) in
            [(Interval::Month, 31), (Interval::Month, 1), (Interval::Quarter, 30), (Interval::Year, 29)]
        {
            let s = Schedule::new(interval, anchor, date("2026-01-10")).unwrap();
            let mut day = date("2024-01-01");
            let mut previous: Option<(NaiveDate, NaiveDate)> = None;
            while day < date("2034-01-01") {
                let (first, end) = s.dates_containing(day).unwrap();
                assert!(first <= day && day < end, "{interval:?} {anchor}: {day} not in [{first}, {end})");
                if let Some((p_first, p_end)) = previous
                    && p_first != first
                {
                    assert_eq!(p_end, first, "periods are contiguous");
                }
                previous = Some((first, end));
                day = day.succ_opt().unwrap();
            }
            let p = s.containing(ny, date("2027-03-14")).unwrap();
            assert!(p.start < p.end);
        }
    }

    #[test]
    fn months_are_bounded_at_local_midnight() {
        for (zone, month, from, to) in [
            // October 2026 in New York.
            ("America/New_York", "2026-10", "2026-10-01T04:00:00Z", "2026-11-01T04:00:00Z"),
            ("America/New_York", "2026-11", "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"),
            ("Europe/Paris", "2026-03", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"),
            ("Asia/Kolkata", "2028-02", "2028-01-31T18:30:00Z", "2028-02-29T18:30:00Z"),
            ("UTC", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            // Santiago changes offset within the month: -04 on the 1st, -03 on the next 1st.
            ("America/Santiago", "2026-09", "2026-09-01T04:00:00Z", "2026-10-01T03:00:00Z"),
        ] {
            let tz: Tz = zone.parse().unwrap();
            assert_eq!(m(month).bounds(tz).unwrap(), (utc(from), utc(to)), "{zone} {month}");
        }
        for bad in ["2026", "2026-13", "26-1x", "", "2026-1", "2026-010"] {
            let problem = Month::parse(bad, "period").unwrap_err();
            assert_eq!(problem.path, "period", "{bad}");
        }
        assert_eq!(m("2026-12").next().unwrap(), m("2027-01"));
        assert_eq!(m("2026-01").previous().unwrap(), m("2025-12"));
        assert_eq!(m("2028-02").days().count(), 29);
        assert_eq!(Month::of(date("2026-10-31")).to_string(), "2026-10");
        assert_eq!(serde_json::to_string(&m("2026-10")).unwrap(), "\"2026-10\"");
        assert!(serde_json::from_str::<Month>("\"2026-1\"").is_err());
    }
}

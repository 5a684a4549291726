//! A job's schedule: a cron expression and an IANA zone, parsed once (by the API when an
//! admin sends one, by the loader when a row is read). Everything after that — storage,
//! preview, the job view and the scheduler — takes a [`Schedule`] and never parses again.
//!
//! Fire instants are computed by croner in the zone itself, so they follow daylight-saving
//! changes (a `0 0 9 * * *` job fires at 09:00 local on both sides of a transition; a time
//! inside a spring-forward gap fires at the first instant after the gap; a time repeated by
//! a fall-back fires once, at its first occurrence).

use std::fmt;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds},
};

use crate::error::{AppError, AppResult};

/// A parsed cron expression in its six-field form (seconds first).
#[derive(Debug, Clone)]
pub struct CronExpr {
    six_fields: String,
    cron: Cron,
}

/// The longest cron expression accepted (real ones are a few dozen characters).
pub const CRON_MAX: usize = 128;

impl CronExpr {
    /// Parses a five-field (crontab; `0` seconds prepended) or six-field expression, or a
    /// 400 on `cron` that says why not.
    pub fn parse(expr: &str) -> AppResult<Self> {
        if expr.len() > CRON_MAX {
            return Err(AppError::bad_field(
                "cron",
                format!("cron must be at most {CRON_MAX} characters"),
            ));
        }
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let six_fields = match fields.len() {
            5 => format!("0 {}", fields.join(" ")),
            6 => fields.join(" "),
            n => {
                return Err(AppError::bad_field(
                    "cron",
                    format!("cron must have 5 fields (minute first) or 6 (seconds first), not {n}"),
                ));
            }
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&six_fields)
            .map_err(|e| AppError::bad_field("cron", format!("invalid cron expression: {e}")))?;
        Ok(Self { six_fields, cron })
    }

    /// The six-field form, as stored.
    pub fn as_str(&self) -> &str {
        &self.six_fields
    }
}

/// Parses an IANA zone name, or a 400 on `timezone`.
pub fn parse_zone(name: &str) -> AppResult<Tz> {
    name.parse::<Tz>().map_err(|_| {
        AppError::bad_field(
            "timezone",
            format!("unknown timezone {name:?} (use an IANA name such as Asia/Shanghai)"),
        )
    })
}

/// When a job fires: a cron expression read in a zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: CronExpr,
    zone: Tz,
}

impl Schedule {
    pub fn new(cron: CronExpr, zone: Tz) -> Self {
        Self { cron, zone }
    }

    /// Parses both parts (a stored row, a preview request).
    pub fn parse(cron: &str, zone: &str) -> AppResult<Self> {
        Ok(Self::new(CronExpr::parse(cron)?, parse_zone(zone)?))
    }

    pub fn cron(&self) -> &CronExpr {
        &self.cron
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first fire instant strictly after `after`. Ticks are whole seconds.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // croner keeps the fraction of its starting point; a tick has none.
        let after = after.trunc_subsecs(0);
        self.cron
            .cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first fire instant at or after `at`.
    pub fn next_at_or_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Ticks are whole seconds: a fractional `at` inside a matching second is past it.
        let whole = at.trunc_subsecs(0);
        let from = if whole == at {
            whole - Duration::seconds(1)
        } else {
            whole
        };
        self.next_after(from)
    }

    /// The next `n` fire instants strictly after `after` (what preview shows, and what the
    /// scheduler arms one after the other).
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut from = after;
        while out.len() < n {
            let Some(next) = self.next_after(from) else {
                break;
            };
            out.push(next);
            from = next;
        }
        out
    }

    /// Whether `tick` is one of this schedule's fire instants (an edit may have moved it).
    pub fn fires_at(&self, tick: DateTime<Utc>) -> bool {
        self.next_at_or_after(tick) == Some(tick)
    }
}

/// The stored form: `<six fields> <zone>`.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.cron.as_str(), self.zone.name())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDateTime, TimeZone, Timelike};

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local(zone: Tz, s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        zone.from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn five_fields_get_zero_seconds_and_six_are_kept() {
        assert_eq!(
            CronExpr::parse("*/5 * * * *").unwrap().as_str(),
            "0 */5 * * * *"
        );
        assert_eq!(
            CronExpr::parse(" 30  0 9 * * * ").unwrap().as_str(),
            "30 0 9 * * *"
        );
    }

    #[test]
    fn bad_fields_and_zones_say_what_is_wrong() {
        let err = CronExpr::parse("* * *").unwrap_err().to_string();
        assert!(err.contains("5 fields"), "{err}");
        for bad in [
            "0 61 * * * *",
            "0 0 25 * * *",
            "0 0 9 * 13 *",
            "nonsense x y z w",
        ] {
            let err = CronExpr::parse(bad).unwrap_err();
            assert!(
                matches!(&err, AppError::BadRequest { field: Some(f), .. } if f == "cron"),
                "{bad}: {err:?}"
            );
        }
        let err = parse_zone("Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
        assert!(Schedule::parse("0 9 * * *", "Europe/Nowhere").is_err());
    }

    #[test]
    fn the_normalized_form_parses_back_to_the_same_schedule() {
        for (expr, zone) in [
            ("0 9 * * 1-5", "Europe/Berlin"),
            ("*/15 * * * * *", "UTC"),
            ("0 30 4 * * *", "America/New_York"),
        ] {
            let parsed = Schedule::parse(expr, zone).unwrap();
            let again = Schedule::parse(parsed.cron().as_str(), parsed.zone().name()).unwrap();
            assert_eq!(parsed.to_string(), again.to_string());
            let after = utc("2026-03-01T00:00:00Z");
            assert_eq!(parsed.upcoming(after, 10), again.upcoming(after, 10));
        }
        assert_eq!(
            Schedule::parse("0 9 * * *", "Europe/Berlin")
                .unwrap()
                .to_string(),
            "0 0 9 * * * Europe/Berlin"
        );
    }

    /// 09:00 local every day across the 2026 and 2027 transitions of both zones: the UTC
    /// instant moves by an hour, the local time does not.
    #[test]
    fn a_nine_oclock_job_fires_at_nine_local_on_both_sides_of_every_transition() {
        let cases = [
            // (zone, a day before the transition, local date of the transition)
            (chrono_tz::Europe::Berlin, "2026-03-27", "2026-03-29"),
            (chrono_tz::Europe::Berlin, "2026-10-23", "2026-10-25"),
            (chrono_tz::Europe::Berlin, "2027-03-26", "2027-03-28"),
            (chrono_tz::Europe::Berlin, "2027-10-29", "2027-10-31"),
            (chrono_tz::America::New_York, "2026-03-06", "2026-03-08"),
            (chrono_tz::America::New_York, "2026-10-30", "2026-11-01"),
            (chrono_tz::America::New_York, "2027-03-12", "2027-03-14"),
            (chrono_tz::America::New_York, "2027-11-05", "2027-11-07"),
        ];
        for (zone, before, transition) in cases {
            let schedule = Schedule::new(CronExpr::parse("0 0 9 * * *").unwrap(), zone);
            let start = local(zone, &format!("{before} 12:00:00"));
            let ticks = schedule.upcoming(start, 4);
            for t in &ticks {
                let l = t.with_timezone(&zone);
                assert_eq!((l.hour(), l.minute(), l.second()), (9, 0, 0), "{zone}: {t}");
            }
            // One day apart in local dates, so 23 or 25 hours apart in UTC once.
            let gaps: Vec<i64> = ticks
                .windows(2)
                .map(|w| (w[1] - w[0]).num_hours())
                .collect();
            assert!(
                gaps.iter().any(|h| *h != 24),
                "{zone} {transition}: {gaps:?}"
            );
            let on_day = local(zone, &format!("{transition} 09:00:00"));
            assert!(ticks.contains(&on_day), "{zone}: {ticks:?}");
            assert!(schedule.fires_at(on_day));
            assert!(!schedule.fires_at(on_day + Duration::hours(1)));
        }
        // Spot values: 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        let berlin = Schedule::parse("0 0 9 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            berlin.upcoming(utc("2026-03-28T12:00:00Z"), 2),
            [utc("2026-03-29T07:00:00Z"), utc("2026-03-30T07:00:00Z")]
        );
        assert_eq!(
            berlin.next_after(utc("2026-03-27T12:00:00Z")),
            Some(utc("2026-03-28T08:00:00Z"))
        );
        let new_york = Schedule::parse("0 0 9 * * *", "America/New_York").unwrap();
        assert_eq!(
            new_york.upcoming(utc("2026-10-31T14:00:00Z"), 2),
            [utc("2026-11-01T14:00:00Z"), utc("2026-11-02T14:00:00Z")]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_once_after_it_and_a_repeated_time_fires_once() {
        let berlin = chrono_tz::Europe::Berlin;
        let gap = Schedule::new(CronExpr::parse("0 30 2 * * *").unwrap(), berlin);
        // 2026-03-29 02:30 does not exist in Berlin: the tick is 03:00 CEST (01:00 UTC).
        assert_eq!(
            gap.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert!(gap.fires_at(utc("2026-03-29T01:00:00Z")));
        // 2026-10-25 02:30 happens twice: one tick, at the first (00:30 UTC).
        let ticks = gap.upcoming(utc("2026-10-24T12:00:00Z"), 2);
        assert_eq!(
            ticks,
            [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn at_or_after_includes_a_whole_second_tick_and_not_a_past_one() {
        let every_ten = Schedule::parse("*/10 * * * * *", "UTC").unwrap();
        let tick = utc("2026-11-24T10:00:10Z");
        assert_eq!(every_ten.next_at_or_after(tick), Some(tick));
        assert_eq!(
            every_ten.next_at_or_after(utc("2026-11-24T10:00:10.001Z")),
            Some(utc("2026-11-24T10:00:20Z"))
        );
        assert_eq!(
            every_ten.next_after(tick),
            Some(utc("2026-11-24T10:00:20Z"))
        );
        assert!(!every_ten.fires_at(utc("2026-11-24T10:00:11Z")));
        // From a fractional instant (a request's "now"): whole seconds still.
        assert_eq!(
            every_ten.upcoming(utc("2026-11-24T10:00:04.835Z"), 2),
            [utc("2026-11-24T10:00:10Z"), utc("2026-11-24T10:00:20Z")]
        );
    }
}

//! Cron expressions as tokio-cron-scheduler reads them (croner, seconds first, day-of-month
//! and day-of-week both honoured). Five-field crontab input gets `0` seconds prepended.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds},
};

use crate::error::{AppError, AppResult};

/// The six-field form of a five- or six-field expression, or a 400 that says why not.
pub fn normalize(expr: &str) -> AppResult<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(AppError::bad_field(
                "cron",
                format!("cron must have 5 fields (minute first) or 6 (seconds first), not {n}"),
            ));
        }
    };
    parse(&six)?;
    Ok(six)
}

/// Parses a six-field expression exactly as the scheduler will.
pub fn parse(six_fields: &str) -> AppResult<Cron> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(six_fields)
        .map_err(|e| AppError::bad_field("cron", format!("invalid cron expression: {e}")))
}

pub fn timezone(name: &str) -> AppResult<Tz> {
    name.parse::<Tz>().map_err(|_| {
        AppError::bad_field(
            "timezone",
            format!("unknown timezone {name:?} (use an IANA name such as Asia/Shanghai)"),
        )
    })
}

/// The next `n` fire times strictly after `after`.
pub fn next_times(cron: &Cron, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    cron.iter_after(after.with_timezone(&tz))
        .take(n)
        .map(|t| t.with_timezone(&Utc))
        .collect()
}

/// The tick a firing at `now` belongs to: the latest fire time at or before `now`. Every
/// instance computes the same value for the same tick, which makes it a claim key.
pub fn tick_at_or_before(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Ticks are whole seconds; an inclusive search from a fractional `now` would return `now`
    // itself when its second matches, and two instances would then disagree on the tick.
    let now = now.trunc_subsecs(0);
    cron.find_previous_occurrence(&now.with_timezone(&tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_get_zero_seconds_and_six_are_kept() {
        assert_eq!(normalize("*/5 * * * *").unwrap(), "0 */5 * * * *");
        assert_eq!(normalize(" 30  0 9 * * * ").unwrap(), "30 0 9 * * *");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let err = normalize("* * *").unwrap_err().to_string();
        assert!(err.contains("5 fields"), "{err}");
        assert!(normalize("0 61 * * * *").is_err());
        assert!(normalize("0 0 25 * * *").is_err());
        assert!(timezone("Mars/Olympus").is_err());
    }

    #[test]
    fn the_tick_of_a_late_firing_is_the_scheduled_second() {
        let cron = parse("*/10 * * * * *").unwrap();
        let now = "2026-11-24T10:00:12.700Z".parse::<DateTime<Utc>>().unwrap();
        let tick = tick_at_or_before(&cron, Tz::UTC, now).unwrap();
        assert_eq!(tick.to_rfc3339(), "2026-11-24T10:00:10+00:00");
        let every_second = parse("* * * * * *").unwrap();
        let a = tick_at_or_before(
            &every_second,
            Tz::UTC,
            "2026-11-24T10:00:12.100Z".parse().unwrap(),
        );
        let b = tick_at_or_before(
            &every_second,
            Tz::UTC,
            "2026-11-24T10:00:12.900Z".parse().unwrap(),
        );
        assert_eq!(
            a, b,
            "two instances firing within the same second agree on the tick"
        );
        assert_eq!(a.unwrap().to_rfc3339(), "2026-11-24T10:00:12+00:00");
    }
}

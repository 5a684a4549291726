//! A cron expression (the stored six-field form, seconds first) said in words, in Chinese or
//! English, and the daylight-saving note of a fire time. Only for people: the schedule itself
//! is `jobs::schedule`.

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

const DAYS_EN: [&str; 8] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DAYS_ZH: [&str; 8] = ["日", "一", "二", "三", "四", "五", "六", "日"];

fn number(f: &str) -> Option<u32> {
    f.parse().ok()
}

fn step(f: &str) -> Option<u32> {
    f.strip_prefix("*/").and_then(number)
}

/// One field ("*", "*/n", "a-b", "a,b", "n") in words.
fn field(f: &str, unit_en: &str, unit_zh: &str, zh: bool) -> String {
    if f == "*" || f == "?" {
        return if zh {
            format!("每{unit_zh}")
        } else {
            format!("every {unit_en}")
        };
    }
    if let Some(n) = step(f) {
        return if zh {
            format!("每 {n} {unit_zh}")
        } else {
            format!("every {n} {unit_en}s")
        };
    }
    if let Some((a, b)) = f.split_once('-') {
        return if zh {
            format!("{a} 至 {b} {unit_zh}")
        } else {
            format!("{unit_en}s {a} through {b}")
        };
    }
    if zh {
        format!("第 {} {unit_zh}", f.replace(',', "、"))
    } else {
        format!("{unit_en} {}", f.replace(',', ", "))
    }
}

fn days(dow: &str, zh: bool) -> String {
    let names = if zh { &DAYS_ZH } else { &DAYS_EN };
    let name = |d: &str| {
        number(d)
            .and_then(|n| names.get(n as usize))
            .map_or_else(|| d.to_string(), |s| s.to_string())
    };
    if let Some((a, b)) = dow.split_once('-') {
        return if zh {
            format!("每周{}至周{}", name(a), name(b))
        } else {
            format!("{} through {}", name(a), name(b))
        };
    }
    let list: Vec<String> = dow.split(',').map(name).collect();
    if zh {
        format!("每周{}", list.join("、"))
    } else {
        format!("on {}", list.join(", "))
    }
}

/// `0 30 9 * * 1-5` → "at 09:30:00, Monday through Friday" / "每周一至周五 09:30:00".
pub fn describe(six_fields: &str, zh: bool) -> String {
    let f: Vec<&str> = six_fields.split_whitespace().collect();
    let [sec, min, hour, dom, month, dow] = f[..] else {
        return six_fields.to_string();
    };
    let time = match (number(sec), number(min), number(hour)) {
        (Some(s), Some(m), Some(h)) => format!("{h:02}:{m:02}:{s:02}"),
        _ if sec == "0" && min == "*" && hour == "*" => {
            (if zh { "每分钟" } else { "every minute" }).to_string()
        }
        _ if sec == "0" && hour == "*" && step(min).is_some() => field(min, "minute", "分钟", zh),
        _ if sec == "0" && hour == "*" && number(min).is_some() => {
            if zh {
                format!("每小时第 {min} 分")
            } else {
                format!("at minute {min} of every hour")
            }
        }
        _ if sec == "0" && number(min) == Some(0) && step(hour).is_some() => {
            field(hour, "hour", "小时", zh)
        }
        _ => {
            let parts = [
                field(sec, "second", "秒", zh),
                field(min, "minute", "分", zh),
                field(hour, "hour", "时", zh),
            ];
            parts.join(if zh { "，" } else { ", " })
        }
    };
    let mut day = match (dom, dow) {
        ("*" | "?", "*" | "?") => (if zh { "每天" } else { "every day" }).to_string(),
        ("*" | "?", dow) => days(dow, zh),
        (dom, "*" | "?") => {
            if zh {
                format!("每月 {} 日", dom.replace(',', "、"))
            } else {
                format!("on day {} of the month", dom.replace(',', ", "))
            }
        }
        (dom, dow) => {
            if zh {
                format!("每月 {dom} 日或{}", days(dow, zh))
            } else {
                format!("on day {dom} of the month or {}", days(dow, zh))
            }
        }
    };
    if month != "*" && month != "?" {
        day = if zh {
            format!("{} 月，{day}", month.replace(',', "、"))
        } else {
            format!("in month {}, {day}", month.replace(',', ", "))
        };
    }
    let at_time = number(sec).is_some() && number(min).is_some() && number(hour).is_some();
    if zh {
        format!("{day} {time}")
    } else if at_time {
        format!("at {time}, {day}")
    } else {
        format!("{time}, {day}")
    }
}

/// What daylight saving does to a fire time in `tz`: a wall-clock time that happens twice
/// (the scheduler fires at the first), or the first instant after a skipped hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstNote {
    Repeated,
    AfterGap,
}

pub fn dst_note(at: &DateTime<Utc>, tz: Tz) -> Option<DstNote> {
    let local = at.with_timezone(&tz).naive_local();
    if matches!(
        tz.from_local_datetime(&local),
        chrono::LocalResult::Ambiguous(..)
    ) {
        return Some(DstNote::Repeated);
    }
    let before = (*at - chrono::Duration::seconds(1)).with_timezone(&tz);
    let now = at.with_timezone(&tz);
    let (was, is) = (
        before.offset().fix().local_minus_utc(),
        now.offset().fix().local_minus_utc(),
    );
    (is > was).then_some(DstNote::AfterGap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_expressions_read_naturally_in_both_languages() {
        assert_eq!(describe("0 30 9 * * *", false), "at 09:30:00, every day");
        assert_eq!(describe("0 30 9 * * *", true), "每天 09:30:00");
        assert_eq!(
            describe("0 */5 * * * *", false),
            "every 5 minutes, every day"
        );
        assert_eq!(describe("0 */5 * * * *", true), "每天 每 5 分钟");
        assert_eq!(
            describe("0 0 8 * * 1-5", false),
            "at 08:00:00, Monday through Friday"
        );
        assert_eq!(describe("0 0 8 * * 1-5", true), "每周一至周五 08:00:00");
        assert_eq!(describe("0 0 3 1 * *", true), "每月 1 日 03:00:00");
        assert_eq!(describe("0 * * * * *", true), "每天 每分钟");
        assert_eq!(describe("0 * * * * *", false), "every minute, every day");
    }

    #[test]
    fn fire_times_next_to_a_daylight_saving_change_are_flagged() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08 02:30 does not exist in New York: the first instant after is 03:00 EDT.
        let after_gap = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
        assert_eq!(dst_note(&after_gap, tz), Some(DstNote::AfterGap));
        // 2026-11-01 01:30 happens twice.
        let repeated = Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap();
        assert_eq!(dst_note(&repeated, tz), Some(DstNote::Repeated));
        let plain = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        assert_eq!(dst_note(&plain, tz), None);
    }
}

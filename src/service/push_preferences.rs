//! What a user wants pushed: opt-out, categories of interest, quiet hours in their timezone;
//! and the mini-program subscribe-message grants they gave. The push pipeline reads these.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use entity::{category, miniprogram_subscription, push_preference};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, QueryOrder, prelude::Expr, sea_query::OnConflict,
};

use crate::{
    error::{AppError, AppResult},
    time,
};

pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";
/// Templates one subscription grant may list.
pub const MAX_TEMPLATES_PER_GRANT: usize = 10;
/// The longest template id accepted (WeChat's are 43 characters).
pub const TEMPLATE_ID_MAX: usize = 128;
/// Categories of interest per user (more would be every category anyway).
pub const MAX_CATEGORIES: usize = 50;
/// A clock time, `HH:MM`.
pub const CLOCK_MAX: usize = 5;

/// Quiet hours as minutes after local midnight; `start > end` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub opted_out: bool,
    /// Category slugs; empty = all.
    pub categories: Vec<String>,
    pub quiet_hours: Option<QuietHours>,
    pub timezone: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            opted_out: false,
            categories: Vec::new(),
            quiet_hours: None,
            timezone: DEFAULT_TIMEZONE.into(),
        }
    }
}

/// Parses `HH:MM`.
pub fn parse_clock(field: &str, value: &str) -> AppResult<u16> {
    let t = NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .map_err(|_| AppError::bad_field(field, format!("{field} must be a time like 22:30")))?;
    Ok((t.hour() * 60 + t.minute()) as u16)
}

pub fn format_clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl QuietHours {
    fn contains(&self, minute: u16) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

/// The instant a local wall-clock time names; when the time does not exist (it falls in a
/// daylight-saving gap, e.g. 02:30 on the spring-forward night in Europe/Berlin), the first
/// instant after the gap. A repeated time (fall-back) is its first occurrence.
fn first_instant_at_or_after(tz: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    // Transitions fall on whole minutes and gaps last hours at most, so walking minutes
    // lands exactly on the gap's end.
    (0..=24 * 60)
        .find_map(|m| {
            tz.from_local_datetime(&(local + Duration::minutes(m)))
                .earliest()
        })
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

impl Preferences {
    /// When a push at `at` falls in the quiet hours, the moment they end (deliver then);
    /// None when it may be sent now.
    pub fn deferred_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let quiet = self.quiet_hours?;
        let tz: Tz = self.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let local = at.with_timezone(&tz);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if !quiet.contains(minute) {
            return None;
        }
        let end = NaiveTime::from_hms_opt(
            u32::from(quiet.end_minute / 60),
            u32::from(quiet.end_minute % 60),
            0,
        )?;
        let mut day = local.date_naive();
        if minute >= quiet.end_minute {
            day += Duration::days(1);
        }
        Some(first_instant_at_or_after(tz, day.and_time(end)))
    }

    /// Whether an article of `category` (slug) interests this user.
    pub fn wants(&self, category: Option<&str>) -> bool {
        !self.opted_out
            && (self.categories.is_empty()
                || category.is_some_and(|c| self.categories.iter().any(|x| x == c)))
    }
}

pub async fn get(db: &DatabaseConnection, user_id: i64) -> AppResult<Preferences> {
    Ok(push_preference::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map(from_row)
        .transpose()?
        .unwrap_or_default())
}

/// The preferences of several users at once (the push pipeline reads them per batch);
/// users without a row have the defaults and are not in the map.
pub async fn get_many(
    db: &impl ConnectionTrait,
    user_ids: &[i64],
) -> AppResult<HashMap<i64, Preferences>> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    push_preference::Entity::find()
        .filter(push_preference::Column::UserId.is_in(user_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|row| Ok((row.user_id, from_row(row)?)))
        .collect()
}

/// A row as preferences. Unreadable stored categories are an error, not "all categories":
/// reading them as empty would push everything to someone who chose a few.
fn from_row(row: push_preference::Model) -> AppResult<Preferences> {
    let categories = serde_json::from_str(&row.categories).map_err(|err| {
        tracing::error!(user_id = row.user_id, %err, "stored push categories are not a JSON list");
        AppError::Internal(anyhow::anyhow!(
            "the push preferences of user {} cannot be read",
            row.user_id
        ))
    })?;
    Ok(Preferences {
        opted_out: row.opted_out,
        categories,
        quiet_hours: match (row.quiet_start_minute, row.quiet_end_minute) {
            (Some(s), Some(e)) => Some(QuietHours {
                start_minute: s as u16,
                end_minute: e as u16,
            }),
            _ => None,
        },
        timezone: row.timezone,
    })
}

/// Replaces a user's preferences after checking categories and timezone.
pub async fn set(
    db: &DatabaseConnection,
    user_id: i64,
    prefs: Preferences,
) -> AppResult<Preferences> {
    prefs.timezone.parse::<Tz>().map_err(|_| {
        AppError::bad_field("timezone", format!("unknown timezone {:?}", prefs.timezone))
    })?;
    if let Some(q) = prefs.quiet_hours
        && q.start_minute == q.end_minute
    {
        return Err(AppError::bad_field(
            "quiet_hours",
            "quiet hours must not start and end at the same time",
        ));
    }
    if prefs.categories.len() > MAX_CATEGORIES {
        return Err(AppError::bad_field(
            "categories",
            format!("at most {MAX_CATEGORIES} categories"),
        ));
    }
    let mut categories = prefs.categories.clone();
    categories.sort();
    categories.dedup();
    if !categories.is_empty() {
        let known = category::Entity::find()
            .filter(category::Column::Slug.is_in(categories.clone()))
            .count(db)
            .await?;
        if known as usize != categories.len() {
            return Err(AppError::bad_field(
                "categories",
                "some categories do not exist",
            ));
        }
    }
    let row = push_preference::ActiveModel {
        user_id: Set(user_id),
        opted_out: Set(prefs.opted_out),
        categories: Set(serde_json::to_string(&categories).unwrap_or_else(|_| "[]".into())),
        quiet_start_minute: Set(prefs.quiet_hours.map(|q| i32::from(q.start_minute))),
        quiet_end_minute: Set(prefs.quiet_hours.map(|q| i32::from(q.end_minute))),
        timezone: Set(prefs.timezone.clone()),
        updated_at: Set(time::now()),
    };
    push_preference::Entity::insert(row)
        .on_conflict(
            OnConflict::column(push_preference::Column::UserId)
                .update_columns([
                    push_preference::Column::OptedOut,
                    push_preference::Column::Categories,
                    push_preference::Column::QuietStartMinute,
                    push_preference::Column::QuietEndMinute,
                    push_preference::Column::Timezone,
                    push_preference::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    get(db, user_id).await
}

/// Records that the user allowed these subscribe-message templates once more (one credit
/// each); returns the user's credits per template.
pub async fn grant(
    db: &DatabaseConnection,
    user_id: i64,
    template_ids: &[String],
) -> AppResult<Vec<(String, i32)>> {
    if template_ids.is_empty() || template_ids.len() > MAX_TEMPLATES_PER_GRANT {
        return Err(AppError::bad_field(
            "template_ids",
            format!("template_ids must list 1 to {MAX_TEMPLATES_PER_GRANT} templates"),
        ));
    }
    for id in template_ids {
        if id.trim().is_empty() || id.len() > 128 {
            return Err(AppError::bad_field(
                "template_ids",
                "template ids are 1 to 128 characters",
            ));
        }
    }
    for id in template_ids {
        miniprogram_subscription::Entity::insert(miniprogram_subscription::ActiveModel {
            user_id: Set(user_id),
            template_id: Set(id.trim().to_string()),
            credits: Set(1),
            updated_at: Set(time::now()),
        })
        .on_conflict(
            OnConflict::columns([
                miniprogram_subscription::Column::UserId,
                miniprogram_subscription::Column::TemplateId,
            ])
            .value(
                miniprogram_subscription::Column::Credits,
                Expr::col((
                    miniprogram_subscription::Entity,
                    miniprogram_subscription::Column::Credits,
                ))
                .add(1),
            )
            .value(
                miniprogram_subscription::Column::UpdatedAt,
                Expr::value(time::now()),
            )
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(miniprogram_subscription::Entity::find()
        .filter(miniprogram_subscription::Column::UserId.eq(user_id))
        .order_by_asc(miniprogram_subscription::Column::TemplateId)
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.template_id, s.credits))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(start: &str, end: &str) -> Preferences {
        Preferences {
            quiet_hours: Some(QuietHours {
                start_minute: parse_clock("start", start).unwrap(),
                end_minute: parse_clock("end", end).unwrap(),
            }),
            ..Default::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight_defer_to_their_end_in_the_users_timezone() {
        let p = prefs("22:00", "08:00"); // Asia/Shanghai, UTC+8
        // 23:30 local (15:30 UTC) -> 08:00 local next day (00:00 UTC).
        assert_eq!(
            p.deferred_until(at("2026-11-24T15:30:00Z")),
            Some(at("2026-11-25T00:00:00Z"))
        );
        // 03:00 local (19:00 UTC the day before) -> 08:00 local the same day.
        assert_eq!(
            p.deferred_until(at("2026-11-24T19:00:00Z")),
            Some(at("2026-11-25T00:00:00Z"))
        );
        // 12:00 local: send now.
        assert_eq!(p.deferred_until(at("2026-11-24T04:00:00Z")), None);
        // The end itself is not quiet.
        assert_eq!(p.deferred_until(at("2026-11-25T00:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_that_end_in_a_spring_forward_gap_still_defer() {
        // 2026-03-29 in Europe/Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 never happens.
        let mut p = prefs("22:00", "02:30");
        p.timezone = "Europe/Berlin".into();
        // 01:30 CET (00:30 UTC) is quiet: deliver when the window ends, at 03:00 CEST.
        assert_eq!(
            p.deferred_until(at("2026-03-29T00:30:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // 23:00 CET the evening before: the same end.
        assert_eq!(
            p.deferred_until(at("2026-03-28T22:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // The night after, 02:30 exists again (00:30 UTC in summer time).
        assert_eq!(
            p.deferred_until(at("2026-03-29T22:00:00Z")),
            Some(at("2026-03-30T00:30:00Z"))
        );
        // A repeated 02:30 (fall-back night) ends at its first occurrence.
        assert_eq!(
            p.deferred_until(at("2026-10-24T23:00:00Z")),
            Some(at("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn quiet_hours_within_a_day_and_none() {
        let p = prefs("12:00", "14:00");
        assert_eq!(
            p.deferred_until(at("2026-11-24T04:30:00Z")),
            Some(at("2026-11-24T06:00:00Z"))
        );
        assert_eq!(
            Preferences::default().deferred_until(at("2026-11-24T04:30:00Z")),
            None
        );
    }

    #[test]
    fn categories_of_interest_and_opt_out_decide_what_a_user_wants() {
        let mut p = Preferences::default();
        assert!(p.wants(Some("backend")) && p.wants(None));
        p.categories = vec!["ai".into()];
        assert!(p.wants(Some("ai")) && !p.wants(Some("backend")) && !p.wants(None));
        p.opted_out = true;
        assert!(!p.wants(Some("ai")));
        assert_eq!(format_clock(parse_clock("t", "07:05").unwrap()), "07:05");
        assert!(parse_clock("t", "25:00").is_err());
    }
}

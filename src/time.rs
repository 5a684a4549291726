//! Timestamps are stored and served at millisecond precision (the API contract), so that a
//! keyset cursor built from a served value matches the stored one exactly.

use chrono::{DateTime, SubsecRound, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub fn to_millis_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(3)
}

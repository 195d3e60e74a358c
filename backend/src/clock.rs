//! The clock: every timestamp the app stores comes from here (UTC, naive,
//! as Diesel stores it in SQLite).

use chrono::NaiveDateTime;

pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

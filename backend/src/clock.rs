//! The clock: every timestamp the app stores comes from here (UTC, naive,
//! as Diesel stores it).

use chrono::{DurationRound, NaiveDateTime, TimeDelta};

/// Now, to the microsecond: PostgreSQL's `timestamp` keeps microseconds,
/// so both backends store (and return, and sort by) exactly the same value.
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(super::now().nanosecond() % 1_000, 0);
    }
}

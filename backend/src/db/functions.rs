//! SQL functions implemented in Rust, registered on every pooled connection.

use diesel::expression::functions::declare_sql_function;
use diesel::sql_types::Text;
use diesel::{QueryResult, SqliteConnection};

#[declare_sql_function]
extern "SQL" {
    /// True when `haystack`, lower-cased with Unicode rules, contains
    /// `needle` (which the caller lower-cases the same way) as a literal
    /// substring. Unlike `LIKE` there are no wildcards to escape, and unlike
    /// SQLite's `LIKE`/`lower()` it folds more than ASCII (`Ä` finds `ä`).
    fn contains_folded(haystack: Text, needle: Text) -> Bool;
}

/// Registers the functions above on `conn`; a connection without them
/// cannot run a todo search.
pub fn register(conn: &mut SqliteConnection) -> QueryResult<()> {
    contains_folded_utils::register_impl(conn, |haystack: String, needle: String| {
        haystack.to_lowercase().contains(&needle)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::{select, Connection, RunQueryDsl};

    #[test]
    fn contains_folded_matches_literal_unicode_substrings() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        register(&mut conn).unwrap();
        let cases = [
            ("Grüße aus ÄRHUS", "äRHUS".to_lowercase(), true),
            ("100% done", "0%".into(), true),
            ("100 done", "0%".into(), false),
            ("a_b", "_".into(), true),
            ("ab", "_".into(), false),
            (r"C:\temp", r"\t".into(), true),
            ("anything", String::new(), true),
        ];
        for (haystack, needle, expected) in cases {
            let found: bool = select(contains_folded(haystack, &needle))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(found, expected, "{haystack:?} {needle:?}");
        }
    }
}

//! The parts of a todo a client writes: title, description, priority, due
//! date, and the list orders it can ask for.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every character Rust's `char::is_whitespace` (Unicode `White_Space`)
/// accepts, which is what `str::trim` removes, as the body of a regex class.
/// Spelled out because `\s` means different things to ECMA-262 and Python
/// regex engines, and the OpenAPI pattern must agree with the server exactly.
#[cfg(test)]
const WS_CLASS: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The title rule as an ECMA-262 / JSON Schema pattern: after trimming
/// whitespace, 1 to 200 characters remain.
pub const TITLE_PATTERN: &str = concat!(
    r"^[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*",
    r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"(?:[\s\S]{0,198}",
    r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?",
    r"[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
);

/// The one character no text field takes: PostgreSQL's `text` cannot hold
/// U+0000, so both backends refuse it (422) rather than one storing it and
/// the other failing.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// A todo title: surrounding whitespace trimmed, then 1 to 200 characters.
/// Anything else is kept verbatim (markup, quotes, SQL-looking text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoTitle(String);

impl TodoTitle {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let title = raw.trim();
        if title.contains('\0') {
            return Err(NUL_REFUSED);
        }
        if title.is_empty() {
            return Err("must not be blank");
        }
        if title.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 200 characters after trimming");
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key the `title` sort orders by: the title lower-cased with
    /// Unicode rules, compared byte-wise (that is, by code point).
    pub fn sort_key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A todo description: up to 10,000 characters (not bytes), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoDescription(String);

impl TodoDescription {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.contains('\0') {
            return Err(NUL_REFUSED);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 10000 characters");
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// How urgent a todo is. Stored as its rank, so sorting by priority sorts
/// low < normal < high.
// Read through `String`: serde_json reports a non-string where an enum is
// expected as a syntax error (400); this way it is a 422 naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase", try_from = "String")]
#[schema(example = "normal")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    pub fn rank(self) -> i32 {
        match self {
            Self::Low => 0,
            Self::Normal => 1,
            Self::High => 2,
        }
    }

    /// Reads the stored rank; the column's CHECK constraint allows only 0..=2.
    pub fn from_rank(rank: i32) -> Self {
        match rank {
            0 => Self::Low,
            2 => Self::High,
            _ => Self::Normal,
        }
    }
}

impl TryFrom<String> for Priority {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            _ => Err("must be one of low, normal, high"),
        }
    }
}

/// A due date given as exactly `YYYY-MM-DD` naming a real calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDate(NaiveDate);

impl DueDate {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MESSAGE: &str = "must be a calendar date written YYYY-MM-DD";
        let bytes = raw.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(MESSAGE);
        }
        // The shape check makes these slices ASCII digits.
        let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().ok();
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10))
        else {
            return Err(MESSAGE);
        };
        let year = i32::try_from(year).map_err(|_| MESSAGE)?;
        NaiveDate::from_ymd_opt(year, month, day)
            .map(Self)
            .ok_or(MESSAGE)
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

/// The orders a todo list can be read in; `-` means descending. Ties are
/// broken by `id` in the same direction. Todos without a due date come after
/// the dated ones in both `due_date` and `-due_date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[schema(example = "-created_at")]
pub enum TodoSort {
    #[serde(rename = "created_at")]
    CreatedAt,
    #[default]
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "due_date")]
    DueDate,
    #[serde(rename = "-due_date")]
    DueDateDesc,
    #[serde(rename = "priority")]
    Priority,
    #[serde(rename = "-priority")]
    PriorityDesc,
    #[serde(rename = "title")]
    Title,
    #[serde(rename = "-title")]
    TitleDesc,
}

/// The column a sort orders by, apart from its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    DueDate,
    Priority,
    Title,
}

impl TodoSort {
    pub const ALL: [Self; 8] = [
        Self::CreatedAt,
        Self::CreatedAtDesc,
        Self::DueDate,
        Self::DueDateDesc,
        Self::Priority,
        Self::PriorityDesc,
        Self::Title,
        Self::TitleDesc,
    ];

    pub fn key(self) -> SortKey {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => SortKey::CreatedAt,
            Self::DueDate | Self::DueDateDesc => SortKey::DueDate,
            Self::Priority | Self::PriorityDesc => SortKey::Priority,
            Self::Title | Self::TitleDesc => SortKey::Title,
        }
    }

    pub fn descending(self) -> bool {
        matches!(
            self,
            Self::CreatedAtDesc | Self::DueDateDesc | Self::PriorityDesc | Self::TitleDesc
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        assert_eq!(
            TodoTitle::parse("  Buy milk \n").unwrap().as_str(),
            "Buy milk"
        );
        assert!(TodoTitle::parse("a").is_ok());
        assert!(TodoTitle::parse(&"é".repeat(200)).is_ok());
        assert!(TodoTitle::parse(&format!("  {}  ", "x".repeat(200))).is_ok());
        for bad in ["", "   ", "\u{3000}\t\u{a0}"] {
            assert_eq!(TodoTitle::parse(bad), Err("must not be blank"), "{bad:?}");
        }
        assert!(TodoTitle::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn title_sort_key_lowercases_unicode() {
        let title = TodoTitle::parse("ÄPFEL and Birnen").unwrap();
        assert_eq!(title.sort_key(), "äpfel and birnen");
    }

    #[test]
    fn the_pattern_whitespace_class_is_exactly_what_trim_removes() {
        let mut listed: Vec<char> = Vec::new();
        let class = WS_CLASS
            .replace(r"\t", "\t")
            .replace(r"\n", "\n")
            .replace(r"\f", "\u{c}")
            .replace(r"\r", "\r");
        let mut rest = class.as_str();
        while let Some(c) = rest.chars().next() {
            if let Some(hex) = rest.strip_prefix(r"\u") {
                let code = u32::from_str_radix(&hex[..4], 16).unwrap();
                listed.push(char::from_u32(code).unwrap());
                rest = &hex[4..];
            } else if let Some(after) = rest.strip_prefix('-') {
                let end = u32::from_str_radix(&after[2..6], 16).unwrap();
                let start = u32::from(*listed.last().unwrap()) + 1;
                listed.extend((start..=end).filter_map(char::from_u32));
                rest = &after[6..];
            } else {
                listed.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        let expected: Vec<char> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, expected);
        let classes: Vec<&str> = TITLE_PATTERN
            .split(['[', ']'])
            .map(|part| part.trim_start_matches('^'))
            .filter(|part| part.starts_with(r"\t"))
            .collect();
        assert_eq!(classes, [WS_CLASS; 4]);
    }

    #[test]
    fn descriptions_allow_10000_characters() {
        assert!(TodoDescription::parse(String::new()).is_ok());
        assert!(TodoDescription::parse("ü".repeat(10_000)).is_ok());
        assert!(TodoDescription::parse("ü".repeat(10_001)).is_err());
        assert_eq!(
            TodoDescription::parse(" kept ".into())
                .unwrap()
                .into_inner(),
            " kept "
        );
    }

    #[test]
    fn priorities_map_to_ranks_and_back() {
        for p in [Priority::Low, Priority::Normal, Priority::High] {
            assert_eq!(Priority::from_rank(p.rank()), p);
        }
        assert!(Priority::Low.rank() < Priority::Normal.rank());
        assert!(Priority::Normal.rank() < Priority::High.rank());
    }

    #[test]
    fn priorities_read_only_their_lowercase_names() {
        let read = |json: &str| serde_json::from_str::<Priority>(json);
        assert_eq!(read("\"high\"").unwrap(), Priority::High);
        for bad in ["\"HIGH\"", "\"urgent\"", "2", "null", "[]"] {
            let error = read(bad).unwrap_err();
            assert!(error.is_data(), "{bad}: {error}");
        }
    }

    #[test]
    fn due_dates_are_strict_calendar_dates() {
        assert_eq!(
            DueDate::parse("2026-02-28").unwrap().date(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert!(DueDate::parse("2024-02-29").is_ok());
        assert!(DueDate::parse("0001-01-01").is_ok());
        assert!(DueDate::parse("9999-12-31").is_ok());
        for bad in [
            "",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-4-01",
            "2026-04-1",
            "26-04-01",
            "2026/04/01",
            "2026-04-01T00:00:00Z",
            " 2026-04-01",
            "+2026-04-01",
            "２０２６-04-01",
            "2026-04-0a",
        ] {
            assert!(DueDate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sorts_know_their_key_and_direction() {
        let descending: Vec<_> = TodoSort::ALL.iter().filter(|s| s.descending()).collect();
        assert_eq!(descending.len(), 4);
        assert_eq!(TodoSort::default(), TodoSort::CreatedAtDesc);
        assert_eq!(TodoSort::TitleDesc.key(), SortKey::Title);
        let names: Vec<String> = TodoSort::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "created_at",
                "-created_at",
                "due_date",
                "-due_date",
                "priority",
                "-priority",
                "title",
                "-title"
            ]
        );
    }
}

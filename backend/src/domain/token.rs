//! API tokens as a client writes them: a name, scopes and a lifetime.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an API token may do. Tokens work on the `/api/v1/todos` endpoints
/// only: `GET` needs `todos:read`, every other method `todos:write`.
// Read through `String`, so that an unknown scope is a 422 naming the
// field rather than a JSON syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String")]
pub enum Scope {
    #[serde(rename = "todos:read")]
    TodosRead,
    #[serde(rename = "todos:write")]
    TodosWrite,
}

impl Scope {
    pub const ALL: [Self; 2] = [Self::TodosRead, Self::TodosWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TodosRead => "todos:read",
            Self::TodosWrite => "todos:write",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::TodosRead => 1,
            Self::TodosWrite => 2,
        }
    }
}

impl TryFrom<String> for Scope {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or("must be `todos:read` or `todos:write`")
    }
}

/// A non-empty set of scopes, stored space-separated in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// The scopes a request names; repeats count once.
    pub fn parse(scopes: &[Scope]) -> Result<Self, &'static str> {
        let bits = scopes.iter().fold(0, |bits, s| bits | s.bit());
        if bits == 0 {
            return Err("must name at least one scope");
        }
        Ok(Self(bits))
    }

    /// Reads the stored form; unknown words (there are none) grant nothing.
    pub fn from_db(value: &str) -> Self {
        let bits = value
            .split_ascii_whitespace()
            .filter_map(|word| Scope::try_from(word.to_owned()).ok())
            .fold(0, |bits, s| bits | s.bit());
        Self(bits)
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn to_vec(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .collect()
    }

    /// The stored form: `todos:read todos:write`.
    pub fn to_db(self) -> String {
        self.to_vec()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A token's name: surrounding whitespace trimmed, then 1 to 100
/// characters, none of them a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be blank");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters after trimming");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a new token lives: 1 to 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetime(i64);

impl TokenLifetime {
    pub const MAX_DAYS: i64 = 365;

    pub fn parse(days: i64) -> Result<Self, &'static str> {
        if !(1..=Self::MAX_DAYS).contains(&days) {
            return Err("must be between 1 and 365");
        }
        Ok(Self(days))
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::days(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_in_canonical_order() {
        let both =
            Scopes::parse(&[Scope::TodosWrite, Scope::TodosRead, Scope::TodosWrite]).unwrap();
        assert_eq!(both.to_db(), "todos:read todos:write");
        assert_eq!(Scopes::from_db(&both.to_db()), both);
        let read = Scopes::parse(&[Scope::TodosRead]).unwrap();
        assert!(read.contains(Scope::TodosRead) && !read.contains(Scope::TodosWrite));
        assert!(Scopes::parse(&[]).is_err());
        assert!(!Scopes::from_db("admin").contains(Scope::TodosRead));
        assert!(Scope::try_from("todos:delete".to_owned()).is_err());
    }

    #[test]
    fn names_and_lifetimes_are_checked() {
        assert_eq!(TokenName::parse("  ci  ").unwrap().as_str(), "ci");
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TokenName::parse(&"é".repeat(100)).is_ok());
        for bad in [0, -1, 366] {
            assert!(TokenLifetime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TokenLifetime::parse(30).unwrap().duration(),
            chrono::Duration::days(30)
        );
    }
}

//! A candidate password: 8..=128 characters, not a common password and not
//! built from the user's email. Never printed, never echoed in errors.

use secrecy::{ExposeSecret, SecretString};
use zxcvbn::matching::patterns::MatchPattern;

use super::Email;

pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Validates a new password for the account with `email`.
    pub fn parse(raw: String, email: &Email) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err("must be at least 8 characters");
        }
        if chars > Self::MAX_CHARS {
            return Err("must be at most 128 characters");
        }
        if is_common(&raw, email) {
            return Err("is too common or too close to your email; choose another");
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A password given to be checked against a stored hash (login,
    /// confirmation): any length up to the maximum, no other rule.
    pub fn for_verification(raw: String) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("is required");
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 128 characters");
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// True when the whole password is one entry of zxcvbn's frequency lists
/// (common passwords, words, names; also reversed or in l33t spelling), or
/// is made from the email address.
fn is_common(password: &str, email: &Email) -> bool {
    let lower = password.to_lowercase();
    let local = email.local_part();
    if lower.contains(email.as_str()) || (local.chars().count() >= 4 && lower.contains(local)) {
        return true;
    }
    let entropy = zxcvbn::zxcvbn(password, &[email.as_str(), local]);
    let sequence = entropy.sequence();
    let whole_dictionary_word =
        sequence.len() == 1 && matches!(sequence[0].pattern, MatchPattern::Dictionary(_));
    let only_repeats_or_sequences = sequence.iter().all(|m| {
        matches!(
            m.pattern,
            MatchPattern::Repeat(_) | MatchPattern::Sequence(_) | MatchPattern::Dictionary(_)
        )
    }) && u8::from(entropy.score()) == 0;
    whole_dictionary_word || only_repeats_or_sequences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("alice.smith@example.com").unwrap()
    }

    #[test]
    fn rejects_short_long_and_common_passwords() {
        let long = "x".repeat(129);
        for raw in [
            "",
            "short",
            "1234567",
            long.as_str(),
            "password",
            "password123",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "P@ssw0rd",
            "aaaaaaaa",
            "drowssap",
            "alice.smith@example.com",
            "alice.smith2024",
            "ALICE.SMITH!",
        ] {
            assert!(
                Password::parse(raw.to_owned(), &email()).is_err(),
                "{raw:?} accepted"
            );
        }
    }

    #[test]
    fn accepts_any_other_8_to_128_character_password() {
        let max = "é".repeat(128);
        for raw in [
            "correct horse battery staple",
            "tz8#Lq!w",
            "Zebra-Quantum-77",
            max.as_str(),
            "mango tulip 42",
        ] {
            assert!(
                Password::parse(raw.to_owned(), &email()).is_ok(),
                "{raw:?} rejected"
            );
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let err = Password::parse("password123".to_owned(), &email()).unwrap_err();
        assert!(!err.contains("password123"));
        let ok = Password::parse("Zebra-Quantum-77".to_owned(), &email()).unwrap();
        assert!(!format!("{ok:?}").contains("Zebra"));
    }
}

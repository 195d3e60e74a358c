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

/// zxcvbn tries every l33t reading of a password, and its cost grows
/// steeply with the distinct substitutable characters in it:
/// `4@8({[<369!|170$5+%2` repeated to 128 characters took 1.2 s in a release
/// build. Measured there at 128 characters: the ten digits alone 18 ms, the
/// digits with 3 symbol substitutes 35 ms, with 4 186 ms. So a password with
/// more distinct symbol substitutes (`@`, `(`, `!`, `$`...) than this is
/// judged with those symbols read as their letters; digits stay as they are
/// (numeric patterns such as `12345678` need them), and the check costs at
/// most tens of milliseconds for any 8-128 character input, under one
/// bcrypt hash.
const MAX_L33T_SYMBOLS: usize = 3;

/// zxcvbn's l33t table, read backwards: each substitute and the first letter
/// it stands for.
const L33T: [(char, char); 20] = [
    ('4', 'a'),
    ('@', 'a'),
    ('8', 'b'),
    ('(', 'c'),
    ('{', 'c'),
    ('[', 'c'),
    ('<', 'c'),
    ('3', 'e'),
    ('6', 'g'),
    ('9', 'g'),
    ('1', 'i'),
    ('!', 'i'),
    ('|', 'i'),
    ('7', 'l'),
    ('0', 'o'),
    ('$', 's'),
    ('5', 's'),
    ('+', 't'),
    ('%', 'x'),
    ('2', 'z'),
];

fn l33t_letter(c: char) -> Option<char> {
    L33T.iter()
        .find(|(sub, _)| *sub == c)
        .map(|(_, letter)| *letter)
}

fn is_l33t_symbol(c: char) -> bool {
    !c.is_ascii_digit() && l33t_letter(c).is_some()
}

/// The password as zxcvbn may see it at bounded cost: itself, or when it has
/// more than [`MAX_L33T_SYMBOLS`] distinct symbol substitutes, the reading
/// with those symbols replaced by their letters.
fn bounded_reading(password: &str) -> std::borrow::Cow<'_, str> {
    let mut symbols: Vec<char> = password.chars().filter(|c| is_l33t_symbol(*c)).collect();
    symbols.sort_unstable();
    symbols.dedup();
    if symbols.len() <= MAX_L33T_SYMBOLS {
        return std::borrow::Cow::Borrowed(password);
    }
    password
        .chars()
        .map(|c| match l33t_letter(c) {
            Some(letter) if is_l33t_symbol(c) => letter,
            _ => c,
        })
        .collect::<String>()
        .into()
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
    let reading = bounded_reading(password);
    let entropy = zxcvbn::zxcvbn(&reading, &[email.as_str(), local]);
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

    /// Abuse case 1: the l33t-heavy password that cost 0.6-1 s per check.
    /// Bounded by construction (at most 3 distinct symbol substitutes and
    /// the ten digits reach zxcvbn; the assertions on `bounded_reading`).
    /// The time limit only backs the construction up: the worst case takes
    /// tens of milliseconds in a release build and a few hundred in a busy
    /// debug build, where the bomb took several seconds before.
    #[test]
    fn any_8_to_128_character_password_is_checked_in_bounded_time() {
        let bomb: String = "4@8({[<369!|170$5+%2".repeat(7).chars().take(128).collect();
        assert!(bounded_reading(&bomb).chars().all(|c| !is_l33t_symbol(c)));
        let three: String = "4@8(xyz!".repeat(16);
        assert_eq!(bounded_reading(&three), three.as_str());
        let worst_kept: String = "1234567890@(!".repeat(10).chars().take(128).collect();
        assert_eq!(bounded_reading(&worst_kept), worst_kept.as_str());
        for raw in [
            bomb.clone(),
            three,
            worst_kept,
            "a1!|".repeat(32),
            "x".repeat(128),
        ] {
            let started = std::time::Instant::now();
            let _ = Password::parse(raw.clone(), &email());
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_secs(2),
                "{raw:?} took {took:?}"
            );
        }
        // Common passwords in l33t spelling are still caught.
        assert!(Password::parse("P@$$w0rd".to_owned(), &email()).is_err());
        assert!(Password::parse("12345678".to_owned(), &email()).is_err());
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let err = Password::parse("password123".to_owned(), &email()).unwrap_err();
        assert!(!err.contains("password123"));
        let ok = Password::parse("Zebra-Quantum-77".to_owned(), &email()).unwrap();
        assert!(!format!("{ok:?}").contains("Zebra"));
    }
}

//! A candidate password: 8..=128 characters, not a common password and not
//! built from the user's email. Never printed, never echoed in errors.

use secrecy::{ExposeSecret, SecretString};

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

/// zxcvbn's frequency lists (the `zxcvbn` crate 3.1.1, MIT, see
/// `common_lists.LICENSE`), lower-cased, sorted byte-wise, one entry per
/// line: the 30,000 most common passwords of breach corpora, and the words
/// of its other lists (English Wikipedia, US television and film, first
/// names, surnames) that are not among them. Looked up in place by binary
/// search, so they cost no heap: the zxcvbn matcher built ~5.5 MiB of hash
/// maps from the same lists on the first check and kept them for the life
/// of the process (17 % of the server's peak RSS).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");
const COMMON_WORDS: &str = include_str!("common_words.txt");

/// Whether `word` is a line of `list` (sorted byte-wise, `\n`-terminated).
fn listed(list: &str, word: &str) -> bool {
    let bytes = list.as_bytes();
    // `lo` and `hi` are always the start of a line (or the end).
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        match list[start..end].cmp(word) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// zxcvbn's l33t table, read backwards: each substitute and the letters it
/// may stand for.
const L33T: [(char, &str); 20] = [
    ('4', "a"),
    ('@', "a"),
    ('8', "b"),
    ('(', "c"),
    ('{', "c"),
    ('[', "c"),
    ('<', "c"),
    ('3', "e"),
    ('6', "g"),
    ('9', "g"),
    ('1', "il"),
    ('!', "i"),
    ('|', "il"),
    ('7', "lt"),
    ('0', "o"),
    ('$', "s"),
    ('5', "s"),
    ('+', "t"),
    ('%', "x"),
    ('2', "z"),
];

fn l33t_letters(c: char) -> Option<&'static str> {
    L33T.iter()
        .find(|(sub, _)| *sub == c)
        .map(|(_, letters)| *letters)
}

/// `text` as written, and read with every l33t substitute as a letter: one
/// reading per choice for the substitutes that stand for two letters (`1`,
/// `|`, `7`; at most 2^3 readings), each substitute read the same way
/// throughout. Bounded for any input: the l33t-heavy 128-character inputs
/// that made zxcvbn's matcher take a second cost microseconds here.
fn readings(text: &str) -> Vec<String> {
    let mut ambiguous: Vec<char> = text
        .chars()
        .filter(|c| l33t_letters(*c).is_some_and(|l| l.len() > 1))
        .collect();
    ambiguous.sort_unstable();
    ambiguous.dedup();
    let mut out = vec![text.to_owned()];
    if !text.chars().any(|c| l33t_letters(c).is_some()) {
        return out;
    }
    for choice in 0..(1u32 << ambiguous.len()) {
        out.push(
            text.chars()
                .map(|c| match l33t_letters(c) {
                    Some(letters) => {
                        let pick = ambiguous
                            .iter()
                            .position(|a| *a == c)
                            .map_or(0, |bit| ((choice >> bit) & 1) as usize);
                        letters.chars().nth(pick).unwrap_or(c)
                    }
                    None => c,
                })
                .collect(),
        );
    }
    out
}

/// A short unit typed again and again (`aaaaaaaa`, `abababab`), or a run of
/// characters a constant step apart (`12345678`, `abcdefgh`, `87654321`,
/// `acegikmo`): what a guesser enumerates first. A repeat of one character
/// 100 times or more is as unguessable as any other 100-character string.
fn is_repeat_or_sequence(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let repeat = n < 100
        && (1..=4).any(|unit| n >= 2 * unit && (unit..n).all(|i| chars[i] == chars[i % unit]));
    let step = |i: usize| i64::from(u32::from(chars[i + 1])) - i64::from(u32::from(chars[i]));
    let sequence = n >= 3 && {
        let first = step(0);
        first != 0 && first.abs() <= 5 && (1..n - 1).all(|i| step(i) == first)
    };
    repeat || sequence
}

/// `text` without up to four non-letters (digits, symbols) at its end,
/// its start, or both: `password123` -> `password`, `!dragon1` -> `dragon`.
fn cores(text: &str) -> Vec<&str> {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n = bounds.len() - 1;
    let lead = text.chars().take_while(|c| !c.is_alphabetic()).count();
    let trail = text
        .chars()
        .rev()
        .take_while(|c| !c.is_alphabetic())
        .count();
    let mut out = Vec::new();
    for front in 0..=lead.min(4) {
        for back in 0..=trail.min(4 - front) {
            if front + back > 0 && front + back + 4 <= n {
                out.push(&text[bounds[front]..bounds[n - back]]);
            }
        }
    }
    out
}

/// True when the password is a commonly used one or built from the email:
/// - it contains the email address, or its local part (4 characters or more);
/// - as written or reversed, in any l33t reading, it is an entry of the
///   common-password or common-word lists, or a repeat or a sequence;
/// - it is a common password (in any l33t reading), a repeat or a sequence
///   with up to four digits or symbols added before or after it
///   (`password123`, `Dragon2024!`, `qwerty!!`).
fn is_common(password: &str, email: &Email) -> bool {
    let lower = password.to_lowercase();
    let local = email.local_part();
    if lower.contains(email.as_str()) || (local.chars().count() >= 4 && lower.contains(local)) {
        return true;
    }
    let reversed: String = lower.chars().rev().collect();
    [lower, reversed].iter().any(|text| {
        let whole = readings(text).iter().any(|r| {
            listed(COMMON_PASSWORDS, r) || listed(COMMON_WORDS, r) || is_repeat_or_sequence(r)
        });
        whole
            || cores(text).into_iter().any(|core| {
                is_repeat_or_sequence(core)
                    || readings(core).iter().any(|r| listed(COMMON_PASSWORDS, r))
            })
    })
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

    /// Abuse case 1: the l33t-heavy password that cost 0.6-1 s per check
    /// with zxcvbn's matcher. Bounded by construction: at most 2^3 + 1
    /// readings of at most 128 characters, each a binary search. The time
    /// limit only backs the construction up.
    #[test]
    fn any_8_to_128_character_password_is_checked_in_bounded_time() {
        let bomb: String = "4@8({[<369!|170$5+%2".repeat(7).chars().take(128).collect();
        assert!(readings(&bomb).len() <= 9);
        for raw in [
            bomb.clone(),
            "4@8(xyz!".repeat(16),
            "1234567890@(!".repeat(10).chars().take(128).collect(),
            "a1!|".repeat(32),
            "x".repeat(128),
        ] {
            let started = std::time::Instant::now();
            let _ = Password::parse(raw.clone(), &email());
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_millis(500),
                "{raw:?} took {took:?}"
            );
        }
        // Common passwords in l33t spelling are still caught.
        assert!(Password::parse("P@$$w0rd".to_owned(), &email()).is_err());
        assert!(Password::parse("12345678".to_owned(), &email()).is_err());
    }

    #[test]
    fn the_lists_are_sorted_and_found_by_binary_search() {
        for list in [COMMON_PASSWORDS, COMMON_WORDS] {
            let lines: Vec<&str> = list.lines().collect();
            assert!(lines.len() > 25_000);
            assert!(
                lines.windows(2).all(|w| w[0] < w[1]),
                "not sorted or not unique"
            );
            assert!(list.ends_with('\n'));
            for word in [
                lines[0],
                lines[1],
                lines[lines.len() / 2],
                lines[lines.len() - 1],
            ] {
                assert!(listed(list, word), "{word}");
            }
            assert!(!listed(list, ""));
            assert!(!listed(list, "zzzzzzzzzzzzzzzzzzzz-not-a-word"));
            assert!(!listed(list, "!"));
        }
        assert!(listed(COMMON_PASSWORDS, "password"));
        assert!(listed(COMMON_WORDS, "parliament"));
    }

    #[test]
    fn common_passwords_with_a_few_digits_or_symbols_around_them_are_refused() {
        for raw in [
            "Dragon2024!",
            "!!monkey1",
            "Sunshine99",
            "qwerty!!",
            "p@ssw0rd1",
            "Elephants",
            "abababab",
            "acegikmoq",
            "87654321",
            "aaaa1234",
        ] {
            assert!(
                Password::parse(raw.to_owned(), &email()).is_err(),
                "{raw:?} accepted"
            );
        }
        for raw in [
            "hello-world-gardens",
            "Brand-New-Passphrase-2031",
            "violet-harbor-lantern-42",
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

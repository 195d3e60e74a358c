//! A trimmed, lower-cased, syntactically valid email of at most 254 chars,
//! with its domain in IDNA ASCII form (UTS #46), so that every spelling of
//! one mailbox's domain (fullwidth letters, a soft hyphen, Unicode or
//! punycode) is one account.

use validator::ValidateEmail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("is required");
        }
        // Bound the work before IDNA processing sees the input.
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or("is not a valid email address")?;
        // UTS #46: maps fullwidth forms and case, drops ignorables such as
        // U+00AD, and turns Unicode labels into punycode.
        let domain = idna::domain_to_ascii(domain).map_err(|_| "is not a valid email address")?;
        let email = format!("{}@{}", local.to_lowercase(), domain);
        if email.chars().count() > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        if !email.validate_email() || !email.contains('@') {
            return Err("is not a valid email address");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, used to reject passwords built from the email.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn rejects_invalid_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for raw in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@@example.com",
            long.as_str(),
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn spellings_of_one_mailbox_parse_to_one_email() {
        for raw in [
            "boss@example.com",
            "Boss@EXAMPLE.com",
            "boss@exam\u{00AD}ple.com",
            "boss@\u{FF45}xample.com",
            "boss@ＥＸＡＭＰＬＥ.com",
        ] {
            assert_eq!(
                Email::parse(raw).unwrap().as_str(),
                "boss@example.com",
                "{raw:?}"
            );
        }
        assert_eq!(
            Email::parse("anna@bücher.example").unwrap(),
            Email::parse("anna@xn--bcher-kva.example").unwrap()
        );
        assert_eq!(
            Email::parse("anna@BÜCHER.example").unwrap().as_str(),
            "anna@xn--bcher-kva.example"
        );
    }

    #[test]
    fn invalid_international_domains_are_rejected() {
        for raw in ["a@xn--.com", "a@exa mple.com", "a@\u{0000}x.com", "a@"] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn accepts_254_characters() {
        let local = "a".repeat(64);
        let domain = format!(
            "{}.{}.{}.com",
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(63)
        );
        let email = format!("{local}@{domain}");
        assert_eq!(email.len(), 254);
        assert!(Email::parse(&email).is_ok(), "{email}");
    }
}

//! The second factor's cryptography: TOTP (RFC 6238, via `totp-rs`),
//! TOTP secrets sealed at rest (XChaCha20-Poly1305), recovery codes kept
//! as keyed hashes, and the enrolment's `otpauth://` URI and QR code.
//!
//! Two keys are derived from `MFA_ENCRYPTION_KEY` with separate labels:
//! one seals secrets, one keys the recovery-code HMAC. A copy of the
//! database without that key reveals neither a secret nor a code.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;
use totp_rs::{Algorithm, TOTP};

use crate::config::MfaKey;

type HmacSha256 = Hmac<Sha256>;

/// RFC 6238 parameters every authenticator app understands.
pub const ISSUER: &str = "SecureTodo";
pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// Secret length: 160 bits, RFC 4226's recommendation.
pub const SECRET_BYTES: usize = 20;
/// Codes of the previous and the next step are accepted too (clock skew).
pub const SKEW_STEPS: i64 = 1;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (Crockford base32: 5 bits each, 120 bits).
/// ASVS 5.0 (6.5.2) lets a lookup secret of 112 bits or more be stored
/// under a standard (here keyed) hash; a shorter one would need a salted
/// password hash, checked against every stored code at each attempt.
const RECOVERY_CODE_CHARS: usize = 24;
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const XNONCE_BYTES: usize = 24;

/// The keys derived from `MFA_ENCRYPTION_KEY`.
pub struct MfaKeys {
    seal: XChaCha20Poly1305,
    recovery: [u8; 32],
}

impl MfaKeys {
    pub fn new(master: &MfaKey) -> Self {
        let seal_key = derive(&master.0, b"securetodo totp secret seal v1");
        Self {
            seal: XChaCha20Poly1305::new(&seal_key.into()),
            recovery: derive(&master.0, b"securetodo recovery code hmac v1"),
        }
    }

    /// Seals a raw TOTP secret for `user_id` (the user id is the associated
    /// data, so a sealed secret copied onto another account does not open).
    pub fn seal(&self, user_id: i64, secret: &[u8]) -> anyhow::Result<String> {
        let nonce_bytes: [u8; XNONCE_BYTES] = rand::rng().random();
        let nonce = XNonce::from(nonce_bytes);
        let aad = associated_data(user_id);
        let sealed = self
            .seal
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing a TOTP secret failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`MfaKeys::seal`] sealed for `user_id`. Fails when the key
    /// changed (MFA_ENCRYPTION_KEY rotated without re-sealing) or the value
    /// was tampered with.
    pub fn open(&self, user_id: i64, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| anyhow::anyhow!("a sealed TOTP secret is not base64"))?;
        if bytes.len() <= XNONCE_BYTES {
            anyhow::bail!("a sealed TOTP secret is too short");
        }
        let (nonce, sealed) = bytes.split_at(XNONCE_BYTES);
        let aad = associated_data(user_id);
        self.seal
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "a TOTP secret does not open: MFA_ENCRYPTION_KEY differs from the key that \
                     sealed it"
                )
            })
    }

    /// The stored form of a recovery code: HMAC-SHA-256 under the recovery
    /// key, of the normalised code, in hex.
    pub fn recovery_hash(&self, code: &RecoveryCode) -> String {
        let mut mac = hmac(&self.recovery);
        mac.update(code.0.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

fn associated_data(user_id: i64) -> Vec<u8> {
    format!("securetodo totp user {user_id}").into_bytes()
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random TOTP secret (160 bits).
pub fn new_secret() -> Vec<u8> {
    let bytes: [u8; SECRET_BYTES] = rand::rng().random();
    bytes.to_vec()
}

fn totp(secret: &[u8], email: &str) -> anyhow::Result<TOTP> {
    // The label may not contain ':' (it separates issuer and account).
    let account = email.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account,
    )
    .map_err(|e| anyhow::anyhow!("building the TOTP parameters: {e}"))
}

/// What an enrolment shows the user once.
pub struct Enrolment {
    /// Base32 (RFC 4648, no padding), for manual entry.
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], email: &str) -> anyhow::Result<Enrolment> {
    let totp = totp(secret, email)?;
    let otpauth_uri = totp.get_url();
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| anyhow::anyhow!("rendering the QR code: {e}"))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment {
        secret_base32: totp.get_secret_base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// The TOTP time step of `unix_secs`.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS as i64)
}

/// The time step whose code `code` is, among the current step and its
/// neighbours, or `None`. Each candidate is compared in constant time.
pub fn matching_step(
    secret: &[u8],
    code: &TotpCode,
    unix_secs: i64,
) -> anyhow::Result<Option<i64>> {
    let totp = totp(secret, "")?;
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let Ok(at) = u64::try_from(step * STEP_SECS as i64) else {
            continue;
        };
        // Every candidate is checked, so timing does not tell which matched.
        if totp.check(&code.0, at) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// The code of `secret` at `unix_secs` (for tests and the CLI's checks).
pub fn code_at(secret: &[u8], unix_secs: u64) -> anyhow::Result<String> {
    Ok(totp(secret, "")?.generate(unix_secs))
}

/// A six-digit TOTP code as typed (spaces and a middle dash are allowed,
/// as authenticator apps show `123 456`).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err("must be the 6-digit code from the authenticator app")
        }
    }
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode([redacted])")
    }
}

/// A recovery code as typed: case, dashes and spaces do not matter, and
/// Crockford's look-alikes (`i`/`l` for 1, `o` for 0) are read as meant.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut normalised = String::with_capacity(RECOVERY_CODE_CHARS);
        for c in raw.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let c = match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                'o' => '0',
                c => c,
            };
            if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) {
                return Err("is not a recovery code");
            }
            normalised.push(c);
        }
        if normalised.len() != RECOVERY_CODE_CHARS {
            return Err("is not a recovery code");
        }
        Ok(Self(normalised))
    }

    /// A fresh random code (120 bits).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..RECOVERY_CODE_CHARS)
            .map(|_| char::from(CROCKFORD[rng.random_range(0..CROCKFORD.len())]))
            .collect();
        Self(code)
    }

    /// As shown to the user: six groups of four, `xxxx-xxxx-…`.
    pub fn display(&self) -> String {
        let chunks: Vec<String> = self
            .0
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        chunks.join("-")
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

/// A fresh set of recovery codes: what the user sees, and what is stored.
pub fn new_recovery_codes(keys: &MfaKeys) -> (Vec<String>, Vec<String>) {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    while shown.len() < RECOVERY_CODES {
        let code = RecoveryCode::generate();
        let hash = keys.recovery_hash(&code);
        // 60 bits each: a repeat is all but impossible, but the stored set
        // has a unique index, so never hand out one twice.
        if !hashes.contains(&hash) {
            shown.push(code.display());
            hashes.push(hash);
        }
    }
    (shown, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> MfaKeys {
        MfaKeys::new(&MfaKey([byte; 32]))
    }

    /// RFC 6238 appendix B, SHA1 (the 8-digit vectors, reduced to 6 digits).
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, time).unwrap(), code, "t={time}");
        }
    }

    #[test]
    fn the_current_step_and_its_neighbours_match_and_no_other() {
        let secret = new_secret();
        let t = 1_800_000_015i64;
        let now = step_of(t);
        for delta in -3i64..=3 {
            let at = u64::try_from(t + delta * 30).unwrap();
            let code = TotpCode::parse(&code_at(&secret, at).unwrap()).unwrap();
            let found = matching_step(&secret, &code, t).unwrap();
            if delta.abs() <= SKEW_STEPS {
                assert_eq!(found, Some(now + delta), "delta {delta}");
            } else {
                assert_eq!(found, None, "delta {delta}");
            }
        }
    }

    #[test]
    fn enrolment_gives_a_160_bit_base32_secret_uri_and_svg() {
        let secret = new_secret();
        assert_eq!(secret.len() * 8, 160);
        let e = enrolment(&secret, "alice@example.com").unwrap();
        assert_eq!(e.secret_base32.len(), 32);
        assert!(e
            .otpauth_uri
            .starts_with("otpauth://totp/SecureTodo:alice%40example.com?"));
        assert!(e
            .otpauth_uri
            .contains(&format!("secret={}", e.secret_base32)));
        assert!(e.otpauth_uri.contains("issuer=SecureTodo"));
        assert!(e.qr_svg.contains("<svg"));
        assert!(!e.qr_svg.contains("<script"));
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_user() {
        let secret = new_secret();
        let sealed = keys(1).seal(7, &secret).unwrap();
        assert_eq!(keys(1).open(7, &sealed).unwrap(), secret);
        assert!(keys(2).open(7, &sealed).is_err());
        assert!(keys(1).open(8, &sealed).is_err());
        // A fresh nonce each time.
        assert_ne!(keys(1).seal(7, &secret).unwrap(), sealed);
        assert!(!sealed.contains(&STANDARD.encode(&secret)));
    }

    #[test]
    fn recovery_codes_have_120_bits_and_keyed_hashes() {
        let k = keys(1);
        let (shown, hashes) = new_recovery_codes(&k);
        assert_eq!(shown.len(), 10);
        for (code, hash) in shown.iter().zip(&hashes) {
            assert_eq!(code.len(), 29, "{code}");
            assert_eq!(code.matches('-').count(), 5, "{code}");
            let parsed = RecoveryCode::parse(code).unwrap();
            assert_eq!(&k.recovery_hash(&parsed), hash);
            // Another key, another hash: the table alone does not verify.
            assert_ne!(&keys(2).recovery_hash(&parsed), hash);
            assert!(!hash.contains(&code.replace('-', "")));
            // Typed loosely, it is the same code.
            let loose = format!(" {} ", code.to_uppercase().replace('-', " "));
            assert_eq!(RecoveryCode::parse(&loose).unwrap(), parsed);
        }
        assert!(RecoveryCode::parse("123456").is_err());
        let valid = "abcd-efgh-jkmn-pqrs-tvwx-yz01";
        assert!(RecoveryCode::parse(valid).is_ok());
        assert!(RecoveryCode::parse(&valid.replace('1', "!")).is_err());
        assert!(RecoveryCode::parse(&format!("{valid}2")).is_err());
        assert!(RecoveryCode::parse(&valid[1..]).is_err());
    }

    #[test]
    fn totp_codes_are_six_digits() {
        assert!(TotpCode::parse("123 456").is_ok());
        assert!(TotpCode::parse("123-456").is_ok());
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(TotpCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", TotpCode::parse("123456").unwrap()),
            "TotpCode([redacted])"
        );
    }
}

//! Settings read once from the environment (and `.env`), validated at startup.

use std::fmt;
use std::path::PathBuf;

use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};

/// The placeholder `JWT_SECRET` shipped in `.env.example`; production refuses it.
pub const ENV_EXAMPLE_JWT_SECRET: &str = "change-me-use-openssl-rand-base64-48-output-here";
/// Shortest `JWT_SECRET` accepted in production (HS256 wants >= 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Lowest bcrypt work factor accepted in production.
pub const MIN_PRODUCTION_BCRYPT_COST: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: a file, created with its parent directory.
    File(PathBuf),
    /// `sqlite::memory:`: a private in-memory database.
    Memory,
    /// `postgres://USER:PASS@HOST:PORT/DB` (or `postgresql://`).
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL. It may hold a password, so `Debug` shows
/// only the host part after the `@`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the driver only: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `postgres://…@host:port/db`: safe to print.
    pub fn redacted(&self) -> String {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        match rest.rsplit_once('@') {
            Some((_, host)) => format!("postgres://…@{host}"),
            None => format!("postgres://{rest}"),
        }
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `LOG_FORMAT`: how log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `[ts LEVEL target] message request_id=...`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Reads `LOG_FORMAT` (`text`, the default, or `json`).
    pub fn parse(raw: Option<&str>) -> Result<Self, ConfigError> {
        match raw.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(_) => Err(invalid("LOG_FORMAT", "must be `text` or `json`")),
        }
    }
}

/// `REDIS_URL`: `redis://[:PASSWORD@]HOST[:PORT][/DB]`. The URL may carry a
/// password, so it prints only as its host, port and database.
#[derive(Clone)]
pub struct RedisUrl {
    url: SecretString,
    /// `HOST:PORT/DB`, for log lines.
    pub display: String,
}

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let bad = || {
            invalid(
                "REDIS_URL",
                "must be redis://HOST:PORT/N (for example redis://127.0.0.1:6379/0)",
            )
        };
        if !raw.starts_with("redis://") {
            return Err(bad());
        }
        let info = redis::IntoConnectionInfo::into_connection_info(raw).map_err(|_| bad())?;
        let display = match &info.addr {
            redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}/{}", info.redis.db),
            _ => return Err(bad()),
        };
        Ok(Self {
            url: SecretString::from(raw.to_owned()),
            display,
        })
    }

    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis://{}", self.display)
    }
}

/// `METRICS_ADDR`: where the Prometheus listener binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsAddr {
    pub host: String,
    pub port: u16,
}

/// `MFA_ENCRYPTION_KEY`: 32 bytes that seal TOTP secrets and key the
/// recovery-code hashes. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaKey(pub [u8; 32]);

impl fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaKey([redacted])")
    }
}

#[derive(Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub host: String,
    pub port: u16,
    pub database: DatabaseUrl,
    pub jwt_secret: SecretString,
    /// True when no `JWT_SECRET` was given and a random one was generated.
    pub jwt_secret_generated: bool,
    /// `JWT_PREVIOUS_SECRETS`: retired keys that still verify the tokens
    /// and cursors they signed; never used to sign.
    pub jwt_previous_secrets: Vec<SecretString>,
    pub mfa_encryption_key: MfaKey,
    /// True when no `MFA_ENCRYPTION_KEY` was given (development): the key
    /// was derived from `JWT_SECRET`.
    pub mfa_key_derived: bool,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub bcrypt_cost: u32,
    pub cors_allowed_origins: Vec<String>,
    pub auth_rate_limit_per_minute: u32,
    /// `API_RATE_LIMIT_PER_MINUTE`: per user or API token on the other
    /// authenticated endpoints; 0 turns the limit off.
    pub api_rate_limit_per_minute: u32,
    /// `REDIS_URL`: rate-limit counters shared by every instance; `None`
    /// keeps them in process memory. May hold a password: never logged.
    pub redis_url: Option<RedisUrl>,
    pub frontend_dir: Option<PathBuf>,
    pub trust_proxy_headers: bool,
    /// `MIGRATE_ON_START` (default true); false: `serve` refuses to start
    /// while migrations are pending.
    pub migrate_on_start: bool,
    /// `METRICS_ADDR`; `None` (empty) turns the metrics listener off.
    pub metrics_addr: Option<MetricsAddr>,
    pub log_format: LogFormat,
    /// `AUDIT_RETENTION_DAYS`; 0 keeps audit events forever.
    pub audit_retention_days: u32,
    /// `MAX_TODOS_PER_USER`: live plus trashed todos per user; 0 disables.
    pub max_todos_per_user: i64,
    /// `TRASH_RETENTION_DAYS`: trashed todos are restorable this long.
    pub trash_retention_days: u32,
}

impl fmt::Debug for Settings {
    // Hand-written so that the secret can never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("app_env", &self.app_env)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("jwt_secret", &"[redacted]")
            .field(
                "jwt_previous_secrets",
                &format!("[{} redacted]", self.jwt_previous_secrets.len()),
            )
            .field("mfa_encryption_key", &self.mfa_encryption_key)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field(
                "auth_rate_limit_per_minute",
                &self.auth_rate_limit_per_minute,
            )
            .field("api_rate_limit_per_minute", &self.api_rate_limit_per_minute)
            .field("redis_url", &self.redis_url)
            .field("frontend_dir", &self.frontend_dir)
            .field("trust_proxy_headers", &self.trust_proxy_headers)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("metrics_addr", &self.metrics_addr)
            .field("log_format", &self.log_format)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("max_todos_per_user", &self.max_todos_per_user)
            .field("trash_retention_days", &self.trash_retention_days)
            .finish()
    }
}

/// A configuration problem, naming the variable. Never carries a secret value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

impl Settings {
    /// Reads the process environment (after `.env` has been loaded into it).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable lookup; tests pass a map instead of
    /// mutating the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned());

        let app_env = match get("APP_ENV").as_deref() {
            None | Some("") | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(_) => return Err(invalid("APP_ENV", "must be `development` or `production`")),
        };
        let host = get("HOST")
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = parse_number("PORT", get("PORT"), 8080u16, 0..=u16::MAX)?;
        let database = parse_database_url(get("DATABASE_URL"))?;
        let access_token_ttl_secs = parse_number(
            "ACCESS_TOKEN_TTL_SECS",
            get("ACCESS_TOKEN_TTL_SECS"),
            900i64,
            1..=86_400,
        )?;
        let refresh_token_ttl_secs = parse_number(
            "REFRESH_TOKEN_TTL_SECS",
            get("REFRESH_TOKEN_TTL_SECS"),
            1_209_600i64,
            60..=31_536_000,
        )?;
        let bcrypt_cost = parse_number("BCRYPT_COST", get("BCRYPT_COST"), 12u32, 4..=31)?;
        let auth_rate_limit_per_minute = parse_number(
            "AUTH_RATE_LIMIT_PER_MINUTE",
            get("AUTH_RATE_LIMIT_PER_MINUTE"),
            20u32,
            1..=1_000_000,
        )?;
        let api_rate_limit_per_minute = parse_number(
            "API_RATE_LIMIT_PER_MINUTE",
            get("API_RATE_LIMIT_PER_MINUTE"),
            600u32,
            0..=1_000_000_000,
        )?;
        let redis_url = match get("REDIS_URL").as_deref() {
            None | Some("") => None,
            Some(raw) => Some(RedisUrl::parse(raw)?),
        };
        let cors_allowed_origins = parse_origins(get("CORS_ALLOWED_ORIGINS").unwrap_or_default())?;
        let frontend_dir = match lookup("FRONTEND_DIR") {
            None => Some(PathBuf::from("frontend")),
            Some(dir) if dir.trim().is_empty() => None,
            Some(dir) => Some(PathBuf::from(dir.trim())),
        };
        let trust_proxy_headers = parse_bool("TRUST_PROXY_HEADERS", get("TRUST_PROXY_HEADERS"))?;
        let migrate_on_start = match get("MIGRATE_ON_START").filter(|v| !v.trim().is_empty()) {
            None => true,
            raw => parse_bool("MIGRATE_ON_START", raw)?,
        };
        let metrics_addr = parse_metrics_addr(get("METRICS_ADDR"))?;
        let log_format = LogFormat::parse(get("LOG_FORMAT").as_deref())?;
        let audit_retention_days = parse_number(
            "AUDIT_RETENTION_DAYS",
            get("AUDIT_RETENTION_DAYS"),
            365u32,
            0..=36_500,
        )?;
        let max_todos_per_user = parse_number(
            "MAX_TODOS_PER_USER",
            get("MAX_TODOS_PER_USER"),
            100_000i64,
            0..=100_000_000,
        )?;
        let trash_retention_days = parse_number(
            "TRASH_RETENTION_DAYS",
            get("TRASH_RETENTION_DAYS"),
            30u32,
            1..=36_500,
        )?;

        // Not trimmed: whitespace is part of a secret.
        let secret = lookup("JWT_SECRET").filter(|s| !s.is_empty());
        let (jwt_secret, jwt_secret_generated) = match (app_env, secret) {
            (AppEnv::Production, None) => {
                return Err(invalid(
                    "JWT_SECRET",
                    "must be set in production (generate one with `openssl rand -base64 48`)",
                ))
            }
            (AppEnv::Production, Some(s)) if s == ENV_EXAMPLE_JWT_SECRET => {
                return Err(invalid(
                    "JWT_SECRET",
                    "is still the .env.example placeholder; generate one with `openssl rand -base64 48`",
                ))
            }
            (AppEnv::Production, Some(s)) if s.len() < MIN_JWT_SECRET_BYTES => {
                return Err(invalid(
                    "JWT_SECRET",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes in production"),
                ))
            }
            (_, Some(s)) => (SecretString::from(s), false),
            (AppEnv::Development, None) => (SecretString::from(random_secret()), true),
        };
        if app_env == AppEnv::Production && bcrypt_cost < MIN_PRODUCTION_BCRYPT_COST {
            return Err(invalid(
                "BCRYPT_COST",
                format!("must be at least {MIN_PRODUCTION_BCRYPT_COST} in production"),
            ));
        }
        let jwt_previous_secrets = parse_previous_secrets(lookup("JWT_PREVIOUS_SECRETS"));
        let (mfa_encryption_key, mfa_key_derived) =
            match (app_env, parse_mfa_key(lookup("MFA_ENCRYPTION_KEY"))?) {
                (_, Some(key)) => (key, false),
                (AppEnv::Production, None) => {
                    return Err(invalid(
                        "MFA_ENCRYPTION_KEY",
                        "must be set in production (32 bytes, base64: `openssl rand -base64 32`)",
                    ))
                }
                (AppEnv::Development, None) => {
                    (derive_mfa_key(jwt_secret.expose_secret().as_bytes()), true)
                }
            };

        Ok(Self {
            app_env,
            host,
            port,
            database,
            jwt_secret,
            jwt_secret_generated,
            jwt_previous_secrets,
            mfa_encryption_key,
            mfa_key_derived,
            access_token_ttl_secs,
            refresh_token_ttl_secs,
            bcrypt_cost,
            cors_allowed_origins,
            auth_rate_limit_per_minute,
            api_rate_limit_per_minute,
            redis_url,
            frontend_dir,
            trust_proxy_headers,
            migrate_on_start,
            metrics_addr,
            log_format,
            audit_retention_days,
            max_todos_per_user,
            trash_retention_days,
        })
    }

    /// Logs the warnings a developer should see once at startup.
    pub fn log_warnings(&self) {
        if self.jwt_secret_generated {
            log::warn!(
                "JWT_SECRET is not set: using a random per-process secret \
                 (tokens stop working when the process restarts)"
            );
        } else if self.jwt_secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
            log::warn!("JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes; production would refuse it");
        }
        if self.mfa_key_derived {
            log::warn!(
                "MFA_ENCRYPTION_KEY is not set: deriving it from JWT_SECRET (development only; \
                 production refuses to start without it, and TOTP secrets become unreadable \
                 when JWT_SECRET changes)"
            );
        }
        if self.app_env == AppEnv::Development && self.bcrypt_cost < MIN_PRODUCTION_BCRYPT_COST {
            log::warn!(
                "BCRYPT_COST={} is for tests only; production refuses it",
                self.bcrypt_cost
            );
        }
    }
}

/// Comma-separated retired JWT keys; empty entries are ignored. Not
/// trimmed inside an entry beyond the separators' spaces.
fn parse_previous_secrets(raw: Option<String>) -> Vec<SecretString> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()))
        .collect()
}

/// `MFA_ENCRYPTION_KEY`: exactly 32 bytes, standard base64 (padding
/// optional). Empty or absent is `None`.
fn parse_mfa_key(raw: Option<String>) -> Result<Option<MfaKey>, ConfigError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    let Some(raw) = raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        invalid(
            "MFA_ENCRYPTION_KEY",
            "must be 32 bytes encoded in base64 (generate one with `openssl rand -base64 32`)",
        )
    };
    let bytes = STANDARD
        .decode(&raw)
        .or_else(|_| STANDARD_NO_PAD.decode(raw.trim_end_matches('=')))
        .map_err(|_| bad())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
    Ok(Some(MfaKey(key)))
}

/// The development fallback: a key derived from the JWT secret, so that
/// `cargo run` needs no configuration (a separate purpose label keeps it
/// unrelated to every other key derived from that secret).
fn derive_mfa_key(jwt_secret: &[u8]) -> MfaKey {
    use hmac::{Hmac, Mac};
    type HmacSha256 = Hmac<sha2::Sha256>;
    match <HmacSha256 as Mac>::new_from_slice(jwt_secret) {
        Ok(mut mac) => {
            mac.update(b"securetodo MFA_ENCRYPTION_KEY v1");
            MfaKey(mac.finalize().into_bytes().into())
        }
        // HMAC takes keys of any length.
        Err(_) => MfaKey([0; 32]),
    }
}

fn random_secret() -> String {
    let bytes: [u8; 48] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_number<T>(
    variable: &'static str,
    raw: Option<String>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let value = match raw.as_deref() {
        None | Some("") => default,
        Some(s) => s
            .parse::<T>()
            .map_err(|_| invalid(variable, "must be a whole number"))?,
    };
    if !range.contains(&value) {
        return Err(invalid(
            variable,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

fn parse_bool(variable: &'static str, raw: Option<String>) -> Result<bool, ConfigError> {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(_) => Err(invalid(variable, "must be `true` or `false`")),
    }
}

fn parse_database_url(raw: Option<String>) -> Result<DatabaseUrl, ConfigError> {
    let url = raw
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "sqlite://data/securetodo.db".to_owned());
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(DatabaseUrl::Memory);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(PostgresUrl::new(url)));
    }
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Ok(DatabaseUrl::File(PathBuf::from(path))),
        _ => Err(invalid(
            "DATABASE_URL",
            "must be `sqlite://PATH`, `sqlite::memory:` or `postgres://USER:PASS@HOST:PORT/DB`",
        )),
    }
}

/// `HOST:PORT`, `[IPv6]:PORT`, or empty for none.
fn parse_metrics_addr(raw: Option<String>) -> Result<Option<MetricsAddr>, ConfigError> {
    let raw = match raw.as_deref() {
        None | Some("") => return Ok(None),
        Some(raw) => raw,
    };
    let bad = || invalid("METRICS_ADDR", "must be HOST:PORT, e.g. 127.0.0.1:9090");
    let (host, port) = raw.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = match host.strip_prefix('[') {
        // An IPv6 address needs its brackets: `[::1]:9090`.
        Some(v6) => v6
            .strip_suffix(']')
            .filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
            .ok_or_else(bad)?,
        None if !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) =>
        {
            host
        }
        None => return Err(bad()),
    };
    Ok(Some(MetricsAddr {
        host: host.to_owned(),
        port,
    }))
}

fn parse_origins(raw: String) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let valid_scheme = origin.starts_with("https://") || origin.starts_with("http://");
        let rest = origin.split_once("://").map(|(_, r)| r).unwrap_or_default();
        if origin.contains('*') || !valid_scheme || rest.is_empty() || rest.contains('/') {
            return Err(invalid(
                "CORS_ALLOWED_ORIGINS",
                format!("`{origin}` is not an exact origin like https://app.example.com"),
            ));
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef-strong";

    #[test]
    fn defaults_match_the_spec() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.app_env, AppEnv::Development);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.port, 8080);
        assert_eq!(
            s.database,
            DatabaseUrl::File(PathBuf::from("data/securetodo.db"))
        );
        assert!(s.jwt_secret_generated);
        assert!(s.jwt_secret.expose_secret().len() >= MIN_JWT_SECRET_BYTES);
        assert_eq!(s.access_token_ttl_secs, 900);
        assert_eq!(s.refresh_token_ttl_secs, 1_209_600);
        assert_eq!(s.bcrypt_cost, 12);
        assert!(s.cors_allowed_origins.is_empty());
        assert_eq!(s.auth_rate_limit_per_minute, 20);
        assert_eq!(s.frontend_dir, Some(PathBuf::from("frontend")));
        assert!(!s.trust_proxy_headers);
        assert_eq!(s.metrics_addr, None);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.audit_retention_days, 365);
        assert_eq!(s.max_todos_per_user, 100_000);
        assert_eq!(s.trash_retention_days, 30);
        assert_eq!(s.api_rate_limit_per_minute, 600);
        assert!(s.redis_url.is_none());
    }

    #[test]
    fn redis_urls_are_parsed_and_never_print_their_password() {
        let s = settings(&[
            ("REDIS_URL", "redis://:hunter2secret@cache.internal:6380/3"),
            ("API_RATE_LIMIT_PER_MINUTE", "0"),
        ])
        .unwrap();
        let url = s.redis_url.as_ref().unwrap();
        assert_eq!(url.display, "cache.internal:6380/3");
        assert_eq!(s.api_rate_limit_per_minute, 0);
        assert!(!format!("{s:?}").contains("hunter2secret"));
        assert_eq!(
            settings(&[("REDIS_URL", "redis://127.0.0.1")])
                .unwrap()
                .redis_url
                .unwrap()
                .display,
            "127.0.0.1:6379/0"
        );
        for bad in [
            "127.0.0.1:6379",
            "http://x",
            "redis://",
            "rediss://h:1/0",
            "redis://h:1/x",
        ] {
            let err = settings(&[("REDIS_URL", bad)]).unwrap_err();
            assert_eq!(err.variable, "REDIS_URL", "{bad}");
        }
        let err = settings(&[("REDIS_URL", "redis://:pw-in-url@h:notaport/0")]).unwrap_err();
        assert!(!err.to_string().contains("pw-in-url"));
    }

    #[test]
    fn quota_and_trash_settings_are_parsed_and_checked() {
        let s = settings(&[("MAX_TODOS_PER_USER", "0"), ("TRASH_RETENTION_DAYS", "7")]).unwrap();
        assert_eq!(s.max_todos_per_user, 0);
        assert_eq!(s.trash_retention_days, 7);
        for (variable, bad) in [
            ("MAX_TODOS_PER_USER", "-1"),
            ("MAX_TODOS_PER_USER", "lots"),
            ("TRASH_RETENTION_DAYS", "0"),
            ("TRASH_RETENTION_DAYS", "36501"),
        ] {
            let error = settings(&[(variable, bad)]).unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn operations_settings_are_parsed() {
        let s = settings(&[
            ("METRICS_ADDR", "0.0.0.0:9090"),
            ("LOG_FORMAT", "JSON"),
            ("AUDIT_RETENTION_DAYS", "0"),
        ])
        .unwrap();
        assert_eq!(
            s.metrics_addr,
            Some(MetricsAddr {
                host: "0.0.0.0".into(),
                port: 9090
            })
        );
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.audit_retention_days, 0);
        for (raw, host, port) in [
            ("localhost:0", "localhost", 0),
            ("[::1]:9100", "::1", 9100),
            ("metrics.internal:9100", "metrics.internal", 9100),
        ] {
            let s = settings(&[("METRICS_ADDR", raw)]).unwrap();
            assert_eq!(
                s.metrics_addr,
                Some(MetricsAddr {
                    host: host.into(),
                    port
                }),
                "{raw}"
            );
        }
        assert_eq!(LogFormat::parse(Some(" text ")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
    }

    #[test]
    fn development_secrets_are_random_per_process() {
        let a = settings(&[]).unwrap();
        let b = settings(&[]).unwrap();
        assert_ne!(a.jwt_secret.expose_secret(), b.jwt_secret.expose_secret());
    }

    #[test]
    fn production_refuses_missing_short_or_example_secret_and_low_cost() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("APP_ENV", "production")], "JWT_SECRET"),
            (
                &[("APP_ENV", "production"), ("JWT_SECRET", "short")],
                "JWT_SECRET",
            ),
            (
                &[
                    ("APP_ENV", "production"),
                    ("JWT_SECRET", ENV_EXAMPLE_JWT_SECRET),
                ],
                "JWT_SECRET",
            ),
            (
                &[
                    ("APP_ENV", "production"),
                    ("JWT_SECRET", STRONG),
                    ("BCRYPT_COST", "9"),
                ],
                "BCRYPT_COST",
            ),
        ];
        for (vars, variable) in cases {
            let err = settings(vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            let secret = vars
                .iter()
                .find(|(k, _)| *k == "JWT_SECRET")
                .map(|(_, v)| *v);
            if let Some(secret) = secret {
                assert!(!err.to_string().contains(secret), "secret echoed: {err}");
            }
        }
    }

    #[test]
    fn production_accepts_a_strong_secret() {
        let s = settings(PRODUCTION).unwrap();
        assert_eq!(s.app_env, AppEnv::Production);
        assert!(!s.jwt_secret_generated);
    }

    #[test]
    fn invalid_values_are_rejected_with_the_variable_name() {
        let cases = [
            ("APP_ENV", "staging"),
            ("PORT", "http"),
            ("PORT", "70000"),
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "32"),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("REFRESH_TOKEN_TTL_SECS", "-5"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
            ("API_RATE_LIMIT_PER_MINUTE", "-1"),
            ("API_RATE_LIMIT_PER_MINUTE", "many"),
            ("TRUST_PROXY_HEADERS", "maybe"),
            ("DATABASE_URL", "mysql://localhost/x"),
            ("MIGRATE_ON_START", "sometimes"),
            ("DATABASE_URL", "sqlite://"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "https://ok.example, example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://example.com/path"),
            ("METRICS_ADDR", "9090"),
            ("METRICS_ADDR", ":9090"),
            ("METRICS_ADDR", "localhost:"),
            ("METRICS_ADDR", "localhost:99999"),
            ("METRICS_ADDR", "http://localhost:9090"),
            ("METRICS_ADDR", "::1:9090"),
            ("METRICS_ADDR", "[nope]:9090"),
            ("METRICS_ADDR", "bad host:9090"),
            ("LOG_FORMAT", "yaml"),
            ("AUDIT_RETENTION_DAYS", "-1"),
            ("AUDIT_RETENTION_DAYS", "forever"),
        ];
        for (variable, value) in cases {
            let err = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{variable}={value}");
        }
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_never_prints_its_password() {
        let s = settings(&[("DATABASE_URL", "postgres://app:s3cret-pw@db:5432/todo")]).unwrap();
        let DatabaseUrl::Postgres(url) = &s.database else {
            panic!("{:?}", s.database);
        };
        assert_eq!(url.expose(), "postgres://app:s3cret-pw@db:5432/todo");
        assert!(!format!("{s:?}").contains("s3cret-pw"));
        assert_eq!(url.redacted(), "postgres://…@db:5432/todo");
    }

    #[test]
    fn parses_memory_database_origins_and_empty_frontend() {
        let s = settings(&[
            ("DATABASE_URL", "sqlite::memory:"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, http://localhost:5173",
            ),
            ("FRONTEND_DIR", ""),
            ("TRUST_PROXY_HEADERS", "true"),
        ])
        .unwrap();
        assert_eq!(s.database, DatabaseUrl::Memory);
        assert_eq!(
            s.cors_allowed_origins,
            ["https://a.example", "http://localhost:5173"]
        );
        assert_eq!(s.frontend_dir, None);
        assert!(s.trust_proxy_headers);
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let s = settings(&[("JWT_SECRET", STRONG)]).unwrap();
        assert!(!format!("{s:?}").contains(STRONG));
    }

    const MFA_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    /// What a production start needs; the MFA key comes last.
    const PRODUCTION: &[(&str, &str)] = &[
        ("APP_ENV", "production"),
        ("JWT_SECRET", STRONG),
        ("BCRYPT_COST", "10"),
        ("MFA_ENCRYPTION_KEY", MFA_KEY),
    ];

    #[test]
    fn production_refuses_to_start_without_an_mfa_key() {
        // Everything a production start needs but the key.
        let err = settings(&PRODUCTION[..3]).unwrap_err();
        assert_eq!(err.variable, "MFA_ENCRYPTION_KEY");
        let s = settings(PRODUCTION).unwrap();
        assert!(!s.mfa_key_derived);
        assert_eq!(s.mfa_encryption_key.0[31], 31);
        assert!(!format!("{s:?}").contains(MFA_KEY));
    }

    #[test]
    fn development_derives_the_mfa_key_from_the_jwt_secret() {
        let a = settings(&[("JWT_SECRET", STRONG)]).unwrap();
        let b = settings(&[("JWT_SECRET", STRONG)]).unwrap();
        let c = settings(&[("JWT_SECRET", "another-secret-of-enough-length-123456")]).unwrap();
        assert!(a.mfa_key_derived);
        assert_eq!(a.mfa_encryption_key, b.mfa_encryption_key);
        assert_ne!(a.mfa_encryption_key, c.mfa_encryption_key);
    }

    #[test]
    fn a_malformed_mfa_key_is_refused_in_any_environment() {
        for bad in ["not base64!", "AAEC", &format!("{MFA_KEY}AAAA")] {
            let err = settings(&[("MFA_ENCRYPTION_KEY", bad)]).unwrap_err();
            assert_eq!(err.variable, "MFA_ENCRYPTION_KEY", "{bad}");
            assert!(!err.to_string().contains(bad));
        }
    }

    #[test]
    fn previous_jwt_secrets_are_a_comma_separated_list() {
        let s = settings(&[("JWT_PREVIOUS_SECRETS", " old-one , ,old-two ")]).unwrap();
        let keys: Vec<&str> = s
            .jwt_previous_secrets
            .iter()
            .map(|k| k.expose_secret())
            .collect();
        assert_eq!(keys, ["old-one", "old-two"]);
        assert!(settings(&[]).unwrap().jwt_previous_secrets.is_empty());
        assert!(!format!("{s:?}").contains("old-one"));
    }
}

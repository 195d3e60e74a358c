//! Multi-factor authentication: TOTP enrolment and confirmation, the
//! login's second step, recovery codes, turning MFA off, and the rules
//! they share (replay refusal, the attempt limit, the lockout).
//!
//! Every use case takes the time (`now`) from its caller, so tests run
//! them at fixed instants with real TOTP codes.

use chrono::{Duration, NaiveDateTime};
use sha2::{Digest, Sha256};

use crate::app::accounts::record_session_failure;
use crate::app::lockout::{self, Budget};
use crate::app::sessions::{open_session, NewLogin, SignedIn};
use crate::app::Actor;
use crate::auth::mfa::{self, Enrolment, MfaKeys, RecoveryCode, TotpCode};
use crate::db::models::mfa::{self as store, NewChallenge};
use crate::db::models::session;
use crate::db::models::user::User;
use crate::db::models::{audit, user};
use crate::db::Conn;
use crate::domain::{AuditEvent, LoginFailure, MfaCodeFailure, MfaContext, MfaMethod};
use crate::error::{ApiError, ApiResult};

/// How long the second step of a login may wait for its code.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Codes one `mfa_token` may try; the next attempt finds it dead.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// A second factor as the client gave it.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl SecondFactor {
    /// A code field that may hold either: six digits are a TOTP code,
    /// anything else must read as a recovery code.
    pub fn parse_either(raw: &str) -> Result<Self, &'static str> {
        match TotpCode::parse(raw) {
            Ok(code) => Ok(Self::Totp(code)),
            Err(_) => RecoveryCode::parse(raw)
                .map(Self::Recovery)
                .map_err(|_| "must be a 6-digit code or a recovery code"),
        }
    }

    fn method(&self) -> MfaMethod {
        match self {
            Self::Totp(_) => MfaMethod::Totp,
            Self::Recovery(_) => MfaMethod::RecoveryCode,
        }
    }
}

/// The outcome of a check that needs a code: a wrong code is an outcome,
/// not an error, so that its audit event and counters commit.
#[derive(Debug)]
pub enum Checked<T> {
    Accepted(T),
    WrongCode,
}

/// What identifies a password without holding it: the challenge keeps
/// this, so a password change while the code is awaited ends the login.
pub fn password_fingerprint(password_hash: &str) -> String {
    Sha256::digest(password_hash.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp()
}

/// Checks `factor` for `user` (MFA on) and spends it: a TOTP step is
/// accepted once per user, a recovery code once.
fn spend_factor(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    user: &User,
    factor: &SecondFactor,
    context: MfaContext,
    now: NaiveDateTime,
    ip: Option<&str>,
) -> ApiResult<Result<MfaMethod, MfaCodeFailure>> {
    match factor {
        SecondFactor::Totp(code) => {
            let sealed = user
                .mfa_secret
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("MFA is on but no secret is stored"))?;
            let secret = keys.open(user.id, sealed)?;
            let Some(step) = mfa::matching_step(&secret, code, unix(now))? else {
                return Ok(Err(MfaCodeFailure::Wrong));
            };
            if !store::accept_step(conn, user.id, step)? {
                return Ok(Err(MfaCodeFailure::Replayed));
            }
            Ok(Ok(MfaMethod::Totp))
        }
        SecondFactor::Recovery(code) => {
            let hash = keys.recovery_hash(code);
            if !store::use_recovery_code(conn, user.id, &hash, now)? {
                return Ok(Err(MfaCodeFailure::Wrong));
            }
            let remaining = store::unused_recovery_codes(conn, user.id)?;
            audit::record(
                conn,
                &AuditEvent::MfaRecoveryCodeUsed { context, remaining },
                Some(user.id),
                Some(user.id),
                ip,
            )?;
            Ok(Ok(MfaMethod::RecoveryCode))
        }
    }
}

// ---------- enrolment ----------

/// Starts (or restarts) a TOTP enrolment for the actor, whose password the
/// caller has verified: a new secret is stored sealed, pending until a code
/// confirms it. `Conflict` when MFA is already on.
pub fn start_enrolment(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    actor: &Actor,
    now: NaiveDateTime,
) -> ApiResult<Enrolment> {
    let current = user::find(conn, actor.user_id)?.ok_or(ApiError::Unauthorized)?;
    if current.mfa_enabled {
        return Err(ApiError::Conflict(
            "multi-factor authentication is already on",
        ));
    }
    let secret = mfa::new_secret();
    let sealed = keys.seal(current.id, &secret)?;
    if !store::set_pending_secret(conn, current.id, &sealed, now)? {
        return Err(ApiError::Conflict(
            "multi-factor authentication is already on",
        ));
    }
    actor.record_own(conn, &AuditEvent::MfaEnrolmentStarted {})?;
    Ok(mfa::enrolment(&secret, &current.email)?)
}

/// Confirms the pending enrolment with a code of its secret: MFA is on,
/// the code's step counts as used, every other session of the actor ends
/// (`keep` continues), and ten recovery codes are returned, once.
pub fn confirm_enrolment(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    actor: &Actor,
    keep: i64,
    code: &TotpCode,
    now: NaiveDateTime,
) -> ApiResult<Checked<Vec<String>>> {
    let current = user::find(conn, actor.user_id)?.ok_or(ApiError::Unauthorized)?;
    if current.mfa_enabled {
        return Err(ApiError::Conflict(
            "multi-factor authentication is already on",
        ));
    }
    let sealed = current.mfa_secret.clone().ok_or(ApiError::Conflict(
        "no enrolment is pending; start one with POST /api/v1/users/me/mfa/totp",
    ))?;
    let secret = keys.open(current.id, &sealed)?;
    let Some(step) = mfa::matching_step(&secret, code, unix(now))? else {
        actor.record_own(
            conn,
            &AuditEvent::MfaCodeFailed {
                context: MfaContext::Confirm,
                method: MfaMethod::Totp,
                reason: MfaCodeFailure::Wrong,
                known_device: None,
                session_id: Some(keep),
            },
        )?;
        return Ok(Checked::WrongCode);
    };
    if !store::confirm(conn, current.id, &sealed, step, now)? {
        return Err(ApiError::Conflict(
            "the enrolment changed meanwhile; start it again",
        ));
    }
    let (shown, hashes) = mfa::new_recovery_codes(keys);
    store::replace_recovery_codes(conn, current.id, &hashes, now)?;
    store::delete_challenges(conn, current.id)?;
    let sessions_ended = session::revoke_all(conn, current.id, Some(keep), now)?;
    actor.record_own(conn, &AuditEvent::MfaEnabled { sessions_ended })?;
    Ok(Checked::Accepted(shown))
}

// ---------- management inside a session ----------

/// The actor with MFA on, or `Conflict`.
fn with_mfa_on(conn: &mut Conn<'_>, actor: &Actor) -> ApiResult<User> {
    let current = user::find(conn, actor.user_id)?.ok_or(ApiError::Unauthorized)?;
    if !current.mfa_enabled {
        return Err(ApiError::Conflict("multi-factor authentication is off"));
    }
    Ok(current)
}

/// Checks a code given inside the session `session_id`; a wrong one is
/// audited and spends the session's failure budget (the fifth ends it).
fn check_in_session(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    actor: &Actor,
    session_id: i64,
    factor: &SecondFactor,
    context: MfaContext,
    now: NaiveDateTime,
) -> ApiResult<Option<(User, MfaMethod)>> {
    let current = with_mfa_on(conn, actor)?;
    match spend_factor(
        conn,
        keys,
        &current,
        factor,
        context,
        now,
        actor.ip.as_deref(),
    )? {
        Ok(method) => Ok(Some((current, method))),
        Err(reason) => {
            let event = AuditEvent::MfaCodeFailed {
                context,
                method: factor.method(),
                reason,
                known_device: None,
                session_id: Some(session_id),
            };
            record_session_failure(conn, actor, session_id, &event)?;
            Ok(None)
        }
    }
}

/// A new set of recovery codes (the old set stops working), for an actor
/// whose password the caller has verified and who gives a code.
pub fn regenerate_recovery_codes(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    actor: &Actor,
    session_id: i64,
    factor: &SecondFactor,
    now: NaiveDateTime,
) -> ApiResult<Checked<Vec<String>>> {
    let context = MfaContext::RegenerateRecoveryCodes;
    let Some((current, method)) =
        check_in_session(conn, keys, actor, session_id, factor, context, now)?
    else {
        return Ok(Checked::WrongCode);
    };
    let (shown, hashes) = mfa::new_recovery_codes(keys);
    store::replace_recovery_codes(conn, current.id, &hashes, now)?;
    actor.record_own(conn, &AuditEvent::MfaRecoveryCodesRegenerated { method })?;
    Ok(Checked::Accepted(shown))
}

/// Turns MFA off for an actor whose password the caller has verified and
/// who gives a code: the secret, recovery codes and pending logins go.
pub fn disable(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    actor: &Actor,
    session_id: i64,
    factor: &SecondFactor,
    now: NaiveDateTime,
) -> ApiResult<Checked<()>> {
    let Some((current, method)) = check_in_session(
        conn,
        keys,
        actor,
        session_id,
        factor,
        MfaContext::Disable,
        now,
    )?
    else {
        return Ok(Checked::WrongCode);
    };
    store::clear(conn, current.id, now)?;
    // SPEC: API tokens end when MFA is turned off.
    crate::app::tokens::revoke_all_audited(
        conn,
        Some(actor.user_id),
        actor.user_id,
        actor.ip.as_deref(),
        crate::domain::TokenRevocation::MfaDisabled,
    )?;
    actor.record_own(conn, &AuditEvent::MfaDisabled { method })?;
    Ok(Checked::Accepted(()))
}

// ---------- the login's second step ----------

/// Opens the second step of a login whose password was right: stores the
/// challenge for the token hashing to `token_hash`.
pub fn open_challenge(
    conn: &mut Conn<'_>,
    user: &User,
    token_hash: &str,
    device_hash: Option<&str>,
    ip: Option<&str>,
    user_agent: Option<&str>,
    now: NaiveDateTime,
) -> ApiResult<()> {
    store::insert_challenge(
        conn,
        &NewChallenge {
            user_id: user.id,
            token_hash,
            device_hash,
            password_fingerprint: &password_fingerprint(&user.password_hash),
            ip,
            user_agent,
            created_at: now,
            expires_at: now + Duration::seconds(MFA_TOKEN_TTL_SECS),
        },
    )?;
    Ok(())
}

/// `POST /auth/mfa`: the token from the login's first step and a code.
pub struct MfaLoginAttempt {
    pub token_hash: String,
    pub factor: SecondFactor,
    pub session: NewLogin,
}

pub enum MfaLoginOutcome {
    /// Every refusal looks the same to the client.
    Refused,
    SignedIn(SignedIn),
}

/// The second step of a login. The token is single use, lives
/// [`MFA_TOKEN_TTL_SECS`], and dies after [`MAX_CODE_ATTEMPTS`] codes; a
/// wrong code counts against the login's failure budget (the device
/// cookie it presented, or the untrusted clients') like a wrong password.
pub fn complete_login(
    conn: &mut Conn<'_>,
    keys: &MfaKeys,
    attempt: MfaLoginAttempt,
    now: NaiveDateTime,
) -> ApiResult<MfaLoginOutcome> {
    let ip = attempt.session.ip.as_deref();
    let Some(challenge) = store::claim_attempt(conn, &attempt.token_hash, MAX_CODE_ATTEMPTS, now)?
    else {
        return Ok(MfaLoginOutcome::Refused);
    };
    let Some(current) = user::find(conn, challenge.user_id)? else {
        return Ok(MfaLoginOutcome::Refused);
    };
    // The account changed while the code was awaited: this login is over.
    let ended = if current.disabled {
        Some(LoginFailure::Disabled)
    } else if password_fingerprint(&current.password_hash) != challenge.password_fingerprint
        || !current.mfa_enabled
    {
        Some(LoginFailure::PasswordChanged)
    } else {
        None
    };
    if let Some(reason) = ended {
        store::delete_challenge(conn, challenge.id)?;
        audit::record(
            conn,
            &AuditEvent::login_failed(reason),
            None,
            Some(current.id),
            ip,
        )?;
        return Ok(MfaLoginOutcome::Refused);
    }
    let budget = Budget::of(conn, current.id, challenge.device_hash.as_deref(), now)?;
    if let Some(reason) = budget.refusal(&current, now) {
        lockout::record_refusal(conn, &budget, &current, ip, reason)?;
        return Ok(MfaLoginOutcome::Refused);
    }
    let spent = spend_factor(
        conn,
        keys,
        &current,
        &attempt.factor,
        MfaContext::Login,
        now,
        ip,
    )?;
    let method = match spent {
        Ok(method) => method,
        Err(reason) => {
            audit::record(
                conn,
                &AuditEvent::MfaCodeFailed {
                    context: MfaContext::Login,
                    method: attempt.factor.method(),
                    reason,
                    known_device: Some(budget.is_known_device()),
                    session_id: None,
                },
                None,
                Some(current.id),
                ip,
            )?;
            lockout::count_failure(conn, &budget, &current, now, ip)?;
            if challenge.attempts >= MAX_CODE_ATTEMPTS {
                store::delete_challenge(conn, challenge.id)?;
            }
            return Ok(MfaLoginOutcome::Refused);
        }
    };
    // Single use: of two racing requests with one token, the first to
    // claim an attempt holds the row until it commits; the other finds the
    // challenge gone.
    store::delete_challenge(conn, challenge.id)?;
    open_session(conn, &budget, current, &attempt.session, Some(method), now)
        .map(MfaLoginOutcome::SignedIn)
}

#[cfg(test)]
mod tests {
    //! Real TOTP codes (RFC 6238 through `totp-rs`) at fixed instants.

    use chrono::DateTime;

    use super::*;
    use crate::app::testing::{actor_of, add_session, add_user, memory_pool};
    use crate::config::MfaKey;
    use crate::db::models::device;
    use crate::domain::Role;

    const T0: i64 = 1_800_000_010;

    fn at(unix_secs: i64) -> NaiveDateTime {
        DateTime::from_timestamp(unix_secs, 0).unwrap().naive_utc()
    }

    struct Fixture {
        pool: crate::db::DbPool,
        keys: MfaKeys,
        user: User,
        actor: Actor,
        session_id: i64,
        secret: Vec<u8>,
        recovery_codes: Vec<String>,
    }

    impl Fixture {
        fn conn(
            &self,
        ) -> diesel::r2d2::PooledConnection<diesel::r2d2::ConnectionManager<diesel::SqliteConnection>>
        {
            self.pool.sqlite()
        }

        fn code(&self, unix_secs: i64) -> TotpCode {
            let code = mfa::code_at(&self.secret, u64::try_from(unix_secs).unwrap()).unwrap();
            TotpCode::parse(&code).unwrap()
        }

        fn user(&self) -> User {
            user::find(&mut Conn::Sqlite(&mut self.conn()), self.user.id)
                .unwrap()
                .unwrap()
        }

        /// A login's first step for this user, as `sessions::login` opens it.
        fn challenge(&self, token: &str, device: Option<&str>, now: i64) {
            let user = self.user();
            open_challenge(
                &mut Conn::Sqlite(&mut self.conn()),
                &user,
                &hash(token),
                device.map(hash).as_deref(),
                None,
                None,
                at(now),
            )
            .unwrap();
        }

        fn second_step(&self, token: &str, factor: SecondFactor, now: i64) -> bool {
            let attempt = MfaLoginAttempt {
                token_hash: hash(token),
                factor,
                session: NewLogin {
                    ip: None,
                    user_agent: None,
                    refresh_hash: hash(&format!("refresh {token} {now}")),
                    ttl_secs: 3600,
                    new_device_hash: hash(&format!("device {token} {now}")),
                },
            };
            matches!(
                complete_login(
                    &mut Conn::Sqlite(&mut self.conn()),
                    &self.keys,
                    attempt,
                    at(now)
                )
                .unwrap(),
                MfaLoginOutcome::SignedIn(_)
            )
        }

        /// Turns MFA off in the fixture's session with `factor`.
        fn disable(&self, factor: &SecondFactor, now: i64) -> Checked<()> {
            disable(
                &mut Conn::Sqlite(&mut self.conn()),
                &self.keys,
                &self.actor,
                self.session_id,
                factor,
                at(now),
            )
            .unwrap()
        }

        /// Makes the client with the device token `token` a known device.
        fn known_device(&self, token: &str) {
            device::insert(
                &mut Conn::Sqlite(&mut self.conn()),
                self.user.id,
                &hash(token),
                at(T0),
            )
            .unwrap();
        }

        /// The latest (at most ten) audit events of `event_type`.
        fn events(&self, event_type: &str) -> Vec<audit::StoredAuditEvent> {
            audit::page(
                &mut Conn::Sqlite(&mut self.conn()),
                Some(event_type),
                None,
                10,
            )
            .unwrap()
        }

        fn totp_step(&self, token: &str, code_time: i64, now: i64) -> bool {
            self.second_step(token, SecondFactor::Totp(self.code(code_time)), now)
        }
    }

    fn test_keys() -> MfaKeys {
        MfaKeys::new(&MfaKey([7; 32]))
    }

    fn hash(s: &str) -> String {
        crate::auth::tokens::hash_refresh_token(s)
    }

    /// A user with a session, enrolled and confirmed at `T0`.
    fn enrolled() -> Fixture {
        let (pool, keys) = (memory_pool(), test_keys());
        let mut pooled = pool.sqlite();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let now = at(T0);
        let user = add_user(conn, "owner@example.com", "hash-1", Role::User, now);
        let session_id = add_session(conn, user.id, "r", now).id;
        let actor = actor_of(user.id);
        let enrolment = start_enrolment(conn, &keys, &actor, now).unwrap();
        let secret = totp_rs::Secret::Encoded(enrolment.secret_base32)
            .to_bytes()
            .unwrap();
        let mut fixture = Fixture {
            pool: pool.clone(),
            keys,
            user,
            actor,
            session_id,
            secret,
            recovery_codes: Vec::new(),
        };
        let code = fixture.code(T0);
        let Checked::Accepted(codes) =
            confirm_enrolment(conn, &fixture.keys, &fixture.actor, session_id, &code, now).unwrap()
        else {
            panic!("the enrolment was not confirmed");
        };
        fixture.recovery_codes = codes;
        fixture
    }

    #[test]
    fn an_enrolment_is_off_until_a_code_confirms_it_and_that_code_is_spent() {
        let (pool, keys) = (memory_pool(), test_keys());
        let mut pooled = pool.sqlite();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let now = at(T0);
        let owner = add_user(conn, "owner@example.com", "hash-1", Role::User, now);
        let actor = actor_of(owner.id);
        let first = start_enrolment(conn, &keys, &actor, now).unwrap();
        // Started over: the first secret is no longer the pending one.
        let second = start_enrolment(conn, &keys, &actor, now).unwrap();
        assert_ne!(first.secret_base32, second.secret_base32);
        let pending = user::find(conn, owner.id).unwrap().unwrap();
        assert!(!pending.mfa_enabled);
        // Stored sealed: neither the raw nor the base32 secret is in the row.
        let sealed = pending.mfa_secret.clone().unwrap();
        assert!(!sealed.contains(&second.secret_base32));
        let secret_of = |e: &Enrolment| {
            totp_rs::Secret::Encoded(e.secret_base32.clone())
                .to_bytes()
                .unwrap()
        };
        let code_of =
            |secret: &[u8]| TotpCode::parse(&mfa::code_at(secret, T0 as u64).unwrap()).unwrap();
        let stale = code_of(&secret_of(&first));
        assert!(matches!(
            confirm_enrolment(conn, &keys, &actor, 0, &stale, now).unwrap(),
            Checked::WrongCode
        ));
        let code = code_of(&secret_of(&second));
        let Checked::Accepted(codes) =
            confirm_enrolment(conn, &keys, &actor, 0, &code, now).unwrap()
        else {
            panic!("not confirmed");
        };
        assert_eq!(codes.len(), 10);
        let enabled = user::find(conn, owner.id).unwrap().unwrap();
        assert!(enabled.mfa_enabled);
        assert_eq!(enabled.mfa_last_step, Some(mfa::step_of(T0)));
        // MFA on: starting again is a conflict, and the secret stays.
        assert!(matches!(
            start_enrolment(conn, &keys, &actor, now),
            Err(ApiError::Conflict(_))
        ));
        // The confirming code cannot sign in.
        let fixture_user = user::find(conn, owner.id).unwrap().unwrap();
        open_challenge(conn, &fixture_user, "t", None, None, None, now).unwrap();
        let attempt = MfaLoginAttempt {
            token_hash: "t".into(),
            factor: SecondFactor::Totp(code),
            session: NewLogin {
                ip: None,
                user_agent: None,
                refresh_hash: "r".into(),
                ttl_secs: 60,
                new_device_hash: "d".into(),
            },
        };
        assert!(matches!(
            complete_login(conn, &keys, attempt, now).unwrap(),
            MfaLoginOutcome::Refused
        ));
    }

    #[test]
    fn confirming_ends_every_other_session() {
        let f = enrolled();
        let conn = &mut Conn::Sqlite(&mut f.conn());
        let live = session::list_live(conn, f.user.id, at(T0)).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].id, f.session_id);
    }

    #[test]
    fn a_totp_code_signs_in_once_and_never_again() {
        let f = enrolled();
        let t = T0 + 90;
        f.challenge("a", None, t);
        assert!(f.totp_step("a", t, t));
        // The same code through a new login, within its window: replay.
        f.challenge("b", None, t + 5);
        assert!(!f.totp_step("b", t, t + 5));
        // An older step than the one accepted: refused as well.
        f.challenge("c", None, t + 5);
        assert!(!f.totp_step("c", t - 30, t + 5));
        // The next step's code works.
        f.challenge("d", None, t + 30);
        assert!(f.totp_step("d", t + 30, t + 30));
        let events = f.events("mfa.code_failed");
        assert_eq!(events.len(), 2);
        assert!(events
            .iter()
            .all(|e| e.detail.contains("\"context\":\"login\"")));
        assert!(events
            .iter()
            .any(|e| e.detail.contains("\"reason\":\"replayed\"")));
    }

    #[test]
    fn codes_one_step_early_or_late_are_accepted_two_are_not() {
        let f = enrolled();
        let now = T0 + 300;
        for (offset, accepted) in [(-60, false), (-30, true), (30, true), (60, false)] {
            let token = format!("skew {offset}");
            f.challenge(&token, None, now);
            assert_eq!(
                f.totp_step(&token, now + offset, now),
                accepted,
                "code {offset} s off"
            );
        }
    }

    #[test]
    fn the_mfa_token_lives_five_minutes() {
        let f = enrolled();
        let start = T0 + 600;
        f.challenge("late", None, start);
        let late = start + MFA_TOKEN_TTL_SECS + 1;
        assert!(!f.totp_step("late", late, late));
        f.challenge("in time", None, start);
        let in_time = start + MFA_TOKEN_TTL_SECS - 1;
        assert!(f.totp_step("in time", in_time, in_time));
    }

    #[test]
    fn the_mfa_token_is_single_use() {
        let f = enrolled();
        let t = T0 + 900;
        f.challenge("once", None, t);
        assert!(f.totp_step("once", t, t));
        // A valid, unused code cannot revive it.
        assert!(!f.totp_step("once", t + 30, t + 30));
        let recovery = RecoveryCode::parse(&f.recovery_codes[0]).unwrap();
        assert!(!f.second_step("once", SecondFactor::Recovery(recovery), t + 30));
    }

    #[test]
    fn the_mfa_token_dies_after_five_wrong_codes() {
        let f = enrolled();
        let t = T0 + 1200;
        f.challenge("guess", Some("device"), t);
        // The device is known, so the account's lock does not end this.
        f.known_device("device");
        for _ in 0..MAX_CODE_ATTEMPTS {
            assert!(!f.totp_step("guess", t - 3600, t));
        }
        assert!(!f.totp_step("guess", t, t));
        // A fresh login from the same (now locked) device is an untrusted
        // client, whose budget the device's failures did not touch.
        f.challenge("fresh", Some("device"), t);
        assert!(f.totp_step("fresh", t, t));
    }

    #[test]
    fn wrong_codes_lock_strangers_out_but_never_the_owners_device() {
        let f = enrolled();
        let t = T0 + 1500;
        f.known_device("owner's");
        for n in 0..MAX_FAILED_LOGINS_FOR_TEST {
            let token = format!("stranger {n}");
            f.challenge(&token, None, t);
            assert!(!f.totp_step(&token, t - 3600, t));
        }
        assert!(f.user().locked_until.is_some_and(|until| until > at(t)));
        let events = f.events("auth.locked_out");
        assert_eq!(events.len(), 1);
        // Locked: even the right code does not let a stranger in.
        f.challenge("stranger, right code", None, t);
        assert!(!f.totp_step("stranger, right code", t, t));
        // The owner's device spends its own budget.
        f.challenge("owner", Some("owner's"), t + 30);
        assert!(f.totp_step("owner", t + 30, t + 30));
    }

    const MAX_FAILED_LOGINS_FOR_TEST: i32 = crate::app::lockout::MAX_FAILED_LOGINS;

    #[test]
    fn wrong_passwords_and_wrong_codes_add_up_to_one_lockout() {
        let f = enrolled();
        let t = T0 + 1800;
        for _ in 0..3 {
            let current = f.user();
            lockout::record_failure(
                &mut Conn::Sqlite(&mut f.conn()),
                &Budget::Untrusted,
                &current,
                at(t),
                None,
                LoginFailure::BadPassword,
            )
            .unwrap();
        }
        // The right password opens a challenge but clears nothing.
        f.challenge("x", None, t);
        assert!(!f.totp_step("x", t - 3600, t));
        assert!(f.user().locked_until.is_none());
        assert!(!f.totp_step("x", t - 3600, t));
        assert!(f.user().locked_until.is_some());
    }

    #[test]
    fn a_success_clears_the_failures_it_follows() {
        let f = enrolled();
        let t = T0 + 2100;
        f.challenge("y", None, t);
        assert!(!f.totp_step("y", t - 3600, t));
        assert_eq!(f.user().failed_logins, 1);
        assert!(f.totp_step("y", t, t));
        assert_eq!(f.user().failed_logins, 0);
    }

    #[test]
    fn recovery_codes_work_once_each_and_a_new_set_replaces_the_old() {
        let f = enrolled();
        let t = T0 + 2400;
        let code =
            |i: usize| SecondFactor::Recovery(RecoveryCode::parse(&f.recovery_codes[i]).unwrap());
        f.challenge("r1", None, t);
        assert!(f.second_step("r1", code(0), t));
        f.challenge("r2", None, t);
        assert!(!f.second_step("r2", code(0), t));
        let used = f.events("mfa.recovery_code_used");
        assert_eq!(used.len(), 1);
        assert!(used[0].detail.contains("\"remaining\":9"));
        // A new set (with a TOTP code): the old unused ones stop working.
        let Checked::Accepted(fresh) = regenerate_recovery_codes(
            &mut Conn::Sqlite(&mut f.conn()),
            &f.keys,
            &f.actor,
            f.session_id,
            &SecondFactor::Totp(f.code(t + 30)),
            at(t + 30),
        )
        .unwrap() else {
            panic!("not regenerated");
        };
        f.challenge("r3", None, t + 30);
        assert!(!f.second_step("r3", code(1), t + 30));
        f.challenge("r4", None, t + 30);
        let new = SecondFactor::Recovery(RecoveryCode::parse(&fresh[0]).unwrap());
        assert!(f.second_step("r4", new, t + 30));
    }

    #[test]
    fn turning_mfa_off_needs_a_right_code_and_wrong_ones_end_the_session() {
        let f = enrolled();
        let t = T0 + 2700;
        let wrong = SecondFactor::Totp(f.code(t - 3600));
        for _ in 0..MAX_FAILED_LOGINS_FOR_TEST {
            assert!(matches!(f.disable(&wrong, t), Checked::WrongCode));
        }
        assert!(f.user().mfa_enabled);
        assert!(
            session::list_live(&mut Conn::Sqlite(&mut f.conn()), f.user.id, at(t))
                .unwrap()
                .is_empty()
        );
        let right = SecondFactor::Totp(f.code(t));
        assert!(matches!(f.disable(&right, t), Checked::Accepted(())));
        let off = f.user();
        assert!(!off.mfa_enabled && off.mfa_secret.is_none());
        assert_eq!(
            store::unused_recovery_codes(&mut Conn::Sqlite(&mut f.conn()), f.user.id).unwrap(),
            0
        );
    }

    #[test]
    fn a_password_change_or_a_reset_ends_a_login_waiting_for_its_code() {
        let f = enrolled();
        let t = T0 + 3000;
        f.challenge("before change", None, t);
        user::set_password_hash(&mut Conn::Sqlite(&mut f.conn()), f.user.id, "hash-2").unwrap();
        assert!(!f.totp_step("before change", t, t));
        f.challenge("before reset", None, t);
        store::clear(&mut Conn::Sqlite(&mut f.conn()), f.user.id, at(t)).unwrap();
        assert!(!f.totp_step("before reset", t, t));
    }

    #[test]
    fn no_event_holds_a_secret_or_a_code() {
        let f = enrolled();
        let t = T0 + 3300;
        f.challenge("z", None, t);
        let wrong = f.code(t - 3600);
        assert!(!f.second_step("z", SecondFactor::Totp(wrong.clone()), t));
        let recovery = RecoveryCode::parse(&f.recovery_codes[3]).unwrap();
        assert!(f.second_step("z", SecondFactor::Recovery(recovery), t));
        let events = audit::page(&mut Conn::Sqlite(&mut f.conn()), None, None, 100).unwrap();
        let secret_b32 = totp_rs::TOTP::new(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            f.secret.clone(),
            None,
            String::new(),
        )
        .unwrap()
        .get_secret_base32();
        let code_text = mfa::code_at(&f.secret, (t - 3600) as u64).unwrap();
        for event in events {
            for secret in [
                secret_b32.as_str(),
                code_text.as_str(),
                &f.recovery_codes[3],
                &f.recovery_codes[3].replace('-', ""),
            ] {
                assert!(!event.detail.contains(secret), "{}", event.detail);
            }
        }
    }
}

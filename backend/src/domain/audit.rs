//! Security events: a closed set of types, each with its own typed detail.
//! Serialised once (`AuditEvent::event_type`, `AuditEvent::detail`), never
//! holding a password, hash, token or code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Role, Scope};

/// The type of a security event, as the audit log stores and filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AuditEventType {
    #[serde(rename = "user.registered")]
    UserRegistered,
    #[serde(rename = "auth.login_succeeded")]
    LoginSucceeded,
    #[serde(rename = "auth.login_failed")]
    LoginFailed,
    #[serde(rename = "auth.locked_out")]
    LockedOut,
    #[serde(rename = "auth.refresh_reuse_detected")]
    RefreshReuseDetected,
    #[serde(rename = "auth.logout")]
    Logout,
    #[serde(rename = "auth.logout_all")]
    LogoutAll,
    #[serde(rename = "auth.session_revoked")]
    SessionRevoked,
    #[serde(rename = "user.password_changed")]
    PasswordChanged,
    #[serde(rename = "user.deleted")]
    AccountDeleted,
    #[serde(rename = "admin.created")]
    AdminCreated,
    #[serde(rename = "admin.role_changed")]
    RoleChanged,
    #[serde(rename = "admin.user_disabled")]
    UserDisabled,
    #[serde(rename = "admin.user_enabled")]
    UserEnabled,
    #[serde(rename = "admin.user_deleted")]
    UserDeleted,
    #[serde(rename = "admin.sessions_revoked")]
    SessionsRevoked,
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.deleted")]
    TokenDeleted,
    #[serde(rename = "token.revoked")]
    TokensRevoked,
    #[serde(rename = "mfa.enrolment_started")]
    MfaEnrolmentStarted,
    #[serde(rename = "mfa.enabled")]
    MfaEnabled,
    #[serde(rename = "mfa.disabled")]
    MfaDisabled,
    #[serde(rename = "mfa.code_failed")]
    MfaCodeFailed,
    #[serde(rename = "mfa.recovery_code_used")]
    MfaRecoveryCodeUsed,
    #[serde(rename = "mfa.recovery_codes_regenerated")]
    MfaRecoveryCodesRegenerated,
    #[serde(rename = "admin.mfa_reset")]
    MfaReset,
}

impl AuditEventType {
    pub const ALL: [Self; 26] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LockedOut,
        Self::RefreshReuseDetected,
        Self::Logout,
        Self::LogoutAll,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::AccountDeleted,
        Self::AdminCreated,
        Self::RoleChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::SessionsRevoked,
        Self::TokenCreated,
        Self::TokenDeleted,
        Self::TokensRevoked,
        Self::MfaEnrolmentStarted,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaCodeFailed,
        Self::MfaRecoveryCodeUsed,
        Self::MfaRecoveryCodesRegenerated,
        Self::MfaReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "auth.login_succeeded",
            Self::LoginFailed => "auth.login_failed",
            Self::LockedOut => "auth.locked_out",
            Self::RefreshReuseDetected => "auth.refresh_reuse_detected",
            Self::Logout => "auth.logout",
            Self::LogoutAll => "auth.logout_all",
            Self::SessionRevoked => "auth.session_revoked",
            Self::PasswordChanged => "user.password_changed",
            Self::AccountDeleted => "user.deleted",
            Self::AdminCreated => "admin.created",
            Self::RoleChanged => "admin.role_changed",
            Self::UserDisabled => "admin.user_disabled",
            Self::UserEnabled => "admin.user_enabled",
            Self::UserDeleted => "admin.user_deleted",
            Self::SessionsRevoked => "admin.sessions_revoked",
            Self::TokenCreated => "token.created",
            Self::TokenDeleted => "token.deleted",
            Self::TokensRevoked => "token.revoked",
            Self::MfaEnrolmentStarted => "mfa.enrolment_started",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaDisabled => "mfa.disabled",
            Self::MfaCodeFailed => "mfa.code_failed",
            Self::MfaRecoveryCodeUsed => "mfa.recovery_code_used",
            Self::MfaRecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
            Self::MfaReset => "admin.mfa_reset",
        }
    }
}

/// Why a sign-in (or a password confirmation) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    UnknownEmail,
    BadPassword,
    Disabled,
    Locked,
    /// The password changed while the login was checking the old one.
    PasswordChanged,
    /// A wrong current password inside a session.
    BadCurrentPassword,
}

/// Which second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
}

/// Where a second-factor code was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaContext {
    /// The second step of a login (`POST /auth/mfa`).
    Login,
    /// Confirming an enrolment.
    Confirm,
    RegenerateRecoveryCodes,
    Disable,
}

/// Why a second-factor code was refused (never the code itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaCodeFailure {
    /// Not the code of the current step or a neighbour, or not an unused
    /// recovery code of the user.
    Wrong,
    /// A TOTP code of a step already accepted (replay).
    Replayed,
}

/// Whose failure budget a lock closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    Device,
    UntrustedClients,
    Session,
}

/// Where an administrative change came from, when not from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Cli,
}

/// Why every API token of a user ended at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRevocation {
    PasswordChanged,
    AccountDisabled,
    MfaDisabled,
    /// An administrator turned the user's MFA off (a lost device).
    MfaReset,
    /// `create-admin --promote-existing` took the account over.
    Promoted,
}

/// A security event with its detail. The detail is the variant's fields as
/// one JSON object; absent optional fields are left out.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AuditEvent {
    UserRegistered {},
    LoginSucceeded {
        session_id: i64,
        known_device: bool,
        /// The second factor, when the account has MFA on.
        #[serde(skip_serializing_if = "Option::is_none")]
        mfa: Option<MfaMethod>,
    },
    LoginFailed {
        reason: LoginFailure,
        #[serde(skip_serializing_if = "Option::is_none")]
        known_device: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<i64>,
        /// Coalesced anonymous failures: how many attempts this row counts.
        #[serde(skip_serializing_if = "Option::is_none")]
        attempts: Option<i64>,
    },
    LockedOut {
        scope: LockScope,
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<i64>,
    },
    RefreshReuseDetected {
        session_id: i64,
        revoked: bool,
    },
    Logout {
        session_id: i64,
    },
    LogoutAll {
        sessions: usize,
    },
    SessionRevoked {
        session_id: i64,
    },
    PasswordChanged {
        sessions_ended: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<Via>,
    },
    AccountDeleted {
        email_domain: Option<String>,
    },
    AdminCreated {
        via: Via,
    },
    RoleChanged {
        from: Role,
        to: Role,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<Via>,
    },
    UserDisabled {
        disabled: bool,
        sessions_ended: usize,
    },
    UserEnabled {
        #[serde(skip_serializing_if = "Option::is_none")]
        disabled: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<Via>,
    },
    UserDeleted {
        email: String,
        role: Role,
    },
    SessionsRevoked {
        sessions_ended: usize,
    },
    /// Never the secret or its hash.
    TokenCreated {
        token_id: i64,
        name: String,
        scopes: Vec<Scope>,
        expires_at: chrono::NaiveDateTime,
    },
    TokenDeleted {
        token_id: i64,
        name: String,
    },
    TokensRevoked {
        tokens: usize,
        reason: TokenRevocation,
    },
    MfaEnrolmentStarted {},
    MfaEnabled {
        sessions_ended: usize,
    },
    MfaDisabled {
        method: MfaMethod,
    },
    MfaCodeFailed {
        context: MfaContext,
        method: MfaMethod,
        reason: MfaCodeFailure,
        #[serde(skip_serializing_if = "Option::is_none")]
        known_device: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<i64>,
    },
    MfaRecoveryCodeUsed {
        context: MfaContext,
        remaining: i64,
    },
    MfaRecoveryCodesRegenerated {
        method: MfaMethod,
    },
    MfaReset {
        was_enabled: bool,
        sessions_ended: usize,
    },
}

impl AuditEvent {
    pub fn event_type(&self) -> AuditEventType {
        match self {
            Self::UserRegistered {} => AuditEventType::UserRegistered,
            Self::LoginSucceeded { .. } => AuditEventType::LoginSucceeded,
            Self::LoginFailed { .. } => AuditEventType::LoginFailed,
            Self::LockedOut { .. } => AuditEventType::LockedOut,
            Self::RefreshReuseDetected { .. } => AuditEventType::RefreshReuseDetected,
            Self::Logout { .. } => AuditEventType::Logout,
            Self::LogoutAll { .. } => AuditEventType::LogoutAll,
            Self::SessionRevoked { .. } => AuditEventType::SessionRevoked,
            Self::PasswordChanged { .. } => AuditEventType::PasswordChanged,
            Self::AccountDeleted { .. } => AuditEventType::AccountDeleted,
            Self::AdminCreated { .. } => AuditEventType::AdminCreated,
            Self::RoleChanged { .. } => AuditEventType::RoleChanged,
            Self::UserDisabled { .. } => AuditEventType::UserDisabled,
            Self::UserEnabled { .. } => AuditEventType::UserEnabled,
            Self::UserDeleted { .. } => AuditEventType::UserDeleted,
            Self::SessionsRevoked { .. } => AuditEventType::SessionsRevoked,
            Self::TokenCreated { .. } => AuditEventType::TokenCreated,
            Self::TokenDeleted { .. } => AuditEventType::TokenDeleted,
            Self::TokensRevoked { .. } => AuditEventType::TokensRevoked,
            Self::MfaEnrolmentStarted {} => AuditEventType::MfaEnrolmentStarted,
            Self::MfaEnabled { .. } => AuditEventType::MfaEnabled,
            Self::MfaDisabled { .. } => AuditEventType::MfaDisabled,
            Self::MfaCodeFailed { .. } => AuditEventType::MfaCodeFailed,
            Self::MfaRecoveryCodeUsed { .. } => AuditEventType::MfaRecoveryCodeUsed,
            Self::MfaRecoveryCodesRegenerated { .. } => AuditEventType::MfaRecoveryCodesRegenerated,
            Self::MfaReset { .. } => AuditEventType::MfaReset,
        }
    }

    /// The detail as the audit log stores it: always a JSON object.
    pub fn detail(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// A failed sign-in with only a reason.
    pub fn login_failed(reason: LoginFailure) -> Self {
        Self::LoginFailed {
            reason,
            known_device: None,
            session_id: None,
            attempts: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_serialises_to_its_name() {
        for t in AuditEventType::ALL {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.as_str().to_owned())
            );
        }
    }

    #[test]
    fn details_are_objects_of_the_variant_fields() {
        let event = AuditEvent::RoleChanged {
            from: Role::User,
            to: Role::Admin,
            via: None,
        };
        assert_eq!(event.event_type().as_str(), "admin.role_changed");
        assert_eq!(event.detail(), r#"{"from":"user","to":"admin"}"#);
        assert_eq!(AuditEvent::UserRegistered {}.detail(), "{}");
        let failed = AuditEvent::login_failed(LoginFailure::UnknownEmail);
        assert_eq!(failed.detail(), r#"{"reason":"unknown_email"}"#);
    }
}

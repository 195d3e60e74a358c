// The audit event types the admin page offers as filter choices, with their labels.
// The API publishes the closed list as the OpenAPI enum `AuditEventType`
// (backend/src/domain/audit.rs); a static test fails when the two differ.
// (A type the server records that is missing here still shows in the log, and the admin
// page adds it to the choices once it has seen one.)

export const AUDIT_EVENT_TYPES = [
  ['Sign-in and sessions', [
    ['auth.login_succeeded', 'Sign-in succeeded'],
    ['auth.login_failed', 'Sign-in failed'],
    ['auth.locked_out', 'Account locked after failures'],
    ['auth.refresh_reuse_detected', 'Refresh token reused (session ended)'],
    ['auth.logout', 'Signed out'],
    ['auth.logout_all', 'Signed out everywhere'],
    ['auth.session_revoked', 'Session revoked by its owner'],
  ]],
  ['Accounts', [
    ['user.registered', 'Account registered'],
    ['user.password_changed', 'Password changed'],
    ['user.deleted', 'Account deleted by its owner'],
  ]],
  ['API tokens', [
    ['token.created', 'API token created'],
    ['token.deleted', 'API token deleted'],
    ['token.revoked', 'API tokens ended (password change, disable, MFA off)'],
  ]],
  ['Administration', [
    ['admin.created', 'Admin created (command line)'],
    ['admin.role_changed', 'Role changed'],
    ['admin.user_disabled', 'User disabled'],
    ['admin.user_enabled', 'User enabled'],
    ['admin.user_deleted', 'User deleted by an admin'],
    ['admin.sessions_revoked', 'Sessions revoked by an admin'],
    ['admin.mfa_reset', 'Two-factor authentication reset by an admin'],
  ]],
  ['Two-factor authentication', [
    ['mfa.enrolment_started', 'Set-up started'],
    ['mfa.enabled', 'Turned on'],
    ['mfa.disabled', 'Turned off'],
    ['mfa.code_failed', 'Wrong or reused code'],
    ['mfa.recovery_code_used', 'Recovery code used'],
    ['mfa.recovery_codes_regenerated', 'New recovery codes'],
  ]],
];

// The audit event types the admin page offers as filter choices, with their labels.
// The server's list is `kind` in backend/src/db/models/audit.rs: keep the two in step.
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
  ['Administration', [
    ['admin.created', 'Admin created (command line)'],
    ['admin.role_changed', 'Role changed'],
    ['admin.user_disabled', 'User disabled'],
    ['admin.user_enabled', 'User enabled'],
    ['admin.user_deleted', 'User deleted by an admin'],
    ['admin.sessions_revoked', 'Sessions revoked by an admin'],
  ]],
];

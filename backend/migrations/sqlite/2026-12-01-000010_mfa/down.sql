DROP INDEX mfa_challenges_user_id;
DROP TABLE mfa_challenges;
DROP TABLE mfa_recovery_codes;
ALTER TABLE users DROP COLUMN mfa_last_step;
ALTER TABLE users DROP COLUMN mfa_secret;
ALTER TABLE users DROP COLUMN mfa_enabled;

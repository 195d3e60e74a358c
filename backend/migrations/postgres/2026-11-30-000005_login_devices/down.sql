DROP INDEX audit_events_ip_created;
ALTER TABLE sessions DROP COLUMN failed_password_checks;
DROP TABLE login_devices;

DROP INDEX audit_events_target_id;
DROP TABLE api_tokens;

DROP TABLE sessions;
DROP TABLE IF EXISTS sessions_count; -- made by an earlier step 4 only

-- Version 3 (step 5): sessions live in Redis; users and settings stay here.
DROP TABLE sessions;
DROP TABLE IF EXISTS sessions_count; -- made by an earlier step 4 only

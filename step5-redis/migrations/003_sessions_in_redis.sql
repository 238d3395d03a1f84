-- Schema version 3 (step 5): sessions move to Redis. Their table, and its
-- indexes, triggers and count with it, go; users and settings stay. A step-4
-- file brought to version 3 loses its sessions: everyone signs in once more.
DROP TABLE sessions;
DROP TABLE IF EXISTS sessions_count; -- made by an earlier step 4 only

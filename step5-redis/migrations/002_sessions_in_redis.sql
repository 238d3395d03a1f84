-- Schema version 2 (step 5): sessions move to Redis. Their table, and its
-- indexes with it, go; users and settings stay. A step-4 file brought to
-- version 2 loses its sessions: everyone signs in once more.
DROP TABLE sessions;

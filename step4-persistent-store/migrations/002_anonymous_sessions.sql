-- Schema version 2: how many sessions are anonymous (no user), so that the
-- store can refuse a new one past its bound (config.maxAnonymous) in the
-- same statement that would insert it, without counting rows: a count of a
-- hundred thousand rows on every cookieless request would hold the one write
-- connection long enough to slow everyone else. Triggers keep the number
-- exact through every insert, delete (sweeper, logout, cascade) and change
-- of user.

CREATE TABLE sessions_count (
    anonymous INTEGER NOT NULL
);
INSERT INTO sessions_count (anonymous) SELECT count(*) FROM sessions WHERE user IS NULL;

CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions WHEN NEW.user IS NULL
BEGIN
    UPDATE sessions_count SET anonymous = anonymous + 1;
END;

CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions WHEN OLD.user IS NULL
BEGIN
    UPDATE sessions_count SET anonymous = anonymous - 1;
END;

CREATE TRIGGER sessions_count_update AFTER UPDATE OF user ON sessions
WHEN (OLD.user IS NULL) <> (NEW.user IS NULL)
BEGIN
    UPDATE sessions_count SET anonymous = anonymous + (NEW.user IS NULL) - (OLD.user IS NULL);
END;

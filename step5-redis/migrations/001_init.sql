-- Schema version 1: users, their sessions, and the app's settings.
-- Times are Unix milliseconds (INTEGER), so that they compare and sort as
-- numbers; in the sqlite3 shell, datetime(t / 1000, 'unixepoch') shows one.

CREATE TABLE users (
    name       TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name)), -- case-folded
    hash       BLOB NOT NULL,   -- bcrypt: algorithm, cost, salt and hash in one string
    created_at INTEGER NOT NULL
);

-- One row per session. The key is the SHA-256 of the session id, never the
-- id itself: whoever reads this file cannot sign anybody in with it.
CREATE TABLE sessions (
    id_hash             BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
    user                TEXT REFERENCES users (name) ON DELETE CASCADE, -- NULL: anonymous
    data                TEXT NOT NULL,    -- the rest of Session.Values, as JSON
    created_at          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL, -- last_seen + -idle-timeout
    absolute_expires_at INTEGER NOT NULL, -- created_at + -max-lifetime
    user_agent          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- "My sessions", "sign out everywhere": the sessions of one user.
CREATE INDEX sessions_by_user ON sessions (user) WHERE user IS NOT NULL;
-- The sweeper: expired sessions, without reading the others.
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);
CREATE INDEX sessions_by_absolute_expiry ON sessions (absolute_expires_at);

-- Values the app makes once and keeps, such as the session secret when
-- SESSION_SECRET is not set.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    name       TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name)), -- case-folded
    hash       BLOB NOT NULL,   -- bcrypt: algorithm, cost, salt and hash in one string
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash             BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32), -- SHA-256 of the id, never the id
    user                TEXT REFERENCES users (name) ON DELETE CASCADE, -- NULL: anonymous
    data                TEXT NOT NULL,    -- the rest of Session.Values (values.go)
    created_at          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL, -- last_seen + -idle-timeout
    absolute_expires_at INTEGER NOT NULL, -- created_at + -max-lifetime
    user_agent          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user) WHERE user IS NOT NULL; -- my sessions, sign out everywhere

CREATE TABLE settings ( -- values made once and kept, such as the session secret
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL -- as the code wrote it: the session secret's 32 bytes
);

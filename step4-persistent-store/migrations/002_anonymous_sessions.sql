-- Schema version 2: an index of the anonymous sessions (no user), which the
-- store counts against their bound (config.maxAnonymous).
CREATE INDEX sessions_anonymous ON sessions (user) WHERE user IS NULL;

CREATE INDEX sessions_anonymous ON sessions (user) WHERE user IS NULL; -- counted against their bound (defaultMaxAnonymous)

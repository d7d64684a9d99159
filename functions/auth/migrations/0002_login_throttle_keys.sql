-- Login failures are now counted per account id and client (see throttle.go),
-- no longer per name as typed: the old per-name counters have no reader left.
DELETE FROM login_failures WHERE key LIKE 'acct:%';

-- Failed logins sweep stale counters as they go (throttle.go): find them by age.
CREATE INDEX login_failures_window_start ON login_failures (window_start);

-- Login failures are now counted per account id and client (see throttle.go),
-- no longer per name as typed: the old per-name counters have no reader left.
DELETE FROM login_failures WHERE key LIKE 'acct:%';

package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Failed logins are throttled so that guessing is slow but a stranger cannot
// lock the owner out (OWASP Authentication Cheat Sheet, "Login Throttling"):
//
//   - pair: one client against one account (username and email resolve to
//     the same account, so they share it). This is the budget that locks.
//   - client: one client against every account, which slows one address
//     spraying many names.
//   - account: every client against one account. It never locks on its own,
//     because any stranger could then lock the owner out. Past attackAt
//     failures within the window the account is under attack, and a client
//     with any failure against it in the window is refused until the window
//     ends, which leaves each address of a distributed attack one guess per
//     window. A client with no failures against the account, the owner on
//     their own device, still logs in.
type throttlePolicy struct {
	limit         int
	window        time.Duration
	lock, maxLock time.Duration
}

var (
	pairThrottle    = throttlePolicy{limit: 5, window: 15 * time.Minute, lock: 30 * time.Second, maxLock: 15 * time.Minute}
	clientThrottle  = throttlePolicy{limit: 50, window: 15 * time.Minute, lock: time.Minute, maxLock: time.Hour}
	accountThrottle = throttlePolicy{limit: math.MaxInt32, window: 15 * time.Minute}
	// attackAt is beyond what one client can spend on one account within a
	// window (5 failures, then locks doubling from 30 s: about 10), so no
	// single client puts an account under attack.
	attackAt = 100
)

// A counter no longer counts once it is staleAfter old and its lock (if
// any) is over. sweepBatch bounds one sweep.
var staleAfter = max(pairThrottle.window, clientThrottle.window, accountThrottle.window)

const sweepBatch = 10

// loginKeys names the failure counters a login attempt is checked against
// and charged to. subject is the account ("user:<id>"), or the identifier
// as typed when it names nobody, so unknown names behave like known ones.
type loginKeys struct {
	pair, client, account string
}

func newLoginKeys(subject, clientIP string) loginKeys {
	k := loginKeys{pair: "pair:" + subject + "|" + clientIP, account: "account:" + subject}
	// A caller without an address (none does today: the gateway always
	// passes one) is charged only per account and pair.
	if clientIP != "" {
		k.client = "ip:" + clientIP
	}
	return k
}

// loginThrottled reports whether an attempt with keys must be refused now.
func (s *store) loginThrottled(ctx context.Context, k loginKeys) (bool, error) {
	var locked bool
	err := s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM login_failures WHERE key IN ($1, $2) AND locked_until > now())
		OR (EXISTS (SELECT 1 FROM login_failures
				WHERE key = $3 AND failures >= $4 AND window_start >= now() - $5::interval)
			AND EXISTS (SELECT 1 FROM login_failures WHERE key = $1 AND window_start >= now() - $5::interval))`,
		k.pair, k.client, k.account, attackAt, accountThrottle.window).Scan(&locked)
	if err != nil {
		return false, fmt.Errorf("auth: login throttle: %w", err)
	}
	return locked, nil
}

// recordLoginFailure charges a failed login to every counter of k in one
// round trip, and sweeps a few counters that no longer count: failures
// with made-up names and addresses would otherwise grow the table forever.
func (s *store) recordLoginFailure(ctx context.Context, k loginKeys) error {
	var b pgx.Batch
	queueFailure(&b, k.pair, pairThrottle)
	queueFailure(&b, k.account, accountThrottle)
	if k.client != "" {
		queueFailure(&b, k.client, clientThrottle)
	}
	// Each failure adds at most three rows and removes up to sweepBatch
	// stale ones, so stale rows cannot pile up faster than they go.
	b.Queue(`DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures
		WHERE window_start < now() - $1::interval AND (locked_until IS NULL OR locked_until < now())
		LIMIT $2)`, staleAfter, sweepBatch)
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("auth: record login failure: %w", err)
	}
	return nil
}

// queueFailure counts a failure against key; reaching the limit within the
// window locks the key, for longer with each further failure up to maxLock.
func queueFailure(b *pgx.Batch, key string, p throttlePolicy) {
	b.Queue(`
		INSERT INTO login_failures AS f (key, failures, window_start) VALUES ($1, 1, now())
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN f.window_start < now() - $3::interval THEN 1 ELSE f.failures + 1 END,
			window_start = CASE WHEN f.window_start < now() - $3::interval THEN now() ELSE f.window_start END,
			locked_until = CASE
				WHEN f.window_start >= now() - $3::interval AND f.failures + 1 >= $2
				THEN now() + LEAST($4::interval * power(2, f.failures + 1 - $2), $5::interval)
				ELSE f.locked_until END`,
		key, p.limit, p.window, p.lock, p.maxLock)
}

func (s *store) clearFailures(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return err
}

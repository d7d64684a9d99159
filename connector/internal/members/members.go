// Package members caches the auth function's membership answers briefly.
// Every send checks membership; a short cache keeps that off the network
// while a kick still takes effect within TTL.
package members

import (
	"context"
	"sync"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// Checker asks auth whether a user is in a room.
type Checker interface {
	CheckMembership(ctx context.Context, roomID, userID string) (*authv1.CheckMembershipResponse, error)
}

// Cache is safe for concurrent use.
type Cache struct {
	check   Checker
	ttl     time.Duration
	negTTL  time.Duration
	maxSize int
	now     func() time.Time

	mu      sync.Mutex
	entries map[[2]string]entry
	// forgets counts Forget calls: an answer asked for before one and
	// received after it may predate the change, and is returned but not
	// cached.
	forgets uint64
}

type entry struct {
	role    string
	expires time.Time
}

// New caches positive answers for ttl and negative ones for a fifth of it
// (so a freshly invited user can send at once).
func New(check Checker, ttl time.Duration) *Cache {
	return &Cache{check: check, ttl: ttl, negTTL: ttl / 5, maxSize: 100_000, now: time.Now, entries: map[[2]string]entry{}}
}

// Role returns the user's room role, or "" when not a member.
func (c *Cache) Role(ctx context.Context, roomID, userID string) (string, error) {
	key := [2]string{roomID, userID}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	forgets := c.forgets
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.role, nil
	}
	resp, err := c.check.CheckMembership(ctx, roomID, userID)
	if err != nil {
		return "", err
	}
	role := ""
	if resp.Member {
		if role = authv1.RoomRoleName(resp.Role); role == "" {
			role = authv1.RoomRoleMember
		}
	}
	ttl := c.ttl
	if role == "" {
		ttl = c.negTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return role, nil
	}
	if len(c.entries) >= c.maxSize {
		c.entries = map[[2]string]entry{} // bounded: start over
	}
	c.entries[key] = entry{role: role, expires: now.Add(ttl)}
	return role, nil
}

// Forget drops what is cached about a user in a room, when a membership
// change is heard of: the next check asks auth instead of waiting out the TTL.
func (c *Cache) Forget(roomID, userID string) {
	c.mu.Lock()
	delete(c.entries, [2]string{roomID, userID})
	c.forgets++
	c.mu.Unlock()
}

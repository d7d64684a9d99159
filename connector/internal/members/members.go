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
	kind    string // the room's, an authv1.RoomKind* name
	blocked bool   // a 1:1 room whose other member blocked the user
	expires time.Time
}

// New caches positive answers for ttl and negative ones for a fifth of it
// (so a freshly invited user can send at once).
func New(check Checker, ttl time.Duration) *Cache {
	return &Cache{check: check, ttl: ttl, negTTL: ttl / 5, maxSize: 100_000, now: time.Now, entries: map[[2]string]entry{}}
}

// Role returns the user's room role, or "" when not a member.
func (c *Cache) Role(ctx context.Context, roomID, userID string) (string, error) {
	e, err := c.lookup(ctx, roomID, userID)
	return e.role, err
}

// Blocked reports whether the room is a 1:1 direct room whose other
// member blocked the user. It shares Role's cached answer (one call to
// auth for both), and like it is forgotten when a block is heard of.
func (c *Cache) Blocked(ctx context.Context, roomID, userID string) (bool, error) {
	e, err := c.lookup(ctx, roomID, userID)
	return e.blocked, err
}

// Kind names the room's kind (authv1.RoomKind*) from the same cached
// answer; "" when the user is not a member.
func (c *Cache) Kind(ctx context.Context, roomID, userID string) (string, error) {
	e, err := c.lookup(ctx, roomID, userID)
	return e.kind, err
}

func (c *Cache) lookup(ctx context.Context, roomID, userID string) (entry, error) {
	key := [2]string{roomID, userID}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	forgets := c.forgets
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	resp, err := c.check.CheckMembership(ctx, roomID, userID)
	if err != nil {
		return entry{}, err
	}
	e = entry{blocked: resp.Member && resp.Blocked}
	if resp.Member {
		if e.role = authv1.RoomRoleName(resp.Role); e.role == "" {
			e.role = authv1.RoomRoleMember
		}
		e.kind = authv1.RoomKindName(resp.Kind)
	}
	ttl := c.ttl
	if e.role == "" {
		ttl = c.negTTL
	}
	e.expires = now.Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return e, nil
	}
	if len(c.entries) >= c.maxSize {
		// Full (frames naming made-up rooms fill it with negative answers):
		// a tenth goes, chosen at random by the map's order, not every
		// member's answer at once.
		n := max(c.maxSize/10, 1)
		for k := range c.entries {
			delete(c.entries, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[key] = e
	return e, nil
}

// Forget drops what is cached about a user in a room, when a membership
// change (or a block) is heard of: the next check asks auth instead of waiting out the TTL.
func (c *Cache) Forget(roomID, userID string) {
	c.mu.Lock()
	delete(c.entries, [2]string{roomID, userID})
	c.forgets++
	c.mu.Unlock()
}

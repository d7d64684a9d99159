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
	// forgets counts Forget and ForgetUser calls: an answer asked for
	// before one and received after it may predate the change, and is
	// returned but not cached.
	forgets uint64
	// usersForgotten marks when ForgetUser last dropped a user's answers:
	// theirs cached before (an older gen) no longer count. Marks go once
	// older than the TTL, when every answer they hide has expired anyway.
	// (An index of each user's answers would cost a map per user.)
	usersForgotten map[string]forgotten
	pruneAt        int // usersForgotten's size at which old marks go
}

type forgotten struct {
	gen uint64 // forgets after the call
	at  time.Time
}

type entry struct {
	role    string
	kind    string // the room's, an authv1.RoomKind* name
	blocked bool   // a 1:1 room whose other member blocked the user
	expires time.Time
	gen     uint64 // forgets when it was asked for
}

// New caches positive answers for ttl and negative ones for a fifth of it
// (so a freshly invited user can send at once).
func New(check Checker, ttl time.Duration) *Cache {
	return &Cache{check: check, ttl: ttl, negTTL: ttl / 5, maxSize: 100_000, now: time.Now, entries: map[[2]string]entry{},
		usersForgotten: map[string]forgotten{}, pruneAt: minPruneAt}
}

// minPruneAt is the least size of usersForgotten that has it pruned.
const minPruneAt = 1024

// fresh reports whether e may be answered from: not expired, and not
// cached before the user's answers were last forgotten.
func (c *Cache) fresh(e entry, userID string, now time.Time) bool {
	return now.Before(e.expires) && e.gen >= c.usersForgotten[userID].gen
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
	ok = ok && c.fresh(e, userID, now)
	forgets := c.forgets
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	resp, err := c.check.CheckMembership(ctx, roomID, userID)
	if err != nil {
		return entry{}, err
	}
	e = entry{blocked: resp.Member && resp.Blocked, gen: forgets}
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

// ForgetUser drops everything cached about a user: when this connector
// stops hearing of the user's membership changes (their last socket here
// closed), and when it starts again (the subscription to their channel is
// confirmed), since changes made in between were not heard.
func (c *Cache) ForgetUser(userID string) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	c.usersForgotten[userID] = forgotten{gen: c.forgets, at: now}
	if len(c.usersForgotten) < c.pruneAt {
		return
	}
	for user, f := range c.usersForgotten {
		if now.Sub(f.at) > c.ttl {
			delete(c.usersForgotten, user)
		}
	}
	c.pruneAt = max(2*len(c.usersForgotten), minPruneAt)
}

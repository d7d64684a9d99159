package ws

import "sync"

// userSockets bounds one user's authenticated sockets on this connector:
// each holds memory and takes a share of every fan-out to its rooms, so a
// client opening them without end would spend the connector's capacity
// for everyone. Tabs and devices stay far below the bound. This count is
// the connector's own, checked first at no cost; session.admit then
// counts the user's sockets on every connector together.
type userSockets struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newUserSockets(max int) *userSockets { return &userSockets{max: max, n: map[string]int{}} }

// take counts a socket of user, unless user has max already.
func (u *userSockets) take(user string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user] >= u.max {
		return false
	}
	u.n[user]++
	return true
}

// give uncounts a socket take counted.
func (u *userSockets) give(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user]--; u.n[user] <= 0 {
		delete(u.n, user)
	}
}

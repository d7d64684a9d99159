package main

import "sync"

// maxUsernames bounds the remembered usernames; past it the memory starts over.
const maxUsernames = 100_000

// usernames remembers which user id a lower-cased username belongs to, so
// a repeated mention costs no database read. Usernames never change and
// accounts are never deleted (auth), so an answer holds for good; names
// not found are not remembered, since the user may just not be projected
// yet.
type usernames struct {
	mu  sync.Mutex
	ids map[string]string
}

func (u *usernames) get(name string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	id, ok := u.ids[name]
	return id, ok
}

func (u *usernames) put(name, id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ids == nil || len(u.ids) >= maxUsernames {
		u.ids = map[string]string{}
	}
	u.ids[name] = id
}

package main

import (
	"sync"
	"time"
)

// notDirectTTL bounds how long a room is taken for a group room without
// asking again.
const notDirectTTL = time.Minute

// maxRoomKinds bounds the remembered rooms; past it the memory starts over.
const maxRoomKinds = 100_000

// roomKinds remembers which rooms are direct, so a message in a group
// room without mentions costs no database read.
type roomKinds struct {
	mu    sync.Mutex
	rooms map[string]roomKind
}

type roomKind struct {
	direct bool
	until  time.Time // zero: for good
}

func (k *roomKinds) get(roomID string, now time.Time) (direct, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.rooms[roomID]
	if !ok || (!r.until.IsZero() && now.After(r.until)) {
		return false, false
	}
	return r.direct, true
}

func (k *roomKinds) put(roomID string, direct bool, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rooms == nil || len(k.rooms) >= maxRoomKinds {
		k.rooms = map[string]roomKind{}
	}
	if direct {
		k.rooms[roomID] = roomKind{direct: true}
	} else if !k.rooms[roomID].direct { // a racing join's answer wins
		k.rooms[roomID] = roomKind{until: now.Add(notDirectTTL)}
	}
}

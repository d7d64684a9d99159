package ws

import (
	"slices"
	"strings"
	"unique"
)

// roomList is a session's subscribed rooms, sorted by id. Most sessions
// are in one or a few rooms, where a map's header and first group (256
// bytes) were a tenth of an idle socket's heap; binary search keeps a
// lookup within a few compares even for the most rooms a session follows.
// The ids are interned: every socket in a room shares one copy, where each
// kept the one its subscribe frame was decoded into (48 bytes a room).
// The session's lock guards it.
type roomList []roomEntry

type roomEntry struct {
	id unique.Handle[string]
	rs *roomState
}

func (e roomEntry) roomID() string { return e.id.Value() }

func (l roomList) find(id string) (int, bool) {
	return slices.BinarySearchFunc(l, id, func(e roomEntry, id string) int { return strings.Compare(e.roomID(), id) })
}

func (l roomList) get(id string) (*roomState, bool) {
	if i, ok := l.find(id); ok {
		return l[i].rs, true
	}
	return nil, false
}

// set adds the room, or replaces its state.
func (l *roomList) set(id string, rs *roomState) {
	i, ok := l.find(id)
	if ok {
		(*l)[i].rs = rs
		return
	}
	*l = slices.Insert(*l, i, roomEntry{id: unique.Make(id), rs: rs})
}

// remove reports whether the room was there.
func (l *roomList) remove(id string) bool {
	i, ok := l.find(id)
	if ok {
		*l = slices.Delete(*l, i, i+1) // clears the freed entry: no state kept alive
	}
	return ok
}

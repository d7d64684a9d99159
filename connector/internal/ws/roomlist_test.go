package ws

import (
	"fmt"
	"testing"
)

func TestRoomList(t *testing.T) {
	var l roomList
	states := map[string]*roomState{}
	for _, i := range []int{5, 1, 9, 3, 7, 0, 8, 2, 6, 4} {
		id := fmt.Sprint("room-", i)
		states[id] = &roomState{}
		l.set(id, states[id])
	}
	replaced := &roomState{}
	l.set("room-3", replaced)
	states["room-3"] = replaced
	if !l.remove("room-5") || l.remove("room-5") || l.remove("room-x") {
		t.Fatal("remove reported wrongly whether the room was there")
	}
	delete(states, "room-5")
	if len(l) != len(states) {
		t.Fatalf("%d rooms, want %d", len(l), len(states))
	}
	for id, want := range states {
		if got, ok := l.get(id); !ok || got != want {
			t.Errorf("get(%s) = %p, %v; want %p", id, got, ok, want)
		}
	}
	if _, ok := l.get("room-5"); ok {
		t.Error("a removed room is still there")
	}
	for i := 1; i < len(l); i++ {
		if l[i-1].roomID() >= l[i].roomID() {
			t.Fatalf("not sorted: %s before %s", l[i-1].roomID(), l[i].roomID())
		}
	}
}

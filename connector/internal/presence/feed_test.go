package presence

import (
	"maps"
	"slices"
	"testing"
)

type sink struct{ name string }

func (*sink) Enqueue([]byte) {}

// A socket's watch frame replaces what it watched, and its close forgets
// it, touching only the users it watched.
func TestWatchReplacesAndCloseForgetsOnlyThatSocketsUsers(t *testing.T) {
	f := NewFeed(nil)
	a, b := &sink{"a"}, &sink{"b"}
	f.Watch(a, []string{"ada", "bob"})
	f.Watch(b, []string{"bob"})
	f.Watch(a, []string{"bob", "cyd"})
	watched := func() []string { return slices.Sorted(maps.Keys(f.watchers)) }
	if got := watched(); !slices.Equal(got, []string{"bob", "cyd"}) || len(f.watchers["bob"]) != 2 {
		t.Fatalf("watched %v, bob by %d sockets", got, len(f.watchers["bob"]))
	}
	f.Unwatch(a)
	if got := watched(); !slices.Equal(got, []string{"bob"}) || len(f.watchers["bob"]) != 1 {
		t.Fatalf("after a closed: watched %v", got)
	}
	if _, ok := f.watchers["bob"][b]; !ok {
		t.Fatal("b's watch of bob went with a's")
	}
}

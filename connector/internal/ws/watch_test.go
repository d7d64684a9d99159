package ws

import (
	"maps"
	"slices"
	"testing"
)

// A socket's watch frame replaces what it watched, and its close forgets
// it, touching only the users it watched.
func TestWatchReplacesAndCloseForgetsOnlyThatSocketsUsers(t *testing.T) {
	srv := &Server{watchers: map[string]map[*session]struct{}{}}
	a, b := &session{}, &session{}
	srv.watch(a, []string{"ada", "bob"})
	srv.watch(b, []string{"bob"})
	srv.watch(a, []string{"bob", "cyd"})
	watched := func() []string { return slices.Sorted(maps.Keys(srv.watchers)) }
	if got := watched(); !slices.Equal(got, []string{"bob", "cyd"}) || len(srv.watchers["bob"]) != 2 {
		t.Fatalf("watched %v, bob by %d sockets", got, len(srv.watchers["bob"]))
	}
	srv.mu.Lock()
	srv.unwatch(a)
	srv.mu.Unlock()
	if got := watched(); !slices.Equal(got, []string{"bob"}) || len(srv.watchers["bob"]) != 1 {
		t.Fatalf("after a closed: watched %v", got)
	}
	if _, ok := srv.watchers["bob"][b]; !ok {
		t.Fatal("b's watch of bob went with a's")
	}
}

package userfeed

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Redis, &stack))
}

// sink records what a socket was given, in order.
type sink struct{ got chan string }

func (s *sink) Enqueue(frame []byte)                 { s.got <- "frame " + string(frame) }
func (s *sink) RoomLeft(roomID string, frame []byte) { s.got <- "left " + roomID }

type forgetting struct{ forgot chan string }

func (f forgetting) Forget(roomID, userID string) { f.forgot <- roomID + "/" + userID }

func next(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived within 5s")
		return ""
	}
}

// A user's frames reach their sockets; a membership change is forgotten
// by the cache whoever it is about, and a room left is stopped on the
// user's sockets rather than only passed on.
func TestFramesReachTheirUsersSocketsAndMembershipChangesStopRooms(t *testing.T) {
	rdb := redistest.Client(t, stack.RedisURL, "")
	members := forgetting{forgot: make(chan string, 8)}
	feed := New(rdb, members, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); feed.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ada := &sink{got: make(chan string, 8)}
	if err := feed.Add(ctx, "ada", ada); err != nil {
		t.Fatal(err)
	}
	redistest.Subscribers(t, rdb, livev1.UserChannel("ada"), 1)
	redistest.Subscribers(t, rdb, livev1.MembershipChannel, 1)

	rdb.SPublish(ctx, livev1.UserChannel("ada"), `{"type":"notification"}`)
	if got := next(t, ada.got); got != `frame {"type":"notification"}` {
		t.Fatalf("ada got %q", got)
	}
	change := func(user, state string) string {
		b, _ := json.Marshal(livev1.MembershipFrame{Type: livev1.TypeMembership, RoomID: "r1", UserID: user, State: state})
		rdb.SPublish(ctx, livev1.MembershipChannel, b)
		return string(b)
	}
	change("bob", livev1.MembershipLeft)
	if got := next(t, members.forgot); got != "r1/bob" {
		t.Fatalf("forgot %q", got)
	}
	change("ada", livev1.MembershipLeft)
	if got := next(t, members.forgot); got != "r1/ada" {
		t.Fatalf("forgot %q", got)
	}
	if got := next(t, ada.got); got != "left r1" {
		t.Fatalf("ada got %q, want the room stopped", got)
	}
	joined := change("ada", livev1.MembershipJoined)
	next(t, members.forgot)
	if got := next(t, ada.got); got != "frame "+joined {
		t.Fatalf("ada got %q", got)
	}

	feed.Remove("ada", ada)
	redistest.Subscribers(t, rdb, livev1.UserChannel("ada"), 0)
}

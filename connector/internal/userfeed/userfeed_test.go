package userfeed

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// forgetting records what the cache was told to forget: "room/user", or
// "*/user" for everything about a user.
type forgetting struct{ forgot chan string }

func (f forgetting) Forget(roomID, userID string) { f.forgot <- roomID + "/" + userID }
func (f forgetting) ForgetUser(userID string)     { f.forgot <- "*/" + userID }

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

// run starts a feed on rdb until the test ends.
func run(t *testing.T, rdb redis.UniversalClient, members forgetting) *Feed {
	feed := New(rdb, members, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return feed
}

// add adds a socket of user to feed and waits for the subscription, which
// has the cache forget the user: changes made before it were not heard.
func add(t *testing.T, feed *Feed, members forgetting, user string, s Sink) {
	t.Helper()
	if err := feed.Add(context.Background(), user, s); err != nil {
		t.Fatal(err)
	}
	if got := next(t, members.forgot); got != "*/"+user {
		t.Fatalf("forgot %q when %s's channel was subscribed, want everything about them", got, user)
	}
}

func membership(user, state string) []byte {
	b, _ := json.Marshal(livev1.MembershipFrame{Type: livev1.TypeMembership, RoomID: "r1", UserID: user, State: state})
	return b
}

// A user's frames reach their sockets; a membership change on the user's
// channel is forgotten by the cache, and a room left is stopped on the
// user's sockets rather than only passed on. A change naming someone else
// is dropped.
func TestFramesReachTheirUsersSocketsAndMembershipChangesStopRooms(t *testing.T) {
	rdb := redistest.Client(t, stack.RedisURL, "")
	members := forgetting{forgot: make(chan string, 8)}
	feed := run(t, rdb, members)
	ctx := context.Background()
	ada := &sink{got: make(chan string, 8)}
	add(t, feed, members, "ada", ada)

	rdb.SPublish(ctx, livev1.UserChannel("ada"), `{"type":"notification"}`)
	if got := next(t, ada.got); got != `frame {"type":"notification"}` {
		t.Fatalf("ada got %q", got)
	}
	rdb.SPublish(ctx, livev1.UserChannel("ada"), membership("bob", livev1.MembershipLeft)) // not ada's
	rdb.SPublish(ctx, livev1.UserChannel("ada"), membership("ada", livev1.MembershipLeft))
	if got := next(t, members.forgot); got != "r1/ada" {
		t.Fatalf("forgot %q, want ada's change only", got)
	}
	if got := next(t, ada.got); got != "left r1" {
		t.Fatalf("ada got %q, want the room stopped", got)
	}
	joined := membership("ada", livev1.MembershipJoined)
	rdb.SPublish(ctx, livev1.UserChannel("ada"), joined)
	next(t, members.forgot)
	if got := next(t, ada.got); got != "frame "+string(joined) {
		t.Fatalf("ada got %q", got)
	}
	rdb.SPublish(ctx, livev1.UserChannel("ada"), membership("ada", livev1.MembershipChanged))
	if got := next(t, members.forgot); got != "r1/ada" {
		t.Fatalf("forgot %q", got)
	}

	feed.Remove("ada", ada)
	if got := next(t, members.forgot); got != "*/ada" {
		t.Fatalf("forgot %q when ada's last socket left, want everything about her", got)
	}
	redistest.Subscribers(t, rdb, livev1.UserChannel("ada"), 0)
	select {
	case got := <-ada.got:
		t.Errorf("a block reached the one blocked, or something more came: %q", got)
	default:
	}
}

// A membership change reaches the connectors holding the user's sockets
// and no other: a connector hears of its own users' changes only.
func TestAConnectorHearsOnlyItsOwnUsersMembershipChanges(t *testing.T) {
	rdb := redistest.Client(t, stack.RedisURL, "")
	ctx := context.Background()
	hasAda := forgetting{forgot: make(chan string, 8)}
	hasCy := forgetting{forgot: make(chan string, 8)}
	a, b := run(t, rdb, hasAda), run(t, rdb, hasCy)
	add(t, a, hasAda, "ada", &sink{got: make(chan string, 8)})
	add(t, b, hasCy, "cy", &sink{got: make(chan string, 8)})

	if n, err := rdb.SPublish(ctx, livev1.UserChannel("ada"), membership("ada", livev1.MembershipChanged)).Result(); err != nil || n != 1 {
		t.Fatalf("ada's change reached %d subscribers (%v), want her connector's one", n, err)
	}
	if got := next(t, hasAda.forgot); got != "r1/ada" {
		t.Fatalf("ada's connector forgot %q", got)
	}
	rdb.SPublish(ctx, livev1.UserChannel("cy"), membership("cy", livev1.MembershipChanged))
	if got := next(t, hasCy.forgot); got != "r1/cy" {
		t.Fatalf("cy's connector forgot %q, want only cy's change", got)
	}
}

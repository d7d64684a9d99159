package presence

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Admit lets a user's sessions in up to max live ones, lets a session
// already in count again, and does not count sessions that lapsed (a
// crashed connector's, never refreshed): those are dropped instead.
func TestAdmitCountsOnlyLiveSessions(t *testing.T) {
	rdb := redistest.Client(t, stack.RedisURL, "")
	tr := New(rdb, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	user := "ann-" + uuid.NewString()
	admit := func(session string) bool {
		t.Helper()
		ok, err := tr.Admit(ctx, user, session, Online, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// A session of a connector that crashed an hour ago.
	if err := rdb.ZAdd(ctx, livev1.PresenceKey(user), redis.Z{Score: float64(time.Now().Add(-time.Hour).UnixMilli()), Member: "ghost"}).Err(); err != nil {
		t.Fatal(err)
	}
	if !admit("s1") || !admit("s2") {
		t.Fatal("two live sessions of a bound of 2 were refused (the lapsed one counted?)")
	}
	if admit("s3") {
		t.Fatal("a third live session was let in")
	}
	if !admit("s2") {
		t.Fatal("a session already in was refused")
	}
	if n, err := rdb.ZCard(ctx, livev1.PresenceKey(user)).Result(); err != nil || n != 2 {
		t.Fatalf("%d sessions kept (%v), want s1 and s2", n, err)
	}
	if st := tr.Status(ctx, user); st != Online {
		t.Fatalf("an admitted user is %s", st)
	}
	if err := tr.Set(ctx, user, "s1", Offline); err != nil {
		t.Fatal(err)
	}
	if !admit("s3") {
		t.Fatal("a session that left made no room")
	}
}

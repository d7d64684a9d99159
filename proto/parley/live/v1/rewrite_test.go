package livev1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Redis, &stack))
}

func client(t *testing.T, poolSize int) redis.UniversalClient {
	t.Helper()
	rdb, err := stores.RedisURL(stack.RedisURL, poolSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func windowEntry(t *testing.T, m eventsv1.Message) redis.Z {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return redis.Z{Score: float64(m.Seq), Member: string(raw)}
}

// A crowd rewriting one entry at once (members reacting) while the room
// keeps sending: every writer's change lands, none is lost to another's
// write, and none gives up because the window grew meanwhile.
func TestEveryConcurrentRewriteOfAnEntryLands(t *testing.T) {
	ctx := context.Background()
	rdb := client(t, 64)
	room := uuid.NewString()
	target := eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: 1, UserID: "author", Text: "react to this"}
	if err := rdb.ZAdd(ctx, livev1.HistoryKey(room), windowEntry(t, target)).Err(); err != nil {
		t.Fatal(err)
	}

	sendsDone := make(chan struct{})
	stopSending := make(chan struct{})
	go func() { // the room's other traffic
		defer close(sendsDone)
		for seq := int64(2); ; seq++ {
			select {
			case <-stopSending:
				return
			default:
			}
			m := eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: seq, UserID: "other", Text: "meanwhile"}
			if err := rdb.ZAdd(ctx, livev1.HistoryKey(room), windowEntry(t, m)).Err(); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	const writers = 48
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		user := fmt.Sprint("member-", i)
		wg.Go(func() {
			errs <- livev1.RewriteInWindow(ctx, rdb, room, target.Seq, target.ID, func(m *eventsv1.Message) (bool, error) {
				rs, changed, err := eventsv1.ApplyReaction(m.Reactions, "👍", user, "add")
				m.Reactions = rs
				return changed, err
			})
		})
	}
	wg.Wait()
	close(stopSending)
	<-sendsDone
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	vals, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: livev1.HistoryKey(room), ByScore: true, Start: 1, Stop: 1}).Result()
	if err != nil || len(vals) != 1 {
		t.Fatalf("window at seq 1: %v %v", vals, err)
	}
	var held eventsv1.Message
	if err := json.Unmarshal([]byte(vals[0]), &held); err != nil {
		t.Fatal(err)
	}
	if len(held.Reactions) != 1 || len(held.Reactions[0].UserIDs) != writers || held.Text != target.Text {
		t.Fatalf("the window holds %+v, want %d members on one emoji", held, writers)
	}
	// Each rewrite is logged for resuming clients under the seq it changed.
	if changed, err := rdb.ZRange(ctx, livev1.ChangesKey(room), 0, -1).Result(); err != nil || !slices.Equal(changed, []string{"1"}) {
		t.Fatalf("changes %v %v, want seq 1 alone", changed, err)
	}
}

// A rewrite leaves the window alone when it lacks the entry, holds another
// message at that seq, or the change declines to write.
func TestRewriteWritesOnlyTheMessageItWasAskedFor(t *testing.T) {
	ctx := context.Background()
	rdb := client(t, 4)
	room := uuid.NewString()
	held := eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: 5, UserID: "author", Text: "kept"}
	if err := rdb.ZAdd(ctx, livev1.HistoryKey(room), windowEntry(t, held)).Err(); err != nil {
		t.Fatal(err)
	}
	edit := func(m *eventsv1.Message) (bool, error) { m.Text = "changed"; return true, nil }
	for name, c := range map[string]struct {
		seq    int64
		id     string
		change func(*eventsv1.Message) (bool, error)
	}{
		"absent seq":      {6, held.ID, edit},
		"another message": {5, uuid.NewString(), edit},
		"declined":        {5, held.ID, func(m *eventsv1.Message) (bool, error) { m.Text = "changed"; return false, nil }},
	} {
		if err := livev1.RewriteInWindow(ctx, rdb, room, c.seq, c.id, c.change); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vals, err := rdb.ZRange(ctx, livev1.HistoryKey(room), 0, -1).Result()
		if err != nil || len(vals) != 1 || vals[0] != windowEntry(t, held).Member.(string) {
			t.Fatalf("%s: the window holds %v (%v)", name, vals, err)
		}
	}
}

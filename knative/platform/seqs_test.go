package platform

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Redis can lose a room's seq counter (eviction) or bring back an older
// one (a restart from a snapshot, a failover to a lagging replica). Either
// way, no seq is handed out twice: every acked message is delivered live
// and stored under the seq it was acked with.
func TestALostOrRewoundSeqCounterLosesNoAckedMessage(t *testing.T) {
	ctx := context.Background()
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	b.subscribe(room, 0)
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	acked := map[string]int64{} // message id -> seq
	send := func(n int, label string) int64 {
		var last int64
		for i := range n {
			ack := a.sendText(room, fmt.Sprint(label, i))
			if ack.str("type") != "ack" || ack.num("seq") <= last {
				t.Fatalf("%s %d: %v after seq %d", label, i, ack, last)
			}
			last = ack.num("seq")
			acked[ack.str("message_id")] = last
		}
		return last
	}
	before := send(5, "before")
	// Evicted: the counter and its lease are gone.
	if err := rdb.Del(ctx, livev1.SeqCounterKey(room), livev1.SeqLeaseKey(room)).Err(); err != nil {
		t.Fatal(err)
	}
	afterLoss := send(5, "after-loss")
	// Rewound: the counter is back at an old value, its lease written by
	// another server (as after a restart or a failover).
	if err := rdb.Set(ctx, livev1.SeqCounterKey(room), 2, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, livev1.SeqLeaseKey(room), "run", "a-server-before-the-failover").Err(); err != nil {
		t.Fatal(err)
	}
	send(5, "after-rewind")
	if afterLoss <= before {
		t.Fatalf("seqs went back after the loss: %d then %d", before, afterLoss)
	}

	bySeq := map[int64]string{}
	for id, seq := range acked {
		if other, dup := bySeq[seq]; dup {
			t.Fatalf("seq %d acked twice: %s and %s", seq, other, id)
		}
		bySeq[seq] = id
	}
	for _, m := range b.waitMessages(room, len(acked)) {
		if acked[m.str("id")] != m.num("seq") {
			t.Errorf("bob got %s as seq %d, acked as %d", m.str("id"), m.num("seq"), acked[m.str("id")])
		}
	}

	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	coll := mc.Database("parley").Collection("messages")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var docs []struct {
			ID  string `bson:"_id"`
			Seq int64  `bson:"seq"`
		}
		cur, err := coll.Find(ctx, bson.M{"room_id": room})
		if err == nil {
			err = cur.All(ctx, &docs)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == len(acked) {
			for _, d := range docs {
				if acked[d.ID] != d.Seq {
					t.Fatalf("stored %s as seq %d, acked as %d", d.ID, d.Seq, acked[d.ID])
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acked messages stored", len(docs), len(acked))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package platform

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// inOrder checks messages are seq-ordered without duplicates and returns their texts.
func inOrder(t *testing.T, msgs []frame) []string {
	t.Helper()
	var texts []string
	var last int64
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.num("seq") <= last {
			t.Fatalf("seq %d after %d", m.num("seq"), last)
		}
		if seen[m.str("id")] {
			t.Fatalf("duplicate message %s", m.str("id"))
		}
		seen[m.str("id")] = true
		last = m.num("seq")
		texts = append(texts, m.str("text"))
	}
	return texts
}

func TestTwoUsersOnTwoConnectorsChat(t *testing.T) {
	second := startConnector(t)
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, second.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	acks := map[int64]string{}
	for i := range 20 {
		ack := a.sendText(room, fmt.Sprint("ada ", i))
		acks[ack.num("seq")] = ack.str("message_id")
		ack = b.sendText(room, fmt.Sprint("bob ", i))
		acks[ack.num("seq")] = ack.str("message_id")
	}
	for _, c := range []*client{a, b} {
		msgs := c.waitMessages(room, 40)
		texts := inOrder(t, msgs)
		for i := range 20 {
			if texts[2*i] != fmt.Sprint("ada ", i) || texts[2*i+1] != fmt.Sprint("bob ", i) {
				t.Fatalf("order: %v", texts)
			}
		}
		for _, m := range msgs {
			if acks[m.num("seq")] != m.str("id") {
				t.Fatalf("message %s has seq %d, but that seq was acked as %s", m.str("id"), m.num("seq"), acks[m.num("seq")])
			}
			if m.str("user_id") == "" || m.str("username") == "" || m.str("created_at") == "" {
				t.Fatalf("message lacks fields: %v", m)
			}
		}
	}
	// Every published seq has left the room's in-flight set, so no hub
	// would wait for it.
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if n, err := rdb.ZCard(context.Background(), livev1.SendingKey(room)).Result(); err != nil || n != 0 {
		t.Errorf("%d seqs still in flight after every send was acked (%v)", n, err)
	}
	// The room's traffic is on a shard channel, subscribed by both
	// connectors on the one master that owns its slot (on a Redis Cluster:
	// make test runs this suite on one too), and on no plain channel, whose
	// PUBLISH a cluster would copy to every node.
	channel := livev1.RoomChannel(room)
	owner := ""
	if cluster, ok := rdb.(*redis.ClusterClient); ok {
		node, err := cluster.MasterForKey(context.Background(), channel)
		if err != nil {
			t.Fatal(err)
		}
		owner = node.Options().Addr
	}
	for addr, n := range subscribersByMaster(t, rdb, channel) {
		want := int64(0)
		if owner == "" || addr == owner {
			want = 2
		}
		if n.shard != want || n.plain != 0 {
			t.Errorf("%s on %s: %d shard and %d plain subscribers, want %d and 0", channel, addr, n.shard, n.plain, want)
		}
	}
}

type subscribers struct{ shard, plain int64 }

// subscribersByMaster asks each master (the one Redis, or every master of
// a cluster) for channel's subscribers on that node alone.
func subscribersByMaster(t *testing.T, rdb redis.UniversalClient, channel string) map[string]subscribers {
	t.Helper()
	var mu sync.Mutex
	got := map[string]subscribers{}
	count := func(ctx context.Context, c *redis.Client) error {
		shard, err := c.Do(ctx, "pubsub", "shardnumsub", channel).Slice()
		if err != nil {
			return err
		}
		plain, err := c.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got[c.Options().Addr] = subscribers{shard: shard[1].(int64), plain: plain[channel]}
		return nil
	}
	if err := stores.ForEachMaster(context.Background(), rdb, count); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestResumeOnAnotherConnectorGetsExactlyWhatWasMissed(t *testing.T) {
	second := startConnector(t)
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	a.subscribe(room, 0)
	b := dial(t, plat.url, bob)
	b.subscribe(room, 0)
	for i := range 5 {
		a.sendText(room, fmt.Sprint("before ", i))
	}
	last := b.waitMessages(room, 5)[4].num("seq")
	b.conn.Close()
	for i := range 10 {
		a.sendText(room, fmt.Sprint("missed ", i))
	}
	b2 := dial(t, second.url, bob)
	b2.subscribe(room, last)
	a.sendText(room, "live")
	texts := inOrder(t, b2.waitMessages(room, 11))
	want := "missed 0,missed 1,missed 2,missed 3,missed 4,missed 5,missed 6,missed 7,missed 8,missed 9,live"
	if strings.Join(texts, ",") != want {
		t.Fatalf("resumed with %v", texts)
	}
	if n := len(b2.settled(a, room)); n != 11 {
		t.Fatalf("%d messages after resume, want 11", n)
	}
}

func TestRetryWithSameClientMsgIDIsIdempotent(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	b.subscribe(room, 0)
	cid := uuid.NewString()
	var acks []frame
	for i := range 3 {
		a.write(frame{"type": "send", "id": fmt.Sprint("try", i), "room_id": room, "client_msg_id": cid, "text": "once"})
		acks = append(acks, a.expect("ack", func(f frame) bool { return f.str("id") == fmt.Sprint("try", i) }))
	}
	for _, ack := range acks[1:] {
		if ack.str("message_id") != acks[0].str("message_id") || ack.num("seq") != acks[0].num("seq") {
			t.Fatalf("retry got a different ack: %v vs %v", ack, acks[0])
		}
	}
	b.waitMessages(room, 1)
	if n := len(b.settled(a, room)); n != 1 {
		t.Fatalf("%d messages delivered for one client_msg_id", n)
	}
	// And one stored: history holds it once.
	a.write(frame{"type": "history", "id": "h", "room_id": room, "limit": 50})
	h := a.expect("history", nil)
	msgs, _ := h["messages"].([]any)
	once := 0
	for _, m := range msgs {
		if frame(m.(map[string]any)).str("text") == "once" {
			once++
		}
	}
	if once != 1 { // besides the fence
		t.Fatalf("history holds the message %d times: %v", once, msgs)
	}
}

func TestNonMembersAreRefused(t *testing.T) {
	ada, eve := newUser(t), newUser(t)
	room := newRoom(t, ada)
	e := dial(t, plat.url, eve)
	for _, f := range []frame{
		{"type": "subscribe", "id": "1", "rooms": []frame{{"room_id": room, "last_seq": 0}}},
		{"type": "send", "id": "2", "room_id": room, "client_msg_id": "c", "text": "hi"},
		{"type": "history", "id": "3", "room_id": room},
		{"type": "typing", "id": "4", "room_id": room, "state": "start"},
		{"type": "read", "id": "5", "room_id": room, "seq": 1},
	} {
		e.write(f)
		got := e.expect("error", func(g frame) bool { return g.str("id") == f.str("id") })
		if got.str("code") != "not_a_member" {
			t.Errorf("%s by a non-member: %v", f.str("type"), got)
		}
	}
	a := dial(t, plat.url, ada)
	a.subscribe(room, 0)
	a.sendText(room, "members only")
	time.Sleep(200 * time.Millisecond)
	if len(e.messages(room)) != 0 {
		t.Fatal("a non-member received a room message")
	}
}

// Membership changes reach a user's open sockets on every connector: an
// invited user can subscribe at once, and a kicked one stops receiving the
// room at once, without reconnecting. No connector's cached membership
// outlives a kick, not even one the user had just left.
func TestInviteAndKickReachOpenSockets(t *testing.T) {
	second := startConnector(t)
	ada, bob, cat := newUser(t), newUser(t), newUser(t)
	room := newRoom(t, ada, cat)
	a, c := dial(t, plat.url, ada), dial(t, plat.url, cat)
	c.subscribe(room, 0)
	bobs := []*client{dial(t, plat.url, bob), dial(t, second.url, bob)}
	membership := func(b *client, state, reason string) {
		t.Helper()
		f := b.expect("membership", func(f frame) bool { return f.str("room_id") == room && f.str("state") == state })
		if f.str("user_id") != bob.id || f.str("reason") != reason || f.str("by") != ada.id {
			t.Errorf("membership frame %v, want bob %s (%s) by ada", f, state, reason)
		}
	}

	rest(t, "POST", "/api/v1/rooms/"+room+"/invites", ada.token, map[string]string{"user_id": bob.id}, 201, nil)
	for _, b := range bobs {
		membership(b, "joined", "invited")
		b.subscribe(room, 0)
	}
	a.sendText(room, "welcome, bob")
	for _, b := range bobs {
		b.waitMessages(room, 1)
	}

	// Bob leaves the second connector, which still has his membership cached.
	bobs[1].conn.Close()
	rest(t, "DELETE", "/api/v1/rooms/"+room+"/members/"+bob.id, ada.token, nil, 204, nil)
	membership(bobs[0], "left", "kicked")
	a.sendText(room, "bob is gone")
	c.waitMessages(room, 2)
	for i, b := range []*client{bobs[0], dial(t, second.url, bob)} {
		for _, f := range []frame{
			{"type": "send", "id": "s", "room_id": room, "client_msg_id": uuid.NewString(), "text": "still here?"},
			{"type": "subscribe", "id": "r", "rooms": []frame{{"room_id": room, "last_seq": 0}}},
		} {
			b.write(f)
			if got := b.expect("error", func(g frame) bool { return g.str("id") == f.str("id") }); got.str("code") != "not_a_member" {
				t.Errorf("bob on connector %d, %s after the kick: %v", i+1, f.str("type"), got)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := bobs[0].messages(room); len(got) != 1 {
		t.Errorf("bob's open socket received %d messages of the room, want only the one before the kick", len(got))
	}
}

func TestEditDeleteTypingReceiptsPresence(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	ack := a.sendText(room, "first draft")
	id, seq := ack.str("message_id"), ack.num("seq")

	// Only the author edits.
	b.write(frame{"type": "edit", "id": "e1", "room_id": room, "message_id": id, "seq": seq, "text": "hijacked"})
	if got := b.expect("error", func(f frame) bool { return f.str("id") == "e1" }); got.str("code") != "forbidden" {
		t.Fatalf("edit by another user: %v", got)
	}
	a.write(frame{"type": "edit", "id": "e2", "room_id": room, "message_id": id, "seq": seq, "text": "final"})
	a.expect("ack", func(f frame) bool { return f.str("id") == "e2" })
	if ed := b.expect("edited", nil).msg(); ed.str("text") != "final" || ed.str("edited_at") == "" {
		t.Fatalf("edited frame %v", ed)
	}
	a.write(frame{"type": "delete", "id": "d1", "room_id": room, "message_id": id, "seq": seq})
	a.expect("ack", func(f frame) bool { return f.str("id") == "d1" })
	if del := b.expect("deleted", nil).msg(); del["deleted"] != true || del.str("text") != "" {
		t.Fatalf("deleted frame %v", del)
	}

	a.write(frame{"type": "typing", "room_id": room, "state": "start"})
	if ty := b.expect("typing", nil); ty.str("user_id") != ada.id || ty.str("state") != "start" {
		t.Fatalf("typing %v", ty)
	}
	b.write(frame{"type": "read", "room_id": room, "seq": seq})
	if r := a.expect("receipt", nil); r.str("user_id") != bob.id || r.num("seq") != seq {
		t.Fatalf("receipt %v", r)
	}

	a.write(frame{"type": "watch", "user_ids": []string{bob.id}})
	if p := a.expect("presence", func(f frame) bool { return f.str("user_id") == bob.id }); p.str("status") != "online" {
		t.Fatalf("bob's presence %v", p)
	}
	// The presence feed's periodic sweep may tell "online" once more
	// meanwhile: each change is waited for by its status.
	b.write(frame{"type": "presence", "status": "away"})
	a.expect("presence", func(f frame) bool { return f.str("user_id") == bob.id && f.str("status") == "away" })
	b.conn.Close()
	a.expect("presence", func(f frame) bool { return f.str("user_id") == bob.id && f.str("status") == "offline" })
}

func TestHistoryPagesBackwards(t *testing.T) {
	ada := newUser(t)
	room := newRoom(t, ada)
	a := dial(t, plat.url, ada)
	for i := range 30 {
		a.sendText(room, fmt.Sprint("m", i))
	}
	a.write(frame{"type": "history", "id": "p1", "room_id": room, "limit": 10})
	p1 := a.expect("history", func(f frame) bool { return f.str("id") == "p1" })
	msgs, _ := p1["messages"].([]any)
	if len(msgs) != 10 || p1["more"] != true || frame(msgs[0].(map[string]any)).str("text") != "m20" {
		t.Fatalf("latest page %v", p1)
	}
	before := frame(msgs[0].(map[string]any)).num("seq")
	a.write(frame{"type": "history", "id": "p2", "room_id": room, "limit": 100, "before_seq": before})
	p2 := a.expect("history", func(f frame) bool { return f.str("id") == "p2" })
	if msgs, _ := p2["messages"].([]any); len(msgs) != 20 || p2["more"] == true {
		t.Fatalf("older page %d more=%v", len(msgs), p2["more"])
	}
}

// A client that sends without waiting for acks gets seqs in the order it
// sent, even though sends that queue up are claimed together, and a resent
// client_msg_id in the same burst is answered, not stored twice.
func TestBurstOfSendsKeepsItsOrder(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	a.sendText(room, "before the burst") // Redis has the claim script from here on
	b := dial(t, plat.url, bob)
	b.subscribe(room, 0)
	const n = 60
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		a.write(frame{"type": "send", "id": ids[i], "room_id": room, "client_msg_id": ids[i], "text": fmt.Sprint("burst ", i)})
		if i == n/2 { // a retry of an earlier send, mid-burst
			a.write(frame{"type": "send", "id": "retry", "room_id": room, "client_msg_id": ids[0], "text": "burst 0"})
		}
	}
	seqs := map[string]int64{} // acks come as appends finish, in any order
	for len(seqs) < n {
		ack := a.expect("ack", func(f frame) bool { return f.str("id") != "retry" })
		seqs[ack.str("id")] = ack.num("seq")
	}
	for i := 1; i < n; i++ {
		if seqs[ids[i]] <= seqs[ids[i-1]] {
			t.Fatalf("send %d got seq %d, send %d seq %d", i, seqs[ids[i]], i-1, seqs[ids[i-1]])
		}
	}
	texts := inOrder(t, b.waitMessages(room, n))
	for i, text := range texts {
		if text != fmt.Sprint("burst ", i) {
			t.Fatalf("message %d is %q: %v", i, text, texts)
		}
	}
	if got := len(b.settled(a, room)); got != n {
		t.Fatalf("%d messages for %d sends and a retry", got, n)
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Mongo|devstack.Redis, &stack))
}

type env struct {
	f    *function
	list *listServer
	rdb  redis.UniversalClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	vars := map[string]string{"MONGO_URI": stack.MongoURI, "REDIS_URL": stack.RedisURL, "MONGO_DB": "n" + uuid.NewString()[:8]}
	state, err := stores.New(prometheus.NewRegistry()).OpenState(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, rdb := newStore(state.Mongo), state.Redis
	if err := st.ensureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	inserts := newInsertBatcher(st)
	done := make(chan struct{})
	go func() { defer close(done); inserts.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
		state.Mongo.Drop(context.Background())
		state.Close(context.Background())
	})
	return &env{f: &function{store: st, inserts: inserts, rdb: rdb, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		created: newCreatedCounter(prometheus.NewRegistry())},
		list: &listServer{store: st}, rdb: rdb}
}

func (e *env) handle(t *testing.T, typ string, data any) {
	t.Helper()
	if err := e.deliver(typ, data); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func (e *env) deliver(typ string, data any) error {
	return e.deliverFrom(eventsv1.EmitterOf(typ), typ, data)
}

// deliverFrom delivers an event as emitted by source.
func (e *env) deliverFrom(source, typ string, data any) error {
	ev := event.New()
	ev.SetID(uuid.NewString())
	ev.SetSource(source)
	ev.SetType(typ)
	ev.SetData(event.ApplicationJSON, data)
	_, err := e.f.Handle(context.Background(), ev)
	return err
}

// mustRetry delivers an event that the function cannot handle yet: it must
// fail retryably, so that the Trigger redelivers it.
func (e *env) mustRetry(t *testing.T, typ string, data any) {
	t.Helper()
	if err := e.deliver(typ, data); err == nil || ksvc.IsPermanent(err) {
		t.Fatalf("%s: got %v, want a retryable error", typ, err)
	}
}

// listen subscribes to a Redis channel, once the subscription is confirmed.
func (e *env) listen(t *testing.T, channel string) *redis.PubSub {
	t.Helper()
	sub := e.rdb.SSubscribe(context.Background(), channel)
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sub
}

type person struct{ id, name string }

func (e *env) user(t *testing.T, name string) person {
	p := person{uuid.NewString(), name}
	e.handle(t, eventsv1.TypeUserCreated, eventsv1.UserCreated{UserID: p.id, Username: name, DisplayName: name, CreatedAt: time.Now()})
	return p
}

func (e *env) join(t *testing.T, room string, p person, reason string) {
	e.handle(t, eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: room, UserID: p.id, Role: "member", Reason: reason})
}

func (e *env) say(t *testing.T, room string, from person, text string) eventsv1.Message {
	t.Helper()
	m := message(room, from, text)
	e.handle(t, eventsv1.TypeMessageStored, m)
	return m
}

func message(room string, from person, text string) eventsv1.Message {
	return eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: 1, UserID: from.id, Username: from.name, Text: text, CreatedAt: time.Now()}
}

func (e *env) inbox(t *testing.T, p person, kind string) []string {
	t.Helper()
	resp, err := e.list.List(context.Background(), &notificationv1.ListRequest{UserId: p.id})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range resp.Notifications {
		if n.Kind == kind {
			out = append(out, n.FromUsername+":"+n.Text)
		}
	}
	sort.Strings(out)
	return out
}

func TestMentionsNotifyMembersOnly(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ada, bob, cat, dan := e.user(t, "ada"), e.user(t, "bob"), e.user(t, "cat"), e.user(t, "dan")
	for _, p := range []person{ada, bob, cat} {
		e.join(t, room, p, "joined")
	}
	// Sent long enough ago that @dan and @nobody are no longer waited for.
	m := message(room, ada, "@bob look, and @cat. Also @dan (not here), @ada (me) and @nobody")
	m.CreatedAt = m.CreatedAt.Add(-projectionWait)
	e.handle(t, eventsv1.TypeMessageStored, m)
	e.say(t, room, ada, "code: `@bob` is not a mention")
	if got := e.inbox(t, bob, "mention"); len(got) != 1 || !strings.HasPrefix(got[0], "ada:@bob look") {
		t.Errorf("bob: %v", got)
	}
	if got := e.inbox(t, cat, "mention"); len(got) != 1 {
		t.Errorf("cat: %v", got)
	}
	if got := e.inbox(t, dan, "mention"); len(got) != 0 {
		t.Errorf("a non-member was notified: %v", got)
	}
	if got := e.inbox(t, ada, "mention"); len(got) != 0 {
		t.Errorf("the sender was notified of her own mention: %v", got)
	}
	// Leaving ends mentions, and such a mention is not waited for.
	e.handle(t, eventsv1.TypeRoomMemberLeft, eventsv1.RoomMember{RoomID: room, UserID: cat.id, Reason: "left"})
	e.say(t, room, ada, "@cat are you there?")
	if got := e.inbox(t, cat, "mention"); len(got) != 1 {
		t.Errorf("cat after leaving: %v", got)
	}
	e.join(t, room, cat, "joined")
	e.say(t, room, ada, "@cat welcome back")
	if got := e.inbox(t, cat, "mention"); len(got) != 2 {
		t.Errorf("cat after joining again: %v", got)
	}
}

func TestDirectMessagesAndRedeliveryAndWelcome(t *testing.T) {
	e := newEnv(t)
	dm := uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	e.join(t, dm, ada, "direct")
	e.join(t, dm, bob, "direct")
	sub := e.listen(t, livev1.UserChannel(bob.id))
	m := eventsv1.Message{ID: uuid.NewString(), RoomID: dm, Seq: 1, UserID: ada.id, Username: "ada", Text: "psst @bob", CreatedAt: time.Now()}
	for range 3 { // redelivery
		e.handle(t, eventsv1.TypeMessageStored, m)
	}
	if got := e.inbox(t, bob, "direct"); len(got) != 1 {
		t.Fatalf("bob's DM notifications after 3 deliveries: %v", got)
	}
	if got := e.inbox(t, bob, "mention"); len(got) != 0 {
		t.Errorf("a DM mention was notified twice: %v", got)
	}
	if got := e.inbox(t, ada, "direct"); len(got) != 0 {
		t.Errorf("the DM sender was notified: %v", got)
	}
	// Online users get it at once, once.
	msg, err := sub.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var push struct {
		Type         string
		Notification struct {
			Kind string `json:"kind"`
		}
	}
	json.Unmarshal([]byte(msg.Payload), &push)
	if push.Type != "notification" || push.Notification.Kind != "direct" {
		t.Errorf("push %s", msg.Payload)
	}
	select {
	case extra := <-sub.Channel():
		t.Errorf("redelivery pushed again: %s", extra.Payload)
	case <-time.After(200 * time.Millisecond):
	}
	if got := e.inbox(t, ada, "welcome"); len(got) != 1 {
		t.Errorf("welcome: %v", got)
	}
	e.handle(t, eventsv1.TypeUserCreated, eventsv1.UserCreated{UserID: ada.id, Username: "ada", DisplayName: "ada", CreatedAt: time.Now()}) // redelivered
	if got := e.inbox(t, ada, "welcome"); len(got) != 1 {
		t.Errorf("welcome after redelivery: %v", got)
	}
	for kind, want := range map[string]float64{"direct": 1, "mention": 0, "welcome": 2} { // ada's and bob's welcomes
		if n := testutil.ToFloat64(e.f.created.WithLabelValues(kind)); n != want {
			t.Errorf("parley_notifications_created_total{kind=%s} = %v, want %v", kind, n, want)
		}
	}
}

func TestMembershipChangesReachTheUsersSockets(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	sub := e.listen(t, livev1.UserChannel(bob.id))
	invited := eventsv1.RoomMember{RoomID: room, UserID: bob.id, Role: "member", By: ada.id, Reason: "invited"}
	kicked := eventsv1.RoomMember{RoomID: room, UserID: bob.id, Role: "member", By: ada.id, Reason: "kicked"}
	// Redis down: the event fails retryably, and its redelivery publishes.
	live := e.f.rdb
	e.f.rdb = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	e.mustRetry(t, eventsv1.TypeRoomMemberLeft, kicked)
	e.f.rdb = live
	e.handle(t, eventsv1.TypeRoomMemberJoined, invited)
	e.handle(t, eventsv1.TypeRoomMemberLeft, kicked)
	for _, want := range []livev1.MembershipFrame{
		{Type: "membership", RoomID: room, UserID: bob.id, State: "joined", Reason: "invited", By: ada.id},
		{Type: "membership", RoomID: room, UserID: bob.id, State: "left", Reason: "kicked", By: ada.id},
	} {
		msg, err := sub.ReceiveMessage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got livev1.MembershipFrame
		if err := json.Unmarshal([]byte(msg.Payload), &got); err != nil || got != want {
			t.Errorf("frame %s, want %+v", msg.Payload, want)
		}
	}
	if members, err := e.f.store.roomMembers(context.Background(), room, []string{bob.id}); err != nil || members[bob.id] {
		t.Errorf("bob still a member after the kick: %v %v", members, err)
	}
}

func TestUnreadCountsAndMarkRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r1, r2 := uuid.NewString(), uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	for _, r := range []string{r1, r2} {
		e.join(t, r, ada, "joined")
		e.join(t, r, bob, "joined")
	}
	e.say(t, r1, ada, "@bob one")
	e.say(t, r1, ada, "@bob two")
	e.say(t, r2, ada, "@bob three")
	counts, err := e.list.UnreadCounts(ctx, &notificationv1.UnreadCountsRequest{UserId: bob.id})
	if err != nil {
		t.Fatal(err)
	}
	if counts.ByRoom[r1] != 2 || counts.ByRoom[r2] != 1 || counts.Total != 4 { // + welcome
		t.Fatalf("counts %v", counts)
	}
	list, _ := e.list.List(ctx, &notificationv1.ListRequest{UserId: bob.id, UnreadOnly: true})
	var r1ids []string
	for _, n := range list.Notifications {
		if n.RoomId == r1 {
			r1ids = append(r1ids, n.Id)
		}
	}
	if res, err := e.list.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: bob.id, Ids: r1ids}); err != nil || res.Marked != 2 {
		t.Fatalf("mark read: %v %v", res, err)
	}
	// Someone else cannot mark bob's notifications.
	if res, _ := e.list.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: ada.id, All: true}); res.Marked != 1 {
		t.Fatalf("ada marked %d (only her welcome is hers)", res.Marked)
	}
	counts, _ = e.list.UnreadCounts(ctx, &notificationv1.UnreadCountsRequest{UserId: bob.id})
	if counts.ByRoom[r1] != 0 || counts.Total != 2 {
		t.Fatalf("counts after marking %v", counts)
	}
	for _, bad := range []*notificationv1.MarkReadRequest{{UserId: ""}, {UserId: bob.id}} {
		if _, err := e.list.MarkRead(ctx, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

func TestBadEventsArePermanent(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{eventsv1.TypeMessageStored, eventsv1.TypeUserCreated, eventsv1.TypeRoomMemberJoined, "parley.other"} {
		ev := event.New()
		ev.SetID("x")
		ev.SetSource(eventsv1.EmitterOf(typ))
		ev.SetType(typ)
		ev.SetData(event.ApplicationJSON, []int{1})
		if _, err := e.f.Handle(context.Background(), ev); !ksvc.IsPermanent(err) {
			t.Errorf("%s with bad data: %v", typ, err)
		}
	}
	// Empty, emoji-only and texts at the limit are fine.
	room := uuid.NewString()
	ada := e.user(t, "ada")
	e.join(t, room, ada, "joined")
	for _, text := range []string{"", "🎉🎉🎉", strings.Repeat("@ada ", eventsv1.MaxTextChars/5)} {
		e.say(t, room, ada, text)
	}
}

func TestOversizedEventsAreRefusedForGoodAndServingGoesOn(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	e.join(t, room, ada, "joined")
	e.join(t, room, bob, "joined")
	tooLong := message(room, ada, "@bob "+strings.Repeat("é", eventsv1.MaxTextChars))
	tooBig := eventsv1.UserCreated{UserID: uuid.NewString(), Username: "carol",
		DisplayName: strings.Repeat("c", eventsv1.MaxDataBytes), CreatedAt: time.Now()}
	for typ, data := range map[string]any{eventsv1.TypeMessageStored: tooLong, eventsv1.TypeUserCreated: tooBig} {
		if err := e.deliver(typ, data); !ksvc.IsPermanent(err) || !strings.Contains(err.Error(), "over the limit") {
			t.Errorf("%s over the limit: %v; want a permanent error naming the limit", typ, err)
		}
	}
	if got := e.inbox(t, bob, "mention"); len(got) != 0 {
		t.Fatalf("mentioned by a refused message: %v", got)
	}
	if got := e.inbox(t, person{id: tooBig.UserID}, "welcome"); len(got) != 0 {
		t.Fatalf("welcomed by a refused event: %v", got)
	}
	// The function goes on serving.
	e.say(t, room, ada, "@bob still here")
	if got := e.inbox(t, bob, "mention"); len(got) != 1 {
		t.Fatalf("mentions after refusals: %v", got)
	}
}

func TestPushSubscriptionsAreBoundedAndReplacedPerBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sub := func(i int) subscriptionDoc {
		endpoint := "https://fcm.googleapis.com/fcm/send/" + strings.Repeat("x", i)
		return subscriptionDoc{ID: subscriptionID(endpoint), UserID: "u1", Endpoint: endpoint, P256dh: []byte{4}, Auth: []byte{1}}
	}
	for i := range maxSubscriptions {
		if err := e.f.store.addSubscription(ctx, sub(i)); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	// The same browser again replaces its keys; an eleventh is refused.
	again := sub(3)
	again.Auth = []byte{9}
	if err := e.f.store.addSubscription(ctx, again); err != nil {
		t.Fatalf("re-subscribing a browser: %v", err)
	}
	if err := e.f.store.addSubscription(ctx, sub(maxSubscriptions)); err != errTooManySubscriptions {
		t.Fatalf("subscription %d: %v, want errTooManySubscriptions", maxSubscriptions, err)
	}
	subs, err := e.f.store.subscriptionsOf(ctx, "u1")
	if err != nil || len(subs) != maxSubscriptions {
		t.Fatalf("%d subscriptions, %v", len(subs), err)
	}
	// Only its owner can remove one.
	if removed, _ := e.f.store.removeSubscription(ctx, "u2", sub(3).Endpoint); removed {
		t.Error("another user removed u1's subscription")
	}
	if removed, _ := e.f.store.removeSubscription(ctx, "u1", sub(3).Endpoint); !removed {
		t.Error("u1 could not remove its subscription")
	}
}

// A direct room's member.joined may arrive after its first message: the
// message waits for it (fails retryably), and the room must not stay taken
// for a group room once it does.
func TestDirectRoomJoinedAfterItsFirstMessage(t *testing.T) {
	e := newEnv(t)
	dm := uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	first := message(dm, ada, "hello before the join arrived")
	e.mustRetry(t, eventsv1.TypeMessageStored, first)
	e.join(t, dm, ada, "direct")
	e.join(t, dm, bob, "direct")
	e.handle(t, eventsv1.TypeMessageStored, first) // redelivered
	e.say(t, dm, ada, "hello again")
	if got := e.inbox(t, bob, "direct"); len(got) != 2 {
		t.Fatalf("bob's DM notifications: %v", got)
	}
}

// A mention can reach the function before the mentioned user's join (or
// account) does: it waits for them while the message is recent, without
// notifying twice those it could already resolve.
func TestMentionWaitsForALaggingJoin(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ada, cat := e.user(t, "ada"), e.user(t, "cat")
	e.join(t, room, ada, "joined")
	e.join(t, room, cat, "joined")
	m := message(room, ada, "@cat @bob @dan lunch?")
	e.mustRetry(t, eventsv1.TypeMessageStored, m) // bob and dan are unknown yet
	bob := e.user(t, "bob")
	e.mustRetry(t, eventsv1.TypeMessageStored, m) // bob has not joined yet
	e.join(t, room, bob, "joined")
	e.mustRetry(t, eventsv1.TypeMessageStored, m) // dan never joins
	if got := e.inbox(t, bob, "mention"); len(got) != 1 {
		t.Errorf("bob, once he joined: %v", got)
	}
	if got := e.inbox(t, cat, "mention"); len(got) != 1 {
		t.Errorf("cat after three deliveries: %v", got)
	}
	// Once the message is old, what is still unresolved is given up quietly.
	m.CreatedAt = m.CreatedAt.Add(-projectionWait)
	e.handle(t, eventsv1.TypeMessageStored, m)
	if n := testutil.ToFloat64(e.f.created.WithLabelValues("mention")); n != 2 {
		t.Errorf("%v mention notifications created, want 2 (cat's and bob's, once each)", n)
	}
}

// Events only another service may emit are refused for good when they come
// from anywhere else: a mention forged as the connector reaches nobody.
func TestEventsFromTheWrongEmitterAreRefused(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	e.join(t, room, ada, "joined")
	e.join(t, room, bob, "joined")
	sub := e.listen(t, livev1.UserChannel(ada.id))
	forged := message(room, bob, "@ada forged")
	if err := e.deliverFrom(eventsv1.SourceConnector+"c1", eventsv1.TypeMessageStored, forged); !ksvc.IsPermanent(err) {
		t.Errorf("message.stored from the connector: %v, want a permanent error", err)
	}
	if err := e.deliverFrom(eventsv1.SourcePersist, eventsv1.TypeUserCreated, eventsv1.UserCreated{UserID: uuid.NewString(), Username: "eve"}); !ksvc.IsPermanent(err) {
		t.Errorf("user.created from persist: %v, want a permanent error", err)
	}
	real := e.say(t, room, bob, "@ada real")
	msg, err := sub.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Payload, real.ID) || strings.Contains(msg.Payload, forged.ID) {
		t.Fatalf("ada's first notification is %s, want the real mention %s", msg.Payload, real.ID)
	}
}

// The connector counts unread mentions from the seqs indexed here, so each
// notifying message is indexed once per recipient, redelivered or not, and
// its notification carries the seq.
func TestNotifyingMessagesAreIndexedBySeq(t *testing.T) {
	e := newEnv(t)
	room, dm := uuid.NewString(), uuid.NewString()
	ada, bob := e.user(t, "ada"), e.user(t, "bob")
	for _, p := range []person{ada, bob} {
		e.join(t, room, p, "joined")
		e.join(t, dm, p, "direct")
	}
	sub := e.listen(t, livev1.UserChannel(bob.id))
	at := func(seq int64, roomID, text string) eventsv1.Message {
		m := message(roomID, ada, text)
		m.Seq = seq
		return m
	}
	first := at(5, room, "@bob look")
	for _, m := range []eventsv1.Message{first, at(6, room, "no mention"), first, at(7, room, "@bob again"), at(3, dm, "psst")} {
		e.handle(t, eventsv1.TypeMessageStored, m)
	}
	seqs := func(roomID string, p person) []string {
		got, err := e.rdb.ZRange(context.Background(), livev1.MentionsKey(roomID, p.id), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := seqs(room, bob); strings.Join(got, ",") != "5,7" {
		t.Errorf("bob's mention seqs in the room: %v, want 5,7", got)
	}
	if got := seqs(dm, bob); strings.Join(got, ",") != "3" {
		t.Errorf("bob's seqs in the direct room: %v, want 3", got)
	}
	if got := seqs(room, ada); len(got) != 0 {
		t.Errorf("the sender's own mentions were indexed: %v", got)
	}
	msg, err := sub.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var push livev1.NotificationFrame
	json.Unmarshal([]byte(msg.Payload), &push)
	if push.Notification.Seq != 5 || push.Notification.RoomID != room {
		t.Errorf("the first push is %s, want the mention at seq 5", msg.Payload)
	}

	// Reading the room up to seq 6 marks the mention at 5 read, not the
	// one at 7, nor anything of another room.
	ctx := context.Background()
	res, err := e.list.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: bob.id, RoomId: room, UpToSeq: 6})
	if err != nil || res.Marked != 1 {
		t.Fatalf("mark the room read to 6: %v %v, want 1 marked", res, err)
	}
	unread, _ := e.list.List(ctx, &notificationv1.ListRequest{UserId: bob.id, UnreadOnly: true})
	var left []string
	for _, n := range unread.Notifications {
		left = append(left, n.Kind+":"+n.Text)
	}
	sort.Strings(left)
	if strings.Join(left, ",") != "direct:psst,mention:@bob again,welcome:Welcome to Parley, bob!" {
		t.Errorf("unread after reading the room to 6: %v", left)
	}
	for _, bad := range []*notificationv1.MarkReadRequest{{UserId: bob.id, RoomId: room}, {UserId: bob.id, RoomId: room, UpToSeq: 6, All: true}} {
		if _, err := e.list.MarkRead(ctx, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

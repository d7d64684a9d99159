package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// BenchmarkStoreOpsPerMessage delivers parley.message.stored events as the
// notification-feed Trigger does (unordered, 500 messages/s)
// and reports the store commands notification sends per message and the
// CPU the store servers spend on them. The mix: 10 group rooms of 20
// members and 10 direct rooms; of every 10 messages one is in a direct
// room, one mentions a member, eight are plain (issue 16's load is all
// plain); 2,000 other users and 5,000 memberships of other rooms are
// stored besides. Numbers and the command that produced them: BENCHMARKS.md.
func BenchmarkStoreOpsPerMessage(b *testing.B) {
	const messages, rate, groups, perGroup, directs = 2000, 500, 10, 20, 10
	const otherUsers, otherMemberships = 2000, 5000
	var ops opcount.Counter
	deliver, st := observedFunction(b, ops.MongoMonitor(), ops.RedisHook())
	padProjections(b, st, otherUsers, otherMemberships)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	// The projections, as auth's events build them.
	users := make([]person, groups*perGroup)
	for i := range users {
		users[i] = person{uuid.NewString(), fmt.Sprintf("user%d", i)}
		must(deliver(eventsv1.TypeUserCreated, eventsv1.UserCreated{UserID: users[i].id, Username: users[i].name, CreatedAt: time.Now()}))
	}
	groupRooms, directRooms := make([]string, groups), make([]string, directs)
	for g := range groupRooms {
		groupRooms[g] = uuid.NewString()
		for _, u := range users[g*perGroup : (g+1)*perGroup] {
			must(deliver(eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: groupRooms[g], UserID: u.id, Role: "member"}))
		}
	}
	for d := range directRooms {
		directRooms[d] = uuid.NewString()
		for _, u := range []person{users[2*d], users[2*d+1]} {
			must(deliver(eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: directRooms[d], UserID: u.id, Role: "member", Reason: "direct"}))
		}
	}
	for b.Loop() {
		events := make([]eventsv1.Message, messages)
		for i := range events {
			g := i % groups
			from, to := users[g*perGroup], users[g*perGroup+1+i%(perGroup-1)]
			m := eventsv1.Message{ID: uuid.NewString(), RoomID: groupRooms[g], Seq: int64(i + 1), UserID: from.id,
				Username: from.name, Text: fmt.Sprintf("%d load message", time.Now().UnixNano()), CreatedAt: time.Now()}
			switch i % 10 {
			case 0:
				d := (i / 10) % directs
				from = users[2*d]
				m.RoomID, m.UserID, m.Username = directRooms[d], from.id, from.name
			case 1:
				m.Text = "hey @" + to.name + " have a look"
			}
			events[i] = m
		}
		run, err := opcount.Measure(&ops, messages, rate, func(i int) error {
			return deliver(eventsv1.TypeMessageStored, events[i])
		})
		if err != nil {
			b.Fatal(err)
		}
		run.Report(b)
	}
}

// padProjections stores what an instance that has run a while holds
// besides the benchmark's rooms: users and memberships of other rooms.
// FerretDB's cost for a filter it cannot push down grows with them.
func padProjections(b *testing.B, st *store, users, memberships int) {
	ctx := context.Background()
	for done := 0; done < users; done += 1000 {
		var docs []any
		for i := done; i < min(done+1000, users); i++ {
			docs = append(docs, bson.M{"_id": fmt.Sprint("pad-user-", i), "username": fmt.Sprint("pad", i), "username_lower": fmt.Sprint("pad", i)})
		}
		if _, err := st.users.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	for done := 0; done < memberships; done += 1000 {
		var docs []any
		for i := done; i < min(done+1000, memberships); i++ {
			room, user := fmt.Sprint("pad-room-", i/100), fmt.Sprint("pad-user-", i%max(users, 1))
			docs = append(docs, bson.M{"_id": room + ":" + user, "room_id": room, "user_id": user, "left": false})
		}
		if _, err := st.members.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
}

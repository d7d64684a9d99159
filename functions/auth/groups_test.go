package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

func usernamesOf(users []*authv1.User) string {
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return strings.Join(names, ",")
}

func TestGroupDirectRooms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, bob, cy, eve := e.register(t, "ann"), e.register(t, "bob"), e.register(t, "cy0"), e.register(t, "eve")
	open := func(who *authv1.TokenResponse, names ...string) (*authv1.Room, error) {
		return e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(who), Usernames: names})
	}
	g, err := open(ann, "cy0", "BOB")
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind != authv1.RoomKind_ROOM_KIND_GROUP || g.MemberCount != 3 || usernamesOf(g.Members) != "bob,cy0" || g.Peer != nil {
		t.Fatalf("group: %v", g)
	}
	// The same set, opened by anyone in any order, is the same room.
	again, err := open(cy, "bob", "ann")
	if err != nil || again.Id != g.Id || usernamesOf(again.Members) != "ann,bob" {
		t.Fatalf("reopened: %v %v", again, err)
	}
	// A subset is another conversation: a pair is a 1:1 room.
	pair, err := open(ann, "bob")
	if err != nil || pair.Kind != authv1.RoomKind_ROOM_KIND_DIRECT || pair.Id == g.Id || pair.Peer.GetUsername() != "bob" {
		t.Fatalf("pair: %v %v", pair, err)
	}
	byID, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), UserId: ann.User.Id})
	if err != nil || byID.Id != pair.Id {
		t.Fatalf("the pair by id: %v %v", byID, err)
	}
	rooms, err := e.client.ListMyRooms(ctx, &authv1.ListMyRoomsRequest{Caller: caller(bob)})
	if err != nil || len(rooms.Rooms) != 2 {
		t.Fatalf("bob's rooms: %v %v", rooms, err)
	}
	for _, r := range rooms.Rooms {
		want := map[string]string{g.Id: "ann,cy0", pair.Id: "ann"}[r.Id]
		if usernamesOf(r.Members) != want {
			t.Errorf("room %s (%v): members %q, want %q", r.Id, r.Kind, usernamesOf(r.Members), want)
		}
	}
	got, err := e.client.GetRoom(ctx, &authv1.GetRoomRequest{Caller: caller(cy), RoomId: g.Id})
	if err != nil || usernamesOf(got.Members) != "ann,bob" {
		t.Errorf("get group: %v %v", got, err)
	}

	// Fixed membership: no invitation, joining, kicking or roles.
	if _, err := e.client.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: caller(ann), RoomId: g.Id, UserId: eve.User.Id}); reason(err) != "FORBIDDEN" {
		t.Errorf("invite into a group: %v", err)
	}
	if _, err := e.client.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: caller(eve), RoomId: g.Id}); reason(err) != "FORBIDDEN" {
		t.Errorf("join a group: %v", err)
	}
	if _, err := e.client.KickMember(ctx, &authv1.KickMemberRequest{Caller: caller(ann), RoomId: g.Id, UserId: bob.User.Id}); reason(err) != "FORBIDDEN" {
		t.Errorf("kick from a group: %v", err)
	}
	if _, err := e.client.SetMemberRole(ctx, &authv1.SetMemberRoleRequest{Caller: caller(ann), RoomId: g.Id, UserId: bob.User.Id,
		Role: authv1.RoomRole_ROOM_ROLE_ADMIN}); reason(err) != "FORBIDDEN" {
		t.Errorf("role in a group: %v", err)
	}
	// A member may leave a group (not a 1:1 room); reopening brings back
	// only the opener.
	if _, err := e.client.LeaveRoom(ctx, &authv1.LeaveRoomRequest{Caller: caller(cy), RoomId: g.Id}); err != nil {
		t.Fatalf("leave a group: %v", err)
	}
	if _, err := e.client.LeaveRoom(ctx, &authv1.LeaveRoomRequest{Caller: caller(ann), RoomId: pair.Id}); reason(err) != "DIRECT_ROOM" {
		t.Errorf("leave a 1:1 room: %v", err)
	}
	if got, err := open(ann, "bob", "cy0"); err != nil || got.Id != g.Id || got.MemberCount != 2 {
		t.Errorf("reopened by a remaining member: %v %v", got, err)
	}
	if got, err := open(cy, "bob", "ann"); err != nil || got.Id != g.Id || got.MemberCount != 3 {
		t.Errorf("reopened by the one who left: %v %v", got, err)
	}
	m, err := e.client.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: g.Id, UserId: cy.User.Id})
	if err != nil || !m.Member || m.Kind != authv1.RoomKind_ROOM_KIND_GROUP {
		t.Errorf("cy in the group: %v %v", m, err)
	}

	// Every member's joining is an event, reason "direct", keyed by room;
	// those of the opening list all three people, cy's return only cy.
	eventually(t, "member events", func() bool {
		n := 0
		for _, ev := range e.broker.events(eventsv1.TypeRoomMemberJoined) {
			if ev["room_id"] == g.Id && ev["reason"] == "direct" && ev["_partitionkey"] == g.Id {
				n++
			}
		}
		return n == 4 // three, and cy again
	})
	var everyone []int
	for _, ev := range e.broker.events(eventsv1.TypeRoomMemberJoined) {
		if ev["room_id"] == g.Id {
			members, _ := ev["members"].([]any)
			everyone = append(everyone, len(members))
		}
	}
	if fmt.Sprint(everyone) != "[3 3 3 0]" {
		t.Errorf("people listed by the group's joins: %v, want [3 3 3 0]", everyone)
	}
}

func TestGroupDirectRoomRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.register(t, "ann")
	var names []string
	for _, n := range []string{"p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08"} {
		e.register(t, n)
		names = append(names, n)
	}
	for name, tc := range map[string]struct {
		req    *authv1.OpenDirectRequest
		reason string
	}{
		"nine people":       {&authv1.OpenDirectRequest{Usernames: names}, "INVALID_ARGUMENT"},
		"unknown name":      {&authv1.OpenDirectRequest{Usernames: []string{"p01", "nobody"}}, "USER_NOT_FOUND"},
		"duplicate":         {&authv1.OpenDirectRequest{Usernames: []string{"p01", "P01"}}, "INVALID_ARGUMENT"},
		"yourself only":     {&authv1.OpenDirectRequest{Usernames: []string{"ann"}}, "INVALID_ARGUMENT"},
		"yourself and more": {&authv1.OpenDirectRequest{Usernames: []string{"ANN", "p01"}}, "INVALID_ARGUMENT"},
		"not a username":    {&authv1.OpenDirectRequest{Usernames: []string{"p01", "' OR 1=1"}}, "INVALID_ARGUMENT"},
		"nobody":            {&authv1.OpenDirectRequest{}, "INVALID_ARGUMENT"},
		"id and names":      {&authv1.OpenDirectRequest{UserId: ann.User.Id, Usernames: []string{"p01"}}, "INVALID_ARGUMENT"},
		"no caller":         {&authv1.OpenDirectRequest{Usernames: []string{"p01"}}, "UNAUTHENTICATED"},
		"unknown id":        {&authv1.OpenDirectRequest{UserId: "0190b0a0-0000-7000-8000-000000000000"}, "USER_NOT_FOUND"},
	} {
		if name != "no caller" {
			tc.req.Caller = caller(ann)
		}
		_, err := e.client.OpenDirect(ctx, tc.req)
		if reason(err) != tc.reason {
			t.Errorf("%s: got %v, want %s", name, err, tc.reason)
		}
	}
	if n := e.count(t, "SELECT count(*) FROM rooms"); n != 0 {
		t.Errorf("%d rooms stored from refused openings", n)
	}
	// Eight people is the limit, not over it.
	g, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(ann), Usernames: names[:7]})
	if err != nil || g.MemberCount != 8 {
		t.Fatalf("a group of eight: %v %v", g, err)
	}
}

func TestBlocking(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, bob, cy := e.register(t, "ann"), e.register(t, "bob"), e.register(t, "cy0")
	dm, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), UserId: ann.User.Id})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), Usernames: []string{"ann", "cy0"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(room string, who *authv1.TokenResponse) bool {
		t.Helper()
		m, err := e.client.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: room, UserId: who.User.Id})
		if err != nil || !m.Member {
			t.Fatalf("membership: %v %v", m, err)
		}
		return m.Blocked
	}
	if check(dm.Id, bob) {
		t.Fatal("bob blocked before any block")
	}

	b, err := e.client.BlockUser(ctx, &authv1.BlockUserRequest{Caller: caller(ann), UserId: bob.User.Id})
	// The answer names their 1:1 room, where the connector refuses bob at once.
	if err != nil || b.User.GetUsername() != "bob" || b.CreatedAt == nil || b.DirectRoomId != dm.Id {
		t.Fatalf("block: %v %v", b, err)
	}
	if again, err := e.client.BlockUser(ctx, &authv1.BlockUserRequest{Caller: caller(ann), UserId: bob.User.Id}); err != nil || again.DirectRoomId != dm.Id {
		t.Errorf("blocking again: %v %v", again, err)
	}
	// Bob may no longer send into the 1:1 room or open one with ann; ann
	// may still send to bob, and the group is unaffected.
	if !check(dm.Id, bob) || check(dm.Id, ann) || check(g.Id, bob) {
		t.Error("blocked answers: want only bob in the 1:1 room")
	}
	if _, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), UserId: ann.User.Id}); reason(err) != "BLOCKED" {
		t.Errorf("bob opens a DM with ann: %v", err)
	}
	if _, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), Usernames: []string{"Ann"}}); reason(err) != "BLOCKED" {
		t.Errorf("bob opens a DM with ann by name: %v", err)
	}
	if _, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(ann), UserId: bob.User.Id}); err != nil {
		t.Errorf("ann opens her DM with bob: %v", err)
	}
	if _, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(bob), Usernames: []string{"cy0", "ann"}}); err != nil {
		t.Errorf("bob opens the group with ann: %v", err)
	}
	list, err := e.client.ListBlocks(ctx, &authv1.ListBlocksRequest{Caller: caller(ann)})
	if err != nil || len(list.Blocked) != 1 || list.Blocked[0].User.Username != "bob" {
		t.Errorf("ann's blocks: %v %v", list, err)
	}
	if list, _ := e.client.ListBlocks(ctx, &authv1.ListBlocksRequest{Caller: caller(bob)}); len(list.Blocked) != 0 {
		t.Errorf("bob's blocks: %v", list)
	}

	for name, req := range map[string]*authv1.BlockUserRequest{
		"yourself":  {Caller: caller(cy), UserId: cy.User.Id},
		"unknown":   {Caller: caller(cy), UserId: "0190b0a0-0000-7000-8000-000000000000"},
		"not an id": {Caller: caller(cy), UserId: "bob"},
		"no caller": {UserId: bob.User.Id},
	} {
		if _, err := e.client.BlockUser(ctx, req); err == nil {
			t.Errorf("block %s: no error", name)
		}
	}
	if n := e.count(t, "SELECT count(*) FROM user_blocks WHERE blocker = $1", cy.User.Id); n != 0 {
		t.Errorf("%d blocks stored from refused requests", n)
	}

	if u, err := e.client.UnblockUser(ctx, &authv1.UnblockUserRequest{Caller: caller(ann), UserId: bob.User.Id}); err != nil || u.DirectRoomId != dm.Id {
		t.Fatalf("unblock: %v %v", u, err)
	}
	if _, err := e.client.UnblockUser(ctx, &authv1.UnblockUserRequest{Caller: caller(ann), UserId: bob.User.Id}); err != nil {
		t.Errorf("unblocking again: %v", err)
	}
	if check(dm.Id, bob) {
		t.Error("bob still blocked after the unblock")
	}
	// One event each way (not for the repeats), keyed by the blocker,
	// naming the pair's 1:1 room for the connectors' caches.
	eventually(t, "block events", func() bool {
		return len(e.broker.events(eventsv1.TypeUserBlocked)) == 1 && len(e.broker.events(eventsv1.TypeUserUnblocked)) == 1
	})
	for _, typ := range []string{eventsv1.TypeUserBlocked, eventsv1.TypeUserUnblocked} {
		ev := e.broker.events(typ)[0]
		if ev["_partitionkey"] != ann.User.Id || ev["blocker_id"] != ann.User.Id || ev["blocked_id"] != bob.User.Id || ev["direct_room_id"] != dm.Id {
			t.Errorf("%s: %v", typ, ev)
		}
	}
}

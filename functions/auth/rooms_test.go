package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// actors of the authorization matrix: global roles and room roles.
type actors struct {
	globalAdmin, moderator, owner, roomAdmin, member, outsider, target *authv1.TokenResponse
}

func newActors(t *testing.T, e *testEnv) actors {
	ctx := context.Background()
	a := actors{globalAdmin: e.register(t, "root")} // the first user is admin
	a.moderator = e.register(t, "mod")
	if _, err := e.client.SetGlobalRole(ctx, &authv1.SetGlobalRoleRequest{Caller: caller(a.globalAdmin),
		UserId: a.moderator.User.Id, Role: authv1.GlobalRole_GLOBAL_ROLE_MODERATOR}); err != nil {
		t.Fatal(err)
	}
	a.owner, a.roomAdmin, a.member = e.register(t, "owner"), e.register(t, "radmin"), e.register(t, "member")
	a.outsider, a.target = e.register(t, "outsider"), e.register(t, "target")
	return a
}

// newRoom creates a room of kind owned by owner, with roomAdmin as admin and member as member.
func (a actors) newRoom(t *testing.T, e *testEnv, kind authv1.RoomKind) *authv1.Room {
	ctx := context.Background()
	r, err := e.client.CreateRoom(ctx, &authv1.CreateRoomRequest{Caller: caller(a.owner), Name: "room", Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*authv1.TokenResponse{a.roomAdmin, a.member} {
		if _, err := e.client.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: caller(a.owner), RoomId: r.Id, UserId: u.User.Id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.SetMemberRole(ctx, &authv1.SetMemberRoleRequest{Caller: caller(a.owner), RoomId: r.Id,
		UserId: a.roomAdmin.User.Id, Role: authv1.RoomRole_ROOM_ROLE_ADMIN}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	a := newActors(t, e)
	ctx := context.Background()
	ops := map[string]func(c *authv1.Caller, r *authv1.Room) error{
		"view": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.GetRoom(ctx, &authv1.GetRoomRequest{Caller: c, RoomId: r.Id})
			return err
		},
		"members": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.ListMembers(ctx, &authv1.ListMembersRequest{Caller: c, RoomId: r.Id})
			return err
		},
		"join": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: c, RoomId: r.Id})
			return err
		},
		"invite": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: c, RoomId: r.Id, UserId: a.target.User.Id})
			return err
		},
		"kick member": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.KickMember(ctx, &authv1.KickMemberRequest{Caller: c, RoomId: r.Id, UserId: a.member.User.Id})
			return err
		},
		"kick admin": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.KickMember(ctx, &authv1.KickMemberRequest{Caller: c, RoomId: r.Id, UserId: a.roomAdmin.User.Id})
			return err
		},
		"kick owner": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.KickMember(ctx, &authv1.KickMemberRequest{Caller: c, RoomId: r.Id, UserId: a.owner.User.Id})
			return err
		},
		"promote": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.SetMemberRole(ctx, &authv1.SetMemberRoleRequest{Caller: c, RoomId: r.Id, UserId: a.member.User.Id, Role: authv1.RoomRole_ROOM_ROLE_ADMIN})
			return err
		},
		"transfer": func(c *authv1.Caller, r *authv1.Room) error {
			_, err := e.client.SetMemberRole(ctx, &authv1.SetMemberRoleRequest{Caller: c, RoomId: r.Id, UserId: a.member.User.Id, Role: authv1.RoomRole_ROOM_ROLE_OWNER})
			return err
		},
	}
	who := map[string]*authv1.TokenResponse{"admin": a.globalAdmin, "moderator": a.moderator, "owner": a.owner,
		"room-admin": a.roomAdmin, "member": a.member, "outsider": a.outsider}
	// Expected outcome per kind, op and actor: "" allowed, else the error reason.
	const (
		ok  = ""
		nm  = "NOT_A_MEMBER"
		fb  = "FORBIDDEN"
		kck = "KICK_SELF"
	)
	type row map[string]string // actor -> outcome
	want := map[string]map[string]row{
		"public": {
			"view":        {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": ok, "outsider": ok},
			"members":     {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": ok, "outsider": ok},
			"join":        {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": ok, "outsider": ok},
			"invite":      {"admin": ok, "moderator": nm, "owner": ok, "room-admin": ok, "member": ok, "outsider": nm},
			"kick member": {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": kck, "outsider": nm},
			"kick admin":  {"admin": ok, "moderator": ok, "owner": ok, "room-admin": kck, "member": fb, "outsider": nm},
			"kick owner":  {"admin": ok, "moderator": fb, "owner": kck, "room-admin": fb, "member": fb, "outsider": nm},
			"promote":     {"admin": ok, "moderator": nm, "owner": ok, "room-admin": fb, "member": fb, "outsider": nm},
			"transfer":    {"admin": ok, "moderator": nm, "owner": ok, "room-admin": fb, "member": fb, "outsider": nm},
		},
		"private": {
			"view":        {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": ok, "outsider": nm},
			"members":     {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": ok, "outsider": nm},
			"join":        {"admin": ok, "moderator": fb, "owner": ok, "room-admin": ok, "member": ok, "outsider": fb},
			"invite":      {"admin": ok, "moderator": nm, "owner": ok, "room-admin": ok, "member": fb, "outsider": nm},
			"kick member": {"admin": ok, "moderator": ok, "owner": ok, "room-admin": ok, "member": kck, "outsider": nm},
			"kick admin":  {"admin": ok, "moderator": ok, "owner": ok, "room-admin": kck, "member": fb, "outsider": nm},
			"kick owner":  {"admin": ok, "moderator": fb, "owner": kck, "room-admin": fb, "member": fb, "outsider": nm},
			"promote":     {"admin": ok, "moderator": nm, "owner": ok, "room-admin": fb, "member": fb, "outsider": nm},
			"transfer":    {"admin": ok, "moderator": nm, "owner": ok, "room-admin": fb, "member": fb, "outsider": nm},
		},
	}
	kinds := map[string]authv1.RoomKind{"public": authv1.RoomKind_ROOM_KIND_PUBLIC, "private": authv1.RoomKind_ROOM_KIND_PRIVATE}
	for kindName, byOp := range want {
		for opName, byActor := range byOp {
			for actor, outcome := range byActor {
				t.Run(fmt.Sprintf("%s/%s/%s", kindName, opName, actor), func(t *testing.T) {
					r := a.newRoom(t, e, kinds[kindName]) // fresh room: ops change membership
					if got := reason(ops[opName](caller(who[actor]), r)); got != outcome {
						t.Errorf("got %q, want %q", orOK(got), orOK(outcome))
					}
				})
			}
		}
	}
}

func orOK(s string) string {
	if s == "" {
		return "allowed"
	}
	return s
}

func TestDirectRooms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ada, bob, eve := e.register(t, "ada"), e.register(t, "bob"), e.register(t, "eve")
	// Both sides open the conversation at once: one room results.
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := ada, bob
			if i%2 == 1 {
				from, to = bob, ada
			}
			r, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(from), UserId: to.User.Id})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = r.Id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("direct room ids differ: %v", ids)
		}
	}
	if n := e.count(t, "SELECT count(*) FROM rooms WHERE kind = 'direct'"); n != 1 {
		t.Fatalf("%d direct rooms", n)
	}
	rooms, err := e.client.ListMyRooms(ctx, &authv1.ListMyRoomsRequest{Caller: caller(ada)})
	if err != nil || len(rooms.Rooms) != 1 || rooms.Rooms[0].Peer.GetUsername() != "bob" || rooms.Rooms[0].MemberCount != 2 {
		t.Fatalf("ada's rooms: %v %v", rooms, err)
	}
	dm := rooms.Rooms[0]
	if _, err := e.client.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: caller(ada), RoomId: dm.Id, UserId: eve.User.Id}); reason(err) != "FORBIDDEN" {
		t.Errorf("invite into a DM: %v", err)
	}
	if _, err := e.client.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: caller(eve), RoomId: dm.Id}); reason(err) != "FORBIDDEN" {
		t.Errorf("join a DM: %v", err)
	}
	if _, err := e.client.GetRoom(ctx, &authv1.GetRoomRequest{Caller: caller(eve), RoomId: dm.Id}); reason(err) != "NOT_A_MEMBER" {
		t.Errorf("view someone else's DM: %v", err)
	}
	if _, err := e.client.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: caller(ada), UserId: ada.User.Id}); reason(err) != "DIRECT_SELF" {
		t.Errorf("DM with self: %v", err)
	}
	m, err := e.client.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: dm.Id, UserId: bob.User.Id})
	if err != nil || !m.Member || m.Kind != authv1.RoomKind_ROOM_KIND_DIRECT {
		t.Errorf("bob in DM: %v %v", m, err)
	}
	m, _ = e.client.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: dm.Id, UserId: eve.User.Id})
	if m.Member {
		t.Error("eve reported as a member of ada and bob's DM")
	}
}

func TestRoomLifecycleAndEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ada, bob, cat := e.register(t, "ada"), e.register(t, "bob"), e.register(t, "cat")
	r, err := e.client.CreateRoom(ctx, &authv1.CreateRoomRequest{Caller: caller(ada), Name: "general", Topic: "all things"})
	if err != nil || r.MyRole != authv1.RoomRole_ROOM_ROLE_OWNER || r.Kind != authv1.RoomKind_ROOM_KIND_PUBLIC {
		t.Fatalf("create: %v %v", r, err)
	}
	if _, err := e.client.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: caller(bob), RoomId: r.Id}); err != nil {
		t.Fatal(err)
	}
	// Joining again is a no-op, not an error and not a second event.
	if _, err := e.client.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: caller(bob), RoomId: r.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: caller(bob), RoomId: r.Id, UserId: cat.User.Id}); err != nil {
		t.Fatal(err)
	}
	public, _ := e.client.ListPublicRooms(ctx, &authv1.ListPublicRoomsRequest{Caller: caller(cat), NamePrefix: "GEN"})
	if len(public.Rooms) != 1 || public.Rooms[0].MemberCount != 3 {
		t.Errorf("public rooms: %v", public)
	}
	// The owner leaves: ownership passes on, the room stays manageable.
	if _, err := e.client.LeaveRoom(ctx, &authv1.LeaveRoomRequest{Caller: caller(ada), RoomId: r.Id}); err != nil {
		t.Fatal(err)
	}
	members, err := e.client.ListMembers(ctx, &authv1.ListMembersRequest{Caller: caller(bob), RoomId: r.Id})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range members.Members {
		roles = append(roles, m.User.Username+"="+strings.TrimPrefix(m.Role.String(), "ROOM_ROLE_"))
	}
	sort.Strings(roles)
	if strings.Join(roles, ",") != "bob=OWNER,cat=MEMBER" {
		t.Errorf("members after the owner left: %v", roles)
	}
	if _, err := e.client.KickMember(ctx, &authv1.KickMemberRequest{Caller: caller(bob), RoomId: r.Id, UserId: cat.User.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.LeaveRoom(ctx, &authv1.LeaveRoomRequest{Caller: caller(cat), RoomId: r.Id}); reason(err) != "NOT_A_MEMBER" {
		t.Errorf("leave after kick: %v", err)
	}

	eventually(t, "membership events", func() bool {
		return len(e.broker.events(eventsv1.TypeRoomMemberJoined)) == 3 && len(e.broker.events(eventsv1.TypeRoomMemberLeft)) == 2
	})
	var seen []string
	for _, typ := range []string{eventsv1.TypeRoomMemberJoined, eventsv1.TypeRoomMemberLeft} {
		for _, ev := range e.broker.events(typ) {
			if ev["_partitionkey"] != r.Id || ev["room_id"] != r.Id {
				t.Errorf("event not keyed by room: %v", ev)
			}
			seen = append(seen, fmt.Sprint(ev["reason"]))
		}
	}
	sort.Strings(seen)
	if strings.Join(seen, ",") != "created,invited,joined,kicked,left" {
		t.Errorf("event reasons %v", seen)
	}
}

func TestRoomInputValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ada := e.register(t, "ada")
	for name, req := range map[string]*authv1.CreateRoomRequest{
		"empty name":    {Caller: caller(ada), Name: ""},
		"long name":     {Caller: caller(ada), Name: strings.Repeat("x", 81)},
		"control chars": {Caller: caller(ada), Name: "a\x07b"},
		"long topic":    {Caller: caller(ada), Name: "ok", Topic: strings.Repeat("x", 501)},
		"direct kind":   {Caller: caller(ada), Name: "ok", Kind: authv1.RoomKind_ROOM_KIND_DIRECT},
	} {
		if _, err := e.client.CreateRoom(ctx, req); reason(err) != "INVALID_ARGUMENT" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.client.GetRoom(ctx, &authv1.GetRoomRequest{Caller: caller(ada), RoomId: "' OR 1=1 --"}); reason(err) != "INVALID_ARGUMENT" {
		t.Errorf("bad room id: %v", err)
	}
	if _, err := e.client.GetRoom(ctx, &authv1.GetRoomRequest{Caller: caller(ada), RoomId: "0190b0a0-0000-7000-8000-000000000000"}); reason(err) != "ROOM_NOT_FOUND" {
		t.Errorf("unknown room: %v", err)
	}
	if n := e.count(t, "SELECT count(*) FROM rooms"); n != 0 {
		t.Errorf("%d rooms stored from bad input", n)
	}
}

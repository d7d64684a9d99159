package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parley-chat/parley/knative/ksvc"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

func (s *service) CreateRoom(ctx context.Context, req *authv1.CreateRoomRequest) (*authv1.Room, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	kind := authv1.RoomKindPublic
	switch req.Kind {
	case authv1.RoomKind_ROOM_KIND_UNSPECIFIED, authv1.RoomKind_ROOM_KIND_PUBLIC:
	case authv1.RoomKind_ROOM_KIND_PRIVATE:
		kind = authv1.RoomKindPrivate
	default:
		return nil, invalidArgument("kind", "must be public or private (direct rooms are opened with OpenDirect)")
	}
	if err := validText("name", req.Name, maxRoomName, true); err != nil {
		return nil, err
	}
	if err := validText("topic", req.Topic, maxTopic, false); err != nil {
		return nil, err
	}
	r, err := s.store.createRoom(ctx, room{ID: uuid.Must(uuid.NewV7()), Kind: kind, Name: req.Name, Topic: req.Topic,
		CreatedBy: me.ID, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	return roomProto(r, authv1.RoomRoleOwner, nil), nil
}

// roomAs loads a room with the caller's role in it, authorising op.
func (s *service) roomAs(ctx context.Context, c *authv1.Caller, roomID string, op roomOp) (user, room, string, error) {
	me, err := s.caller(ctx, c)
	if err != nil {
		return me, room{}, "", err
	}
	id, err := parseID("room_id", roomID)
	if err != nil {
		return me, room{}, "", err
	}
	r, role, err := s.store.roomFor(ctx, id, me.ID)
	if err != nil {
		return me, r, role, toStatus(err)
	}
	if op != opKick && op != opSetRole && op != opSetOwner { // those need the target's role too
		if err := authorize(op, me.Role, r.Kind, role, ""); err != nil {
			return me, r, role, err
		}
	}
	return me, r, role, nil
}

func (s *service) GetRoom(ctx context.Context, req *authv1.GetRoomRequest) (*authv1.Room, error) {
	me, r, role, err := s.roomAs(ctx, req.Caller, req.RoomId, opView)
	if err != nil {
		return nil, err
	}
	var others []user
	if role != "" && (r.Kind == authv1.RoomKindDirect || r.Kind == authv1.RoomKindGroup) {
		byRoom, err := s.store.otherMembers(ctx, me.ID, &r.ID)
		if err != nil {
			return nil, toStatus(err)
		}
		others = byRoom[r.ID]
	}
	return roomProto(r, role, others), nil
}

func (s *service) ListMyRooms(ctx context.Context, req *authv1.ListMyRoomsRequest) (*authv1.ListRoomsResponse, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	rooms, err := s.store.listMyRooms(ctx, me.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &authv1.ListRoomsResponse{}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, roomProto(r.room, r.Role, r.Others))
	}
	return out, nil
}

func (s *service) ListPublicRooms(ctx context.Context, req *authv1.ListPublicRoomsRequest) (*authv1.ListRoomsResponse, error) {
	if _, err := s.caller(ctx, req.Caller); err != nil {
		return nil, err
	}
	if err := validText("name_prefix", req.NamePrefix, maxRoomName, false); err != nil {
		return nil, err
	}
	rooms, err := s.store.listPublicRooms(ctx, req.NamePrefix, clampLimit(req.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &authv1.ListRoomsResponse{}
	for _, r := range rooms {
		out.Rooms = append(out.Rooms, roomProto(r, "", nil))
	}
	return out, nil
}

func (s *service) JoinRoom(ctx context.Context, req *authv1.JoinRoomRequest) (*authv1.Room, error) {
	me, r, role, err := s.roomAs(ctx, req.Caller, req.RoomId, opView)
	if err != nil && role == "" && err != errNotMember {
		return nil, err
	}
	if role != "" {
		return roomProto(r, role, nil), nil // already a member
	}
	if err := authorize(opJoin, me.Role, r.Kind, "", ""); err != nil {
		return nil, err
	}
	m, err := s.store.addMember(ctx, r.ID, me.ID, authv1.RoomRoleMember, me.ID.String(), "joined")
	if err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	r.Members++
	return roomProto(r, m.Role, nil), nil
}

func (s *service) InviteToRoom(ctx context.Context, req *authv1.InviteToRoomRequest) (*authv1.Member, error) {
	me, r, _, err := s.roomAs(ctx, req.Caller, req.RoomId, opInvite)
	if err != nil {
		return nil, err
	}
	target, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.userByID(ctx, target); err != nil {
		return nil, toStatus(err)
	}
	m, err := s.store.addMember(ctx, r.ID, target, authv1.RoomRoleMember, me.ID.String(), "invited")
	if err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	return memberProto(m), nil
}

func (s *service) LeaveRoom(ctx context.Context, req *authv1.LeaveRoomRequest) (*authv1.LeaveRoomResponse, error) {
	me, r, role, err := s.roomAs(ctx, req.Caller, req.RoomId, opView)
	if err != nil {
		return nil, err
	}
	if role == "" {
		return nil, errNotMember
	}
	if r.Kind == authv1.RoomKindDirect {
		return nil, failedPrecondition("DIRECT_ROOM", "1:1 direct conversations cannot be left")
	}
	if err := s.store.removeMember(ctx, r.ID, me.ID, me.ID.String(), "left"); err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	return &authv1.LeaveRoomResponse{}, nil
}

// target loads the member another member acts on.
func (s *service) target(ctx context.Context, roomID uuid.UUID, userID string) (uuid.UUID, string, error) {
	id, err := parseID("user_id", userID)
	if err != nil {
		return id, "", err
	}
	role, _, err := s.store.membership(ctx, roomID, id)
	if err != nil {
		return id, "", toStatus(err)
	}
	if role == "" {
		return id, "", apiErrors.New(errNotMember.Code, "TARGET_NOT_MEMBER", "that user is not a member of this room")
	}
	return id, role, nil
}

func (s *service) KickMember(ctx context.Context, req *authv1.KickMemberRequest) (*authv1.KickMemberResponse, error) {
	me, r, role, err := s.roomAs(ctx, req.Caller, req.RoomId, opKick)
	if err != nil {
		return nil, err
	}
	if req.UserId == me.ID.String() {
		return nil, failedPrecondition("KICK_SELF", "use LeaveRoom to leave a room")
	}
	target, targetRole, err := s.target(ctx, r.ID, req.UserId)
	if err != nil {
		return nil, err
	}
	if err := authorize(opKick, me.Role, r.Kind, role, targetRole); err != nil {
		return nil, err
	}
	if err := s.store.removeMember(ctx, r.ID, target, me.ID.String(), "kicked"); err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	return &authv1.KickMemberResponse{}, nil
}

func (s *service) SetMemberRole(ctx context.Context, req *authv1.SetMemberRoleRequest) (*authv1.Member, error) {
	me, r, role, err := s.roomAs(ctx, req.Caller, req.RoomId, opSetRole)
	if err != nil {
		return nil, err
	}
	target, targetRole, err := s.target(ctx, r.ID, req.UserId)
	if err != nil {
		return nil, err
	}
	var m member
	switch req.Role {
	case authv1.RoomRole_ROOM_ROLE_OWNER:
		if err := authorize(opSetOwner, me.Role, r.Kind, role, targetRole); err != nil {
			return nil, err
		}
		m, err = s.store.transferOwnership(ctx, r.ID, target)
	case authv1.RoomRole_ROOM_ROLE_ADMIN, authv1.RoomRole_ROOM_ROLE_MEMBER:
		if err := authorize(opSetRole, me.Role, r.Kind, role, targetRole); err != nil {
			return nil, err
		}
		m, err = s.store.setMemberRole(ctx, r.ID, target, authv1.RoomRoleName(req.Role))
	default:
		return nil, invalidArgument("role", "must be owner, admin or member")
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return memberProto(m), nil
}

func (s *service) ListMembers(ctx context.Context, req *authv1.ListMembersRequest) (*authv1.ListMembersResponse, error) {
	_, r, _, err := s.roomAs(ctx, req.Caller, req.RoomId, opView)
	if err != nil {
		return nil, err
	}
	members, err := s.store.listMembers(ctx, r.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &authv1.ListMembersResponse{}
	for _, m := range members {
		out.Members = append(out.Members, memberProto(m))
	}
	return out, nil
}

func (s *service) OpenDirect(ctx context.Context, req *authv1.OpenDirectRequest) (*authv1.Room, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	var others []user
	if req.UserId != "" || len(req.Usernames) == 0 {
		if len(req.Usernames) > 0 {
			return nil, invalidArgument("usernames", "name the people by user_id (one) or by usernames, not both")
		}
		peerID, err := parseID("user_id", req.UserId)
		if err != nil {
			return nil, err
		}
		if peerID == me.ID {
			return nil, failedPrecondition("DIRECT_SELF", "a direct conversation needs another person")
		}
		peer, err := s.store.userByID(ctx, peerID)
		if err != nil {
			return nil, toStatus(err)
		}
		others = []user{peer}
	} else if others, err = s.peopleNamed(ctx, me, req.Usernames); err != nil {
		return nil, err
	}
	if len(others) == 1 {
		// Only a 1:1 room is refused: a group's other members still
		// decide for themselves (their messages reach a blocker there).
		blocked, err := s.store.hasBlocked(ctx, others[0].ID, me.ID)
		if err != nil {
			return nil, toStatus(err)
		}
		if blocked {
			return nil, errBlocked
		}
	}
	ids := make([]uuid.UUID, len(others))
	for i, u := range others {
		ids[i] = u.ID
	}
	r, err := s.store.openDirect(ctx, me.ID, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	slices.SortFunc(others, func(a, b user) int { return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username)) })
	return roomProto(r, authv1.RoomRoleMember, others), nil
}

// peopleNamed resolves the other people of a direct conversation by
// username: 1 to maxGroupPeople-1 distinct names, none the caller's, all
// known; anything else is refused before anything is stored.
func (s *service) peopleNamed(ctx context.Context, me user, names []string) ([]user, error) {
	if len(names) > maxGroupPeople-1 {
		return nil, invalidArgument("usernames", "a conversation has at most %d people: name at most %d others, not %d",
			maxGroupPeople, maxGroupPeople-1, len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if err := validUsername(n); err != nil {
			return nil, invalidArgument("usernames", "%q is not a username", n)
		}
		key := strings.ToLower(n)
		if seen[key] {
			return nil, invalidArgument("usernames", "%q is named twice", n)
		}
		if key == strings.ToLower(me.Username) {
			return nil, invalidArgument("usernames", "name the other people, not yourself")
		}
		seen[key] = true
	}
	found, err := s.store.usersByName(ctx, names)
	if err != nil {
		return nil, toStatus(err)
	}
	others := make([]user, 0, len(names))
	for _, n := range names {
		u, ok := found[strings.ToLower(n)]
		if !ok {
			return nil, &ksvc.APIError{Code: codes.NotFound, Domain: string(apiErrors), Reason: errUserNotFound.Reason,
				Field: "usernames", Message: fmt.Sprintf("no user is named %q", n)}
		}
		others = append(others, u)
	}
	return others, nil
}

func (s *service) CheckMembership(ctx context.Context, req *authv1.CheckMembershipRequest) (*authv1.CheckMembershipResponse, error) {
	roomID, err := parseID("room_id", req.RoomId)
	if err != nil {
		return nil, err
	}
	userID, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	role, kind, blocked, err := s.store.check(ctx, roomID, userID)
	if err != nil {
		return nil, toStatus(err)
	}
	return &authv1.CheckMembershipResponse{Member: role != "", Role: roomRoleProto(role), Kind: roomKindProto(kind),
		Blocked: blocked}, nil
}

// roomProto answers with a room; others are the other members of a direct
// or group room (the first is a 1:1 room's peer).
func roomProto(r room, myRole string, others []user) *authv1.Room {
	p := &authv1.Room{Id: r.ID.String(), Name: r.Name, Topic: r.Topic, Kind: roomKindProto(r.Kind),
		CreatedBy: r.CreatedBy.String(), CreatedAt: timestamppb.New(r.CreatedAt), MemberCount: r.Members,
		MyRole: roomRoleProto(myRole)}
	for _, u := range others {
		p.Members = append(p.Members, userProto(u, false))
	}
	if r.Kind == authv1.RoomKindDirect && len(others) > 0 {
		p.Peer = p.Members[0]
	}
	return p
}

func memberProto(m member) *authv1.Member {
	return &authv1.Member{User: userProto(m.User, false), Role: roomRoleProto(m.Role), JoinedAt: timestamppb.New(m.JoinedAt)}
}

func roomRoleProto(r string) authv1.RoomRole {
	role, _ := authv1.ParseRoomRole(r)
	return role
}

func roomKindProto(k string) authv1.RoomKind {
	kind, _ := authv1.ParseRoomKind(k)
	return kind
}

// Blocks.

func (s *service) BlockUser(ctx context.Context, req *authv1.BlockUserRequest) (*authv1.BlockedUser, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	id, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	if id == me.ID {
		return nil, invalidArgument("user_id", "you cannot block yourself")
	}
	if _, err := s.store.userByID(ctx, id); err != nil {
		return nil, toStatus(err)
	}
	b, err := s.store.block(ctx, me.ID, id)
	if err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	out := blockProto(b)
	// The connector refuses the blocked one's sends in this room from
	// the moment it has the answer (livev1.BlockedKey).
	if out.DirectRoomId, err = s.store.directRoom(ctx, me.ID, id); err != nil {
		return nil, toStatus(err)
	}
	return out, nil
}

func (s *service) UnblockUser(ctx context.Context, req *authv1.UnblockUserRequest) (*authv1.UnblockUserResponse, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	id, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	if err := s.store.unblock(ctx, me.ID, id); err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	room, err := s.store.directRoom(ctx, me.ID, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &authv1.UnblockUserResponse{DirectRoomId: room}, nil
}

func (s *service) ListBlocks(ctx context.Context, req *authv1.ListBlocksRequest) (*authv1.ListBlocksResponse, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	blocks, err := s.store.blocks(ctx, me.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &authv1.ListBlocksResponse{}
	for _, b := range blocks {
		out.Blocked = append(out.Blocked, blockProto(b))
	}
	return out, nil
}

func blockProto(b block) *authv1.BlockedUser {
	return &authv1.BlockedUser{User: userProto(b.User, false), CreatedAt: timestamppb.New(b.CreatedAt)}
}

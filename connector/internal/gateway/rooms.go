package gateway

import (
	"net/http"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

func (g *Gateway) myRooms(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.ListMyRooms(ctx, &authv1.ListMyRoomsRequest{Caller: c})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": roomsOut(resp.Rooms)})
	return nil
}

func (g *Gateway) publicRooms(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	limit, e := queryLimit(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.ListPublicRooms(ctx, &authv1.ListPublicRoomsRequest{Caller: c, NamePrefix: r.URL.Query().Get("prefix"), Limit: limit})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": roomsOut(resp.Rooms)})
	return nil
}

func (g *Gateway) createRoom(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
		Kind  string `json:"kind"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	kind, ok := roomKindIn(in.Kind)
	if !ok {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "kind", Message: "kind must be public or private"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	room, err := g.auth.CreateRoom(ctx, &authv1.CreateRoomRequest{Caller: c, Name: in.Name, Topic: in.Topic, Kind: kind})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusCreated, roomOut(room))
	return nil
}

func (g *Gateway) getRoom(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	room, err := g.auth.GetRoom(ctx, &authv1.GetRoomRequest{Caller: c, RoomId: r.PathValue("id")})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, roomOut(room))
	return nil
}

func (g *Gateway) joinRoom(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	room, err := g.auth.JoinRoom(ctx, &authv1.JoinRoomRequest{Caller: c, RoomId: r.PathValue("id")})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, roomOut(room))
	return nil
}

func (g *Gateway) leaveRoom(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	if _, err := g.auth.LeaveRoom(ctx, &authv1.LeaveRoomRequest{Caller: c, RoomId: r.PathValue("id")}); err != nil {
		return fromGRPC(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) listMembers(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.ListMembers(ctx, &authv1.ListMembersRequest{Caller: c, RoomId: r.PathValue("id")})
	if err != nil {
		return fromGRPC(err)
	}
	members := make([]memberJSON, 0, len(resp.Members))
	for _, m := range resp.Members {
		members = append(members, memberOut(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": members})
	return nil
}

type userIDIn struct {
	UserID string `json:"user_id"`
}

func (g *Gateway) invite(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in userIDIn
	if e := decode(r, &in); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	m, err := g.auth.InviteToRoom(ctx, &authv1.InviteToRoomRequest{Caller: c, RoomId: r.PathValue("id"), UserId: in.UserID})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusCreated, memberOut(m))
	return nil
}

func (g *Gateway) kick(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	if _, err := g.auth.KickMember(ctx, &authv1.KickMemberRequest{Caller: c, RoomId: r.PathValue("id"), UserId: r.PathValue("user")}); err != nil {
		return fromGRPC(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) setMemberRole(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		Role string `json:"role"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	role, ok := authv1.ParseRoomRole(in.Role)
	if !ok {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "role", Message: "role must be owner, admin or member"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	m, err := g.auth.SetMemberRole(ctx, &authv1.SetMemberRoleRequest{Caller: c, RoomId: r.PathValue("id"), UserId: r.PathValue("user"), Role: role})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, memberOut(m))
	return nil
}

// openDirect opens a 1:1 conversation ({"user_id": …}) or a group one
// ({"usernames": ["ann", "bob"]}, up to 7 others).
func (g *Gateway) openDirect(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		UserID    string   `json:"user_id"`
		Usernames []string `json:"usernames"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	room, err := g.auth.OpenDirect(ctx, &authv1.OpenDirectRequest{Caller: c, UserId: in.UserID, Usernames: in.Usernames})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, roomOut(room))
	return nil
}

func (g *Gateway) listBlocks(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.ListBlocks(ctx, &authv1.ListBlocksRequest{Caller: c})
	if err != nil {
		return fromGRPC(err)
	}
	blocked := make([]blockJSON, 0, len(resp.Blocked))
	for _, b := range resp.Blocked {
		blocked = append(blocked, blockOut(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocked": blocked})
	return nil
}

// blockUser is a PUT: blocking someone already blocked changes nothing.
func (g *Gateway) blockUser(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	b, err := g.auth.BlockUser(ctx, &authv1.BlockUserRequest{Caller: c, UserId: r.PathValue("user")})
	if err != nil {
		return fromGRPC(err)
	}
	if apiErr := g.mirrorBlock(ctx, b.DirectRoomId, r.PathValue("user"), true); apiErr != nil {
		return apiErr
	}
	writeJSON(w, http.StatusOK, blockOut(b))
	return nil
}

func (g *Gateway) unblockUser(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.UnblockUser(ctx, &authv1.UnblockUserRequest{Caller: c, UserId: r.PathValue("user")})
	if err != nil {
		return fromGRPC(err)
	}
	if apiErr := g.mirrorBlock(ctx, resp.DirectRoomId, r.PathValue("user"), false); apiErr != nil {
		return apiErr
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

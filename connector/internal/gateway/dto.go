package gateway

import (
	"strings"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// The JSON shapes of the REST API. Enums are lower-case words; times are RFC 3339.

type userJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	Email       string    `json:"email,omitempty"`
}

type roomJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Topic       string    `json:"topic"`
	Kind        string    `json:"kind"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	MemberCount int32     `json:"member_count"`
	MyRole      string    `json:"my_role,omitempty"`
	Peer        *userJSON `json:"peer,omitempty"`
	// Members are a direct or group room's other members, by username.
	Members []*userJSON `json:"members,omitempty"`
}

type blockJSON struct {
	User      *userJSON `json:"user"`
	CreatedAt time.Time `json:"created_at"`
}

type memberJSON struct {
	User     *userJSON `json:"user"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

type tokenJSON struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int64     `json:"expires_in"`
	RefreshToken string    `json:"refresh_token,omitempty"` // in the cookie instead for the web client
	User         *userJSON `json:"user,omitempty"`
}

func userOut(u *authv1.User) *userJSON {
	if u == nil {
		return nil
	}
	j := &userJSON{ID: u.Id, Username: u.Username, DisplayName: u.DisplayName, AvatarURL: u.AvatarUrl,
		Role: authv1.RoleName(u.Role), Email: u.Email}
	if u.CreatedAt != nil {
		j.CreatedAt = u.CreatedAt.AsTime()
	}
	return j
}

func roomOut(r *authv1.Room) roomJSON {
	j := roomJSON{ID: r.Id, Name: r.Name, Topic: r.Topic, Kind: enumWord(r.Kind.String(), "ROOM_KIND_"),
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.AsTime(), MemberCount: r.MemberCount,
		MyRole: authv1.RoomRoleName(r.MyRole), Peer: userOut(r.Peer)}
	for _, u := range r.Members {
		j.Members = append(j.Members, userOut(u))
	}
	return j
}

func blockOut(b *authv1.BlockedUser) blockJSON {
	return blockJSON{User: userOut(b.User), CreatedAt: b.CreatedAt.AsTime()}
}

func roomsOut(rs []*authv1.Room) []roomJSON {
	out := make([]roomJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, roomOut(r))
	}
	return out
}

func memberOut(m *authv1.Member) memberJSON {
	return memberJSON{User: userOut(m.User), Role: authv1.RoomRoleName(m.Role), JoinedAt: m.JoinedAt.AsTime()}
}

func tokenOut(t *authv1.TokenResponse) tokenJSON {
	return tokenJSON{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn,
		RefreshToken: t.RefreshToken, User: userOut(t.User)}
}

// enumWord turns ROOM_KIND_PUBLIC into "public" and *_UNSPECIFIED into "".
func enumWord(s, prefix string) string {
	w := strings.ToLower(strings.TrimPrefix(s, prefix))
	if w == "unspecified" {
		return ""
	}
	return w
}

func roomKindIn(s string) (authv1.RoomKind, bool) {
	switch s {
	case "", "public":
		return authv1.RoomKind_ROOM_KIND_PUBLIC, true
	case "private":
		return authv1.RoomKind_ROOM_KIND_PRIVATE, true
	}
	return 0, false
}

package authv1

// Role and room kind names: how roles and kinds are stored, put in tokens
// and events and shown in the REST API. Every conversion between them and
// the gRPC enums is here.
const (
	// Global roles, as in tokens.
	RoleUser      = "user"
	RoleModerator = "moderator"
	RoleAdmin     = "admin"

	// Room roles.
	RoomRoleOwner  = "owner"
	RoomRoleAdmin  = "admin"
	RoomRoleMember = "member"

	// Room kinds.
	RoomKindPublic  = "public"
	RoomKindPrivate = "private"
	RoomKindDirect  = "direct"
	RoomKindGroup   = "group" // a group direct conversation
)

// RoleName returns the token name of a global role; unspecified is a user.
func RoleName(r GlobalRole) string {
	switch r {
	case GlobalRole_GLOBAL_ROLE_ADMIN:
		return RoleAdmin
	case GlobalRole_GLOBAL_ROLE_MODERATOR:
		return RoleModerator
	default:
		return RoleUser
	}
}

// ParseGlobalRole reads a global role's name.
func ParseGlobalRole(name string) (GlobalRole, bool) {
	switch name {
	case RoleAdmin:
		return GlobalRole_GLOBAL_ROLE_ADMIN, true
	case RoleModerator:
		return GlobalRole_GLOBAL_ROLE_MODERATOR, true
	case RoleUser:
		return GlobalRole_GLOBAL_ROLE_USER, true
	}
	return GlobalRole_GLOBAL_ROLE_UNSPECIFIED, false
}

// RoomRoleName returns a room role's name; "" for unspecified (not a member).
func RoomRoleName(r RoomRole) string {
	switch r {
	case RoomRole_ROOM_ROLE_OWNER:
		return RoomRoleOwner
	case RoomRole_ROOM_ROLE_ADMIN:
		return RoomRoleAdmin
	case RoomRole_ROOM_ROLE_MEMBER:
		return RoomRoleMember
	}
	return ""
}

// ParseRoomRole reads a room role's name.
func ParseRoomRole(name string) (RoomRole, bool) {
	switch name {
	case RoomRoleOwner:
		return RoomRole_ROOM_ROLE_OWNER, true
	case RoomRoleAdmin:
		return RoomRole_ROOM_ROLE_ADMIN, true
	case RoomRoleMember:
		return RoomRole_ROOM_ROLE_MEMBER, true
	}
	return RoomRole_ROOM_ROLE_UNSPECIFIED, false
}

// RoomKindName returns a room kind's name; "" for unspecified.
func RoomKindName(k RoomKind) string {
	switch k {
	case RoomKind_ROOM_KIND_PUBLIC:
		return RoomKindPublic
	case RoomKind_ROOM_KIND_PRIVATE:
		return RoomKindPrivate
	case RoomKind_ROOM_KIND_DIRECT:
		return RoomKindDirect
	case RoomKind_ROOM_KIND_GROUP:
		return RoomKindGroup
	}
	return ""
}

// ParseRoomKind reads a room kind's name.
func ParseRoomKind(name string) (RoomKind, bool) {
	for k := RoomKind_ROOM_KIND_PUBLIC; k <= RoomKind_ROOM_KIND_GROUP; k++ {
		if RoomKindName(k) == name {
			return k, true
		}
	}
	return RoomKind_ROOM_KIND_UNSPECIFIED, false
}

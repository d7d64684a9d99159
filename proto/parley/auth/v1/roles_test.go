package authv1

import "testing"

func TestEveryRoleNameReadsBackAsItsRole(t *testing.T) {
	for _, r := range []GlobalRole{GlobalRole_GLOBAL_ROLE_USER, GlobalRole_GLOBAL_ROLE_MODERATOR, GlobalRole_GLOBAL_ROLE_ADMIN} {
		if got, ok := ParseGlobalRole(RoleName(r)); !ok || got != r {
			t.Errorf("global %v -> %q -> %v", r, RoleName(r), got)
		}
	}
	for _, r := range []RoomRole{RoomRole_ROOM_ROLE_OWNER, RoomRole_ROOM_ROLE_ADMIN, RoomRole_ROOM_ROLE_MEMBER} {
		if got, ok := ParseRoomRole(RoomRoleName(r)); !ok || got != r {
			t.Errorf("room %v -> %q -> %v", r, RoomRoleName(r), got)
		}
	}
	for _, k := range []RoomKind{RoomKind_ROOM_KIND_PUBLIC, RoomKind_ROOM_KIND_PRIVATE, RoomKind_ROOM_KIND_DIRECT, RoomKind_ROOM_KIND_GROUP} {
		if got, ok := ParseRoomKind(RoomKindName(k)); !ok || got != k {
			t.Errorf("room kind %v -> %q -> %v", k, RoomKindName(k), got)
		}
	}
	if k, ok := ParseRoomKind(""); ok || RoomKindName(k) != "" {
		t.Error("no kind read as a kind")
	}
	if _, ok := ParseGlobalRole("root"); ok {
		t.Error("an unknown global role was read")
	}
	if r, ok := ParseRoomRole(""); ok || RoomRoleName(r) != "" {
		t.Error("no role read as a role")
	}
}

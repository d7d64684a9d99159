package main

// Who may do what to a room. Global roles: admin may do anything; moderator
// may see and kick in any room but not change roles. Room roles: owner >
// admin > member. Direct rooms have exactly their two members, forever;
// group direct rooms keep the people they were opened with, less those who
// leave (no one joins, is invited or kicked, and nothing is renamed).

import authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"

type roomOp int

const (
	opView     roomOp = iota // get the room, list its members
	opJoin                   // join without an invitation
	opInvite                 // add someone else
	opKick                   // remove someone else
	opSetRole                // change someone's room role
	opSetOwner               // transfer ownership
)

func rank(role string) int {
	switch role {
	case authv1.RoomRoleOwner:
		return 3
	case authv1.RoomRoleAdmin:
		return 2
	case authv1.RoomRoleMember:
		return 1
	}
	return 0
}

// authorize decides op for a caller with globalRole and callerRole in a room
// of kind ("" when not a member), acting on a member holding targetRole.
func authorize(op roomOp, globalRole, kind, callerRole, targetRole string) error {
	if (kind == authv1.RoomKindDirect || kind == authv1.RoomKindGroup) && op != opView {
		return errForbidden
	}
	isAdmin := globalRole == authv1.RoleAdmin
	switch op {
	case opView:
		if callerRole != "" || kind == authv1.RoomKindPublic || isAdmin || globalRole == authv1.RoleModerator {
			return nil
		}
		return errNotMember
	case opJoin:
		if kind == authv1.RoomKindPublic || isAdmin {
			return nil
		}
		return errForbidden
	case opInvite:
		switch {
		case isAdmin:
			return nil
		case callerRole == "":
			return errNotMember
		case kind == authv1.RoomKindPublic || rank(callerRole) >= rank(authv1.RoomRoleAdmin):
			return nil
		}
		return errForbidden
	case opKick:
		switch {
		case isAdmin:
			return nil
		case globalRole == authv1.RoleModerator:
			if targetRole == authv1.RoomRoleOwner {
				return errForbidden
			}
			return nil
		case callerRole == "":
			return errNotMember
		case rank(callerRole) >= rank(authv1.RoomRoleAdmin) && rank(callerRole) > rank(targetRole):
			return nil
		}
		return errForbidden
	case opSetRole:
		switch {
		case isAdmin:
			return nil
		case callerRole == "":
			return errNotMember
		case callerRole == authv1.RoomRoleOwner && targetRole != authv1.RoomRoleOwner:
			return nil
		}
		return errForbidden
	case opSetOwner:
		if isAdmin || callerRole == authv1.RoomRoleOwner {
			return nil
		}
		if callerRole == "" {
			return errNotMember
		}
		return errForbidden
	}
	return errForbidden
}

package main

// Who may do what to a room. Global roles: admin may do anything; moderator
// may see and kick in any room but not change roles. Room roles: owner >
// admin > member. Direct rooms have exactly their two members, forever.

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
	case roleOwner:
		return 3
	case roleAdmin:
		return 2
	case roleMember:
		return 1
	}
	return 0
}

// authorize decides op for a caller with globalRole and callerRole in a room
// of kind ("" when not a member), acting on a member holding targetRole.
func authorize(op roomOp, globalRole, kind, callerRole, targetRole string) error {
	if kind == kindDirect && op != opView {
		return errForbidden
	}
	isAdmin := globalRole == roleAdmin
	switch op {
	case opView:
		if callerRole != "" || kind == kindPublic || isAdmin || globalRole == "moderator" {
			return nil
		}
		return errNotMember
	case opJoin:
		if kind == kindPublic || isAdmin {
			return nil
		}
		return errForbidden
	case opInvite:
		switch {
		case isAdmin:
			return nil
		case callerRole == "":
			return errNotMember
		case kind == kindPublic || rank(callerRole) >= rank(roleAdmin):
			return nil
		}
		return errForbidden
	case opKick:
		switch {
		case isAdmin:
			return nil
		case globalRole == "moderator":
			if targetRole == roleOwner {
				return errForbidden
			}
			return nil
		case callerRole == "":
			return errNotMember
		case rank(callerRole) >= rank(roleAdmin) && rank(callerRole) > rank(targetRole):
			return nil
		}
		return errForbidden
	case opSetRole:
		switch {
		case isAdmin:
			return nil
		case callerRole == "":
			return errNotMember
		case callerRole == roleOwner && targetRole != roleOwner:
			return nil
		}
		return errForbidden
	case opSetOwner:
		if isAdmin || callerRole == roleOwner {
			return nil
		}
		if callerRole == "" {
			return errNotMember
		}
		return errForbidden
	}
	return errForbidden
}

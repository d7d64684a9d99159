package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

const roomColumns = `r.id, r.kind, r.name, r.topic, r.created_by, r.created_at,
	(SELECT count(*) FROM memberships m2 WHERE m2.room_id = r.id)::int`

func scanRoom(row pgx.Row, extra ...any) (room, error) {
	var r room
	err := row.Scan(append([]any{&r.ID, &r.Kind, &r.Name, &r.Topic, &r.CreatedBy, &r.CreatedAt, &r.Members}, extra...)...)
	return r, err
}

func memberEvent(typ string, roomID, userID uuid.UUID, role, by, reason string) outboxEvent {
	return outboxEvent{Type: typ, PartitionKey: roomID.String(), Data: eventsv1.RoomMember{
		RoomID: roomID.String(), UserID: userID.String(), Role: role, By: by, Reason: reason, At: time.Now().UTC()}}
}

func (s *store) createRoom(ctx context.Context, r room) (room, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rooms (id, kind, name, topic, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.Kind, r.Name, r.Topic, r.CreatedBy, r.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, 'owner')`, r.ID, r.CreatedBy); err != nil {
			return err
		}
		return addOutbox(ctx, tx, memberEvent(eventsv1.TypeRoomMemberJoined, r.ID, r.CreatedBy, authv1.RoomRoleOwner, r.CreatedBy.String(), "created"))
	})
	r.Members = 1
	return r, err
}

// roomFor returns the room and userID's role in it ("" when not a member).
func (s *store) roomFor(ctx context.Context, roomID, userID uuid.UUID) (room, string, error) {
	var role *string
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+`,
		(SELECT role FROM memberships m WHERE m.room_id = r.id AND m.user_id = $2)
		FROM rooms r WHERE r.id = $1`, roomID, userID), &role)
	if errors.Is(err, errNoRows) {
		return r, "", errRoomNotFound
	}
	if role == nil {
		return r, "", err
	}
	return r, *role, err
}

// membership is the hot-path check: one indexed lookup.
func (s *store) membership(ctx context.Context, roomID, userID uuid.UUID) (role, kind string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT m.role, r.kind FROM memberships m JOIN rooms r ON r.id = m.room_id
		WHERE m.room_id = $1 AND m.user_id = $2`, roomID, userID).Scan(&role, &kind)
	if errors.Is(err, errNoRows) {
		return "", "", nil
	}
	return role, kind, err
}

// addMember makes userID a member with role; an existing membership is kept
// as it is and no event is emitted (joining twice is not an error).
func (s *store) addMember(ctx context.Context, roomID, userID uuid.UUID, role, by, reason string) (member, error) {
	var m member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO NOTHING`, roomID, userID, role)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			if err := addOutbox(ctx, tx, memberEvent(eventsv1.TypeRoomMemberJoined, roomID, userID, role, by, reason)); err != nil {
				return err
			}
		}
		m, err = memberIn(ctx, tx, roomID, userID)
		return err
	})
	return m, err
}

func memberIn(ctx context.Context, q pgx.Tx, roomID, userID uuid.UUID) (member, error) {
	var m member
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
	if errors.Is(err, errNoRows) {
		return m, errUserNotFound
	}
	if err != nil {
		return m, err
	}
	m.User = u
	err = q.QueryRow(ctx, `SELECT role, joined_at FROM memberships WHERE room_id = $1 AND user_id = $2`, roomID, userID).Scan(&m.Role, &m.JoinedAt)
	return m, err
}

// removeMember ends a membership. When the last owner leaves a room that
// still has members, the longest-standing admin (or member) becomes owner,
// so no room is left unmanageable.
func (s *store) removeMember(ctx context.Context, roomID, userID uuid.UUID, by, reason string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `DELETE FROM memberships WHERE room_id = $1 AND user_id = $2 RETURNING role`, roomID, userID).Scan(&role)
		if errors.Is(err, errNoRows) {
			return errNotMember
		}
		if err != nil {
			return err
		}
		events := []outboxEvent{memberEvent(eventsv1.TypeRoomMemberLeft, roomID, userID, role, by, reason)}
		if role == authv1.RoomRoleOwner {
			var heir uuid.UUID
			err := tx.QueryRow(ctx, `UPDATE memberships SET role = 'owner'
				WHERE room_id = $1 AND user_id = (
					SELECT user_id FROM memberships WHERE room_id = $1
					AND NOT EXISTS (SELECT 1 FROM memberships WHERE room_id = $1 AND role = 'owner')
					ORDER BY (role = 'admin') DESC, joined_at LIMIT 1)
				RETURNING user_id`, roomID).Scan(&heir)
			if err != nil && !errors.Is(err, errNoRows) {
				return err
			}
		}
		return addOutbox(ctx, tx, events...)
	})
}

func (s *store) setMemberRole(ctx context.Context, roomID, userID uuid.UUID, role string) (member, error) {
	var m member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE memberships SET role = $3 WHERE room_id = $1 AND user_id = $2`, roomID, userID, role)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotMember
		}
		m, err = memberIn(ctx, tx, roomID, userID)
		return err
	})
	return m, err
}

// transferOwnership makes to the owner and every previous owner an admin.
func (s *store) transferOwnership(ctx context.Context, roomID, to uuid.UUID) (member, error) {
	var m member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE memberships SET role = 'owner' WHERE room_id = $1 AND user_id = $2`, roomID, to)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotMember
		}
		if _, err := tx.Exec(ctx, `UPDATE memberships SET role = 'admin' WHERE room_id = $1 AND role = 'owner' AND user_id <> $2`, roomID, to); err != nil {
			return err
		}
		m, err = memberIn(ctx, tx, roomID, to)
		return err
	})
	return m, err
}

type roomWithRole struct {
	room
	Role   string
	Others []user // direct and group rooms: the other members, by username
}

func (s *store) listMyRooms(ctx context.Context, userID uuid.UUID) ([]roomWithRole, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+`, m.role
		FROM memberships m JOIN rooms r ON r.id = m.room_id
		WHERE m.user_id = $1 ORDER BY r.created_at`, userID)
	if err != nil {
		return nil, err
	}
	rooms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (roomWithRole, error) {
		var rr roomWithRole
		var err error
		rr.room, err = scanRoom(row, &rr.Role)
		return rr, err
	})
	if err != nil {
		return nil, err
	}
	others, err := s.otherMembers(ctx, userID, nil)
	for i := range rooms {
		rooms[i].Others = others[rooms[i].ID]
	}
	return rooms, err
}

func (s *store) listPublicRooms(ctx context.Context, prefix string, limit int) ([]room, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+` FROM rooms r
		WHERE r.kind = 'public' AND lower(r.name) LIKE $1 ORDER BY lower(r.name) LIMIT $2`, likePrefix(prefix), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (room, error) { return scanRoom(row) })
}

func (s *store) listMembers(ctx context.Context, roomID uuid.UUID) ([]member, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.`+strings.ReplaceAll(userColumns, ", ", ", u.")+`, m.role, m.joined_at
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1
		ORDER BY m.joined_at`, roomID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (member, error) {
		var m member
		u := &m.User
		err := row.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.AvatarURL, &u.PasswordHash, &u.Role, &u.CreatedAt, &m.Role, &m.JoinedAt)
		return m, err
	})
}

// maxGroupPeople bounds a group direct conversation, its opener included.
const maxGroupPeople = eventsv1.MaxConversationPeople

// directKey names a set of people's direct room: their ids, sorted, joined
// by ':'. It is unique, so concurrent openings of the same set agree, and a
// pair's key is the one 1:1 rooms always had.
func directKey(people []uuid.UUID) string {
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = p.String()
	}
	slices.Sort(ids)
	return strings.Join(ids, ":")
}

// openDirect returns the direct room of opener and others, creating it the
// first time: a 1:1 room for one other person, a group room (fixed
// membership) for more. The caller has checked that others are distinct,
// exist and do not include the opener.
func (s *store) openDirect(ctx context.Context, opener uuid.UUID, others []uuid.UUID) (room, error) {
	people := append([]uuid.UUID{opener}, others...)
	key := directKey(people)
	kind := authv1.RoomKindDirect
	if len(others) > 1 {
		kind = authv1.RoomKindGroup
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id := uuid.Must(uuid.NewV7())
		tag, err := tx.Exec(ctx, `INSERT INTO rooms (id, kind, name, created_by, direct_key) VALUES ($1, $2, '', $3, $4)
			ON CONFLICT (direct_key) DO NOTHING`, id, kind, opener, key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// The room exists. An opener who left the group comes back (by
			// their own choice); others who left stay out.
			if err := tx.QueryRow(ctx, `SELECT id FROM rooms WHERE direct_key = $1`, key).Scan(&id); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, 'member')
				ON CONFLICT (room_id, user_id) DO NOTHING`, id, opener)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			return addOutbox(ctx, tx, memberEvent(eventsv1.TypeRoomMemberJoined, id, opener, authv1.RoomRoleMember, opener.String(), "direct"))
		}
		var events []outboxEvent
		everyone := make([]string, len(people))
		for i, u := range people {
			everyone[i] = u.String()
		}
		for _, u := range people {
			if _, err := tx.Exec(ctx, `INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, 'member')`, id, u); err != nil {
				return err
			}
			ev := memberEvent(eventsv1.TypeRoomMemberJoined, id, u, authv1.RoomRoleMember, opener.String(), "direct")
			data := ev.Data.(eventsv1.RoomMember)
			data.Members = everyone
			ev.Data = data
			events = append(events, ev)
		}
		return addOutbox(ctx, tx, events...)
	})
	if err != nil {
		return room{}, err
	}
	return scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+` FROM rooms r WHERE r.direct_key = $1`, key))
}

// usersByName returns the users with the given names (any case), by
// lower-cased name; unknown names are absent.
func (s *store) usersByName(ctx context.Context, names []string) (map[string]user, error) {
	lowered := make([]string, len(names))
	for i, n := range names {
		lowered[i] = strings.ToLower(n)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE lower(username) = ANY($1)`, lowered)
	if err != nil {
		return nil, err
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (user, error) { return scanUser(r) })
	out := make(map[string]user, len(users))
	for _, u := range users {
		out[strings.ToLower(u.Username)] = u
	}
	return out, err
}

// otherMembers returns, for each direct and group room of userID, its
// other members by username.
func (s *store) otherMembers(ctx context.Context, userID uuid.UUID, roomID *uuid.UUID) (map[uuid.UUID][]user, error) {
	rows, err := s.pool.Query(ctx, `SELECT pm.room_id, u.id, u.username, u.display_name, u.avatar_url, u.role
		FROM memberships m JOIN rooms r ON r.id = m.room_id AND r.kind IN ('direct', 'group')
		JOIN memberships pm ON pm.room_id = m.room_id AND pm.user_id <> m.user_id
		JOIN users u ON u.id = pm.user_id
		WHERE m.user_id = $1 AND ($2::uuid IS NULL OR m.room_id = $2)
		ORDER BY lower(u.username)`, userID, roomID)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID][]user{}
	var roomOf uuid.UUID
	var u user
	_, err = pgx.ForEachRow(rows, []any{&roomOf, &u.ID, &u.Username, &u.DisplayName, &u.AvatarURL, &u.Role}, func() error {
		out[roomOf] = append(out[roomOf], u)
		return nil
	})
	return out, err
}

// check answers the connector's per-send question in one indexed read:
// userID's role in the room ("" when not a member), the room's kind, and,
// for a 1:1 room, whether its other member blocked userID.
func (s *store) check(ctx context.Context, roomID, userID uuid.UUID) (role, kind string, blocked bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT m.role, r.kind, r.kind = 'direct' AND EXISTS (
			SELECT 1 FROM memberships o JOIN user_blocks b ON b.blocker = o.user_id AND b.blocked = m.user_id
			WHERE o.room_id = m.room_id AND o.user_id <> m.user_id)
		FROM memberships m JOIN rooms r ON r.id = m.room_id
		WHERE m.room_id = $1 AND m.user_id = $2`, roomID, userID).Scan(&role, &kind, &blocked)
	if errors.Is(err, errNoRows) {
		return "", "", false, nil
	}
	return role, kind, blocked, err
}

// Blocks.

type block struct {
	User      user // the blocked
	CreatedAt time.Time
}

// hasBlocked reports whether blocker blocked blocked.
func (s *store) hasBlocked(ctx context.Context, blocker, blocked uuid.UUID) (bool, error) {
	var yes bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM user_blocks WHERE blocker = $1 AND blocked = $2)`,
		blocker, blocked).Scan(&yes)
	return yes, err
}

// blockEvent is the event of a block or unblock, naming the pair's 1:1
// room if they have one, whose cached memberships it changes.
func blockEvent(ctx context.Context, tx pgx.Tx, typ string, blocker, blocked uuid.UUID) (outboxEvent, error) {
	ev := eventsv1.UserBlock{BlockerID: blocker.String(), BlockedID: blocked.String(), At: time.Now().UTC()}
	var roomID uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM rooms WHERE direct_key = $1`, directKey([]uuid.UUID{blocker, blocked})).Scan(&roomID)
	if err == nil {
		ev.DirectRoomID = roomID.String()
	} else if !errors.Is(err, errNoRows) {
		return outboxEvent{}, err
	}
	return outboxEvent{Type: typ, PartitionKey: blocker.String(), Data: ev}, nil
}

// directRoom returns the id of the 1:1 room of a and b, or "" when they
// have none.
func (s *store) directRoom(ctx context.Context, a, b uuid.UUID) (string, error) {
	var roomID uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM rooms WHERE direct_key = $1`, directKey([]uuid.UUID{a, b})).Scan(&roomID)
	if errors.Is(err, errNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return roomID.String(), nil
}

// block records that blocker blocked blocked; blocking again changes
// nothing and emits nothing.
func (s *store) block(ctx context.Context, blocker, blocked uuid.UUID) (block, error) {
	var b block
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO user_blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING`, blocker, blocked)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			ev, err := blockEvent(ctx, tx, eventsv1.TypeUserBlocked, blocker, blocked)
			if err != nil {
				return err
			}
			if err := addOutbox(ctx, tx, ev); err != nil {
				return err
			}
		}
		if b.User, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, blocked)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT created_at FROM user_blocks WHERE blocker = $1 AND blocked = $2`, blocker, blocked).Scan(&b.CreatedAt)
	})
	return b, err
}

// unblock ends a block; unblocking someone not blocked changes nothing.
func (s *store) unblock(ctx context.Context, blocker, blocked uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM user_blocks WHERE blocker = $1 AND blocked = $2`, blocker, blocked)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ev, err := blockEvent(ctx, tx, eventsv1.TypeUserUnblocked, blocker, blocked)
		if err != nil {
			return err
		}
		return addOutbox(ctx, tx, ev)
	})
}

// blocks lists whom blocker blocked, most recent first.
func (s *store) blocks(ctx context.Context, blocker uuid.UUID) ([]block, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.`+strings.ReplaceAll(userColumns, ", ", ", u.")+`, b.created_at
		FROM user_blocks b JOIN users u ON u.id = b.blocked WHERE b.blocker = $1
		ORDER BY b.created_at DESC`, blocker)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (block, error) {
		var b block
		u := &b.User
		err := row.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.AvatarURL, &u.PasswordHash, &u.Role, &u.CreatedAt, &b.CreatedAt)
		return b, err
	})
}

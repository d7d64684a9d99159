package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Room kinds as stored (room roles: authv1.RoomRole*).
const (
	kindPublic  = "public"
	kindPrivate = "private"
	kindDirect  = "direct"
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
	Role string
	Peer *user // direct rooms: the other member
}

func (s *store) listMyRooms(ctx context.Context, userID uuid.UUID) ([]roomWithRole, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+`, m.role,
			p.id, p.username, p.display_name, p.avatar_url, p.role
		FROM memberships m JOIN rooms r ON r.id = m.room_id
		LEFT JOIN memberships pm ON r.kind = 'direct' AND pm.room_id = r.id AND pm.user_id <> m.user_id
		LEFT JOIN users p ON p.id = pm.user_id
		WHERE m.user_id = $1 ORDER BY r.created_at`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (roomWithRole, error) {
		var rr roomWithRole
		var pid *uuid.UUID
		var pname, pdisplay, pavatar, prole *string
		var err error
		rr.room, err = scanRoom(row, &rr.Role, &pid, &pname, &pdisplay, &pavatar, &prole)
		if pid != nil {
			rr.Peer = &user{ID: *pid, Username: *pname, DisplayName: *pdisplay, AvatarURL: *pavatar, Role: *prole}
		}
		return rr, err
	})
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

// openDirect returns the direct room of a and b, creating it the first time.
// The sorted pair is unique, so concurrent calls from both sides agree.
func (s *store) openDirect(ctx context.Context, a, b uuid.UUID) (room, error) {
	lo, hi := a, b
	if hi.String() < lo.String() {
		lo, hi = hi, lo
	}
	key := lo.String() + ":" + hi.String()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id := uuid.Must(uuid.NewV7())
		tag, err := tx.Exec(ctx, `INSERT INTO rooms (id, kind, name, created_by, direct_key) VALUES ($1, 'direct', '', $2, $3)
			ON CONFLICT (direct_key) DO NOTHING`, id, a, key)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		var events []outboxEvent
		for _, u := range []uuid.UUID{a, b} {
			if _, err := tx.Exec(ctx, `INSERT INTO memberships (room_id, user_id, role) VALUES ($1, $2, 'member')`, id, u); err != nil {
				return err
			}
			events = append(events, memberEvent(eventsv1.TypeRoomMemberJoined, id, u, authv1.RoomRoleMember, a.String(), "direct"))
		}
		return addOutbox(ctx, tx, events...)
	})
	if err != nil {
		return room{}, err
	}
	return scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+` FROM rooms r WHERE r.direct_key = $1`, key))
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// store is auth's PostgreSQL access. Methods that change state and emit an
// event write the event to the outbox in the same transaction.
type store struct {
	pool *pgxpool.Pool
}

type user struct {
	ID           uuid.UUID
	Username     string
	Email        string
	DisplayName  string
	AvatarURL    string
	PasswordHash string
	Role         string
	CreatedAt    time.Time
}

type room struct {
	ID        uuid.UUID
	Kind      string
	Name      string
	Topic     string
	CreatedBy uuid.UUID
	CreatedAt time.Time
	Members   int32
}

type member struct {
	User     user
	Role     string
	JoinedAt time.Time
}

// outboxEvent is an event to publish once the transaction commits.
type outboxEvent struct {
	Type         string
	PartitionKey string
	Data         any
}

var errNoRows = pgx.ErrNoRows

const userColumns = `id, username, email, display_name, avatar_url, password_hash, role, created_at`

func scanUser(row pgx.Row) (user, error) {
	var u user
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.AvatarURL, &u.PasswordHash, &u.Role, &u.CreatedAt)
	return u, err
}

// inTx runs fn in a transaction. It commits when fn returns nil or one of
// keep (so a refusal can persist its side effects) and rolls back otherwise.
func (s *store) inTx(ctx context.Context, fn func(pgx.Tx) error, keep ...error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	fnErr := fn(tx)
	if fnErr != nil && !slices.ContainsFunc(keep, func(k error) bool { return errors.Is(fnErr, k) }) {
		return fnErr
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	return fnErr
}

func addOutbox(ctx context.Context, tx pgx.Tx, events ...outboxEvent) error {
	for _, e := range events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("auth: encode %s: %w", e.Type, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (id, type, partition_key, data) VALUES ($1, $2, $3, $4)`,
			uuid.Must(uuid.NewV7()), e.Type, e.PartitionKey, data); err != nil {
			return fmt.Errorf("auth: outbox: %w", err)
		}
	}
	return nil
}

const firstUserLock = 7_261_002

// createUser inserts u and returns the global role it was given.
func (s *store) createUser(ctx context.Context, u user, ev outboxEvent) (string, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The first account administers the installation: someone has to.
		// The lock makes "first" exact when registrations race.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, firstUserLock); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO users (id, username, email, display_name, password_hash, role, created_at)
			VALUES ($1, $2, $3, $4, $5, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END, $6)
			RETURNING role`, u.ID, u.Username, u.Email, u.DisplayName, u.PasswordHash, u.CreatedAt).Scan(&u.Role)
		if err != nil {
			return err
		}
		return addOutbox(ctx, tx, ev)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		if strings.Contains(pgErr.ConstraintName, "email") {
			return "", errEmailTaken
		}
		return "", errUsernameTaken
	}
	return u.Role, err
}

func (s *store) userByLogin(ctx context.Context, login string) (user, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1`, login))
}

func (s *store) userByID(ctx context.Context, id uuid.UUID) (user, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, errNoRows) {
		return u, errUserNotFound
	}
	return u, err
}

func (s *store) updateProfile(ctx context.Context, id uuid.UUID, displayName, avatarURL *string) (user, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET
			display_name = COALESCE($2, display_name), avatar_url = COALESCE($3, avatar_url), updated_at = now()
		WHERE id = $1 RETURNING `+userColumns, id, displayName, avatarURL))
	if errors.Is(err, errNoRows) {
		return u, errUserNotFound
	}
	return u, err
}

// setPassword stores a new hash and revokes every refresh token of the user,
// so a password change signs out other sessions.
func (s *store) setPassword(ctx context.Context, id uuid.UUID, hash string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id)
		return err
	})
}

func (s *store) setRole(ctx context.Context, id uuid.UUID, role string) (user, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, id, role))
	if errors.Is(err, errNoRows) {
		return u, errUserNotFound
	}
	return u, err
}

func (s *store) searchUsers(ctx context.Context, prefix string, limit int) ([]user, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE lower(username) LIKE $1 ORDER BY lower(username) LIMIT $2`, likePrefix(prefix), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (user, error) { return scanUser(r) })
}

// likePrefix escapes LIKE wildcards so user input matches literally.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return strings.ToLower(r.Replace(s)) + "%"
}

// Refresh tokens.

type refreshToken struct {
	ID        uuid.UUID
	FamilyID  uuid.UUID
	UserID    uuid.UUID
	Hash      []byte
	ExpiresAt time.Time
}

func (s *store) insertRefresh(ctx context.Context, rt refreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, rt.ID, rt.FamilyID, rt.UserID, rt.Hash, rt.ExpiresAt)
	return err
}

// rotateRefresh exchanges the token with hash for next (same family). A
// token that was already rotated or revoked is a replay: the whole family is
// revoked and the exchange refused.
func (s *store) rotateRefresh(ctx context.Context, hash []byte, next refreshToken) (uuid.UUID, error) {
	var userID uuid.UUID
	var reused bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var cur refreshToken
		var rotated, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, hash).
			Scan(&cur.ID, &cur.FamilyID, &cur.UserID, &cur.ExpiresAt, &rotated, &revoked)
		if errors.Is(err, errNoRows) {
			return errInvalidGrant
		}
		if err != nil {
			return err
		}
		if rotated != nil || revoked != nil {
			reused = rotated != nil && revoked == nil
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, cur.FamilyID)
			if err != nil {
				return err
			}
			return errReplay // commit the revocation, then refuse
		}
		if time.Now().After(cur.ExpiresAt) {
			return errInvalidGrant
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1`, cur.ID); err != nil {
			return err
		}
		next.FamilyID, next.UserID = cur.FamilyID, cur.UserID
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, next.ID, next.FamilyID, next.UserID, next.Hash, next.ExpiresAt); err != nil {
			return err
		}
		userID = cur.UserID
		return nil
	}, errReplay)
	if errors.Is(err, errReplay) {
		if reused {
			return uuid.Nil, errRefreshReused
		}
		return uuid.Nil, errInvalidGrant
	}
	return userID, err
}

// errReplay makes inTx commit the family's revocation and still refuse.
var errReplay = errors.New("refresh token replayed")

// errRefreshReused is errInvalidGrant, distinguishable in logs.
var errRefreshReused = apiErrors.New(errInvalidGrant.Code, errInvalidGrant.Reason,
	"refresh token reuse detected: every session of this login was signed out")

// revokeFamily revokes the family of the token with hash; unknown tokens are ignored.
func (s *store) revokeFamily(ctx context.Context, hash []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
		WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)`, hash)
	return err
}

package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock serialises migrations of instances that start at once.
const migrationLock = 7_261_002

// store is the index in PostgreSQL. Every write is an upsert that keeps
// the newest state, so redelivery and any arrival order give one result.
type store struct {
	pool *pgxpool.Pool
}

func (s *store) migrate(ctx context.Context) error {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return stores.Migrate(ctx, s.pool, files, migrationLock, "search")
}

// Each upsert below matches a row of the same room only: an event naming a
// message of another room changes nothing.

// putMessages indexes stored messages, in one statement: a busy Trigger
// delivers many at once, and one upsert of many rows costs PostgreSQL one
// parse, plan and commit instead of one each. An edit, delete or
// moderation that came first stays.
func (s *store) putMessages(ctx context.Context, ms []eventsv1.Message) error {
	// ON CONFLICT may update a row once per statement; a message twice in
	// a batch is a redelivery of the same event.
	seen := make(map[string]bool, len(ms))
	var (
		ids, rooms, users, names, texts []string
		seqs                            []int64
		created, textAt                 []pgtype.Timestamptz
		deleted, hidden                 []bool
	)
	for _, m := range ms {
		if seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		ids, rooms, seqs, users, names = append(ids, m.ID), append(rooms, m.RoomID), append(seqs, m.Seq), append(users, m.UserID), append(names, m.Username)
		created = append(created, pgtype.Timestamptz{Time: m.CreatedAt.UTC(), Valid: true})
		texts, textAt = append(texts, storable(m.Text)), append(textAt, textVersion(m.EditedAt))
		deleted, hidden = append(deleted, m.Deleted), append(hidden, m.Hidden)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO messages AS o (message_id, room_id, seq, user_id, username, created_at, stored, text, text_at, deleted, hidden)
		SELECT id, room, seq, uid, uname, created, true, CASE WHEN del THEN '' ELSE txt END, txt_at, del, hid
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
			$8::timestamptz[], $9::boolean[], $10::boolean[]) AS m(id, room, seq, uid, uname, created, txt, txt_at, del, hid)
		ON CONFLICT (message_id) DO UPDATE SET
			seq = EXCLUDED.seq, user_id = EXCLUDED.user_id, username = EXCLUDED.username,
			created_at = EXCLUDED.created_at, stored = true,
			text = CASE WHEN o.deleted OR EXCLUDED.deleted THEN ''
				WHEN o.text_at > EXCLUDED.text_at THEN o.text ELSE EXCLUDED.text END,
			text_at = greatest(o.text_at, EXCLUDED.text_at),
			deleted = o.deleted OR EXCLUDED.deleted,
			hidden = CASE WHEN o.moderated_at IS NULL THEN EXCLUDED.hidden ELSE o.hidden END
		WHERE o.room_id = EXCLUDED.room_id`,
		ids, rooms, seqs, users, names, created, texts, textAt, deleted, hidden)
	if err != nil {
		return fmt.Errorf("search: index %d messages: %w", len(ids), err)
	}
	return nil
}

// editMessage replaces the text with an edit made after the one held.
func (s *store) editMessage(ctx context.Context, e eventsv1.MessageEdited) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO messages AS o (message_id, room_id, text, text_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id) DO UPDATE SET text = EXCLUDED.text, text_at = EXCLUDED.text_at
		WHERE o.room_id = EXCLUDED.room_id AND NOT o.deleted AND o.text_at < EXCLUDED.text_at`,
		e.MessageID, e.RoomID, storable(e.Text), e.EditedAt.UTC())
	if err != nil {
		return fmt.Errorf("search: edit of %s: %w", e.MessageID, err)
	}
	return nil
}

// deleteMessage drops the text for good.
func (s *store) deleteMessage(ctx context.Context, roomID, id string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO messages AS o (message_id, room_id, deleted) VALUES ($1, $2, true)
		ON CONFLICT (message_id) DO UPDATE SET deleted = true, text = ''
		WHERE o.room_id = EXCLUDED.room_id`, id, roomID)
	if err != nil {
		return fmt.Errorf("search: delete of %s: %w", id, err)
	}
	return nil
}

// moderate records a verdict (hidden or restored) made at `at`, unless a
// later one is held.
func (s *store) moderate(ctx context.Context, roomID, id string, hidden bool, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO messages AS o (message_id, room_id, hidden, moderated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id) DO UPDATE SET hidden = EXCLUDED.hidden, moderated_at = EXCLUDED.moderated_at
		WHERE o.room_id = EXCLUDED.room_id AND (o.moderated_at IS NULL OR o.moderated_at < EXCLUDED.moderated_at)`,
		id, roomID, hidden, at.UTC())
	if err != nil {
		return fmt.Errorf("search: moderation of %s: %w", id, err)
	}
	return nil
}

// storable drops NUL characters, which PostgreSQL's text cannot hold and
// no one searches for.
func storable(text string) string { return strings.ReplaceAll(text, "\x00", "") }

// textVersion is the text_at of a text written at t: -infinity for the
// text as sent (no edit time), older than any edit.
func textVersion(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t.UTC(), Valid: true}
}

// queryHasWords reports whether q, parsed as a web search, looks for at
// least one word: an empty query, or one that only excludes, would match
// nothing or everything.
func (s *store) queryHasWords(ctx context.Context, q string) (bool, error) {
	var tree string
	err := s.pool.QueryRow(ctx, `SELECT querytree(websearch_to_tsquery('simple', $1))`, q).Scan(&tree)
	if err != nil {
		return false, fmt.Errorf("search: parse query: %w", err)
	}
	return tree != "" && tree != "T", nil
}

// hitRow is one message found, with its excerpt as ts_headline marked it.
type hitRow struct {
	id, roomID, userID, username string
	seq                          int64
	createdAt                    time.Time
	editedAt                     *time.Time
	headline                     string
}

// The markers ts_headline puts around matches: characters of Unicode's
// private use area, taken out of the text first, so the excerpt splits
// into plain text and matches without any markup to escape or trust.
// '<' and '>' stand in as two more such characters while ts_headline
// works, or its parser would take what looks like a tag for one and drop
// it from the excerpt; fragments turns them back.
const (
	matchStart = "\uE000"
	matchStop  = "\uE001"
	ltStandIn  = "\uE002"
	gtStandIn  = "\uE003"
)

// headlineFrom and headlineTo are translate()'s arguments that make the
// text ts_headline reads: the markers and stand-ins typed in it deleted,
// '<' and '>' swapped for their stand-ins.
const (
	headlineFrom = "<>" + matchStart + matchStop + ltStandIn + gtStandIn
	headlineTo   = ltStandIn + gtStandIn
)

// page is a search's position: the last hit of the previous page.
type page struct {
	createdAt time.Time
	id        string
}

// search finds the newest visible messages of rooms matching q, after
// the cursor, at most limit of them.
func (s *store) search(ctx context.Context, q string, rooms []string, after *page, limit int) ([]hitRow, error) {
	var afterAt *time.Time
	var afterID string
	if after != nil {
		afterAt, afterID = &after.createdAt, after.id
	}
	// The excerpt is made in the outer query, for the page's rows only.
	rows, err := s.pool.Query(ctx, `
		SELECT m.message_id, m.room_id, m.seq, m.user_id, m.username, m.created_at,
			CASE WHEN m.text_at = '-infinity' THEN NULL ELSE m.text_at END,
			ts_headline('simple', translate(m.text, $6, $9), websearch_to_tsquery('simple', $1),
				'StartSel=' || $7 || ', StopSel=' || $8 || ', MaxWords=30, MinWords=12')
		FROM (
			SELECT message_id, room_id, seq, user_id, username, created_at, text_at, text FROM messages
			WHERE tsv @@ websearch_to_tsquery('simple', $1) AND room_id = ANY($2)
				AND ($3::timestamptz IS NULL OR (created_at, message_id) < ($3, $4))
			ORDER BY created_at DESC, message_id DESC
			LIMIT $5
		) m
		ORDER BY m.created_at DESC, m.message_id DESC`,
		q, rooms, afterAt, afterID, limit, headlineFrom, matchStart, matchStop, headlineTo)
	if err != nil {
		return nil, fmt.Errorf("search: query: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (hitRow, error) {
		var h hitRow
		err := r.Scan(&h.id, &h.roomID, &h.seq, &h.userID, &h.username, &h.createdAt, &h.editedAt, &h.headline)
		return h, err
	})
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// isReply tells a thread reply in the window's JSON without decoding it:
// in compact JSON a quote inside a string value is escaped, so this can
// only be the field itself (omitted on top-level messages), never text.
func isReply(msg []byte) bool { return bytes.Contains(msg, []byte(`"thread_id":"`)) }

// threadIDsMigration names the migration of backfillThreadIDs.
const threadIDsMigration = "top-level-thread-id"

// backfillThreadIDs gives the top-level messages stored before thread_id
// was kept on them an empty one, which room history pages by. It runs
// once: the start that completes it records it, and later starts skip the
// scan. During a rolling update, finish it (start the new persist) before
// older ones stop: a top-level message an older persist stores after the
// backfill lacks the field and is left out of room pages.
func (s *store) backfillThreadIDs(ctx context.Context) error {
	err := s.migrations.FindOne(ctx, bson.M{"_id": threadIDsMigration}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("persist: read migrations: %w", err)
	}
	if _, err := s.messages.UpdateMany(ctx, bson.M{"thread_id": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"thread_id": ""}}); err != nil {
		return fmt.Errorf("persist: backfill thread_id: %w", err)
	}
	if _, err := s.migrations.InsertOne(ctx, bson.M{"_id": threadIDsMigration}); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("persist: record migration %s: %w", threadIDsMigration, err)
	}
	return nil
}

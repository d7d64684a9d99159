package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// messageDoc is a message in MongoDB. Text is kept when moderation hides a
// message, so a moderator can review and restore it; it is emptied on delete.
type messageDoc struct {
	ID          string    `bson:"_id"`
	RoomID      string    `bson:"room_id"`
	Seq         int64     `bson:"seq"`
	UserID      string    `bson:"user_id"`
	Username    string    `bson:"username"`
	Text        string    `bson:"text"`
	ClientMsgID string    `bson:"client_msg_id,omitempty"`
	CreatedAt   time.Time `bson:"created_at"`
	EditedAt    time.Time `bson:"edited_at,omitempty"`
	Deleted     bool      `bson:"deleted,omitempty"`
	Hidden      bool      `bson:"hidden,omitempty"`
	Flags       bson.M    `bson:"flags,omitempty"`
}

func docFrom(m eventsv1.Message) messageDoc {
	return messageDoc{ID: m.ID, RoomID: m.RoomID, Seq: m.Seq, UserID: m.UserID, Username: m.Username, Text: m.Text,
		ClientMsgID: m.ClientMsgID, CreatedAt: m.CreatedAt.UTC(), EditedAt: m.EditedAt, Deleted: m.Deleted, Hidden: m.Hidden}
}

// public is the message as members see it: no text once deleted or hidden.
func (d messageDoc) public() eventsv1.Message {
	m := eventsv1.Message{ID: d.ID, RoomID: d.RoomID, Seq: d.Seq, UserID: d.UserID, Username: d.Username, Text: d.Text,
		ClientMsgID: d.ClientMsgID, CreatedAt: d.CreatedAt.UTC(), Deleted: d.Deleted, Hidden: d.Hidden}
	if !d.EditedAt.IsZero() {
		m.EditedAt = d.EditedAt.UTC()
	}
	if m.Deleted || m.Hidden {
		m.Text = ""
	}
	return m
}

type store struct {
	messages *mongo.Collection
	receipts *mongo.Collection
}

func newStore(db *mongo.Database) *store {
	return &store{messages: db.Collection("messages"), receipts: db.Collection("receipts")}
}

// ensureIndexes creates the indexes persist relies on; creating an existing
// index is a no-op, so every start may call it.
func (s *store) ensureIndexes(ctx context.Context) error {
	_, err := s.messages.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "room_id", Value: 1}, {Key: "seq", Value: 1}}, Options: options.Index().SetUnique(true).SetName("room_seq")},
	})
	if err != nil {
		return fmt.Errorf("persist: create indexes: %w", err)
	}
	return nil
}

// insertMany stores docs, ignoring those already stored (redelivery). It
// returns one error per doc: nil when stored or already there.
func (s *store) insertMany(ctx context.Context, docs []messageDoc) []error {
	errs := make([]error, len(docs))
	anyDocs := make([]any, len(docs))
	for i := range docs {
		anyDocs[i] = docs[i]
	}
	_, err := s.messages.InsertMany(ctx, anyDocs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return errs
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 && we.Index >= 0 && we.Index < len(errs) {
				errs[we.Index] = fmt.Errorf("persist: insert %s: %s", docs[we.Index].ID, we.Message)
			}
		}
		return errs
	}
	for i := range errs {
		errs[i] = fmt.Errorf("persist: insert batch: %w", err)
	}
	return errs
}

var errNotStored = errors.New("message not stored yet")

// update applies set to a stored message and returns it as updated.
func (s *store) update(ctx context.Context, roomID, id string, set bson.M) (messageDoc, error) {
	var doc messageDoc
	err := s.messages.FindOneAndUpdate(ctx, bson.M{"_id": id, "room_id": roomID}, bson.M{"$set": set},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, errNotStored
	}
	return doc, err
}

func (s *store) get(ctx context.Context, roomID, id string) (messageDoc, error) {
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": id, "room_id": roomID}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, errNotStored
	}
	return doc, err
}

// page returns messages of a room with seq in (after, before), ascending
// when asc, newest first otherwise, at most limit.
func (s *store) page(ctx context.Context, roomID string, after, before int64, asc bool, limit int) ([]messageDoc, error) {
	rng := bson.M{"$gt": after}
	if before > 0 {
		rng["$lt"] = before
	}
	dir := 1
	if !asc {
		dir = -1
	}
	cur, err := s.messages.Find(ctx, bson.M{"room_id": roomID, "seq": rng},
		options.Find().SetSort(bson.D{{Key: "seq", Value: dir}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var docs []messageDoc
	return docs, cur.All(ctx, &docs)
}

// markRead raises a member's read position; it never moves backwards.
func (s *store) markRead(ctx context.Context, r eventsv1.ReceiptRead) error {
	id := r.RoomID + ":" + r.UserID
	_, err := s.receipts.UpdateOne(ctx, bson.M{"_id": id, "seq": bson.M{"$lt": r.Seq}},
		bson.M{"$set": bson.M{"room_id": r.RoomID, "user_id": r.UserID, "seq": r.Seq, "at": r.At}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return nil // the stored position is already at or past r.Seq
	}
	return err
}

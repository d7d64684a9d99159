package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/microbatch"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// flagDoc is a flagged message awaiting or after review. Its id is the
// message id, so a redelivered event flags once.
type flagDoc struct {
	MessageID string             `bson:"_id"`
	RoomID    string             `bson:"room_id"`
	Seq       int64              `bson:"seq"`
	UserID    string             `bson:"user_id"`
	Text      string             `bson:"text"`
	Labels    []string           `bson:"labels"`
	Scores    map[string]float64 `bson:"scores"`
	Model     string             `bson:"model"`
	Status    string             `bson:"status"` // pending, confirmed, restored
	FlaggedAt time.Time          `bson:"flagged_at"`
	DecidedBy string             `bson:"decided_by,omitempty"`
	DecidedAt time.Time          `bson:"decided_at,omitempty"`
}

// auditDoc records one moderator decision.
type auditDoc struct {
	ID        string    `bson:"_id"`
	MessageID string    `bson:"message_id"`
	Moderator string    `bson:"moderator"`
	Decision  string    `bson:"decision"`
	Reason    string    `bson:"reason,omitempty"`
	At        time.Time `bson:"at"`
}

type store struct {
	flags *mongo.Collection
	audit *mongo.Collection
}

func newStore(db *mongo.Database) *store {
	return &store{flags: db.Collection("moderation_flags"), audit: db.Collection("moderation_audit")}
}

func (s *store) ensureIndexes(ctx context.Context) error {
	_, err := s.flags.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "flagged_at", Value: -1}}})
	if err != nil {
		return fmt.Errorf("moderation: index: %w", err)
	}
	return nil
}

// newFlag is the review entry of a flagged message.
func newFlag(f eventsv1.MessageFlagged, text string) flagDoc {
	return flagDoc{MessageID: f.MessageID, RoomID: f.RoomID, Seq: f.Seq, UserID: f.UserID, Text: text,
		Labels: f.Labels, Scores: f.Scores, Model: f.Model, Status: "pending", FlaggedAt: time.Now().UTC()}
}

// addFlags stores flags in one command, one error per flag: nil when
// stored or already there (a redelivery keeps the first flag and its
// review status).
func (s *store) addFlags(ctx context.Context, docs []flagDoc) []error {
	errs := make([]error, len(docs))
	anyDocs := make([]any, len(docs))
	for i := range docs {
		anyDocs[i] = docs[i]
	}
	_, err := s.flags.InsertMany(ctx, anyDocs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return errs
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return microbatch.Each(len(docs), fmt.Errorf("moderation: store flags: %w", err))
	}
	for _, we := range bwe.WriteErrors {
		if we.Index >= 0 && we.Index < len(docs) && we.Code != 11000 {
			errs[we.Index] = fmt.Errorf("moderation: store flag of %s: %s", docs[we.Index].MessageID, we.Message)
		}
	}
	return errs
}

func (s *store) list(ctx context.Context, status string, limit int) ([]flagDoc, error) {
	cur, err := s.flags.Find(ctx, bson.M{"status": status},
		options.Find().SetSort(bson.D{{Key: "flagged_at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var docs []flagDoc
	return docs, cur.All(ctx, &docs)
}

var errNoFlag = errors.New("no such flagged message")

func (s *store) get(ctx context.Context, messageID string) (flagDoc, error) {
	var d flagDoc
	err := s.flags.FindOne(ctx, bson.M{"_id": messageID}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, errNoFlag
	}
	return d, err
}

// decide records a decision and its audit entry.
func (s *store) decide(ctx context.Context, d flagDoc, status, moderator, reason string, at time.Time) (flagDoc, error) {
	if _, err := s.audit.InsertOne(ctx, auditDoc{ID: fmt.Sprintf("%s:%d", d.MessageID, at.UnixNano()), MessageID: d.MessageID,
		Moderator: moderator, Decision: status, Reason: reason, At: at}); err != nil {
		return d, err
	}
	_, err := s.flags.UpdateOne(ctx, bson.M{"_id": d.MessageID},
		bson.M{"$set": bson.M{"status": status, "decided_by": moderator, "decided_at": at}})
	d.Status, d.DecidedBy, d.DecidedAt = status, moderator, at
	return d, err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// notificationDoc is a notification in MongoDB. Its id is derived from what
// caused it (kind, message, recipient), so a redelivered event inserts
// nothing new.
type notificationDoc struct {
	ID           string    `bson:"_id"`
	UserID       string    `bson:"user_id"`
	Kind         string    `bson:"kind"`
	RoomID       string    `bson:"room_id,omitempty"`
	MessageID    string    `bson:"message_id,omitempty"`
	FromUserID   string    `bson:"from_user_id,omitempty"`
	FromUsername string    `bson:"from_username,omitempty"`
	Text         string    `bson:"text,omitempty"`
	Seq          int64     `bson:"seq,omitempty"`
	CreatedAt    time.Time `bson:"created_at"`
	Read         bool      `bson:"read"`
	ThreadID     string    `bson:"thread_id,omitempty"`
}

// store holds the notifications and the projections this function keeps
// from auth's events: usernames, room memberships, which rooms are direct
// and who blocked whom.
type store struct {
	notifications *mongo.Collection
	users         *mongo.Collection
	members       *mongo.Collection
	rooms         *mongo.Collection
	blocks        *mongo.Collection // _id "blocker:blocked"
	subscriptions *mongo.Collection // browsers' Web Push subscriptions
	kinds         roomKinds
	names         usernames
}

func newStore(db *mongo.Database) *store {
	return &store{notifications: db.Collection("notifications"), users: db.Collection("notification_users"),
		members: db.Collection("notification_members"), rooms: db.Collection("notification_rooms"),
		blocks:        db.Collection("notification_blocks"),
		subscriptions: db.Collection("push_subscriptions")}
}

func (s *store) ensureIndexes(ctx context.Context) error {
	if _, err := s.notifications.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "created_at", Value: -1}}}); err != nil {
		return fmt.Errorf("notification: index: %w", err)
	}
	// Direct rooms read their members by room.
	if _, err := s.members.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "room_id", Value: 1}}}); err != nil {
		return fmt.Errorf("notification: index: %w", err)
	}
	if _, err := s.users.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "username_lower", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		return fmt.Errorf("notification: index: %w", err)
	}
	if err := s.ensurePushIndexes(ctx); err != nil {
		return fmt.Errorf("notification: index: %w", err)
	}
	return nil
}

func (s *store) putUser(ctx context.Context, id, username string) error {
	_, err := s.users.UpdateOne(ctx, bson.M{"_id": id},
		bson.M{"$set": bson.M{"username": username, "username_lower": lower(username)}}, options.UpdateOne().SetUpsert(true))
	return err
}

// userIDs maps lower-cased usernames to user ids; unknown names are absent.
// It looks each name not remembered up by equality, which FerretDB answers
// from the unique index; a $in filter it answers by decoding every user.
func (s *store) userIDs(ctx context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range names {
		if id, ok := s.names.get(name); ok {
			out[name] = id
			continue
		}
		var d struct {
			ID string `bson:"_id"`
		}
		err := s.users.FindOne(ctx, bson.M{"username_lower": name}).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("notification: user named %q: %w", name, err)
		}
		s.names.put(name, d.ID)
		out[name] = d.ID
	}
	return out, nil
}

// join records a membership. A direct room is marked before its members,
// so that isDirect, once it sees the sender, also sees the mark; and all
// the people of a conversation's opening (everyone) are recorded with the
// first of its joins handled, so that a message handled between those
// joins notifies every one of them, not only those whose join came first.
func (s *store) join(ctx context.Context, roomID, userID string, direct bool, everyone []string) error {
	if direct {
		if _, err := s.rooms.UpdateOne(ctx, bson.M{"_id": roomID}, bson.M{"$set": bson.M{"direct": true}},
			options.UpdateOne().SetUpsert(true)); err != nil {
			return err
		}
		s.kinds.put(roomID, true, time.Now())
	}
	ids := []string{userID}
	if direct {
		ids = append(ids, everyone...)
	}
	for _, id := range ids {
		if _, err := s.members.UpdateOne(ctx, bson.M{"_id": roomID + ":" + id},
			bson.M{"$set": bson.M{"room_id": roomID, "user_id": id, "left": false}}, options.UpdateOne().SetUpsert(true)); err != nil {
			return err
		}
	}
	return nil
}

// setBlock records (on) or ends (off) a block as of at. Blocks and
// unblocks come through two Triggers, so they may arrive in either order:
// the one with the latest time wins, an end is kept as a tombstone, and a
// redelivery changes nothing.
func (s *store) setBlock(ctx context.Context, blocker, blocked string, on bool, at time.Time) error {
	id := blocker + ":" + blocked
	_, err := s.blocks.UpdateOne(ctx, bson.M{"_id": id, "at": bson.M{"$lte": at}},
		bson.M{"$set": bson.M{"blocker": blocker, "blocked": blocked, "on": on, "at": at}}, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return nil // a later change is stored already
	}
	if err != nil {
		return fmt.Errorf("notification: block of %s by %s: %w", blocked, blocker, err)
	}
	return nil
}

// blocked reports whether blocker blocked sender: one lookup by primary
// key, made only for the few recipients of a notifying message.
func (s *store) blocked(ctx context.Context, blocker, sender string) (bool, error) {
	var d struct {
		On bool `bson:"on"`
	}
	err := s.blocks.FindOne(ctx, bson.M{"_id": blocker + ":" + sender}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notification: block of %s by %s: %w", sender, blocker, err)
	}
	return d.On, nil
}

// leave keeps a tombstone instead of deleting the membership, so that a
// mention of someone who left is known for what it is, not waited for.
func (s *store) leave(ctx context.Context, roomID, userID string) error {
	_, err := s.members.UpdateOne(ctx, bson.M{"_id": roomID + ":" + userID},
		bson.M{"$set": bson.M{"room_id": roomID, "user_id": userID, "left": true}}, options.UpdateOne().SetUpsert(true))
	return err
}

// roomMembers returns the members of a room, each mapped to true. When
// among is not nil it looks up only those users, by primary key, and maps
// those who left to false: absent means the projection never saw them join.
//
// Every filter is one equality: FerretDB pushes those down to PostgreSQL
// (and its indexes), while $in, $ne and the like make it read and decode
// the whole collection, a cost that grows with every membership stored.
func (s *store) roomMembers(ctx context.Context, roomID string, among []string) (map[string]bool, error) {
	type member struct {
		UserID string `bson:"user_id"`
		Left   bool   `bson:"left"`
	}
	if among != nil {
		ids := make(map[string]bool, len(among))
		for _, id := range among {
			var d member
			err := s.members.FindOne(ctx, bson.M{"_id": roomID + ":" + id}).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("notification: membership of %s in %s: %w", id, roomID, err)
			}
			ids[d.UserID] = !d.Left
		}
		return ids, nil
	}
	cur, err := s.members.Find(ctx, bson.M{"room_id": roomID})
	if err != nil {
		return nil, fmt.Errorf("notification: members of %s: %w", roomID, err)
	}
	var docs []member
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("notification: members of %s: %w", roomID, err)
	}
	ids := make(map[string]bool, len(docs))
	for _, d := range docs {
		if !d.Left {
			ids[d.UserID] = true
		}
	}
	return ids, nil
}

// isDirect reports whether a room is a direct room. A room's kind never
// changes, so the answer is remembered: for good when direct, and for
// notDirectTTL otherwise, since the member.joined event that marks a
// direct room may still be on its way when the first message is. That is
// also why a room not marked direct is only remembered as a group room
// once its sender's membership shows: until then isDirect answers
// errProjectionBehind.
func (s *store) isDirect(ctx context.Context, roomID, senderID string, now time.Time) (bool, error) {
	if direct, ok := s.kinds.get(roomID, now); ok {
		return direct, nil
	}
	err := s.rooms.FindOne(ctx, bson.M{"_id": roomID, "direct": true}).Err()
	if err == nil {
		s.kinds.put(roomID, true, now)
		return true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return false, err
	}
	sender, err := s.roomMembers(ctx, roomID, []string{senderID})
	if err != nil {
		return false, err
	}
	if _, seen := sender[senderID]; !seen {
		return false, errProjectionBehind
	}
	s.kinds.put(roomID, false, now)
	return false, nil
}

// insert stores notifications and reports, for each, whether it is new
// (not stored already by an earlier delivery of the same event, or by
// another doc of the same batch with the same id).
func (s *store) insert(ctx context.Context, docs []notificationDoc) ([]bool, error) {
	fresh := make([]bool, len(docs))
	if len(docs) == 0 {
		return fresh, nil
	}
	anyDocs := make([]any, len(docs))
	for i := range docs {
		anyDocs[i] = docs[i]
		fresh[i] = true
	}
	_, err := s.notifications.InsertMany(ctx, anyDocs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return fresh, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return nil, fmt.Errorf("notification: insert: %w", err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 || we.Index < 0 || we.Index >= len(docs) {
			return nil, fmt.Errorf("notification: insert: %s", we.Message)
		}
		fresh[we.Index] = false
	}
	return fresh, nil
}

func (s *store) list(ctx context.Context, userID string, unreadOnly bool, limit int) ([]notificationDoc, error) {
	filter := bson.M{"user_id": userID}
	if unreadOnly {
		filter["read"] = false
	}
	cur, err := s.notifications.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var docs []notificationDoc
	return docs, cur.All(ctx, &docs)
}

func (s *store) markRead(ctx context.Context, userID string, ids []string, all bool) (int64, error) {
	filter := bson.M{"user_id": userID, "read": false}
	if !all {
		filter["_id"] = bson.M{"$in": ids}
	}
	res, err := s.notifications.UpdateMany(ctx, filter, bson.M{"$set": bson.M{"read": true}})
	if err != nil {
		return 0, err
	}
	return res.ModifiedCount, nil
}

// markReadInRoom marks read a user's notifications about the messages of a
// room up to a seq: they have read the room that far.
func (s *store) markReadInRoom(ctx context.Context, userID, roomID string, upTo int64) (int64, error) {
	res, err := s.notifications.UpdateMany(ctx, bson.M{"user_id": userID, "room_id": roomID, "read": false,
		"seq": bson.M{"$gt": 0, "$lte": upTo}}, bson.M{"$set": bson.M{"read": true}})
	if err != nil {
		return 0, err
	}
	return res.ModifiedCount, nil
}

// unread counts a user's unread notifications per room ("" for welcome).
func (s *store) unread(ctx context.Context, userID string) (map[string]int32, error) {
	cur, err := s.notifications.Find(ctx, bson.M{"user_id": userID, "read": false},
		options.Find().SetProjection(bson.M{"room_id": 1}).SetLimit(10_000))
	if err != nil {
		return nil, err
	}
	var docs []struct {
		RoomID string `bson:"room_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := map[string]int32{}
	for _, d := range docs {
		out[d.RoomID]++
	}
	return out, nil
}

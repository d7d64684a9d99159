package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// messageDoc is a message in MongoDB. Text is kept when moderation hides a
// message, so a moderator can review and restore it; it is emptied on delete.
type messageDoc struct {
	ID          string     `bson:"_id"`
	RoomID      string     `bson:"room_id"`
	Seq         int64      `bson:"seq"`
	UserID      string     `bson:"user_id"`
	Username    string     `bson:"username"`
	Text        string     `bson:"text"`
	ClientMsgID string     `bson:"client_msg_id,omitempty"`
	CreatedAt   time.Time  `bson:"created_at"`
	EditedAt    time.Time  `bson:"edited_at,omitempty"`
	Deleted     bool       `bson:"deleted,omitempty"`
	Hidden      bool       `bson:"hidden,omitempty"`
	Flags       bson.M     `bson:"flags,omitempty"`
	ThreadID    string     `bson:"thread_id"` // "" on top-level messages, kept: room history pages by it (backfillThreadIDs)
	Thread      *threadDoc `bson:"thread,omitempty"`
	// Reactions are (emoji, user) pairs, and ReactionEmojis their emoji in
	// the order each was first used: flat arrays, so that $addToSet and
	// $pull add and remove one reaction atomically and idempotently, in
	// FerretDB as in MongoDB.
	Reactions      []reactionDoc `bson:"reactions,omitempty"`
	ReactionEmojis []string      `bson:"reaction_emojis,omitempty"`
	// Attachments are the files the message carries; their bytes are in
	// the S3 store, never here.
	Attachments []attachmentDoc `bson:"attachments,omitempty"`
}

type attachmentDoc struct {
	ID          string `bson:"id"`
	Name        string `bson:"name"`
	Size        int64  `bson:"size"`
	ContentType string `bson:"content_type"`
	ThumbWidth  int    `bson:"thumb_w,omitempty"`
	ThumbHeight int    `bson:"thumb_h,omitempty"`
}

func attachmentDocs(as []eventsv1.Attachment) []attachmentDoc {
	var out []attachmentDoc
	for _, a := range as {
		d := attachmentDoc{ID: a.ID, Name: a.Name, Size: a.Size, ContentType: a.ContentType}
		if a.Thumbnail != nil {
			d.ThumbWidth, d.ThumbHeight = a.Thumbnail.Width, a.Thumbnail.Height
		}
		out = append(out, d)
	}
	return out
}

func (d messageDoc) attachments() []eventsv1.Attachment {
	var out []eventsv1.Attachment
	for _, a := range d.Attachments {
		p := eventsv1.Attachment{ID: a.ID, Name: a.Name, Size: a.Size, ContentType: a.ContentType}
		if a.ThumbWidth > 0 {
			p.Thumbnail = &eventsv1.Thumbnail{Width: a.ThumbWidth, Height: a.ThumbHeight}
		}
		out = append(out, p)
	}
	return out
}

type reactionDoc struct {
	Emoji string `bson:"e"`
	User  string `bson:"u"`
}

// reactions groups the pairs by emoji, in ReactionEmojis' order, as
// eventsv1.ApplyReaction keeps them.
func (d messageDoc) reactions() []eventsv1.Reaction {
	var out []eventsv1.Reaction
	at := map[string]int{}
	add := func(emoji string) int {
		i, ok := at[emoji]
		if !ok {
			i = len(out)
			at[emoji] = i
			out = append(out, eventsv1.Reaction{Emoji: emoji})
		}
		return i
	}
	for _, e := range d.ReactionEmojis {
		add(e)
	}
	for _, r := range d.Reactions {
		i := add(r.Emoji)
		out[i].UserIDs = append(out[i].UserIDs, r.User)
	}
	// An emoji whose last pair went, if the update that drops it from
	// ReactionEmojis did not follow (it is retried with the event).
	return slices.DeleteFunc(out, func(r eventsv1.Reaction) bool { return len(r.UserIDs) == 0 })
}

// threadDoc is a root's summary of its thread (eventsv1.Thread), written
// whole by addReply.
type threadDoc struct {
	ReplyCount        int64     `bson:"reply_count"`
	LastReplySeq      int64     `bson:"last_reply_seq"`
	LastReplyAt       time.Time `bson:"last_reply_at,omitempty"`
	LastReplyUserID   string    `bson:"last_reply_user_id,omitempty"`
	LastReplyUsername string    `bson:"last_reply_username,omitempty"`
	Participants      []string  `bson:"participants,omitempty"`
}

func (t *threadDoc) public() *eventsv1.Thread {
	if t == nil || t.ReplyCount == 0 {
		return nil
	}
	th := &eventsv1.Thread{ReplyCount: t.ReplyCount, LastReplySeq: t.LastReplySeq, LastReplyUserID: t.LastReplyUserID,
		LastReplyUsername: t.LastReplyUsername, Participants: t.Participants}
	if !t.LastReplyAt.IsZero() {
		th.LastReplyAt = t.LastReplyAt.UTC()
	}
	return th
}

func docFrom(m eventsv1.Message) messageDoc {
	return messageDoc{ID: m.ID, RoomID: m.RoomID, Seq: m.Seq, UserID: m.UserID, Username: m.Username, Text: m.Text,
		ClientMsgID: m.ClientMsgID, CreatedAt: m.CreatedAt.UTC(), EditedAt: m.EditedAt, Deleted: m.Deleted, Hidden: m.Hidden,
		ThreadID: m.ThreadID, Attachments: attachmentDocs(m.Attachments)}
}

// public is the message as members see it: no text once deleted or hidden.
func (d messageDoc) public() eventsv1.Message {
	m := eventsv1.Message{ID: d.ID, RoomID: d.RoomID, Seq: d.Seq, UserID: d.UserID, Username: d.Username, Text: d.Text,
		ClientMsgID: d.ClientMsgID, CreatedAt: d.CreatedAt.UTC(), Deleted: d.Deleted, Hidden: d.Hidden,
		ThreadID: d.ThreadID, Thread: d.Thread.public()}
	if !d.EditedAt.IsZero() {
		m.EditedAt = d.EditedAt.UTC()
	}
	if m.Deleted || m.Hidden {
		m.Text = ""
	} else {
		m.Reactions = d.reactions() // kept while hidden, shown again on restore
		m.Attachments = d.attachments()
	}
	return m
}

type store struct {
	messages   *mongo.Collection
	migrations *mongo.Collection // one document per data migration done (see backfillThreadIDs)
	receipts   *mongo.Collection
	seqs       *mongo.Collection // the seq blocks taken (see reserveSeqs)
	heads      *mongo.Collection // each room's last block taken, by room id
}

func newStore(db *mongo.Database) *store {
	return &store{messages: db.Collection("messages"), migrations: db.Collection("migrations"), receipts: db.Collection("receipts"), seqs: db.Collection("seq_blocks"),
		heads: db.Collection("seq_heads")}
}

// ensureIndexes creates the indexes persist relies on; creating an existing
// index is a no-op, so every start may call it.
func (s *store) ensureIndexes(ctx context.Context) error {
	// One call per index: FerretDB drops the connection on a createIndexes
	// of several indexes that all exist already (every restart).
	for _, ix := range []struct {
		coll  *mongo.Collection
		model mongo.IndexModel
	}{
		{s.messages, mongo.IndexModel{Keys: bson.D{{Key: "room_id", Value: 1}, {Key: "seq", Value: 1}},
			Options: options.Index().SetUnique(true).SetName("room_seq")}},
		// A thread's replies, counted and paged by equality on both ids.
		{s.messages, mongo.IndexModel{Keys: bson.D{{Key: "room_id", Value: 1}, {Key: "thread_id", Value: 1}, {Key: "seq", Value: 1}},
			Options: options.Index().SetName("room_thread_seq")}},
		{s.seqs, mongo.IndexModel{Keys: bson.D{{Key: "room_id", Value: 1}, {Key: "k", Value: 1}}}},
	} {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return fmt.Errorf("persist: create indexes: %w", err)
		}
	}
	return s.backfillThreadIDs(ctx)
}

// errSeqConflict marks a message whose (room_id, seq) or id is already taken
// by a different message. It is never "already stored": the seq authority
// hands each seq out once, so a conflict is a forged or corrupt event.
var errSeqConflict = errors.New("seq conflict: another message holds this seq or id")

// insertMany stores docs, ignoring those already stored (redelivery). It
// returns one error per doc: nil when stored or already there, wrapping
// errSeqConflict when a different message holds its id or (room_id, seq).
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
			if we.Index < 0 || we.Index >= len(errs) {
				continue
			}
			if we.Code == 11000 {
				errs[we.Index] = s.checkDuplicate(ctx, docs[we.Index])
			} else {
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

// checkDuplicate tells a redelivery (the same message is stored: nil) from
// a conflict (another message holds doc's id or its room and seq).
func (s *store) checkDuplicate(ctx context.Context, doc messageDoc) error {
	// Two equality reads rather than one $or: FerretDB pushes equalities
	// down to PostgreSQL and its indexes, but answers $or by decoding every
	// message, and a redelivered batch checks every one of its messages.
	var held []messageDoc
	for _, filter := range []bson.M{{"_id": doc.ID}, {"room_id": doc.RoomID, "seq": doc.Seq}} {
		var h messageDoc
		err := s.messages.FindOne(ctx, filter).Decode(&h)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return fmt.Errorf("persist: insert %s: checking the duplicate: %w", doc.ID, err)
		}
		held = append(held, h)
	}
	for _, h := range held {
		if h.ID != doc.ID || h.RoomID != doc.RoomID || h.Seq != doc.Seq {
			return fmt.Errorf("persist: message %s (room %s, seq %d) against stored %s (room %s, seq %d): %w",
				doc.ID, doc.RoomID, doc.Seq, h.ID, h.RoomID, h.Seq, errSeqConflict)
		}
	}
	if len(held) == 0 {
		return fmt.Errorf("persist: insert %s: duplicate key, but nothing holds it now; retry", doc.ID)
	}
	return nil
}

// seqBlock is how many seqs one reservation hands out: a room's Redis
// counter asks again after that many messages, and a lost counter skips at
// most that many seqs.
const seqBlock = 1000

// maxFloorLead bounds how far a reservation's floor (a connector's Redis
// counter) may run ahead of the seqs the store knows of.
const maxFloorLead = 1_000_000

var errBadFloor = errors.New("not a room's counter")

// maxSeq is the highest seq handed out: browsers read seqs as JavaScript
// numbers, exact up to 2^53.
const maxSeq = 1 << 53

// reserveSeqs reserves the next block of a room's seqs. Block k is
// k*seqBlock+1 .. (k+1)*seqBlock; it is taken by inserting its document,
// whose unique _id makes it taken once even where a read-modify-write (as
// FerretDB's findAndModify) is not atomic. The block lies above floor,
// above every stored message and above every block taken before.
//
// Where the room's blocks start is found once: the first reservation of a
// room looks at its stored messages (a room from before seq blocks, or
// whose blocks were lost) and its blocks. Every reservation then records
// the block it took in the room's head, which the next one reads by _id:
// sorting a room's messages cost FerretDB 35–45 µs per stored message, a
// whole core per 10 rooms of 50,000 messages at 50 messages/s each
// (functions/BENCHMARKS.md). Stored messages never lie above the last
// block, since every seq a connector hands out comes from a block.
func (s *store) reserveSeqs(ctx context.Context, roomID string, floor int64) (first, last int64, err error) {
	for _, fromHead := range []bool{true, false} {
		known, next, err := s.seqsTaken(ctx, roomID, fromHead)
		if err != nil {
			return 0, 0, err
		}
		if floor > known+maxFloorLead {
			// A counter can run ahead of what is stored only by the sends in
			// flight; one far beyond is not a counter, and taking it would
			// burn the room's seqs.
			return 0, 0, fmt.Errorf("persist: reserve seqs of %s: floor %d is more than %d above the room's %d: %w",
				roomID, floor, maxFloorLead, known, errBadFloor)
		}
		k := max(next, (floor+seqBlock-1)/seqBlock) // the first block wholly above both
		for range 100 {
			if (k+1)*seqBlock > maxSeq {
				return 0, 0, fmt.Errorf("persist: reserve seqs of %s: the room's seqs are used up", roomID)
			}
			_, err := s.seqs.InsertOne(ctx, bson.M{"_id": fmt.Sprintf("%s/%d", roomID, k), "room_id": roomID, "k": k})
			if err == nil {
				// The head only saves the next reservation a search: one that
				// reads it stale (a concurrent or failed update) tries the
				// blocks above it, whose inserts fail while they are taken.
				if _, err := s.heads.UpdateOne(ctx, bson.M{"_id": roomID}, bson.M{"$max": bson.M{"k": k}},
					options.UpdateOne().SetUpsert(true)); err != nil && !mongo.IsDuplicateKeyError(err) {
					return 0, 0, fmt.Errorf("persist: reserve seqs of %s: record block %d: %w", roomID, k, err)
				}
				return k*seqBlock + 1, (k + 1) * seqBlock, nil
			}
			if !mongo.IsDuplicateKeyError(err) {
				return 0, 0, fmt.Errorf("persist: reserve seqs of %s: %w", roomID, err)
			}
			k++ // another reservation took it meanwhile, or the head is stale
		}
		// A head far behind the blocks taken: search as for a new room.
	}
	return 0, 0, fmt.Errorf("persist: reserve seqs of %s: too many concurrent reservations", roomID)
}

// seqsTaken returns the highest seq known to be taken in a room and the
// first block a reservation may try: from the room's head when fromHead
// and it has one, else from its stored messages and blocks.
func (s *store) seqsTaken(ctx context.Context, roomID string, fromHead bool) (known, next int64, err error) {
	if fromHead {
		var head struct {
			K int64 `bson:"k"`
		}
		err = s.heads.FindOne(ctx, bson.M{"_id": roomID}).Decode(&head)
		if err == nil {
			return (head.K + 1) * seqBlock, head.K + 1, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return 0, 0, fmt.Errorf("persist: reserve seqs of %s: read the head: %w", roomID, err)
		}
	}
	top, err := s.topSeq(ctx, roomID)
	if err != nil {
		return 0, 0, err
	}
	known, next = top, (top+seqBlock-1)/seqBlock
	var prev struct {
		K int64 `bson:"k"`
	}
	err = s.seqs.FindOne(ctx, bson.M{"room_id": roomID}, options.FindOne().SetSort(bson.D{{Key: "k", Value: -1}})).Decode(&prev)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return known, next, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("persist: reserve seqs of %s: %w", roomID, err)
	}
	return max(known, (prev.K+1)*seqBlock), max(next, prev.K+1), nil
}

// topSeq is the highest stored seq of a room (0 if none). FerretDB sorts
// the room's messages without the index, so it runs once a room, not once
// a block (see reserveSeqs).
func (s *store) topSeq(ctx context.Context, roomID string) (int64, error) {
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.M{"room_id": roomID},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}}).SetProjection(bson.M{"seq": 1})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("persist: top seq of %s: %w", roomID, err)
	}
	return doc.Seq, nil
}

var errNotStored = errors.New("message not stored yet")

// update applies set to a stored message and returns it as updated.
func (s *store) update(ctx context.Context, roomID, id string, set bson.M) (messageDoc, error) {
	return s.updateWith(ctx, roomID, id, bson.M{"$set": set})
}

// react adds or removes one reaction (r.Op) and returns the message as
// updated. An add beyond the limits (eventsv1.ApplyReaction) is refused
// with eventsv1.ErrReactionLimit. The check reads before it writes, which
// is safe because the Trigger of reactions delivers a room's events one at
// a time (ordered); the writes themselves are idempotent.
func (s *store) react(ctx context.Context, r eventsv1.MessageReacted) (messageDoc, error) {
	pair := reactionDoc{Emoji: r.Emoji, User: r.UserID}
	if r.Op == eventsv1.ReactionAdd {
		doc, err := s.get(ctx, r.RoomID, r.MessageID)
		if err != nil {
			return doc, err
		}
		if _, changed, err := eventsv1.ApplyReaction(doc.reactions(), r.Emoji, r.UserID, r.Op); err != nil || !changed {
			return doc, err
		}
		return s.updateWith(ctx, r.RoomID, r.MessageID, bson.M{"$addToSet": bson.M{"reactions": pair, "reaction_emojis": r.Emoji}})
	}
	doc, err := s.updateWith(ctx, r.RoomID, r.MessageID, bson.M{"$pull": bson.M{"reactions": pair}})
	if err != nil || slices.ContainsFunc(doc.Reactions, func(p reactionDoc) bool { return p.Emoji == r.Emoji }) {
		return doc, err
	}
	// The emoji's last reaction went: so does the emoji, and if it is used
	// again it comes last.
	return s.updateWith(ctx, r.RoomID, r.MessageID, bson.M{"$pull": bson.M{"reaction_emojis": r.Emoji}})
}

// updateWith applies an update to a stored message and returns it as updated.
func (s *store) updateWith(ctx context.Context, roomID, id string, update bson.M) (messageDoc, error) {
	var doc messageDoc
	err := s.messages.FindOneAndUpdate(ctx, bson.M{"_id": id, "room_id": roomID}, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, errNotStored
	}
	return doc, err
}

// thumbnailed notes an image attachment's thumbnail on its message. It
// reads before it writes, which is safe because the Trigger of thumbnails
// delivers a room's events one at a time (ordered); writing the same size
// twice changes nothing. errNoAttachment: the message has no such file.
func (s *store) thumbnailed(ctx context.Context, t eventsv1.FileThumbnailed) (messageDoc, error) {
	doc, err := s.get(ctx, t.RoomID, t.MessageID)
	if err != nil {
		return doc, err
	}
	i := slices.IndexFunc(doc.Attachments, func(a attachmentDoc) bool { return a.ID == t.FileID })
	if i < 0 || !eventsv1.Image(doc.Attachments[i].ContentType) {
		return doc, errNoAttachment
	}
	if doc.Attachments[i].ThumbWidth == t.Thumbnail.Width && doc.Attachments[i].ThumbHeight == t.Thumbnail.Height {
		return doc, nil
	}
	return s.update(ctx, t.RoomID, t.MessageID, bson.M{
		fmt.Sprintf("attachments.%d.thumb_w", i): t.Thumbnail.Width,
		fmt.Sprintf("attachments.%d.thumb_h", i): t.Thumbnail.Height})
}

var errNoAttachment = errors.New("the message has no such image attachment")

func (s *store) get(ctx context.Context, roomID, id string) (messageDoc, error) {
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.M{"_id": id, "room_id": roomID}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, errNotStored
	}
	return doc, err
}

// page returns messages of a room with seq in (after, before), ascending
// when asc, newest first otherwise, at most limit; with topLevel, no
// thread replies.
func (s *store) page(ctx context.Context, roomID string, after, before int64, asc, topLevel bool, limit int) ([]messageDoc, error) {
	rng := bson.M{"$gt": after}
	if before > 0 {
		rng["$lt"] = before
	}
	dir := 1
	if !asc {
		dir = -1
	}
	filter := bson.M{"room_id": roomID, "seq": rng}
	if topLevel {
		// An equality, not $exists: FerretDB pushes equalities down to
		// PostgreSQL; MongoDB serves it from room_thread_seq.
		filter["thread_id"] = ""
	}
	cur, err := s.messages.Find(ctx, filter,
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

// addReply counts a stored reply in its root's summary and returns the
// root as updated. The summary is recomputed from the stored replies
// (equality reads on the room_thread_seq index), never accumulated:
// replies are stored concurrently (their Trigger is unordered) and
// redelivered, and FerretDB applies $max or $addToSet as a read and a
// write that concurrent updates interleave. A writer whose count is stale
// once it has written (a reply was stored meanwhile) computes again, so
// the last write is always from a count that held after it.
func (s *store) addReply(ctx context.Context, root messageDoc, reply eventsv1.Message) (messageDoc, error) {
	filter := bson.M{"room_id": reply.RoomID, "thread_id": root.ID}
	for range 10 {
		th, err := s.threadSummary(ctx, root, filter)
		if err != nil {
			return root, err
		}
		doc, err := s.update(ctx, root.RoomID, root.ID, bson.M{"thread": th})
		if err != nil {
			return root, fmt.Errorf("persist: summary of thread %s: %w", root.ID, err)
		}
		n, err := s.messages.CountDocuments(ctx, filter)
		if err != nil {
			return root, fmt.Errorf("persist: count the replies to %s: %w", root.ID, err)
		}
		if n == th.ReplyCount {
			return doc, nil
		}
	}
	return root, fmt.Errorf("persist: summary of thread %s: replies kept coming; retry", root.ID)
}

// threadSummary computes a thread's summary from its stored replies, in
// one equality read of their small fields: FerretDB answers a count, a
// sorted read and a distinct each with a pass of its own.
func (s *store) threadSummary(ctx context.Context, root messageDoc, filter bson.M) (threadDoc, error) {
	var th threadDoc
	cur, err := s.messages.Find(ctx, filter, options.Find().SetProjection(bson.M{"seq": 1, "user_id": 1, "username": 1, "created_at": 1}))
	if err != nil {
		return th, fmt.Errorf("persist: replies to %s: %w", root.ID, err)
	}
	var replies []messageDoc
	if err := cur.All(ctx, &replies); err != nil {
		return th, fmt.Errorf("persist: replies to %s: %w", root.ID, err)
	}
	var last messageDoc
	users := map[string]bool{}
	for _, r := range replies {
		if r.Seq > last.Seq {
			last = r
		}
		users[r.UserID] = true
	}
	sorted := make([]string, 0, len(users))
	for u := range users {
		if u != root.UserID {
			sorted = append(sorted, u)
		}
	}
	slices.Sort(sorted)
	participants := append([]string{root.UserID}, sorted[:min(len(sorted), eventsv1.MaxThreadParticipants-1)]...)
	return threadDoc{ReplyCount: int64(len(replies)), LastReplySeq: last.Seq, LastReplyAt: last.CreatedAt.UTC(), LastReplyUserID: last.UserID,
		LastReplyUsername: last.Username, Participants: participants}, nil
}

// threadPage returns the newest replies of a thread with seq < before (0:
// the latest), newest first, at most limit.
func (s *store) threadPage(ctx context.Context, roomID, threadID string, before int64, limit int) ([]messageDoc, error) {
	filter := bson.M{"room_id": roomID, "thread_id": threadID}
	if before > 0 {
		filter["seq"] = bson.M{"$lt": before}
	}
	cur, err := s.messages.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var docs []messageDoc
	return docs, cur.All(ctx, &docs)
}

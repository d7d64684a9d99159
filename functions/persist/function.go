package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/trace"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// function applies message events to MongoDB and the Redis window. Every
// handler is idempotent: the Broker delivers at least once.
type function struct {
	store     *store
	cache     *cache
	batcher   *insertBatcher
	log       *slog.Logger
	conflicts prometheus.Counter
	threads   threadFlights
}

func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if err := ksvc.CheckEvent("persist", e); err != nil {
		return nil, err
	}
	switch e.Type() {
	case eventsv1.TypeMessageSent:
		m, err := ksvc.DecodeEvent("persist", e, func(m *eventsv1.Message) bool { return m.ID != "" && m.RoomID != "" && m.Seq > 0 })
		if err != nil {
			return nil, err
		}
		if err := checkText(m.Text); err != nil {
			return nil, ksvc.Permanent(fmt.Errorf("persist: message %s: %w", m.ID, err))
		}
		if err := eventsv1.CheckAttachments(m.Attachments); err != nil {
			return nil, ksvc.Permanent(fmt.Errorf("persist: message %s: %w", m.ID, err))
		}
		var root messageDoc
		if m.ThreadID != "" {
			if root, err = f.threadRoot(ctx, m); err != nil {
				return nil, err
			}
		}
		ctx, span := ksvc.Tracer().Start(ctx, "mongo insert messages (batched)", trace.WithSpanKind(trace.SpanKindClient))
		_, err = f.batcher.Do(ctx, docFrom(m))
		span.End()
		if errors.Is(err, errSeqConflict) {
			f.conflicts.Inc()
			f.log.Error("message refused: its seq or id is taken by another message", "room", m.RoomID, "seq", m.Seq,
				"message_id", m.ID, "ce_source", e.Source(), "error", err)
			return nil, ksvc.Permanent(err)
		}
		if err != nil {
			return nil, err
		}
		if m.ThreadID != "" {
			if m.Thread, err = f.countReply(ctx, root, m); err != nil {
				return nil, err
			}
		}
		roomKind, _ := e.Extensions()[eventsv1.ExtRoomKind].(string)
		return storedEvent(m, roomKind)
	case eventsv1.TypeMessageEdited:
		ed, err := ksvc.DecodeEvent("persist", e, func(ed *eventsv1.MessageEdited) bool { return ed.MessageID != "" })
		if err != nil {
			return nil, err
		}
		if err := checkText(ed.Text); err != nil {
			return nil, ksvc.Permanent(fmt.Errorf("persist: edit of %s: %w", ed.MessageID, err))
		}
		return nil, f.apply(ctx, ed.RoomID, ed.MessageID, bson.M{"text": ed.Text, "edited_at": ed.EditedAt.UTC()})
	case eventsv1.TypeMessageDeleted:
		d, err := ksvc.DecodeEvent("persist", e, func(d *eventsv1.MessageDeleted) bool { return d.MessageID != "" })
		if err != nil {
			return nil, err
		}
		// Its reactions go with its text (one that arrives later, on its own
		// Trigger, is kept but never shown: see messageDoc.public).
		return nil, f.apply(ctx, d.RoomID, d.MessageID, bson.M{"deleted": true, "text": "", "reactions": bson.A{}, "reaction_emojis": bson.A{}})
	case eventsv1.TypeMessageFlagged:
		fl, err := ksvc.DecodeEvent("persist", e, func(fl *eventsv1.MessageFlagged) bool { return fl.MessageID != "" })
		if err != nil {
			return nil, err
		}
		return nil, f.hide(ctx, fl)
	case eventsv1.TypeMessageRestored:
		r, err := ksvc.DecodeEvent("persist", e, func(r *eventsv1.MessageRestored) bool { return r.MessageID != "" })
		if err != nil {
			return nil, err
		}
		if err := f.cache.rdb.HDel(ctx, livev1.HiddenReasonsKey(r.RoomID), r.MessageID).Err(); err != nil {
			return nil, fmt.Errorf("persist: forget why %s was hidden: %w", r.MessageID, err)
		}
		_, err = f.applyAndTell(ctx, r.RoomID, r.MessageID, livev1.TypeRestored, bson.M{"hidden": false})
		return nil, err
	case eventsv1.TypeMessageReacted:
		r, err := ksvc.DecodeEvent("persist", e, func(r *eventsv1.MessageReacted) bool {
			return r.MessageID != "" && r.RoomID != "" && r.UserID != "" && (r.Op == eventsv1.ReactionAdd || r.Op == eventsv1.ReactionRemove)
		})
		if err != nil {
			return nil, err
		}
		return nil, f.react(ctx, r)
	case eventsv1.TypeFileThumbnailed:
		t, err := ksvc.DecodeEvent("persist", e, func(t *eventsv1.FileThumbnailed) bool {
			return t.RoomID != "" && t.MessageID != "" && eventsv1.ValidFileID(t.FileID) == nil &&
				t.Thumbnail.Width > 0 && t.Thumbnail.Width <= eventsv1.ThumbnailSize &&
				t.Thumbnail.Height > 0 && t.Thumbnail.Height <= eventsv1.ThumbnailSize
		})
		if err != nil {
			return nil, err
		}
		return nil, f.thumbnailed(ctx, t)
	case eventsv1.TypeReceiptRead:
		r, err := ksvc.DecodeEvent("persist", e, func(r *eventsv1.ReceiptRead) bool { return r.RoomID != "" && r.UserID != "" })
		if err != nil {
			return nil, err
		}
		return nil, f.store.markRead(ctx, r)
	}
	return nil, ksvc.Permanent(fmt.Errorf("persist: unexpected event type %q", e.Type()))
}

// threadRoot returns the stored root of a reply's thread. The connector
// checked it; a root not stored yet is retried (messages are stored
// unordered), one that is itself a reply or lies in another room never
// passes the connector's check, and nothing of such a reply is stored.
func (f *function) threadRoot(ctx context.Context, m eventsv1.Message) (messageDoc, error) {
	root, err := f.store.get(ctx, m.RoomID, m.ThreadID)
	if errors.Is(err, errNotStored) {
		return root, fmt.Errorf("persist: reply %s: root %s in room %s: %w; retry", m.ID, m.ThreadID, m.RoomID, err)
	}
	if err != nil {
		return root, fmt.Errorf("persist: reply %s: root %s: %w", m.ID, m.ThreadID, err)
	}
	if root.ThreadID != "" || root.Seq >= m.Seq {
		return root, ksvc.Permanent(fmt.Errorf("persist: reply %s: %s is not a thread's root before it", m.ID, m.ThreadID))
	}
	return root, nil
}

// countReply counts a stored reply in its root's summary, rewrites the
// root's cached copy and tells the room (a thread frame), and returns the
// summary for the stored event, which carries the participants that
// notification tells of the reply.
func (f *function) countReply(ctx context.Context, root messageDoc, m eventsv1.Message) (*eventsv1.Thread, error) {
	// The cached root is rewritten inside the flight: a reply that a later
	// count covered has no rewrite of its own. (A summary never goes back
	// in the window whatever the order: cache.replace.)
	doc, err := f.threads.do(root.ID, func() (messageDoc, error) {
		doc, err := f.store.addReply(ctx, root, m)
		if err != nil {
			return doc, err
		}
		if err := f.cache.replace(ctx, doc.public()); err != nil {
			return doc, fmt.Errorf("persist: cached root %s: %w", root.ID, err)
		}
		return doc, nil
	})
	if err != nil {
		return nil, err
	}
	pub := doc.public()
	frame, err := redactionFrame(livev1.TypeThread, m.RoomID, doc, "")
	if err != nil {
		return nil, err
	}
	if err := f.cache.rdb.SPublish(ctx, livev1.RoomChannel(m.RoomID), livev1.EphemeralEnvelope(frame)).Err(); err != nil {
		return nil, fmt.Errorf("persist: tell room %s of thread %s: %w", m.RoomID, root.ID, err)
	}
	return pub.Thread, nil
}

// apply updates a stored message and its cached copy. An update that
// arrives before the message itself (each event type has its own Trigger)
// fails retryably, and the Broker's backoff lets the message land first.
func (f *function) apply(ctx context.Context, roomID, id string, set bson.M) error {
	_, err := f.update(ctx, roomID, id, set)
	return err
}

func (f *function) update(ctx context.Context, roomID, id string, set bson.M) (messageDoc, error) {
	doc, err := f.store.update(ctx, roomID, id, set)
	if errors.Is(err, errNotStored) {
		return doc, fmt.Errorf("persist: message %s: %w; retry", id, err)
	}
	if err != nil {
		return doc, err
	}
	return doc, f.cache.replace(ctx, doc.public())
}

// react applies a reaction to the stored message. The connector has
// already told the room and updated the window, which keeps its reactions
// through persist's own rewrites (cache.replace); rewriting it here from
// the store, which may lag the window by reactions still on their way,
// would take back ones the room has seen.
func (f *function) react(ctx context.Context, r eventsv1.MessageReacted) error {
	// The connector checks these before it emits the event; one that fails
	// them did not come through its checks, and never will pass them.
	if err := eventsv1.ValidEmoji(r.Emoji); err != nil {
		return ksvc.Permanent(fmt.Errorf("persist: reaction to %s: %w", r.MessageID, err))
	}
	_, err := f.store.react(ctx, r)
	switch {
	case errors.Is(err, eventsv1.ErrReactionLimit):
		f.log.Warn("reaction refused", "room", r.RoomID, "message_id", r.MessageID, "error", err)
		return ksvc.Permanent(fmt.Errorf("persist: reaction to %s: %w", r.MessageID, err))
	case errors.Is(err, errNotStored):
		return fmt.Errorf("persist: reaction to %s: %w; retry", r.MessageID, err)
	case err != nil:
		return fmt.Errorf("persist: reaction to %s: %w", r.MessageID, err)
	}
	return nil
}

// applyAndTell updates a message and then tells the room's members online
// (frame type redacted or restored), after the stored copy changed, so a
// client that reloads history sees what the frame said.
func (f *function) applyAndTell(ctx context.Context, roomID, id, frameType string, set bson.M) (messageDoc, error) {
	doc, err := f.update(ctx, roomID, id, set)
	if err != nil {
		return doc, err
	}
	frame, err := redactionFrame(frameType, roomID, doc, "")
	if err != nil {
		return doc, err
	}
	if err := f.cache.rdb.SPublish(ctx, livev1.RoomChannel(roomID), livev1.EphemeralEnvelope(frame)).Err(); err != nil {
		return doc, fmt.Errorf("persist: tell room %s: %w", roomID, err)
	}
	return doc, nil
}

func redactionFrame(frameType, roomID string, doc messageDoc, reason string) ([]byte, error) {
	msg, err := json.Marshal(doc.public())
	if err != nil {
		return nil, fmt.Errorf("persist: %s frame of %s: %w", frameType, doc.ID, err)
	}
	return json.Marshal(livev1.MessageFrame{Type: frameType, RoomID: roomID, Message: msg, Reason: reason})
}

// hide applies moderation's flag and tells the author why, apart from the
// room: the reason goes to the author's own channel and into the hash the
// connector reads for the author's history pages, never into the message
// every member sees. The author is the stored message's, not the event's
// word for it.
func (f *function) hide(ctx context.Context, fl eventsv1.MessageFlagged) error {
	reason := eventsv1.FlagReason(fl.Labels)
	// The reason is kept before anyone is told, so a client that reloads on
	// the frame finds it; a flag that comes before its message keeps it
	// early and is retried.
	if err := f.cache.rdb.HSet(ctx, livev1.HiddenReasonsKey(fl.RoomID), fl.MessageID, reason).Err(); err != nil {
		return fmt.Errorf("persist: keep why %s was hidden: %w", fl.MessageID, err)
	}
	doc, err := f.applyAndTell(ctx, fl.RoomID, fl.MessageID, livev1.TypeRedacted, bson.M{"hidden": true,
		"flags": bson.M{"labels": fl.Labels, "scores": fl.Scores, "model": fl.Model}})
	if err != nil {
		return err
	}
	frame, err := redactionFrame(livev1.TypeRedacted, fl.RoomID, doc, reason)
	if err != nil {
		return err
	}
	if err := f.cache.rdb.SPublish(ctx, livev1.UserChannel(doc.UserID), frame).Err(); err != nil {
		return fmt.Errorf("persist: tell the author of %s: %w", fl.MessageID, err)
	}
	return nil
}

// thumbnailed notes an image's thumbnail on its message and shows it to
// the room (a thumbnail frame), once the stored copy has it.
func (f *function) thumbnailed(ctx context.Context, t eventsv1.FileThumbnailed) error {
	doc, err := f.store.thumbnailed(ctx, t)
	switch {
	case errors.Is(err, errNotStored):
		return fmt.Errorf("persist: thumbnail of %s: message %s: %w; retry", t.FileID, t.MessageID, err)
	case errors.Is(err, errNoAttachment):
		return ksvc.Permanent(fmt.Errorf("persist: thumbnail of %s on %s: %w", t.FileID, t.MessageID, err))
	case err != nil:
		return fmt.Errorf("persist: thumbnail of %s: %w", t.FileID, err)
	}
	if err := f.cache.replace(ctx, doc.public()); err != nil {
		return err
	}
	frame, err := redactionFrame(livev1.TypeThumbnail, t.RoomID, doc, "")
	if err != nil {
		return err
	}
	if err := f.cache.rdb.SPublish(ctx, livev1.RoomChannel(t.RoomID), livev1.EphemeralEnvelope(frame)).Err(); err != nil {
		return fmt.Errorf("persist: tell room %s of a thumbnail: %w", t.RoomID, err)
	}
	return nil
}

// checkText enforces the connector's text limit again: an event over it
// did not come through the connector's checks.
func checkText(text string) error {
	if n := utf8.RuneCountInString(text); n > eventsv1.MaxTextChars {
		return fmt.Errorf("text of %d characters is over the limit of %d", n, eventsv1.MaxTextChars)
	}
	return nil
}

// storedEvent is the reply that tells the Broker a message is durable,
// marked quiet when it notifies no one in a room of roomKind (the sent
// event's eventsv1.ExtRoomKind), so notification's Trigger leaves it out.
// notification checks what it is given itself: the mark only spares it
// the rest.
func storedEvent(m eventsv1.Message, roomKind string) (*event.Event, error) {
	r, err := eventsv1.New("stored-"+m.ID, eventsv1.TypeMessageStored, eventsv1.SourcePersist, m.RoomID, time.Now().UTC(), m)
	if err != nil {
		return nil, err
	}
	if eventsv1.Quiet(m, roomKind) {
		r.SetExtension(eventsv1.ExtQuiet, "true")
	}
	return &r, nil
}

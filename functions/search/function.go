package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/microbatch"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// function applies message events to the index. It replies nothing: search
// only listens, so nothing it does can slow or change the chat.
type function struct {
	store *store
	// puts batches the messages stored at the same time (nil: one at a
	// time, as a rebuild's replay does).
	puts *microbatch.Batcher[eventsv1.Message, struct{}]
}

// newPutBatcher batches stored messages into putMessages: up to 256, each
// waiting at most 25 ms for company. Search is off the send path, so the
// wait only delays when a message can be found, and at 500 messages/s it
// fills batches of about a dozen (5 ms gave 3, for half the saving:
// functions/BENCHMARKS.md).
func newPutBatcher(st *store) *microbatch.Batcher[eventsv1.Message, struct{}] {
	return microbatch.New(func(ctx context.Context, ms []eventsv1.Message) ([]struct{}, []error) {
		return nil, microbatch.Each(len(ms), st.putMessages(ctx, ms))
	}, 256, 25*time.Millisecond, 10*time.Second)
}

// putMessage indexes a stored message.
func (f *function) putMessage(ctx context.Context, m eventsv1.Message) error {
	if f.puts == nil {
		return f.store.putMessages(ctx, []eventsv1.Message{m})
	}
	_, err := f.puts.Do(ctx, m)
	return err
}

// maxIDLen bounds the ids an event may carry (UUIDs are 36 characters).
const maxIDLen = 64

func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if err := eventsv1.CheckEmitter(e.Type(), e.Source()); err != nil {
		return nil, ksvc.Permanent(fmt.Errorf("search: refused: %w", err))
	}
	if n := len(e.Data()); n > eventsv1.MaxDataBytes {
		return nil, ksvc.Permanent(fmt.Errorf("search: %s event %s: data of %d bytes is over the limit of %d",
			e.Type(), e.ID(), n, eventsv1.MaxDataBytes))
	}
	bad := func(why string) error {
		return ksvc.Permanent(fmt.Errorf("search: bad %s data in event %s: %s", e.Type(), e.ID(), why))
	}
	switch e.Type() {
	case eventsv1.TypeMessageStored:
		var m eventsv1.Message
		if err := decode(e, &m); err != nil {
			return nil, bad(err.Error())
		}
		if why := checkIDs(m.ID, m.RoomID); why != "" || m.Seq <= 0 || m.CreatedAt.IsZero() {
			return nil, bad(or(why, "want seq > 0 and created_at"))
		}
		if why := checkText(m.Text); why != "" {
			return nil, bad(why)
		}
		return nil, f.putMessage(ctx, m)
	case eventsv1.TypeMessageEdited:
		var ed eventsv1.MessageEdited
		if err := decode(e, &ed); err != nil {
			return nil, bad(err.Error())
		}
		if why := checkIDs(ed.MessageID, ed.RoomID); why != "" || ed.EditedAt.IsZero() {
			return nil, bad(or(why, "want edited_at"))
		}
		if why := checkText(ed.Text); why != "" {
			return nil, bad(why)
		}
		return nil, f.store.editMessage(ctx, ed)
	case eventsv1.TypeMessageDeleted:
		var d eventsv1.MessageDeleted
		if err := decode(e, &d); err != nil {
			return nil, bad(err.Error())
		}
		if why := checkIDs(d.MessageID, d.RoomID); why != "" {
			return nil, bad(why)
		}
		return nil, f.store.deleteMessage(ctx, d.RoomID, d.MessageID)
	case eventsv1.TypeMessageFlagged:
		var fl eventsv1.MessageFlagged
		if err := decode(e, &fl); err != nil {
			return nil, bad(err.Error())
		}
		if why := checkIDs(fl.MessageID, fl.RoomID); why != "" || e.Time().IsZero() {
			return nil, bad(or(why, "the event has no time"))
		}
		// The flag carries no time of its own: the event's is when
		// moderation decided.
		return nil, f.store.moderate(ctx, fl.RoomID, fl.MessageID, true, e.Time())
	case eventsv1.TypeMessageRestored:
		var r eventsv1.MessageRestored
		if err := decode(e, &r); err != nil {
			return nil, bad(err.Error())
		}
		if why := checkIDs(r.MessageID, r.RoomID); why != "" || r.At.IsZero() {
			return nil, bad(or(why, "want at"))
		}
		return nil, f.store.moderate(ctx, r.RoomID, r.MessageID, false, r.At)
	}
	return nil, ksvc.Permanent(fmt.Errorf("search: unexpected event type %q", e.Type()))
}

func decode(e event.Event, v any) error {
	if err := json.Unmarshal(e.Data(), v); err != nil {
		return fmt.Errorf("not the expected JSON: %v", err)
	}
	return nil
}

func checkIDs(messageID, roomID string) string {
	switch {
	case messageID == "" || roomID == "":
		return "want a message id and a room id"
	case len(messageID) > maxIDLen || len(roomID) > maxIDLen:
		return fmt.Sprintf("ids are at most %d bytes", maxIDLen)
	}
	return ""
}

// checkText enforces the connector's limits again: an event over them did
// not come through the connector's checks.
func checkText(text string) string {
	if !utf8.ValidString(text) {
		return "text is not valid UTF-8"
	}
	if n := utf8.RuneCountInString(text); n > eventsv1.MaxTextChars {
		return fmt.Sprintf("text of %d characters is over the limit of %d", n, eventsv1.MaxTextChars)
	}
	return ""
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

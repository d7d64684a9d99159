package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// A message's attachments are stored with it; a thumbnail is noted on its
// image (once, whatever the redeliveries) and history shows it; events
// breaking the file limits, or from the wrong emitter, are refused for
// good and store nothing.
func TestAttachmentsAndThumbnailsAreStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1)
	m.Text = ""
	img := eventsv1.Attachment{ID: uuid.NewString(), Name: "cat.png", Size: 2048, ContentType: "image/png"}
	doc := eventsv1.Attachment{ID: uuid.NewString(), Name: "notes.pdf", Size: 4096, ContentType: "application/pdf"}
	m.Attachments = []eventsv1.Attachment{img, doc}
	thumbnailed := func(fileID string, w, h int) error {
		_, err := e.f.Handle(ctx, ce(t, eventsv1.TypeFileThumbnailed, room, eventsv1.FileThumbnailed{RoomID: room, MessageID: m.ID,
			Seq: m.Seq, FileID: fileID, Thumbnail: eventsv1.Thumbnail{Width: w, Height: h}, At: time.Now().UTC()}))
		return err
	}
	// The thumbnail's Trigger may deliver before the message is stored: retryable.
	if err := thumbnailed(img.ID, 320, 200); err == nil || ksvc.IsPermanent(err) {
		t.Fatalf("a thumbnail before its message: %v, want a retryable error", err)
	}
	e.publish(t, m)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // redelivered
		if err := thumbnailed(img.ID, 320, 200); err != nil {
			t.Fatal(err)
		}
	}
	for name, err := range map[string]error{
		"a file not attached":   thumbnailed(uuid.NewString(), 320, 200),
		"a file not an image":   thumbnailed(doc.ID, 320, 200),
		"a thumbnail too large": thumbnailed(img.ID, 2000, 200),
		"no size":               thumbnailed(img.ID, 0, 0),
	} {
		if !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
	forged := ce(t, eventsv1.TypeFileThumbnailed, room, eventsv1.FileThumbnailed{RoomID: room, MessageID: m.ID, FileID: img.ID,
		Thumbnail: eventsv1.Thumbnail{Width: 10, Height: 10}})
	forged.SetSource(eventsv1.SourcePersist)
	if _, err := e.f.Handle(ctx, forged); !ksvc.IsPermanent(err) {
		t.Errorf("a thumbnail from persist's source: %v, want refused", err)
	}

	want := []eventsv1.Attachment{img, doc}
	want[0].Thumbnail = &eventsv1.Thumbnail{Width: 320, Height: 200}
	got, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room, Limit: 10})
	stored, err := e.f.store.get(ctx, room, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for where, as := range map[string][]eventsv1.Attachment{"history": got[0].Attachments, "store": stored.public().Attachments} {
		if len(as) != 2 || as[0].Thumbnail == nil || *as[0].Thumbnail != *want[0].Thumbnail || as[1].Thumbnail != nil ||
			as[0].ID != img.ID || as[1].Name != doc.Name {
			t.Errorf("%s: attachments %+v, want %+v", where, as, want)
		}
	}

	// Attachments beyond the limits: refused for good, nothing stored.
	for name, bad := range map[string][]eventsv1.Attachment{
		"an html file":    {{ID: uuid.NewString(), Name: "x.html", Size: 10, ContentType: "text/html"}},
		"a huge image":    {{ID: uuid.NewString(), Name: "x.png", Size: eventsv1.MaxImageBytes + 1, ContentType: "image/png"}},
		"a path as an id": {{ID: "../../x", Name: "x.png", Size: 10, ContentType: "image/png"}},
		"five files":      {img, doc, {ID: uuid.NewString(), Name: "a.txt", Size: 1, ContentType: "text/plain"}, {ID: uuid.NewString(), Name: "b.txt", Size: 1, ContentType: "text/plain"}, {ID: uuid.NewString(), Name: "c.txt", Size: 1, ContentType: "text/plain"}},
	} {
		bm := newMessage(room, 2)
		bm.Attachments = bad
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, bm)); !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
		if n := e.count(t, bson.M{"_id": bm.ID}); n != 0 {
			t.Errorf("%s: stored", name)
		}
	}

	// A hidden message shows no files.
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageFlagged, room, eventsv1.MessageFlagged{MessageID: m.ID, RoomID: room,
		Seq: m.Seq, UserID: m.UserID, Labels: []string{"toxic"}})); err != nil {
		t.Fatal(err)
	}
	if got, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room, Limit: 10}); len(got[0].Attachments) != 0 {
		t.Errorf("a hidden message shows its files: %+v", got[0].Attachments)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.S3Store, &stack))
}

func testFunction(t *testing.T) *function {
	t.Helper()
	st, err := newStore(config{endpoint: stack.S3.Endpoint, bucket: stack.S3.Bucket, region: stack.S3.Region,
		accessKey: stack.S3.AccessKey, secretKey: stack.S3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return &function{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, 0, color.NRGBA{255, 0, 0, 128})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bomb is a valid PNG whose header claims w×h pixels: a small file that
// would decode to a huge bitmap.
func bomb(t *testing.T, w, h uint32) []byte {
	b := pngOf(t, 8, 8)
	// IHDR's data starts at byte 16 (8 signature, 4 length, 4 type).
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func uploadedEvent(t *testing.T, room string, a eventsv1.Attachment, source string) event.Event {
	t.Helper()
	e, err := eventsv1.New(uuid.NewString(), eventsv1.TypeFileUploaded, source, room, time.Now(),
		eventsv1.FileUploaded{RoomID: room, MessageID: uuid.NewString(), Seq: 7, UserID: uuid.NewString(), File: a, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func put(t *testing.T, key string, body []byte, contentType string) {
	t.Helper()
	c, err := stack.S3.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(context.Background(), stack.S3.Bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: contentType}); err != nil {
		t.Fatal(err)
	}
}

func TestMakesTheThumbnailAndReplies(t *testing.T) {
	f := testFunction(t)
	room, id := uuid.NewString(), uuid.NewString()
	src := pngOf(t, 1000, 250)
	put(t, eventsv1.FileKey(room, id), src, "image/png")
	a := eventsv1.Attachment{ID: id, Name: "wide.png", Size: int64(len(src)), ContentType: "image/png"}
	reply, err := f.Handle(context.Background(), uploadedEvent(t, room, a, eventsv1.SourceConnector+"c1"))
	if err != nil || reply == nil {
		t.Fatalf("Handle: %v, %v", reply, err)
	}
	var done eventsv1.FileThumbnailed
	if err := json.Unmarshal(reply.Data(), &done); err != nil {
		t.Fatal(err)
	}
	if reply.Type() != eventsv1.TypeFileThumbnailed || reply.Source() != eventsv1.SourceThumbnail ||
		done.FileID != id || done.Thumbnail != (eventsv1.Thumbnail{Width: 320, Height: 80}) {
		t.Fatalf("reply %s from %s: %+v", reply.Type(), reply.Source(), done)
	}
	thumb, err := f.store.read(context.Background(), eventsv1.ThumbnailKey(room, id), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); err != nil || cfg.Width != 320 || cfg.Height != 80 {
		t.Errorf("stored thumbnail %+v, %v", cfg, err)
	}
}

// Whoever sent it, an event breaking the limits or not from the connector
// is refused for good (dead-lettered, not retried), and nothing is written.
func TestRefusesBadEventsForGood(t *testing.T) {
	f := testFunction(t)
	room, id := uuid.NewString(), uuid.NewString()
	src := bomb(t, 100_000, 100_000)
	put(t, eventsv1.FileKey(room, id), src, "image/png")
	good := eventsv1.Attachment{ID: id, Name: "bomb.png", Size: int64(len(src)), ContentType: "image/png"}
	for name, e := range map[string]event.Event{
		"a decompression bomb": uploadedEvent(t, room, good, eventsv1.SourceConnector+"c1"),
		"from another source":  uploadedEvent(t, room, good, "parley/persist"),
		"not an image": uploadedEvent(t, room, eventsv1.Attachment{ID: id, Name: "a.pdf", Size: 10,
			ContentType: "application/pdf"}, eventsv1.SourceConnector+"c1"),
		"over the image limit": uploadedEvent(t, room, eventsv1.Attachment{ID: id, Name: "a.png", Size: eventsv1.MaxImageBytes + 1,
			ContentType: "image/png"}, eventsv1.SourceConnector+"c1"),
		"not in the store": uploadedEvent(t, room, eventsv1.Attachment{ID: uuid.NewString(), Name: "a.png", Size: 10,
			ContentType: "image/png"}, eventsv1.SourceConnector+"c1"),
	} {
		reply, err := f.Handle(context.Background(), e)
		if reply != nil || !ksvc.IsPermanent(err) {
			t.Errorf("%s: reply %v, error %v; want a permanent error", name, reply, err)
		}
	}
	if _, err := f.store.read(context.Background(), eventsv1.ThumbnailKey(room, id), 1<<20); !errors.Is(err, errNoObject) {
		t.Errorf("a thumbnail was written for a refused image: %v", err)
	}
}

func TestBombIsRefusedFromItsHeader(t *testing.T) {
	_, _, err := makeThumbnail(bomb(t, 20_000, 20_000))
	if !errors.Is(err, errTooManyPixels) {
		t.Fatalf("makeThumbnail of a 20000×20000 header: %v", err)
	}
	if _, size, err := makeThumbnail(pngOf(t, 100, 50)); err != nil || size != (eventsv1.Thumbnail{Width: 100, Height: 50}) {
		t.Errorf("a small image is kept at its size: %+v %v", size, err)
	}
}

// A thumbnail made while its message was deleted (the file is gone when
// it is written) does not stay behind in the store; one whose file is
// there stays.
func TestAThumbnailDoesNotOutliveItsFile(t *testing.T) {
	ctx := context.Background()
	f := testFunction(t)
	room, kept, deleted := uuid.NewString(), uuid.NewString(), uuid.NewString()
	put(t, eventsv1.FileKey(room, kept), pngOf(t, 4, 4), "image/png")
	jpg := []byte("\xff\xd8 a thumbnail")
	if err := f.store.writeBeside(ctx, eventsv1.FileKey(room, kept), eventsv1.ThumbnailKey(room, kept), jpg); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.read(ctx, eventsv1.ThumbnailKey(room, kept), 1<<10); err != nil {
		t.Fatalf("the thumbnail of a file in the store: %v", err)
	}
	err := f.store.writeBeside(ctx, eventsv1.FileKey(room, deleted), eventsv1.ThumbnailKey(room, deleted), jpg)
	if !errors.Is(err, errNoObject) {
		t.Fatalf("writing beside a deleted file: %v, want errNoObject", err)
	}
	if _, err := f.store.read(ctx, eventsv1.ThumbnailKey(room, deleted), 1<<10); !errors.Is(err, errNoObject) {
		t.Fatalf("the thumbnail of a deleted file is in the store (%v)", err)
	}
}

// An image event whose file is gone (its message was deleted) is refused
// for good, and takes with it a thumbnail an earlier delivery left behind.
func TestAnEventOfADeletedFileRemovesItsLeftoverThumbnail(t *testing.T) {
	f := testFunction(t)
	room, id := uuid.NewString(), uuid.NewString()
	put(t, eventsv1.ThumbnailKey(room, id), []byte("\xff\xd8 left behind"), "image/jpeg")
	a := eventsv1.Attachment{ID: id, Name: "gone.png", Size: 100, ContentType: "image/png"}
	reply, err := f.Handle(context.Background(), uploadedEvent(t, room, a, eventsv1.SourceConnector+"c1"))
	if reply != nil || !ksvc.IsPermanent(err) {
		t.Fatalf("Handle: %v, %v; want no reply and a permanent error", reply, err)
	}
	if _, err := f.store.read(context.Background(), eventsv1.ThumbnailKey(room, id), 1<<10); !errors.Is(err, errNoObject) {
		t.Fatalf("the leftover thumbnail is still in the store (%v)", err)
	}
}

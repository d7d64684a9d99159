package files

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.S3Store|devstack.Redis, &stack))
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(Config{Endpoint: stack.S3.Endpoint, Bucket: stack.S3.Bucket, Region: stack.S3.Region,
		AccessKey: stack.S3.AccessKey, SecretKey: stack.S3.SecretKey}, redistest.Client(t, stack.RedisURL, ""))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, up Upload, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An upload is attached only by its uploader, in its room, and as the
// store has it; a download of a non-image is an attachment under its name.
func TestAttachReadsTheUploadFromTheStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	room, other := uuid.NewString(), uuid.NewString()
	body := []byte("%PDF-1.7 minutes")
	up, err := s.PresignUpload(ctx, room, "ada", "notes «draft».pdf", int64(len(body)), "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attach(ctx, room, "ada", up.ID); !errors.Is(err, ErrRefused) {
		t.Fatalf("attach before the upload: %v, want refused", err)
	}
	if status := put(t, up, body); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	a, err := s.Attach(ctx, room, "ada", up.ID)
	want := eventsv1.Attachment{ID: up.ID, Name: "notes «draft».pdf", Size: int64(len(body)), ContentType: "application/pdf"}
	if err != nil || a != want {
		t.Fatalf("attach: %+v %v, want %+v", a, err, want)
	}
	for name, attach := range map[string]func() error{
		"by someone else":   func() error { _, err := s.Attach(ctx, room, "bob", up.ID); return err },
		"in another room":   func() error { _, err := s.Attach(ctx, other, "ada", up.ID); return err },
		"a path for an id":  func() error { _, err := s.Attach(ctx, room, "ada", "../"+up.ID); return err },
		"an id never given": func() error { _, err := s.Attach(ctx, room, "ada", uuid.NewString()); return err },
	} {
		if err := attach(); !errors.Is(err, ErrRefused) {
			t.Errorf("attach %s: %v, want refused", name, err)
		}
	}
	dl, err := s.PresignDownload(ctx, room, up.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(dl.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || !strings.HasPrefix(cd, "attachment;") ||
		!strings.Contains(cd, "notes%20%C2%ABdraft%C2%BB.pdf") {
		t.Errorf("download: %d, Content-Disposition %q", resp.StatusCode, cd)
	}
	if _, err := s.PresignDownload(ctx, other, up.ID, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("download through another room: %v, want not found", err)
	}
	if _, err := s.PresignDownload(ctx, room, up.ID, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("thumbnail of a pdf: %v, want not found", err)
	}
}

func TestPresignUploadRefusesWhatBreaksTheLimits(t *testing.T) {
	s := newStore(t)
	for name, f := range map[string]struct {
		name, typ string
		size      int64
	}{
		"oversized":    {"a.zip", "application/zip", eventsv1.MaxFileBytes + 1},
		"large image":  {"a.png", "image/png", eventsv1.MaxImageBytes + 1},
		"html":         {"a.html", "text/html", 10},
		"svg":          {"a.svg", "image/svg+xml", 10},
		"a path":       {"../a.txt", "text/plain", 10},
		"empty":        {"a.txt", "text/plain", 0},
		"a quote name": {`a".txt`, "text/plain", 10},
	} {
		if _, err := s.PresignUpload(context.Background(), "r", "ada", f.name, f.size, f.typ); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
}

func TestEnsureBucketIsIdempotentAndChecksTheLogin(t *testing.T) {
	s := newStore(t)
	for range 2 { // there already, then again: no error
		if err := s.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wrong := s.cfg
	wrong.SecretKey = "wrong"
	w, _ := New(wrong, s.pending)
	if err := w.EnsureBucket(context.Background()); err == nil {
		t.Error("a wrong login made no error")
	}
}

package files

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/connector/internal/redistest"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// A user's upload URLs count against their bytes for the UTC day, on every
// connector together (two Stores on one Redis here); the one that would
// pass the quota is refused with what is left and when the day ends, and
// costs nothing; other users and the next day start afresh.
func TestUploadsAreBoundedPerUserAndDay(t *testing.T) {
	a, b := newStore(t), newStore(t)
	const quota = 2 * eventsv1.MaxFileBytes
	noon := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, s := range []*Store{a, b} {
		s.cfg.UserBytesPerDay = quota
		s.now = func() time.Time { return noon }
	}
	user, other := "ada-"+uuid.NewString(), "bob-"+uuid.NewString()
	ctx := context.Background()
	upload := func(s *Store, user string, size int64) error {
		_, err := s.PresignUpload(ctx, "r", user, "notes.txt", size, "text/plain")
		return err
	}
	if err := upload(a, user, eventsv1.MaxFileBytes); err != nil {
		t.Fatal(err)
	}
	if err := upload(b, user, eventsv1.MaxFileBytes-100); err != nil {
		t.Fatal(err)
	}
	err := upload(a, user, 101) // one byte over, on either connector
	var q *QuotaError
	if !errors.As(err, &q) {
		t.Fatalf("an upload past the quota: %v, want a *QuotaError", err)
	}
	if q.Limit != quota || q.Left != 100 || q.RetryAfter != 12*time.Hour {
		t.Fatalf("refused with limit %d, left %d, retry after %s; want %d, 100, 12h", q.Limit, q.Left, q.RetryAfter, quota)
	}
	if err := upload(b, user, 100); err != nil {
		t.Fatalf("the refused upload was counted: the 100 bytes left are refused too: %v", err)
	}
	if err := upload(a, user, 1); !errors.As(err, &q) || q.Left != 0 {
		t.Fatalf("an upload with nothing left: %v, want a *QuotaError with 0 left", err)
	}
	if err := upload(a, other, eventsv1.MaxFileBytes); err != nil {
		t.Fatalf("another user's upload: %v", err)
	}
	for _, s := range []*Store{a, b} {
		s.now = func() time.Time { return noon.Add(12 * time.Hour) } // midnight
	}
	if err := upload(b, user, eventsv1.MaxFileBytes); err != nil {
		t.Fatalf("the next day's first upload: %v", err)
	}
}

func TestAQuotaBelowOneFileIsRefused(t *testing.T) {
	_, err := New(Config{Endpoint: "http://127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s",
		UserBytesPerDay: eventsv1.MaxFileBytes - 1}, redistest.Client(t, stack.RedisURL, ""))
	if err == nil {
		t.Fatal("a quota smaller than the largest file was accepted")
	}
}

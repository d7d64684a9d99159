package files

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// clock is a Store's time, moved by the test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// sweepingStore is a store on a clock of the test's, with no upload of
// another test waiting: the waiting list is one for all rooms.
func sweepingStore(t *testing.T, c *clock) *Store {
	t.Helper()
	s := newStore(t)
	s.now = c.now
	if err := s.pending.Del(context.Background(), pendingKey, sweptKey).Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// uploaded presigns and uploads a file to room as ada.
func uploaded(t *testing.T, s *Store, room string) Upload {
	t.Helper()
	body := []byte("a line of text")
	up, err := s.PresignUpload(context.Background(), room, "ada", "note.txt", int64(len(body)), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if status := put(t, up, body); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	return up
}

func inStore(t *testing.T, s *Store, room, id string) bool {
	t.Helper()
	_, err := s.stat(context.Background(), eventsv1.FileKey(room, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// An upload no message carried by its deadline is deleted from the store,
// and a send that tries it after is refused; an upload a message carried
// stays, and may be carried again.
func TestSweepDeletesOnlyUploadsNoMessageCarried(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	s := sweepingStore(t, c)
	room := uuid.NewString()
	forgotten, carried := uploaded(t, s, room), uploaded(t, s, room)
	if _, err := s.Attach(ctx, room, "ada", carried.ID); err != nil {
		t.Fatal(err)
	}

	c.t = c.t.Add(s.cfg.AttachTTL - time.Second)
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !inStore(t, s, room, forgotten.ID) {
		t.Fatal("swept before its deadline")
	}

	c.t = c.t.Add(2 * time.Second)
	_, err := s.Attach(ctx, room, "ada", forgotten.ID)
	if !errors.Is(err, ErrRefused) || !strings.HasSuffix(err.Error(), "waited longer than 24 hours for a message: upload it again") {
		t.Fatalf("attach past the deadline, not yet swept: %v, want refused, saying why", err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if inStore(t, s, room, forgotten.ID) {
		t.Error("an upload no message carried is still in the store after its deadline")
	}
	if _, err := s.Attach(ctx, room, "ada", forgotten.ID); !errors.Is(err, ErrRefused) {
		t.Errorf("attach of a swept upload: %v, want refused", err)
	}
	if !inStore(t, s, room, carried.ID) {
		t.Fatal("the sweep deleted a file a message carries")
	}
	if _, err := s.Attach(ctx, room, "ada", carried.ID); err != nil {
		t.Errorf("carrying a file again: %v", err)
	}
}

// A send that read the file from the store just before the sweep took it
// is refused, even after the sweep: the swept list outlives that moment.
func TestAClaimAfterTheSweepTookTheUploadIsRefused(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	s := sweepingStore(t, c)
	room := uuid.NewString()
	up := uploaded(t, s, room)
	c.t = c.t.Add(s.cfg.AttachTTL + time.Second)
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(sweptMemory - time.Minute)
	if err := s.claim(ctx, room, up.ID); !errors.Is(err, ErrRefused) {
		t.Fatalf("claim after the sweep: %v, want refused", err)
	}
}

// Many uploads past their deadline go in one sweep, in batches, each
// deleted once however many connectors sweep at the same time.
func TestConcurrentSweepsDeleteEveryDueUploadOnce(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	a := sweepingStore(t, c)
	b := newStore(t)
	b.now = c.now
	room := uuid.NewString()
	const n = sweepBatch + 20
	ups := make([]Upload, n)
	for i := range ups {
		ups[i] = uploaded(t, a, room)
	}
	c.t = c.t.Add(a.cfg.AttachTTL + time.Second)
	counts := make(chan int, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			k, err := s.Sweep(ctx)
			if err != nil {
				t.Error(err)
			}
			counts <- k
		}()
	}
	if total := <-counts + <-counts; total != n {
		t.Errorf("the sweeps took %d uploads, want %d", total, n)
	}
	for _, up := range ups {
		if inStore(t, a, room, up.ID) {
			t.Fatalf("upload %s is still in the store", up.ID)
		}
	}
}

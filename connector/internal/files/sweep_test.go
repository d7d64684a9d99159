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
	if err := s.Claim(ctx, room, []string{carried.ID}); err != nil {
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
	tooLate := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrRefused) || !strings.HasSuffix(err.Error(), "waited longer than 24 hours for a message: upload it again") {
			t.Fatalf("%s: %v, want refused, saying why", what, err)
		}
	}
	tooLate("claim past the deadline, not yet swept", s.Claim(ctx, room, []string{forgotten.ID}))
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if inStore(t, s, room, forgotten.ID) {
		t.Error("an upload no message carried is still in the store after its deadline")
	}
	_, err := s.Attach(ctx, room, "ada", forgotten.ID)
	tooLate("attach of a swept upload", err)
	if !inStore(t, s, room, carried.ID) {
		t.Fatal("the sweep deleted a file a message carries")
	}
	if _, err := s.Attach(ctx, room, "ada", carried.ID); err != nil {
		t.Errorf("carrying a file again: %v", err)
	}
	if err := s.Claim(ctx, room, []string{carried.ID}); err != nil {
		t.Errorf("claiming a file carried before: %v", err)
	}
}

// A message's uploads are claimed all or none: a send refused for one of
// its files leaves the others waiting, to be carried later or swept.
func TestAClaimOfAMessagesUploadsIsAllOrNone(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	s := sweepingStore(t, c)
	room := uuid.NewString()
	old := uploaded(t, s, room)
	c.t = c.t.Add(s.cfg.AttachTTL - time.Minute)
	fresh := uploaded(t, s, room)
	c.t = c.t.Add(2 * time.Minute)
	if err := s.Claim(ctx, room, []string{fresh.ID, old.ID}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), old.ID) {
		t.Fatalf("claim of a fresh and a late upload: %v, want the late one refused", err)
	}
	c.t = c.t.Add(s.cfg.AttachTTL)
	if n, err := s.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want both uploads deleted, the fresh one left waiting by the refused claim", n, err)
	}
}

// A sweep that cannot delete what it took (the store is down, or the
// connector stops) leaves it leased: no send carries it meanwhile, and a
// sweep after the lease deletes it.
func TestASweepThatCannotDeleteLeavesItsUploadsToALaterOne(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	s := sweepingStore(t, c)
	down, err := New(Config{Endpoint: "http://127.0.0.1:1", Bucket: s.cfg.Bucket, AccessKey: "a", SecretKey: "s"}, s.pending)
	if err != nil {
		t.Fatal(err)
	}
	down.now = c.now
	room := uuid.NewString()
	ups := []Upload{uploaded(t, s, room), uploaded(t, s, room)}
	c.t = c.t.Add(s.cfg.AttachTTL + time.Second)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n, err := down.Sweep(short); err == nil || n != 0 {
		t.Fatalf("a sweep with the store down: %d, %v; want an error and nothing deleted", n, err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("a sweep during the lease: %d, %v; want nothing taken", n, err)
	}
	for _, up := range ups {
		if !inStore(t, s, room, up.ID) {
			t.Fatal("an upload went during the lease")
		}
		if err := s.Claim(ctx, room, []string{up.ID}); !errors.Is(err, ErrRefused) {
			t.Fatalf("claim of a leased upload: %v, want refused", err)
		}
	}
	c.t = c.t.Add(sweepLease + time.Second)
	if n, err := s.Sweep(ctx); err != nil || n != len(ups) {
		t.Fatalf("the sweep after the lease: %d, %v; want %d deleted", n, err, len(ups))
	}
	for _, up := range ups {
		if inStore(t, s, room, up.ID) {
			t.Error("an upload is still in the store after the lease")
		}
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
	if err := s.Claim(ctx, room, []string{up.ID}); !errors.Is(err, ErrRefused) {
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

package gateway

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/files"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// A refused upload is answered by why it was refused: 413 for a file over
// its limit, 415 for a type not allowed, 400 for the rest, each with the
// reason for people as the message.
func TestFileRefusedAnswersByTheReason(t *testing.T) {
	// New makes no request, and PresignUpload refuses before it makes one.
	s, err := files.New(files.Config{Endpoint: "http://127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s"},
		redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		file   string
		size   int64
		typ    string
		status int
		body   string
	}{
		"oversized file":  {"big.zip", eventsv1.MaxFileBytes + 1, "application/zip", 413, `{"code":"file_refused","message":"the file is 25.0 MB; other files may be at most 25.0 MB"}`},
		"oversized image": {"big.png", eventsv1.MaxImageBytes + 1, "image/png", 413, `{"code":"file_refused","message":"the file is 10.0 MB; image files may be at most 10.0 MB"}`},
		"html":            {"page.html", 100, "text/html", 415, `{"code":"file_refused","message":"files of type \"text/html\" are not allowed"}`},
		"a path":          {"../../etc/passwd", 100, "text/plain", 400, `{"code":"file_refused","message":"a file name may not contain a path"}`},
		"empty":           {"empty.txt", 0, "text/plain", 400, `{"code":"file_refused","message":"the file is empty"}`},
		"no name":         {"", 100, "text/plain", 400, `{"code":"file_refused","message":"the file needs a name"}`},
	} {
		_, err := s.PresignUpload(context.Background(), "r", "ada", c.file, c.size, c.typ)
		if err == nil {
			t.Fatalf("%s: not refused", name)
		}
		e := fileRefused(err)
		body, _ := json.Marshal(e)
		if e.status != c.status || string(body) != c.body {
			t.Errorf("%s: %d %s, want %d %s", name, e.status, body, c.status, c.body)
		}
	}
}

// An upload past its user's quota is 429 with the reason and how long
// until the day's quota starts again, in whole seconds rounded up.
func TestAnUploadPastTheQuotaIsTooManyRequestsUntilTheDaysEnd(t *testing.T) {
	w := httptest.NewRecorder()
	e := quotaReached(w, &files.QuotaError{Limit: 1 << 30, Left: 3 << 20, RetryAfter: 90*time.Minute + time.Millisecond})
	body, _ := json.Marshal(e)
	want := `{"code":"upload_quota","message":"you may upload 1.0 GB a day and have 3.0 MB left today (the day ends at midnight UTC)"}`
	if e.status != 429 || string(body) != want {
		t.Errorf("%d %s, want 429 %s", e.status, body, want)
	}
	if got := w.Header().Get("Retry-After"); got != "5401" {
		t.Errorf("Retry-After %q, want 5401", got)
	}
}

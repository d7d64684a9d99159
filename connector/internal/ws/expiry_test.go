package ws

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/connector/internal/authn"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// expiringTokens reads a token "user/ms" as user's, expiring ms
// milliseconds after it is verified.
type expiringTokens struct{}

func (expiringTokens) Verify(_ context.Context, token string) (authn.Identity, error) {
	user, ms, _ := strings.Cut(token, "/")
	n, err := strconv.Atoi(ms)
	if err != nil {
		return authn.Identity{}, err
	}
	return authn.Identity{UserID: user, Username: user, Role: "user",
		Expires: time.Now().Add(time.Duration(n) * time.Millisecond)}, nil
}

// A socket is closed with 4401 when its token expires, unless it
// authenticated again with a later one; a socket that ends is forgotten.
func TestASocketIsClosedWhenItsTokenExpires(t *testing.T) {
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Verifier = expiringTokens{} })
	// bob authenticates again at once, well within his first token's
	// second; ann's token, as long and verified after his, expires after it.
	renewed := ts.dial(t, "bob/1000")
	renewed.write(frame{"type": "auth", "id": "again", "token": "bob/3600000"})
	renewed.expect("ready", func(f frame) bool { return f.str("id") == "again" })
	expiring := ts.dial(t, "ann/1000")
	lasting := ts.dial(t, "cat/3600000")
	gone := ts.dial(t, "dan/3600000")

	select {
	case code := <-expiring.closed:
		if code != int(livev1.CloseAuthFailed) {
			t.Fatalf("closed with %d, want %d", code, livev1.CloseAuthFailed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a socket whose token expired is still open")
	}
	// bob's first token expired before ann's; his second did not.
	for _, c := range []*testClient{renewed, lasting} {
		c.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": uuid.NewString(), "last_seq": 0}}})
		c.expect("subscribed", nil)
	}

	gone.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.Sessions() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polls the condition
	}
	ts.srv.expiries.mu.Lock()
	left := ts.srv.expiries.Len()
	ts.srv.expiries.mu.Unlock()
	if left != 2 {
		t.Fatalf("%d sessions wait for their token's expiry, want 2 (bob's and cat's)", left)
	}
}

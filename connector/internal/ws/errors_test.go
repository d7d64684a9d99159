package ws

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/connector/internal/redistest"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// A client must be able to tell which of its frames the flood limiter
// dropped, and when to send it again.
func TestRateLimitedFramesCarryTheirIDAndWhenToRetry(t *testing.T) {
	ts := newTestServer(t, Config{FrameRate: 2, FrameBurst: 2})
	c := ts.dial(t, "ada") // the auth frame spends one token
	room := uuid.NewString()
	const n = 6
	for i := range n {
		c.write(frame{"type": "history", "id": fmt.Sprint("h", i), "room_id": room})
	}
	// Every frame gets exactly one answer naming it: its page or rate_limited.
	answered := map[string]frame{}
	for len(answered) < n {
		f := <-c.frames
		if f == nil {
			t.Fatalf("socket closed; answered %v", answered)
		}
		id := f.str("id")
		if f.str("type") != "history" && f.str("code") != "rate_limited" {
			continue
		}
		if _, dup := answered[id]; dup || id == "" {
			t.Fatalf("answer %v names no frame or one already answered (%v)", f, answered)
		}
		answered[id] = f
	}
	var refused frame
	for i := range n {
		f := answered[fmt.Sprint("h", i)]
		if f == nil {
			t.Fatalf("h%d not answered: %v", i, answered)
		}
		if f.str("code") == "rate_limited" {
			if ms := f.num("retry_after_ms"); ms <= 0 || ms > 500 {
				t.Fatalf("retry_after_ms %d, want 1..500 at 2 frames/s: %v", ms, f)
			}
			refused = f
		}
	}
	if refused == nil {
		t.Fatal("7 frames against a burst of 2 were never rate limited")
	}
	// Waiting as told is enough.
	time.Sleep(time.Duration(refused.num("retry_after_ms")) * time.Millisecond)
	c.write(frame{"type": "history", "id": refused.str("id"), "room_id": room})
	if f := c.expect("history", nil); f.str("id") != refused.str("id") {
		t.Fatalf("retried frame answered with %v", f)
	}
}

func TestErrorsAboutAFrameCarryItsID(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := ts.dial(t, "ada")
	cases := map[string]func(){
		"binary": func() {
			c.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"presence","id":"binary","status":"away"}`))
		},
		"unknown-field": func() {
			c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"presence","x":1,"id":"unknown-field","status":"away"}`))
		},
		"unknown-type": func() { c.write(frame{"type": "teleport", "id": "unknown-type"}) },
		"bad-status":   func() { c.write(frame{"type": "presence", "id": "bad-status", "status": "gone"}) },
	}
	for id, send := range cases {
		send()
		if e := c.expect("error", nil); e.str("id") != id {
			t.Errorf("%s: error %v does not name its frame", id, e)
		}
	}
	// Another user's token on this socket: the error names the frame, then the socket closes.
	c.write(frame{"type": "auth", "id": "switch", "token": "eve"})
	if e := c.expect("error", nil); e.str("id") != "switch" || e.str("code") != "forbidden" {
		t.Errorf("re-auth as another user: %v", e)
	}
	for range c.frames {
	}
	if code := <-c.closed; code != 4403 {
		t.Errorf("re-auth as another user closed with %d, want 4403", code)
	}
}

// A subscribe names several rooms; when one of them fails, the error says
// which, so the client asks again for that room.
func TestAFailedResumeNamesItsFrameAndRoom(t *testing.T) {
	ts := newTestServer(t, Config{}, func(d *Deps) { d.History = failingHistory{} })
	room, _ := ts.newRoomWith(t, 2)
	bob := ts.dial(t, "bob")
	bob.write(frame{"type": "subscribe", "id": "resume", "rooms": []frame{{"room_id": room, "last_seq": 1}}})
	bob.expect("subscribed", nil)
	if e := bob.expect("error", nil); e.str("code") != "unavailable" || e.str("id") != "resume" ||
		e.str("room_id") != room || e.num("retry_after_ms") <= 0 {
		t.Fatalf("failed replay: %v", e)
	}
}

// One user's sockets on a connector are bounded: the one past the bound is
// refused (rate_limited, then 4429: back off, reconnect), and a socket
// that closes makes room again. Other users are not affected.
func TestAUsersSocketsAreBounded(t *testing.T) {
	ts := newTestServer(t, Config{SocketsPerUser: 2})
	ann := "ann-" + uuid.NewString()
	first := ts.dial(t, ann)
	ts.dial(t, ann)
	ts.dial(t, "bob-"+uuid.NewString())
	if code := refusedAuth(t, ts, ann); code != int(livev1.ClosePolicyViolation) {
		t.Fatalf("the third socket closed with %d, want %d", code, livev1.ClosePolicyViolation)
	}
	first.conn.Close()
	// The server counts the socket out once it has seen it close.
	redistest.Wait(t, func() (bool, string) {
		ts.srv.sockets.mu.Lock()
		defer ts.srv.sockets.mu.Unlock()
		return ts.srv.sockets.n[ann] == 1, fmt.Sprintf("ann has %d sockets counted after one closed", ts.srv.sockets.n[ann])
	})
	ts.dial(t, ann) // room again
}

// The bound holds on every connector together: a client that a load
// balancer spreads over connectors gets no more sockets than on one. The
// connector that refuses gives back its own count, and a socket closed on
// either makes room on both.
func TestAUsersSocketsAreBoundedAcrossConnectors(t *testing.T) {
	a := newTestServer(t, Config{SocketsPerUser: 2})
	b := newTestServer(t, Config{SocketsPerUser: 2})
	ann := "ann-" + uuid.NewString()
	onA := a.dial(t, ann)
	b.dial(t, ann)
	if code := refusedAuth(t, b, ann); code != int(livev1.ClosePolicyViolation) {
		t.Fatalf("the third socket, on the second connector, closed with %d, want %d", code, livev1.ClosePolicyViolation)
	}
	if code := refusedAuth(t, a, ann); code != int(livev1.ClosePolicyViolation) {
		t.Fatalf("the third socket, on the first connector, closed with %d, want %d", code, livev1.ClosePolicyViolation)
	}
	b.srv.sockets.mu.Lock()
	counted := b.srv.sockets.n[ann]
	b.srv.sockets.mu.Unlock()
	if counted != 1 {
		t.Fatalf("the second connector counts %d of ann's sockets after refusing one, want 1", counted)
	}
	onA.conn.Close()
	redistest.Wait(t, func() (bool, string) {
		n, err := a.rdb.ZCard(context.Background(), livev1.PresenceKey(ann)).Result()
		return err == nil && n == 1, fmt.Sprintf("ann has %d live sessions after one closed (%v)", n, err)
	})
	b.dial(t, ann) // room again, on the other connector
}

// refusedAuth opens a socket to ts, authenticates as token, expects the
// auth refused as rate_limited, and returns the close code.
func refusedAuth(t *testing.T, ts *testServer, token string) int {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{t: t, conn: conn, frames: make(chan frame, 16), closed: make(chan int, 1)}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	c.write(frame{"type": "auth", "id": "over", "token": token})
	if e := c.expect("error", nil); e.str("id") != "over" || e.str("code") != "rate_limited" {
		t.Errorf("the socket over the bound got %v", e)
	}
	for range c.frames {
	}
	return <-c.closed
}

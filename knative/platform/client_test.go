package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// user is an account with tokens.
type user struct {
	id, name, token string
}

var userSeq struct {
	sync.Mutex
	n int
}

func newUser(t testing.TB) user {
	t.Helper()
	userSeq.Lock()
	userSeq.n++
	name := fmt.Sprintf("u%d%s", userSeq.n, strings.ReplaceAll(uuid.NewString()[:6], "-", ""))
	userSeq.Unlock()
	var out struct {
		AccessToken string              `json:"access_token"`
		User        struct{ ID string } `json:"user"`
	}
	rest(t, "POST", "/api/v1/auth/register", "", map[string]string{"username": name, "email": name + "@example.com",
		"password": "password " + name}, 201, &out)
	return user{id: out.User.ID, name: name, token: out.AccessToken}
}

func rest(t testing.TB, method, path, token string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, plat.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var e any
		json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, e, want)
	}
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
}

// newRoom creates a public room owned by owner with the others invited.
func newRoom(t testing.TB, owner user, others ...user) string {
	var room struct{ ID string }
	rest(t, "POST", "/api/v1/rooms", owner.token, map[string]string{"name": "room " + owner.name}, 201, &room)
	for _, u := range others {
		rest(t, "POST", "/api/v1/rooms/"+room.ID+"/invites", owner.token, map[string]string{"user_id": u.id}, 201, nil)
	}
	return room.ID
}

type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }
func (f frame) num(k string) int64  { n, _ := f[k].(float64); return int64(n) }
func (f frame) msg() frame          { m, _ := f["message"].(map[string]any); return m }

// client is a protocol v1 client on a real WebSocket.
type client struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan frame
	closed chan int // close code
	mu     sync.Mutex
	all    []frame
}

// dial connects to a connector (base URL) and authenticates as u.
func dial(t testing.TB, base string, u user) *client {
	t.Helper()
	c := dialRaw(t, base)
	c.write(frame{"type": "auth", "token": u.token})
	c.expect("ready", nil)
	return c
}

func dialRaw(t testing.TB, base string) *client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(strings.Replace(base, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c := &client{t: t, conn: conn, frames: make(chan frame, 100000), closed: make(chan int, 1)}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) read() {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			code := 1006
			if ce, ok := err.(*websocket.CloseError); ok {
				code = ce.Code
			}
			c.closed <- code
			close(c.frames)
			return
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f frame
			if json.Unmarshal(line, &f) != nil {
				f = frame{"type": "_unparsable", "raw": string(line)}
			}
			c.mu.Lock()
			c.all = append(c.all, f)
			c.mu.Unlock()
			c.frames <- f
		}
	}
}

func (c *client) write(f frame) {
	c.t.Helper()
	if err := c.conn.WriteJSON(f); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect waits for the next frame of type typ matching ok, skipping others.
func (c *client) expect(typ string, ok func(frame) bool) frame {
	c.t.Helper()
	return c.expectWithin(15*time.Second, typ, ok)
}

// expectOrSeen is expect for a frame that may already have come and been
// passed over while the test waited for another.
func (c *client) expectOrSeen(typ string, ok func(frame) bool) frame {
	c.t.Helper()
	c.mu.Lock()
	for _, f := range c.all {
		if f.str("type") == typ && ok(f) {
			c.mu.Unlock()
			return f
		}
	}
	c.mu.Unlock()
	return c.expect(typ, ok)
}

func (c *client) expectWithin(d time.Duration, typ string, ok func(frame) bool) frame {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				c.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if f.str("type") == typ && (ok == nil || ok(f)) {
				return f
			}
		case <-timeout:
			c.mu.Lock()
			tail := c.all[max(0, len(c.all)-3):]
			n := len(c.all)
			c.mu.Unlock()
			c.t.Fatalf("no %s frame within %s (%d frames so far, last %v)", typ, d, n, tail)
		}
	}
}

func (c *client) subscribe(room string, lastSeq int64) {
	c.t.Helper()
	c.write(frame{"type": "subscribe", "id": "s-" + room, "rooms": []frame{{"room_id": room, "last_seq": lastSeq}}})
	c.expect("subscribed", func(f frame) bool { return f.str("room_id") == room })
}

// sendText sends a message and waits for its ack.
func (c *client) sendText(room, text string) frame {
	c.t.Helper()
	id := uuid.NewString()
	c.write(frame{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text})
	return c.expect("ack", func(f frame) bool { return f.str("id") == id })
}

// messages returns the message frames received so far for room.
func (c *client) messages(room string) []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []frame
	for _, f := range c.all {
		if f.str("type") == "message" && f.str("room_id") == room {
			out = append(out, f.msg())
		}
	}
	return out
}

// settled returns c's messages of room once a message from sent after
// them has reached c (without it): a room is delivered in seq order, so
// whatever was still owed to c, a duplicate included, came before it.
func (c *client) settled(from *client, room string) []frame {
	c.t.Helper()
	fence := from.sendText(room, "fence").str("message_id")
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := c.messages(room)
		for i, m := range msgs {
			if m.str("id") == fence {
				return append(msgs[:i:i], msgs[i+1:]...)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the fence message never reached the client in %s", room)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *client) waitMessages(room string, n int) []frame {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(c.messages(room)) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("have %d messages in %s, want %d", len(c.messages(room)), room, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c.messages(room)
}

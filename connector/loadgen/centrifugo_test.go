package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// fakeCentrifugo speaks Centrifugo's JSON protocol as far as a run needs:
// a connect with an HS256 token, subscribe, client-side publish answered
// with a reply (or an error for every third), and publications pushed to
// the channel's subscribers in one WebSocket message with another push. It
// pings each client once, in the message with the connect reply.
type fakeCentrifugo struct {
	key []byte

	mu       sync.Mutex
	acked    int // measured publishes accepted
	refused  int
	measured int
	subs     map[string][]*fakeConn
	pongs    int
}

func (f *fakeCentrifugo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/connection/websocket" {
		http.NotFound(w, r)
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	c := &fakeConn{ws: ws}
	reply := func(v any) {
		b, _ := json.Marshal(v)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.ws.WriteMessage(websocket.TextMessage, b)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if bytes.Equal(b, []byte("{}")) {
			f.mu.Lock()
			f.pongs++
			f.mu.Unlock()
			continue
		}
		var cmd struct {
			ID      uint32
			Connect *struct{ Token string }
			Sub     *struct{ Channel string } `json:"subscribe"`
			Publish *struct {
				Channel string
				Data    json.RawMessage
			}
		}
		json.Unmarshal(b, &cmd)
		switch {
		case cmd.Connect != nil:
			_, err := jwt.Parse(cmd.Connect.Token, func(*jwt.Token) (any, error) { return f.key, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
			if err != nil {
				reply(map[string]any{"id": cmd.ID, "error": map[string]any{"code": 109, "message": "token invalid"}})
				return
			}
			b, _ := json.Marshal(map[string]any{"id": cmd.ID, "connect": map[string]any{"pong": true}})
			c.mu.Lock()
			c.ws.WriteMessage(websocket.TextMessage, append([]byte("{}\n"), b...))
			c.mu.Unlock()
		case cmd.Sub != nil:
			f.mu.Lock()
			f.subs[cmd.Sub.Channel] = append(f.subs[cmd.Sub.Channel], c)
			f.mu.Unlock()
			reply(map[string]any{"id": cmd.ID, "subscribe": map[string]any{}})
		case cmd.Publish != nil:
			f.mu.Lock()
			refuse := false
			if cmd.ID&warmupID == 0 {
				f.measured++
				if refuse = f.measured%3 == 0; refuse {
					f.refused++
				} else {
					f.acked++
				}
			}
			members := f.subs[cmd.Publish.Channel]
			f.mu.Unlock()
			if refuse {
				reply(map[string]any{"id": cmd.ID, "error": map[string]any{"code": 111, "message": "too many requests"}})
				continue
			}
			reply(map[string]any{"id": cmd.ID, "publish": map[string]any{}})
			push, _ := json.Marshal(map[string]any{"push": map[string]any{"channel": cmd.Publish.Channel,
				"pub": map[string]any{"data": cmd.Publish.Data, "offset": 1}}})
			for _, m := range members {
				m.mu.Lock()
				m.ws.WriteMessage(websocket.TextMessage, append([]byte(`{"push":{"channel":"x","join":{"info":{}}}}`+"\n"), push...))
				m.mu.Unlock()
			}
		}
	}
}

// The same run against Centrifugo's protocol: tokens it accepts, publishes
// counted by their replies (refusals by code), every publication received
// and timed, pings answered.
func TestCentrifugoRun(t *testing.T) {
	key := []byte("test key")
	f := &fakeCentrifugo{key: key, subs: map[string][]*fakeConn{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{URL: srv.URL, Server: ServerCentrifugo, TokenKey: key, Clients: 6, Rooms: 2,
		Publishers: 2, Rate: 100, Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	acked, refused, pongs := f.acked, f.refused, f.pongs
	f.mu.Unlock()
	if res.Asked != 100 || res.Published != int64(acked) || res.Rejected["111 too many requests"] != int64(refused) || refused == 0 {
		t.Fatalf("asked %d, published %d, rejected %v; the server acked %d and refused %d", res.Asked, res.Published, res.Rejected, acked, refused)
	}
	if res.Expected != int64(acked)*3 || res.Delivered != res.Expected || res.Unanswered != 0 {
		t.Fatalf("expected %d deliveries (%d acked × 3 members), delivered %d, unanswered %d", res.Expected, acked, res.Delivered, res.Unanswered)
	}
	if res.LatencyMS.Max <= 0 || pongs != 6 {
		t.Fatalf("latency %+v, %d pongs from 6 clients", res.LatencyMS, pongs)
	}
}

// A token signed with another key is refused at connect, and the run says so.
func TestCentrifugoWrongKey(t *testing.T) {
	srv := httptest.NewServer(&fakeCentrifugo{key: []byte("server key"), subs: map[string][]*fakeConn{}})
	t.Cleanup(srv.Close)
	_, err := Run(context.Background(), Config{URL: srv.URL, Server: ServerCentrifugo, TokenKey: []byte("other key"),
		Clients: 2, Rooms: 1, Publishers: 1, Duration: 100 * time.Millisecond})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("109 token invalid")) {
		t.Fatalf("got %v, want the server's refusal", err)
	}
}

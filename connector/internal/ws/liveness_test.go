package ws

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// A client that stops answering pings is closed after PongWait; one that
// answers stays, however long it is idle.
func TestASocketThatAnswersNoPingsIsClosed(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 50 * time.Millisecond, PongWait: 400 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ts.srv.RunPings(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	answering := ts.dial(t, "ann")
	silent := ts.dialWith(t, "bob", func(c *websocket.Conn) {
		c.SetPingHandler(func(string) error { return nil })
	})
	select {
	case code := <-silent.closed:
		if code != websocket.CloseGoingAway {
			t.Fatalf("silent socket closed with %d, want %d", code, websocket.CloseGoingAway)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a socket that answered no ping for PongWait is still open")
	}
	// The answering socket has been idle as long as the silent one, past
	// PongWait: it is still served.
	answering.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": uuid.NewString(), "last_seq": 0}}})
	answering.expect("subscribed", nil)
}

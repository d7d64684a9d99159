package ws

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The writer's own frames are read as gorilla's reader expects them, at
// each of the three length encodings and their edges.
func TestTextFramesReadBackAtEveryLengthEncoding(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 65535, 65536, 200_000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for _, n := range sizes {
			var b bytes.Buffer
			b.Write(headerRoom[:])
			b.WriteString(strings.Repeat("x", n))
			if _, err := c.UnderlyingConn().Write(textFrame(b.Bytes())); err != nil {
				return
			}
		}
		c.ReadMessage() // until the client is done
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range sizes {
		kind, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the %d-byte frame: %v", n, err)
		}
		if kind != websocket.TextMessage || len(msg) != n || strings.Trim(string(msg), "x") != "" {
			t.Fatalf("a %d-byte text frame read as kind %d, %d bytes", n, kind, len(msg))
		}
	}
}

// A socket that keeps getting frames keeps its writer parked between them
// instead of starting one per batch; the writer leaves at the end of an
// epoch without traffic, and a parked writer still writes the close frame.
func TestABusySocketsWriterParksAndLeavesWithItsTraffic(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := ts.dial(t, "ann") // read up to ready
	var sess *session
	ts.srv.mu.Lock()
	for s := range ts.srv.sessions {
		sess = s
	}
	ts.srv.mu.Unlock()
	state := func() (writing, parked bool) {
		sess.qmu.Lock()
		defer sess.qmu.Unlock()
		return sess.writing, sess.parked
	}
	waitFor := func(what string, ok func(writing, parked bool) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(state()); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer never %s", what)
			}
		}
	}
	// probe writes a frame and waits until the writer is done with it
	// (gone or parked), so every probe is a drain of its own.
	probe := func(i int) {
		sess.Enqueue([]byte(fmt.Sprintf(`{"type":"probe","n":%d}`, i)))
		c.expect("probe", func(f frame) bool { return f.num("n") == int64(i) })
		waitFor("finished a batch", func(w, p bool) bool { return !w || p })
	}
	// A new socket's first frames leave no writer behind.
	waitFor("left after the first frames", func(w, p bool) bool { return !w && !p })
	ts.srv.epochs.advance() // a fresh epoch, so the drains below count in one
	for i := range busyDrains {
		probe(i)
	}
	waitFor("parked once busy", func(w, p bool) bool { return w && p })
	probe(100) // woken, not started again
	waitFor("parked again", func(w, p bool) bool { return w && p })
	ts.srv.epochs.advance()
	waitFor("left at the end of the epoch", func(w, p bool) bool { return !w && !p })

	for i := range busyDrains {
		probe(200 + i)
	}
	waitFor("parked once busy again", func(w, p bool) bool { return w && p })
	sess.close(websocket.CloseNormalClosure, "bye")
	select {
	case code := <-c.closed:
		if code != websocket.CloseNormalClosure {
			t.Fatalf("closed with %d, want %d", code, websocket.CloseNormalClosure)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a parked writer did not write the close frame")
	}
}

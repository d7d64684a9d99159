package ws

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// gatedMembers makes everyone a member of every room, once gate is closed.
type gatedMembers struct{ gate chan struct{} }

func (m gatedMembers) Role(ctx context.Context, _, _ string) (string, error) {
	select {
	case <-m.gate:
		return "member", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
func (gatedMembers) Blocked(context.Context, string, string) (bool, error) { return false, nil }
func (gatedMembers) Kind(context.Context, string, string) (string, error)  { return "", nil }
func (gatedMembers) Forget(string, string)                                 {}
func (gatedMembers) ForgetUser(string)                                     {}

// A reader that finds the inbox full waits until the handler takes it; no
// frame is lost or handled out of order.
func TestAFullInboxHoldsTheReaderBack(t *testing.T) {
	gate := make(chan struct{})
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Members = gatedMembers{gate} })
	c := ts.dial(t, "ann")
	n := 2*maxInbox + 5
	for i := range n {
		c.write(frame{"type": "subscribe", "id": fmt.Sprint(i), "rooms": []frame{{"room_id": uuid.NewString(), "last_seq": 0}}})
	}
	// The handler waits on the first frame's membership check, the inbox
	// fills, and the reader waits for space.
	waiting := func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		for sess := range ts.srv.sessions {
			sess.imu.Lock()
			w := sess.space != nil
			sess.imu.Unlock()
			return w
		}
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for !waiting() {
		if time.Now().After(deadline) {
			t.Fatal("the reader never waited for inbox space")
		}
		time.Sleep(5 * time.Millisecond) // polls the condition
	}
	close(gate)
	for i := range n {
		c.expect("subscribed", func(f frame) bool { return f.str("id") == fmt.Sprint(i) })
	}
}

package ws

import (
	"container/heap"
	"sync"
	"time"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// expiries closes each session when its access token expires, from one
// timer for all of them: a timer per socket (the runtime timer and its
// callback) was ~140 bytes of every idle socket's heap, which the GC's
// headroom doubles (BenchmarkIdleConnections in knative/platform).
type expiries struct {
	mu    sync.Mutex
	queue []expiring // a min-heap by at; a session's expiryPos is its index + 1
	timer *time.Timer
	due   int64 // unix nanoseconds the timer fires at; 0 when it is not set
}

type expiring struct {
	at int64 // unix nanoseconds
	s  *session
}

// set closes s at at, instead of when it was to close before.
func (e *expiries) set(s *session, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i := int(s.expiryPos) - 1; i >= 0 {
		e.queue[i].at = at.UnixNano()
		heap.Fix(e, i)
	} else {
		heap.Push(e, expiring{at: at.UnixNano(), s: s})
	}
	e.arm()
}

// remove forgets s, whose session has ended. The timer may still fire for
// it, and then finds nothing due.
func (e *expiries) remove(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i := int(s.expiryPos) - 1; i >= 0 {
		heap.Remove(e, i)
	}
}

// arm sets the timer for the earliest expiry unless it fires earlier
// already; e.mu is held.
func (e *expiries) arm() {
	if len(e.queue) == 0 {
		return
	}
	next := e.queue[0].at
	if e.due != 0 && e.due <= next {
		return
	}
	e.due = next
	d := time.Until(time.Unix(0, next))
	if e.timer == nil {
		e.timer = time.AfterFunc(d, e.fire)
		return
	}
	e.timer.Reset(d)
}

// fire closes the sessions whose token has expired and sets the timer for
// the next.
func (e *expiries) fire() {
	e.mu.Lock()
	e.due = 0
	now := time.Now().UnixNano()
	var expired []*session
	for len(e.queue) > 0 && e.queue[0].at <= now {
		expired = append(expired, heap.Pop(e).(expiring).s)
	}
	e.arm()
	e.mu.Unlock()
	for _, s := range expired {
		s.close(livev1.CloseAuthFailed, "token expired: refresh it and reconnect")
	}
}

// heap.Interface, with e.mu held.

func (e *expiries) Len() int           { return len(e.queue) }
func (e *expiries) Less(i, j int) bool { return e.queue[i].at < e.queue[j].at }
func (e *expiries) Swap(i, j int) {
	e.queue[i], e.queue[j] = e.queue[j], e.queue[i]
	e.queue[i].s.expiryPos = int32(i + 1)
	e.queue[j].s.expiryPos = int32(j + 1)
}

func (e *expiries) Push(x any) {
	it := x.(expiring)
	it.s.expiryPos = int32(len(e.queue) + 1)
	e.queue = append(e.queue, it)
}

func (e *expiries) Pop() any {
	last := len(e.queue) - 1
	it := e.queue[last]
	e.queue[last] = expiring{} // the session is not kept alive by the heap's spare capacity
	e.queue = e.queue[:last]
	it.s.expiryPos = 0
	return it
}

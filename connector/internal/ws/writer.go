package ws

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Flush implements hub.Subscriber: it starts the writer on what Deliver queued.
func (s *session) Flush() {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.startWriterLocked()
}

// Enqueue queues a frame and starts writing it without blocking; a full
// queue closes the session as a slow consumer.
func (s *session) Enqueue(frame []byte) { s.queueFrame(frame, true) }

func (s *session) queueFrame(frame []byte, write bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.closed.Load() {
		return
	}
	if len(s.queue) >= s.srv.cfg.SendQueue {
		s.srv.metrics.slowConsumers.Inc()
		s.srv.logger.Warn("disconnecting a slow consumer", "session", s.id, "queued", len(s.queue))
		s.queue = nil // what it could not take is dropped; it resumes from its last seq
		s.closeLocked(livev1.CloseSlowConsumer, "too slow to keep up: reconnect and resume")
		// The writer is likely blocked on the full socket: cut it loose.
		s.conn.UnderlyingConn().SetWriteDeadline(time.Now())
		return
	}
	s.queue = append(s.queue, frame)
	if write {
		s.startWriterLocked()
	}
}

func (s *session) startWriterLocked() {
	if len(s.queue) > 0 {
		s.runWriterLocked()
	}
}

// runWriterLocked wakes the parked writer or starts one.
func (s *session) runWriterLocked() {
	switch {
	case s.parked:
		s.parked = false
		s.wake <- struct{}{} // cannot block: one wake per park, and the writer took the last
	case !s.writing:
		s.writing = true
		go s.flush()
	}
}

func (s *session) reply(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.srv.logger.Error("encode frame", "error", err)
		return
	}
	s.Enqueue(b)
}

// retryAfterMS rounds a wait up to whole milliseconds, at least one, so a
// client that waits as told is not refused again.
func retryAfterMS(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}

func (s *session) sendError(id, code, msg string) {
	s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: id, Code: code, Message: msg})
}

// close ends the session with a close code; queued frames go first.
func (s *session) close(code livev1.CloseCode, reason string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.closeLocked(code, reason)
}

func (s *session) closeLocked(code livev1.CloseCode, reason string) {
	if s.closed.Load() {
		return
	}
	s.closeCode, s.closeReason = code, reason
	s.closed.Store(true)
	// Release a reader waiting for inbox space (lock order: qmu, then imu).
	s.imu.Lock()
	s.spaceLocked()
	s.imu.Unlock()
	s.runWriterLocked()
}

// flush is the writer: it runs while frames are queued, coalescing them
// into WebSocket messages (newline-separated), and writes the close frame
// last once the session is closing.
//
// A writer that has emptied the queue busyDrains times in one writer
// epoch parks until more comes or the epoch ends, rather than exiting: a
// socket in a busy room gets a batch every few milliseconds, and a fresh
// goroutine for each costs its creation and, as idle sockets keep the
// runtime's starting stack small, a stack copy when the write grows it
// (with gorilla's deadline timers, a fifth of the connector's CPU in S1:
// BENCHMARKS.md). A quiet socket's writer
// still exits at once, so idle sockets keep no goroutine.
func (s *session) flush() {
	var buf *bytes.Buffer // from the pool while writing, given back before parking
	defer func() {
		if buf != nil {
			putWriteBuffer(buf)
		}
	}()
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			if s.closed.Load() {
				s.qmu.Unlock()
				s.finish()
				return
			}
			if buf != nil {
				putWriteBuffer(buf)
				buf = nil
			}
			more := s.park()
			if !more {
				s.writing = false
			}
			s.qmu.Unlock()
			if !more {
				return
			}
			continue
		}
		s.qmu.Unlock()
		if buf == nil {
			buf = writeBuffers.Get().(*bytes.Buffer)
		}
		for len(batch) > 0 {
			buf.Reset()
			buf.Write(headerRoom[:])
			n := 0
			for n < len(batch) && n < maxCoalescedFrames && buf.Len() < maxCoalescedBytes {
				if n > 0 {
					buf.WriteByte('\n')
				}
				buf.Write(batch[n])
				n++
			}
			batch = batch[n:]
			// Renewing the deadline is a timer update; a quarter of
			// WriteWait old is fresh enough.
			if now := time.Now(); time.Duration(now.UnixNano()-s.deadlineAt) > s.srv.cfg.WriteWait/4 {
				s.conn.UnderlyingConn().SetWriteDeadline(now.Add(s.srv.cfg.WriteWait))
				s.deadlineAt = now.UnixNano()
			}
			if _, err := s.conn.UnderlyingConn().Write(textFrame(buf.Bytes())); err != nil {
				s.srv.logger.Debug("socket write failed", "session", s.id, "error", err)
				s.qmu.Lock()
				s.queue = nil
				s.closeLocked(websocket.CloseGoingAway, "")
				s.qmu.Unlock()
				s.finish()
				return
			}
			s.srv.metrics.framesOut.Add(float64(n))
			s.srv.metrics.writes.Inc()
		}
	}
}

// The writer frames its messages itself rather than through gorilla's
// WriteMessage, which renews the socket's write deadline (a timer update)
// on every frame and, with its deeper stack, made most fresh writers grow
// theirs. A frame goes out in one Write, which the connection serialises
// with gorilla's own writes (pings, pongs, close), so frames never
// interleave.

// headerRoom is the space kept at the front of a write buffer for the
// frame's header, which is only known once the payload is in.
var headerRoom [10]byte

// textFrame turns b, headerRoom's bytes followed by the payload, into one
// final, unmasked text frame (RFC 6455 section 5.2: servers do not mask),
// reusing b's front for the header.
func textFrame(b []byte) []byte {
	payload := len(b) - len(headerRoom)
	var h []byte
	switch {
	case payload <= 125:
		h = b[len(headerRoom)-2 : len(headerRoom)]
		h[1] = byte(payload)
	case payload <= 0xffff:
		h = b[len(headerRoom)-4 : len(headerRoom)]
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(payload))
	default:
		h = b[:len(headerRoom)]
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(payload))
	}
	h[0] = 0x80 | websocket.TextMessage // FIN, text
	return b[len(b)-payload-len(h):]
}

// busyDrains is how often a writer must empty its queue in one epoch
// before it parks instead of exiting: more than a new socket's first
// frames (ready, subscribed, presence), so only sockets with traffic park.
const busyDrains = 4

// park, called with qmu held and the queue empty, counts a drain and, for a
// busy socket, waits (qmu released) for more frames, the session's close
// or the epoch's end. It reports whether the writer should look at the
// queue again; false means exit, with qmu still held.
func (s *session) park() bool {
	epoch, n := s.srv.epochs.current()
	if s.drainEpoch != int32(n) {
		s.drainEpoch, s.drains = int32(n), 0
	}
	if s.drains++; s.drains < busyDrains {
		return false
	}
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	s.parked = true
	s.qmu.Unlock()
	select {
	case <-s.wake:
		s.qmu.Lock()
		return true
	case <-epoch:
	}
	s.qmu.Lock()
	if !s.parked { // woken meanwhile: take the wake and carry on
		<-s.wake
		return true
	}
	s.parked = false
	return len(s.queue) > 0 || s.closed.Load()
}

// writerEpochs ends an epoch every writerLinger (RunPings advances it): a
// parked writer exits at the end of the epoch it parked in, so a socket's
// writer outlives its traffic by at most writerLinger.
type writerEpochs struct {
	ch atomic.Pointer[chan struct{}]
	n  atomic.Int64
}

const writerLinger = time.Second

func newWriterEpochs() *writerEpochs {
	e := &writerEpochs{}
	ch := make(chan struct{})
	e.ch.Store(&ch)
	return e
}

// current returns the channel closed when this epoch ends, and its number.
func (e *writerEpochs) current() (<-chan struct{}, int64) {
	n := e.n.Load()
	return *e.ch.Load(), n
}

// advance ends the epoch: every writer parked in it exits.
func (e *writerEpochs) advance() {
	next := make(chan struct{})
	old := e.ch.Swap(&next)
	e.n.Add(1)
	close(*old)
}

// writeBuffers hold coalesced frames while a writer runs; sockets share
// them, so an idle socket holds none.
var writeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putWriteBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxCoalescedBytes+livev1.MaxFrameBytes {
		b.Reset()
		writeBuffers.Put(b)
	}
}

// maxCoalescedFrames and maxCoalescedBytes bound one coalesced WebSocket
// message: past them the writer starts another.
const (
	maxCoalescedFrames = 128
	maxCoalescedBytes  = 64 << 10
)

// finish sends the close frame and closes the socket, once.
func (s *session) finish() {
	msg := websocket.FormatCloseMessage(int(s.closeCode), s.closeReason)
	s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	s.conn.Close()
	s.qmu.Lock()
	s.finished = true
	if s.done != nil {
		close(s.done)
	}
	s.qmu.Unlock()
}

// doneChan returns a channel closed once the close frame is out and the
// socket closed. Only a session's end (and Shutdown) waits for that, so the
// channel is made then rather than held by every socket.
func (s *session) doneChan() <-chan struct{} {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.finished {
			close(s.done)
		}
	}
	return s.done
}

// ping keeps the connection alive; gorilla allows it concurrently with writes.
func (s *session) ping() {
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.srv.cfg.WriteWait)); err != nil {
		s.close(websocket.CloseGoingAway, "")
	}
}

package ws

import (
	"bytes"
	"encoding/json"
	"sync"
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
	if s.closing {
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
	if !s.writing && len(s.queue) > 0 {
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
	if s.closing {
		return
	}
	s.closing, s.closeCode, s.closeReason = true, code, reason
	close(s.closed)
	// Release a reader waiting for inbox space (lock order: qmu, then imu).
	s.imu.Lock()
	s.space.Broadcast()
	s.imu.Unlock()
	if !s.writing {
		s.writing = true
		go s.flush()
	}
}

// flush is the writer: it runs while frames are queued, coalescing them
// into WebSocket messages (newline-separated), and writes the close frame
// last once the session is closing.
func (s *session) flush() {
	buf := writeBuffers.Get().(*bytes.Buffer)
	defer putWriteBuffer(buf)
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			if s.closing {
				s.qmu.Unlock()
				s.finish()
				return
			}
			s.writing = false
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		for len(batch) > 0 {
			buf.Reset()
			n := 0
			for n < len(batch) && n < maxCoalescedFrames && buf.Len() < maxCoalescedBytes {
				if n > 0 {
					buf.WriteByte('\n')
				}
				buf.Write(batch[n])
				n++
			}
			batch = batch[n:]
			s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteWait))
			if err := s.conn.WriteMessage(websocket.TextMessage, buf.Bytes()); err != nil {
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
	close(s.done)
}

// ping keeps the connection alive; gorilla allows it concurrently with writes.
func (s *session) ping() {
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.srv.cfg.WriteWait)); err != nil {
		s.close(websocket.CloseGoingAway, "")
	}
}

package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/ratelimit"
	"github.com/parley-chat/parley/knative/ksvc"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// session is one socket. The reader goroutine (run) reads and rate-limits
// frames; a handler goroutine, running only while frames wait, handles
// them in order and owns identity and room state changes; a writer
// goroutine, likewise on demand, owns the connection's writes.
type session struct {
	srv  *Server
	conn *websocket.Conn
	id   string
	// watching are the users whose presence this socket watches, so its
	// close or next watch frame touches only their entries in the
	// server's watchers. Guarded by srv.mu.
	watching []string

	// The write side: a bounded queue drained by a writer goroutine that
	// runs only while there is something to write, so an idle socket costs
	// no goroutine and no write buffer.
	qmu         sync.Mutex
	queue       [][]byte
	writing     bool
	closing     bool
	closeCode   livev1.CloseCode
	closeReason string
	closed      chan struct{} // closed when close is requested
	done        chan struct{} // closed once the close frame is out and the socket closed

	// The read side hands frames to the handler through a bounded inbox.
	// Handling runs on its own short-lived goroutine so that the deep
	// stacks of token checks, gRPC and Redis calls are not kept by the
	// reader, which is what an idle socket is parked in.
	imu      sync.Mutex
	inbox    []inbound
	handling bool
	space    sync.Cond // signalled when the handler takes the inbox
	handlers sync.WaitGroup

	sends    sync.WaitGroup // in-flight sends (claims and Kafka appends) of this session
	inflight chan struct{}

	// Sends waiting for their seq, taken by the claimer (see queueClaim).
	cmu      sync.Mutex
	claims   []claim
	claiming bool

	frames     ratelimit.Bucket // touched by the reader goroutine only
	violations int

	mu      sync.Mutex // guards rooms and ident
	ident   authn.Identity
	authed  bool
	rooms   map[string]*roomState
	expires *time.Timer
}

// roomState is a subscribed room: the seqs delivered recently (so a late
// message is delivered once, and a replayed one not again), and live frames
// held while history is replayed.
type roomState struct {
	seqWindow
	catchingUp bool
	held       []heldFrame
}

// recentWindow is how far below the highest delivered seq a late seq is
// still recognised. A power of two, as seqWindow indexes a ring with it.
const recentWindow = 4096

// seqWindow remembers which of the recentWindow seqs up to last were
// delivered: one bit each in a 512-byte ring, allocated with the first
// delivery, where a map cost ~100 KB per busy subscription and a hash
// lookup per frame.
type seqWindow struct {
	last int64    // highest seq delivered, or the cursor a subscription starts after
	seen []uint64 // bit s%recentWindow for s in (last-recentWindow, last]
}

// fresh reports whether seq was not delivered yet and records it.
func (w *seqWindow) fresh(seq int64) bool {
	if seq <= w.last-recentWindow || seq <= 0 {
		return false
	}
	w.advance(seq)
	word, bit := w.slot(seq)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}

// advance moves last up to seq, forgetting what falls out of the window;
// seqs between the old and the new last count as not delivered.
func (w *seqWindow) advance(seq int64) {
	if seq <= w.last {
		return
	}
	if w.seen == nil {
		w.seen = make([]uint64, recentWindow/64)
	}
	if seq-w.last >= recentWindow {
		clear(w.seen)
	} else {
		for s := w.last + 1; s <= seq; s++ {
			word, bit := w.slot(s)
			*word &^= bit
		}
	}
	w.last = seq
}

func (w *seqWindow) slot(seq int64) (*uint64, uint64) {
	i := uint64(seq) % recentWindow
	return &w.seen[i/64], 1 << (i % 64)
}

type heldFrame struct {
	seq   int64
	frame []byte
}

func newSession(s *Server, conn *websocket.Conn) *session {
	sess := &session{srv: s, conn: conn, id: uuid.NewString(), closed: make(chan struct{}), done: make(chan struct{}),
		rooms: map[string]*roomState{}, frames: ratelimit.NewBucket(s.cfg.FrameRate, s.cfg.FrameBurst),
		inflight: make(chan struct{}, maxInflightSends)}
	sess.space.L = &sess.imu
	return sess
}

// inbound is a frame read from the socket, a token offered at the
// upgrade, or a room the user left (see roomLeft).
type inbound struct {
	data  []byte
	token string
	left  *leftRoom
}

type leftRoom struct {
	roomID string
	frame  []byte // the membership frame to pass on once the room is stopped
}

// maxInbox bounds the frames read ahead of the handler; past it the reader
// waits, and TCP pushes back on the client.
const maxInbox = 32

// maxInflightSends bounds the sends of one socket waiting on Kafka at once.
const maxInflightSends = 64

func (s *session) run(ctx context.Context, token string) {
	defer s.cleanup()
	conn := s.conn
	conn.SetReadLimit(livev1.MaxFrameBytes)
	conn.SetReadDeadline(time.Now().Add(s.srv.cfg.AuthTimeout))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(s.srv.cfg.PongWait))
	})
	if token != "" {
		s.accept(ctx, inbound{token: token})
	}
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			s.readFailed(err)
			return
		}
		s.srv.metrics.framesIn.Inc()
		if typ != websocket.TextMessage {
			s.sendError(livev1.PeekID(data), livev1.CodeBadFrame, "frames are JSON text messages")
			continue
		}
		if !s.frames.Allow(time.Now()) {
			s.violations++
			if s.violations > 200 {
				s.close(livev1.ClosePolicyViolation, "flooding: too many frames")
				return
			}
			// The id tells the client which frame was dropped, so it can
			// send that one again after the wait.
			s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: livev1.PeekID(data), Code: livev1.CodeRateLimited,
				Message: "too many frames: slow down", RetryAfterMS: retryAfterMS(s.frames.Wait())})
			continue
		}
		s.violations = 0
		if !s.accept(ctx, inbound{data: data}) {
			return
		}
	}
}

// accept queues a frame for the handler, waiting while the inbox is full.
// It reports false once the session is closing.
func (s *session) accept(ctx context.Context, in inbound) bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	for len(s.inbox) >= maxInbox && !s.isClosing() {
		s.space.Wait()
	}
	if s.isClosing() {
		return false
	}
	s.inbox = append(s.inbox, in)
	s.startHandlingLocked(ctx)
	return true
}

func (s *session) startHandlingLocked(ctx context.Context) {
	if !s.handling {
		s.handling = true
		s.handlers.Add(1)
		go s.handleInbox(ctx)
	}
}

// roomLeft stops a room the user left (or was removed from), then passes
// the membership frame on. It is handled in order with the socket's
// frames, so a subscribe to the room already being handled cannot outlive
// it; it skips the inbox's bound, as the user feed must not wait on one
// socket, and membership changes are rare.
func (s *session) roomLeft(roomID string, frame []byte) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if s.isClosing() {
		return
	}
	s.inbox = append(s.inbox, inbound{left: &leftRoom{roomID: roomID, frame: frame}})
	s.startHandlingLocked(context.Background()) // as every session's (see ServeHTTP)
}

func (s *session) isClosing() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// handleInbox handles queued frames in order until none is left; once the
// session is closing the rest are dropped.
func (s *session) handleInbox(ctx context.Context) {
	defer s.handlers.Done()
	for {
		s.imu.Lock()
		batch := s.inbox
		s.inbox = nil
		if len(batch) == 0 {
			s.handling = false
			s.imu.Unlock()
			return
		}
		s.space.Broadcast()
		s.imu.Unlock()
		for _, in := range batch {
			if s.isClosing() {
				break
			}
			s.handleInbound(ctx, in)
		}
	}
}

func (s *session) handleInbound(ctx context.Context, in inbound) {
	if in.left != nil {
		s.leaveRoom(in.left.roomID)
		s.enqueue(in.left.frame)
		return
	}
	if in.token != "" {
		s.authenticate(ctx, "", in.token)
		return
	}
	f, err := livev1.Decode(in.data)
	if err != nil {
		pe, _ := livev1.IsError(err)
		s.sendError(f.ID, pe.Code, pe.Message)
		return
	}
	if !s.isAuthed() {
		if f.Type != livev1.TypeAuth {
			s.sendError(f.ID, livev1.CodeNotAuthenticated, "send an auth frame first")
			return
		}
		s.authenticate(ctx, f.ID, f.Token)
		return
	}
	frameCtx, span := ksvc.Tracer().Start(ctx, "ws "+f.Type, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("parley.room_id", f.RoomID)))
	s.handle(frameCtx, f)
	span.End()
}

func (s *session) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		s.close(livev1.CloseCode(ce.Code), "")
	case errors.Is(err, websocket.ErrReadLimit):
		s.close(websocket.CloseMessageTooBig, "frame larger than 16 KiB")
	case !s.isAuthed() && strings.Contains(err.Error(), "timeout"):
		s.close(livev1.CloseAuthTimeout, "no auth frame in time")
	default:
		s.close(websocket.CloseGoingAway, "")
	}
}

func (s *session) isAuthed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed
}

func (s *session) identity() authn.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident
}

// authenticate verifies token; a session may re-authenticate (same user)
// to extend its life past the first token's expiry.
func (s *session) authenticate(ctx context.Context, frameID, token string) bool {
	id, err := s.srv.verifier.Verify(ctx, token)
	if err != nil {
		s.sendError(frameID, livev1.CodeInvalidToken, "the access token is invalid or expired")
		s.close(livev1.CloseAuthFailed, "invalid or expired token")
		return false
	}
	s.mu.Lock()
	if s.authed && id.UserID != s.ident.UserID {
		s.mu.Unlock()
		s.sendError(frameID, livev1.CodeForbidden, "a session cannot change user")
		s.close(livev1.CloseForbidden, "a session cannot change user")
		return false
	}
	first := !s.authed
	s.ident, s.authed = id, true
	if s.expires != nil {
		s.expires.Stop()
	}
	s.expires = time.AfterFunc(time.Until(id.Expires), func() {
		s.close(livev1.CloseAuthFailed, "token expired: refresh it and reconnect")
	})
	s.mu.Unlock()
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.PongWait))
	if first {
		if err := s.srv.presence.Set(ctx, id.UserID, s.id, presence.Online); err != nil {
			s.srv.logger.Warn("presence", "error", err)
		}
		if err := s.srv.users.add(ctx, id.UserID, s); err != nil {
			s.srv.logger.Warn("user feed", "error", err)
		}
	}
	s.reply(livev1.ReadyFrame{Type: livev1.TypeReady, ID: frameID, UserID: id.UserID, Username: id.Username,
		SessionID: s.id, ConnectorID: s.srv.cfg.ConnectorID, ExpiresAt: id.Expires})
	return true
}

// Deliver implements hub.Subscriber.
func (s *session) Deliver(roomID string, seq int64, frame []byte) {
	s.mu.Lock()
	rs, ok := s.rooms[roomID]
	if !ok {
		s.mu.Unlock()
		return
	}
	if seq > 0 {
		if rs.catchingUp {
			rs.held = append(rs.held, heldFrame{seq, frame})
			s.mu.Unlock()
			return
		}
		if !rs.fresh(seq) {
			s.mu.Unlock()
			return // already delivered (history replay overlap, re-publish)
		}
	}
	s.mu.Unlock()
	s.queueFrame(frame, false)
}

// Flush implements hub.Subscriber: it starts the writer on what Deliver queued.
func (s *session) Flush() {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.startWriterLocked()
}

// Resync implements hub.Subscriber: after a Redis reconnect, replay from
// history what this socket may have missed (de-duplicated by seq).
func (s *session) Resync(roomID string) {
	s.mu.Lock()
	rs, ok := s.rooms[roomID]
	if !ok || rs.catchingUp {
		s.mu.Unlock()
		return
	}
	rs.catchingUp = true
	s.mu.Unlock()
	s.sends.Add(1)
	go func() {
		defer s.sends.Done()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		s.catchUp(ctx, "", roomID, rs, 0) // what was missed lies beyond the hub's frontier
	}()
}

// enqueue queues a frame and starts writing it without blocking; a full
// queue closes the session as a slow consumer.
func (s *session) enqueue(frame []byte) { s.queueFrame(frame, true) }

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
	s.enqueue(b)
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

// cleanup runs when the reader stops: leave rooms, go offline, stop the writer.
func (s *session) cleanup() {
	s.close(websocket.CloseNormalClosure, "")
	s.handlers.Wait() // no frame handled after this may join a room
	s.mu.Lock()
	rooms := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		rooms = append(rooms, id)
	}
	s.rooms = map[string]*roomState{}
	authed, user := s.authed, s.ident.UserID
	if s.expires != nil {
		s.expires.Stop()
	}
	s.mu.Unlock()
	for _, id := range rooms {
		s.srv.hub.Leave(id, s)
	}
	s.sends.Wait()
	if authed {
		s.srv.users.remove(user, s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.srv.presence.Set(ctx, user, s.id, presence.Offline); err != nil {
			s.srv.logger.Warn("presence", "error", err)
		}
		cancel()
	}
	<-s.done
}

func presenceUser(payload string) (user, status string) {
	var p struct {
		UserID string `json:"user_id"`
		Status string `json:"status"`
	}
	json.Unmarshal([]byte(payload), &p)
	return p.UserID, p.Status
}

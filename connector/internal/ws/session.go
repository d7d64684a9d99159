package ws

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/ratelimit"
	"github.com/parley-chat/parley/connector/internal/userfeed"
	"github.com/parley-chat/parley/knative/ksvc"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// session is one socket. The reader goroutine (run) reads and rate-limits
// frames; a handler goroutine, running only while frames wait, handles
// them in order and owns identity and room state changes; a writer
// goroutine, likewise on demand, owns the connection's writes.
//
// Every socket holds one, so its small fields sit together and it keeps to
// 448 bytes, a size class (the next is 480; before, it took 576).
type session struct {
	srv  *Server
	conn *websocket.Conn
	id   string

	// The write side: a bounded queue drained by a writer goroutine that
	// runs only while there is something to write, so an idle socket costs
	// no goroutine and no write buffer. A busy socket's writer parks
	// instead of exiting (see flush), until its traffic stops.
	qmu         sync.Mutex
	queue       [][]byte
	writing     bool        // a writer goroutine exists, running or parked
	parked      bool        // the writer waits on wake for the rest of the epoch
	finished    bool        // the close frame is out and the socket closed
	closed      atomic.Bool // close was asked for; written under qmu, read without it too (isClosing)
	wake        chan struct{}
	drains      int32 // times the writer emptied the queue in drainEpoch
	drainEpoch  int32 // the writer epoch drains counts in (its number's low bits)
	deadlineAt  int64 // unix nanoseconds of the write deadline's last renewal
	closeCode   livev1.CloseCode
	closeReason string
	done        chan struct{} // closed once finished; made by doneChan, on first use

	// The read side hands frames to the handler through a bounded inbox.
	// Handling runs on its own short-lived goroutine so that the deep
	// stacks of token checks, gRPC and Redis calls are not kept by the
	// reader, which is what an idle socket is parked in.
	imu      sync.Mutex
	inbox    []inbound
	space    chan struct{} // made by a reader waiting for inbox space, closed when there is some (spaceLocked)
	handlers sync.WaitGroup

	sends    sync.WaitGroup // in-flight sends (claims and Kafka appends) of this session
	inflight chan struct{}  // send slots (maxInflightSends); made by the first send

	// Sends waiting for their seq, taken by the claimer (see queueClaim).
	cmu    sync.Mutex
	claims []claim

	frames     ratelimit.Bucket // touched by the reader goroutine only
	violations int32
	expiryPos  int32        // the session's place in srv.expiries, guarded by its lock
	lastPong   atomic.Int64 // unix nanoseconds of the last pong, or of the upgrade

	mu    sync.Mutex // guards rooms, ident and authed
	ident authn.Identity
	rooms roomList

	// The flags sit together to keep the struct small; each is guarded by
	// its group's lock.
	handling bool // imu: a handler goroutine runs
	claiming bool // cmu: a claimer goroutine runs
	authed   bool // mu
}

func newSession(s *Server, conn *websocket.Conn) *session {
	// What only some sessions use is made on first use (the send path's
	// inflight slots, the writer's wake, the done channel), as most
	// sockets are idle (BenchmarkIdleConnections in knative/platform).
	sess := &session{srv: s, conn: conn, id: uuid.NewString(),
		frames: ratelimit.NewBucket(s.cfg.FrameRate, s.cfg.FrameBurst)}
	return sess
}

// A session is what the hub, the user feed and the presence feed deliver to.
var (
	_ hub.Subscriber = (*session)(nil)
	_ userfeed.Sink  = (*session)(nil)
	_ presence.Sink  = (*session)(nil)
)

// inbound is a frame read from the socket, a token offered at the
// upgrade, or a room the user left (see RoomLeft).
type inbound struct {
	data  []byte
	token string
	left  *leftRoom
}

type leftRoom struct {
	roomID string
	frame  []byte // the membership frame to pass on once the room is stopped
}

// prepareRead sets the socket's read limits before its reader starts. It
// runs on the upgrading goroutine, and pongs only store the time, so that no
// deadline (and no runtime timer) is ever set on the reader's stack: an idle
// socket's reader then stays within the smallest goroutine stack (2 KB, not
// 4 KB; measured by BenchmarkIdleConnections in knative/platform).
func (s *session) prepareRead() {
	s.conn.SetReadLimit(livev1.MaxFrameBytes)
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.AuthTimeout))
	s.heard()
	s.conn.SetPongHandler(func(string) error {
		s.heard()
		return nil
	})
}

// heard notes that the client answered a ping; RunPings closes a socket
// that has not for PongWait.
func (s *session) heard() { s.lastPong.Store(time.Now().UnixNano()) }

// silentFor is how long the client has not answered a ping.
func (s *session) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, s.lastPong.Load()))
}

// maxInbox bounds the frames read ahead of the handler; past it the reader
// waits, and TCP pushes back on the client.
const maxInbox = 32

// run reads the socket until it fails, then cleans up and untracks the
// session. An idle socket's reader waits here, and its stack is most of
// what the socket costs: run keeps its frame small and takes the frame's
// reader rather than ReadMessage's bytes so that, with gorilla's read path
// below it, it fits the smallest goroutine stack (2 KB, not 4 KB; measured
// by BenchmarkIdleConnections in knative/platform). For the same reason
// no deadline is set on this stack (see prepareRead).
func (s *session) run(ctx context.Context) {
	for {
		typ, r, err := s.conn.NextReader()
		if err != nil {
			s.readFailed(err)
			break
		}
		if !s.onFrame(ctx, typ, r) {
			break
		}
	}
	s.cleanup()
	s.srv.track(s, false)
}

// onFrame reads a frame, checks its type and rate, then queues it for the
// handler; it reports false once the session is over.
func (s *session) onFrame(ctx context.Context, typ int, r io.Reader) bool {
	data, err := readFrame(r)
	if err != nil {
		s.readFailed(err)
		return false
	}
	s.srv.metrics.framesIn.Inc()
	if typ != websocket.TextMessage || !s.frames.Allow(time.Now()) {
		return s.refuse(typ, data)
	}
	s.violations = 0
	return s.accept(ctx, inbound{data: data})
}

// readFrame reads a frame whole, as io.ReadAll does but with a fraction of
// its stack frame (376 bytes in Go 1.26), which alone pushed the reader
// past 2 KB.
func readFrame(r io.Reader) ([]byte, error) {
	b := make([]byte, 0, 512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// refuse answers a frame that is not text or over the frame rate; it
// reports false once a flood closes the session. It is apart from onFrame
// to keep the reader's usual path shallow.
func (s *session) refuse(typ int, data []byte) bool {
	if typ != websocket.TextMessage {
		s.sendError(livev1.PeekID(data), livev1.CodeBadFrame, "frames are JSON text messages")
		return true
	}
	s.violations++
	if s.violations > 200 {
		s.close(livev1.ClosePolicyViolation, "flooding: too many frames")
		return false
	}
	// The id tells the client which frame was dropped, so it can send that
	// one again after the wait.
	s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: livev1.PeekID(data), Code: livev1.CodeRateLimited,
		Message: "too many frames: slow down", RetryAfterMS: retryAfterMS(s.frames.Wait())})
	return true
}

// accept queues a frame for the handler, waiting while the inbox is full.
// It reports false once the session is closing.
func (s *session) accept(ctx context.Context, in inbound) bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	for len(s.inbox) >= maxInbox && !s.isClosing() {
		if s.space == nil {
			s.space = make(chan struct{})
		}
		space := s.space
		s.imu.Unlock()
		<-space
		s.imu.Lock()
	}
	if s.isClosing() {
		return false
	}
	s.inbox = append(s.inbox, in)
	s.startHandlingLocked(ctx)
	return true
}

// spaceLocked releases a reader waiting for inbox space (imu held).
func (s *session) spaceLocked() {
	if s.space != nil {
		close(s.space)
		s.space = nil
	}
}

func (s *session) startHandlingLocked(ctx context.Context) {
	if !s.handling {
		s.handling = true
		s.handlers.Add(1)
		go s.handleInbox(ctx)
	}
}

func (s *session) isClosing() bool { return s.closed.Load() }

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
		s.spaceLocked()
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
		s.Enqueue(in.left.frame)
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
		drainInput(s.conn.NetConn())
		s.close(websocket.CloseMessageTooBig, "frame larger than 16 KiB")
	case !s.isAuthed() && strings.Contains(err.Error(), "timeout"):
		s.close(livev1.CloseAuthTimeout, "no auth frame in time")
	default:
		s.close(websocket.CloseGoingAway, "")
	}
}

// Past a frame that was too large, the rest of it is still arriving.
// Closing a socket with unread input resets the connection, and a reset
// can destroy the close frame (1009) before the client reads it: the
// client would see 1006, not why. So the reader drops what comes before
// the socket closes, until nothing has come for drainQuiet, and for at
// most drainFor and drainBytes: a client that keeps sending is reset.
const (
	drainQuiet = 50 * time.Millisecond
	drainFor   = time.Second
	drainBytes = 1 << 20
)

func drainInput(nc net.Conn) {
	buf := make([]byte, 16<<10)
	end := time.Now().Add(drainFor)
	for read := 0; read < drainBytes; {
		deadline := time.Now().Add(drainQuiet)
		if deadline.After(end) {
			deadline = end
		}
		nc.SetReadDeadline(deadline)
		n, err := nc.Read(buf)
		read += n
		if err != nil {
			return
		}
	}
}

// cleanup runs when the reader stops: leave rooms, go offline, stop the writer.
func (s *session) cleanup() {
	s.close(websocket.CloseNormalClosure, "")
	s.handlers.Wait() // no frame handled after this may join a room
	s.mu.Lock()
	rooms := s.rooms
	s.rooms = nil
	authed, user := s.authed, s.ident.UserID
	s.srv.expiries.remove(s)
	s.mu.Unlock()
	for _, r := range rooms {
		s.srv.hub.Leave(r.roomID(), s)
	}
	s.sends.Wait()
	if authed {
		s.srv.sockets.give(user)
		s.srv.users.Remove(user, s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.srv.presence.Set(ctx, user, s.id, presence.Offline); err != nil {
			s.srv.logger.Warn("presence", "error", err)
		}
		cancel()
	}
	<-s.doneChan()
}

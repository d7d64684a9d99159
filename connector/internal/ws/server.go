// Package ws serves protocol v1 over WebSockets: authentication, rooms,
// the send path, typing, presence, receipts and history. See
// connector/PROTOCOL.md.
//
// Each socket has one reader goroutine; its frames are handled in order by
// a handler goroutine and its writes made by a writer goroutine, both
// started only while there is work, so an idle socket costs one small
// stack. They stop together when the session closes. Frames to a socket
// go through a bounded queue: a client that does not keep up is
// disconnected with CloseSlowConsumer instead of slowing its rooms.
//
// Files by concern: session.go (reader and inbox), writer.go, auth.go,
// rooms.go (subscribe and catch-up), send.go and claims.go (the send path
// and its seqs), edits.go, receipts.go, history.go. Sessions get room
// frames from the hub, presence from presence.Feed and personal frames
// from userfeed.Feed; the seq window is package seqwindow.
package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/ratelimit"
	"github.com/parley-chat/parley/connector/internal/seqs"
	"github.com/parley-chat/parley/connector/internal/userfeed"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// Verifier checks access tokens.
type Verifier interface {
	Verify(ctx context.Context, token string) (authn.Identity, error)
}

// Members answers membership questions; "" means not a member. Forget is
// called when a membership change (or a block) is heard of, so a cached
// answer does not outlive it, and ForgetUser when this connector starts or
// stops hearing of a user's changes (see userfeed).
type Members interface {
	Role(ctx context.Context, roomID, userID string) (string, error)
	// Blocked reports whether the room is a 1:1 direct room whose other
	// member blocked the user (whose sends are then refused).
	Blocked(ctx context.Context, roomID, userID string) (bool, error)
	// Kind names the room's kind (an authv1.RoomKind* name); "" when the
	// user is not a member.
	Kind(ctx context.Context, roomID, userID string) (string, error)
	Forget(roomID, userID string)
	ForgetUser(userID string)
}

// History reads stored messages (the persist function's gRPC client).
type History interface {
	History(ctx context.Context, req *persistv1.HistoryRequest, opts ...grpc.CallOption) (*persistv1.HistoryResponse, error)
	GetMessage(ctx context.Context, req *persistv1.GetMessageRequest, opts ...grpc.CallOption) (*persistv1.GetMessageResponse, error)
}

// Notifications marks notifications read (the notification function's
// gRPC client).
type Notifications interface {
	MarkRead(ctx context.Context, req *notificationv1.MarkReadRequest, opts ...grpc.CallOption) (*notificationv1.MarkReadResponse, error)
}

// Files checks a finished upload before a message attaches it (the S3
// store, connector/internal/files). A refusal wraps files.ErrRefused.
type Files interface {
	Attach(ctx context.Context, roomID, userID, fileID string) (eventsv1.Attachment, error)
	Claim(ctx context.Context, roomID string, fileIDs []string) error
	Remove(ctx context.Context, roomID string, fileIDs []string) error
}

// EventLog makes events durable (Kafka).
type EventLog interface {
	Append(ctx context.Context, e event.Event) error
}

// Config configures the server. Zero fields get the defaults in comments.
type Config struct {
	ConnectorID string
	// AllowedOrigins are the browser origins that may connect, e.g.
	// https://chat.example.com. Requests without Origin (non-browser
	// clients) are allowed: cross-site WebSocket hijacking needs a browser.
	AllowedOrigins []string
	AuthTimeout    time.Duration // first frame deadline; default 10s
	PingInterval   time.Duration // default 25s
	PongWait       time.Duration // a socket that answers no ping this long is closed; default 60s
	WriteWait      time.Duration // per write; default 10s
	SendQueue      int           // frames queued per socket; default 1024
	SendRate       float64       // messages, reactions, edits and deletes per second per user; default 10
	SendBurst      int           // default 30
	FrameRate      float64       // frames of any kind per second per socket; default 50
	FrameBurst     int           // default 200
	SocketsPerUser int           // authenticated sockets of one user, on every connector together; default 32
	Logger         *slog.Logger
}

// Server accepts WebSockets. Create it with New.
type Server struct {
	cfg      Config
	hub      *hub.Hub
	rdb      redis.UniversalClient
	verifier Verifier
	members  Members
	history  History
	log      EventLog
	presence *presence.Tracker
	watchers *presence.Feed
	users    *userfeed.Feed
	logger   *slog.Logger
	upgrader websocket.Upgrader
	sendRate *ratelimit.Limiter
	// typingRate bounds a user's typing frames, each told to every member
	// of the room: a client sends one every few seconds while typing.
	typingRate *ratelimit.Limiter
	sockets    *userSockets
	metrics    *Metrics
	seqs       *seqs.Authority
	notices    Notifications
	files      Files

	epochs   *writerEpochs
	expiries expiries

	mu       sync.Mutex
	sessions map[*session]struct{}
	draining bool
}

// Deps are the server's collaborators.
type Deps struct {
	Hub      *hub.Hub
	Redis    redis.UniversalClient
	Verifier Verifier
	Members  Members
	History  History
	Log      EventLog
	Presence *presence.Tracker
	Metrics  *Metrics
	Seqs     *seqs.Authority
	// Notifications, when set, is told when a read passes mentions, so
	// they leave the notification list's unread count too.
	Notifications Notifications
	// Files, when set, lets a send attach uploads; without it a send with
	// attachments is refused.
	Files Files
}

// New returns a server.
func New(cfg Config, d Deps) *Server {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.AuthTimeout, 10*time.Second)
	def(&cfg.PingInterval, 25*time.Second)
	def(&cfg.PongWait, 60*time.Second)
	def(&cfg.WriteWait, 10*time.Second)
	if cfg.SendQueue == 0 {
		cfg.SendQueue = 1024
	}
	if cfg.SendRate == 0 {
		cfg.SendRate, cfg.SendBurst = 10, 30
	}
	if cfg.FrameRate == 0 {
		cfg.FrameRate, cfg.FrameBurst = 50, 200
	}
	if cfg.SocketsPerUser == 0 {
		cfg.SocketsPerUser = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, hub: d.Hub, rdb: d.Redis, verifier: d.Verifier, members: d.Members, history: d.History,
		log: d.Log, presence: d.Presence, logger: cfg.Logger, metrics: d.Metrics, seqs: d.Seqs, notices: d.Notifications, files: d.Files, users: userfeed.New(d.Redis, d.Members, cfg.Logger),
		sendRate: ratelimit.New(cfg.SendRate, cfg.SendBurst), typingRate: ratelimit.New(typingRate, typingBurst),
		sockets:  newUserSockets(cfg.SocketsPerUser),
		watchers: presence.NewFeed(d.Presence), sessions: map[*session]struct{}{}, epochs: newWriterEpochs()}
	s.upgrader = websocket.Upgrader{
		// Write buffers come from a pool and are held only while writing.
		// The read buffer is small because idle sockets dominate and client
		// frames mostly fit in 256 bytes (typing, receipts, a send of a
		// short text: its ids alone are ~120); a larger one takes a read
		// call or two more, beside a send's Redis and Kafka round trips.
		// Reusing net/http's 4 KB buffer instead cost 7 KB of heap per idle
		// socket (BenchmarkIdleConnections); 512 bytes rather than
		// 256 cost ~0.5 KB of RSS per socket, the GC's headroom included.
		WriteBufferPool:   &sync.Pool{},
		ReadBufferSize:    256,
		Subprotocols:      []string{livev1.Subprotocol},
		CheckOrigin:       s.checkOrigin,
		EnableCompression: false, // CPU per message matters more than bytes here
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return s
}

func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return slices.Contains(s.cfg.AllowedOrigins, u.Scheme+"://"+u.Host)
}

// ServeHTTP upgrades the request and runs the session until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "connector is draining: reconnect", http.StatusServiceUnavailable)
		return
	}
	// A token offered as a subprotocol ("parley.auth.<token>") is taken but
	// never echoed back.
	var token string
	for _, p := range websocket.Subprotocols(r) {
		if t, ok := cutPrefix(p, livev1.AuthSubprotoPrefix); ok {
			token = t
		}
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	// The session runs on its own goroutine so the HTTP server's request,
	// response buffers and deep handler stack are released at once: an
	// idle socket then costs a small stack and a read buffer. Not
	// r.Context(): it would keep the finished request's contexts (and
	// their done channels) alive for the socket's whole life.
	ctx := context.Background()
	sess := newSession(s, conn)
	sess.prepareRead()
	s.track(sess, true)
	if token != "" {
		sess.accept(ctx, inbound{token: token})
	}
	go sess.run(ctx)
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

func (s *Server) track(sess *session, add bool) {
	if !add {
		s.watchers.Unwatch(sess)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.sessions[sess] = struct{}{}
		s.metrics.sockets.Inc()
		return
	}
	delete(s.sessions, sess)
	s.metrics.sockets.Dec()
}

// Sessions is the number of open sockets.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Shutdown refuses new sockets and closes every open one with
// CloseGoingAway, so clients reconnect (to another connector) at once.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.close(livev1.CloseGoingAway, "server shutting down: reconnect")
	}
	for _, sess := range all {
		select {
		case <-sess.doneChan():
		case <-ctx.Done():
			return
		}
	}
}

// RunUserFeed forwards personal frames (notifications, membership changes)
// to users' sockets, and closes the user feed's Redis subscription when ctx
// ends.
func (s *Server) RunUserFeed(ctx context.Context) {
	s.users.Run(ctx)
}

// Close closes the user and presence feeds' Redis subscriptions, for an
// owner that stops the server without RunUserFeed or RunPresence having
// run; it may be called after them too. The hub's subscription is the hub
// owner's to close.
func (s *Server) Close() error { return errors.Join(s.users.Close(), s.watchers.Close()) }

// RunPresence forwards presence changes to the sessions watching each
// user, re-reading their statuses every sweep (see presence.Feed).
func (s *Server) RunPresence(ctx context.Context, sweep time.Duration) {
	s.watchers.Run(ctx, sweep)
}

// RunPings pings every socket each PingInterval, from one goroutine rather
// than a timer per socket; a socket whose ping cannot be written, or that
// has answered none for PongWait, is closed. It also ends a writer epoch
// every writerLinger, on which parked writers exit; without it they stay
// parked until their session ends.
func (s *Server) RunPings(ctx context.Context) {
	tick := time.NewTicker(s.cfg.PingInterval)
	defer tick.Stop()
	epochs := time.NewTicker(writerLinger)
	defer epochs.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-epochs.C:
			s.epochs.advance()
			continue
		case <-tick.C:
		}
		s.mu.Lock()
		all := make([]*session, 0, len(s.sessions))
		for sess := range s.sessions {
			all = append(all, sess)
		}
		s.mu.Unlock()
		now := time.Now()
		for _, sess := range all {
			if sess.silentFor(now) > s.cfg.PongWait {
				sess.close(websocket.CloseGoingAway, "no answer to pings")
				continue
			}
			go sess.ping() // a stuck socket blocks only its own ping
		}
	}
}

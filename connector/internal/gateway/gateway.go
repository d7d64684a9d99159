// Package gateway is the connector's REST API for browsers and OAuth2
// clients. It verifies access tokens locally (authn) and calls the auth
// function over gRPC; it never touches a database.
package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/files"
	"github.com/parley-chat/parley/connector/internal/ratelimit"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

// Config configures the gateway. Zero fields get the defaults in comments.
type Config struct {
	// PublicURL is where browsers reach the connector, e.g. https://chat.example.com;
	// it anchors the OAuth2 discovery document. Required.
	PublicURL string
	// Issuer is the access tokens' iss (discovery's issuer). Default PublicURL.
	Issuer string
	// AllowedOrigins may call the API cross-origin (CORS). Empty means
	// same-origin only: the web client is served by the connector itself.
	AllowedOrigins []string
	// OAuthClients are the client ids the token endpoint accepts (public
	// clients, no secret). Default parley-web and parley-cli.
	OAuthClients []string
	// TrustProxy takes the client IP from X-Forwarded-For when the socket's
	// peer is a proxy of TrustedProxies: walking back from the peer, the
	// first address that is not one of them. On Knative the list ends with
	// the ingress's client, then the activator's and queue-proxy's callers
	// (cluster addresses); a client's own entries come before those and
	// are never taken over the ingress's. Off, the socket's address is used.
	TrustProxy bool
	// TrustedProxies are the networks of the proxies in front. Default the
	// private, loopback and link-local ranges, where a cluster's pods are.
	TrustedProxies []netip.Prefix
	// CallTimeout bounds one call to the auth function. Default 10s.
	CallTimeout time.Duration
	// AuthRate and AuthBurst limit the account endpoints per client IP.
	// Default 10/s with bursts of 60: enough for people, not for scripts.
	AuthRate  float64
	AuthBurst int
	// RefreshTTL is how long the web client's refresh cookie lives: the
	// auth function's refresh token lifetime. Default 720h, auth's default.
	RefreshTTL time.Duration
}

// Gateway serves the REST API.
type Gateway struct {
	cfg           Config
	auth          authv1.AuthServiceClient
	notifications notificationv1.NotificationServiceClient
	moderation    moderationv1.ModerationServiceClient
	searcher      searchv1.SearchServiceClient
	verifier      *authn.Verifier
	limiter       *ratelimit.Limiter
	searchLimiter *ratelimit.Limiter // per user: each search costs a call to auth and to search
	files         *files.Store       // nil: file sharing is off
	uploadLimiter *ratelimit.Limiter // per user
	log           *slog.Logger
	publicOrigin  string // scheme://host of PublicURL: the only Origin the session cookie serves
	secureCookies bool   // PublicURL is https

	// blocks is where blocks are mirrored for the send path (MirrorBlocks);
	// nil: they reach sends through the event pipeline only.
	blocks redis.UniversalClient
}

// Clients are the functions the gateway calls.
type Clients struct {
	Auth          authv1.AuthServiceClient
	Notifications notificationv1.NotificationServiceClient
	Moderation    moderationv1.ModerationServiceClient
	Search        searchv1.SearchServiceClient
	// Files is the object store of shared files; nil turns them off.
	Files *files.Store
}

// New returns a gateway calling the functions and verifying tokens with verifier.
func New(cfg Config, clients Clients, verifier *authn.Verifier, log *slog.Logger) *Gateway {
	if cfg.Issuer == "" {
		cfg.Issuer = cfg.PublicURL
	}
	if len(cfg.OAuthClients) == 0 {
		cfg.OAuthClients = []string{"parley-web", "parley-cli"}
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.AuthRate == 0 {
		cfg.AuthRate, cfg.AuthBurst = 10, 60
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 720 * time.Hour
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Gateway{cfg: cfg, auth: clients.Auth, notifications: clients.Notifications, moderation: clients.Moderation,
		searcher: clients.Search, verifier: verifier, limiter: ratelimit.New(cfg.AuthRate, cfg.AuthBurst),
		searchLimiter: ratelimit.New(5, 20), files: clients.Files, uploadLimiter: ratelimit.New(2, 20), log: log,
		publicOrigin: originOf(cfg.PublicURL), secureCookies: strings.HasPrefix(cfg.PublicURL, "https://")}
}

// Register adds the API's routes to mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	limited := g.limitByIP
	mux.Handle("POST /api/v1/auth/register", limited(g.open(g.register)))
	mux.Handle("POST /api/v1/auth/login", limited(g.open(g.login)))
	mux.Handle("POST /api/v1/auth/refresh", limited(g.open(g.refresh)))
	mux.Handle("POST /api/v1/auth/logout", limited(g.open(g.logout)))
	mux.Handle("POST /api/v1/auth/password", limited(g.authed(g.changePassword)))
	mux.Handle("GET /api/v1/me", g.authed(g.me))
	mux.Handle("PATCH /api/v1/me", g.authed(g.updateMe))
	mux.Handle("GET /api/v1/users", g.authed(g.searchUsers))
	mux.Handle("GET /api/v1/users/{id}", g.authed(g.getUser))
	mux.Handle("PUT /api/v1/users/{id}/role", g.authed(g.setGlobalRole))
	mux.Handle("GET /api/v1/rooms", g.authed(g.myRooms))
	mux.Handle("POST /api/v1/rooms", g.authed(g.createRoom))
	mux.Handle("GET /api/v1/rooms/public", g.authed(g.publicRooms))
	mux.Handle("GET /api/v1/rooms/{id}", g.authed(g.getRoom))
	mux.Handle("POST /api/v1/rooms/{id}/join", g.authed(g.joinRoom))
	mux.Handle("POST /api/v1/rooms/{id}/leave", g.authed(g.leaveRoom))
	mux.Handle("GET /api/v1/rooms/{id}/members", g.authed(g.listMembers))
	mux.Handle("POST /api/v1/rooms/{id}/invites", g.authed(g.invite))
	mux.Handle("DELETE /api/v1/rooms/{id}/members/{user}", g.authed(g.kick))
	mux.Handle("PUT /api/v1/rooms/{id}/members/{user}/role", g.authed(g.setMemberRole))
	mux.Handle("POST /api/v1/dms", g.authed(g.openDirect))
	mux.Handle("GET /api/v1/blocks", g.authed(g.listBlocks))
	mux.Handle("PUT /api/v1/blocks/{user}", g.authed(g.blockUser))
	mux.Handle("DELETE /api/v1/blocks/{user}", g.authed(g.unblockUser))
	mux.Handle("GET /api/v1/notifications", g.authed(g.listNotifications))
	mux.Handle("GET /api/v1/notifications/unread", g.authed(g.unreadCounts))
	mux.Handle("POST /api/v1/notifications/read", g.authed(g.markRead))
	mux.Handle("GET /api/v1/push/key", g.authed(g.pushKey))
	mux.Handle("POST /api/v1/push/subscriptions", g.authed(g.subscribePush))
	mux.Handle("DELETE /api/v1/push/subscriptions", g.authed(g.unsubscribePush))
	mux.Handle("GET /api/v1/search", g.authed(g.search))
	mux.Handle("POST /api/v1/rooms/{id}/uploads", g.authed(g.createUpload))
	mux.Handle("GET /api/v1/rooms/{id}/files/{file}", g.authed(g.getFile))
	mux.Handle("GET /api/v1/moderation/flags", g.authed(g.moderatorsOnly(g.listFlags)))
	mux.Handle("POST /api/v1/moderation/flags/{id}/decision", g.authed(g.moderatorsOnly(g.decide)))
	mux.Handle("/api/", g.open(func(http.ResponseWriter, *http.Request) *apiError {
		return errorf(http.StatusNotFound, "not_found", "no such API endpoint")
	}))
	mux.Handle("POST /oauth/token", limited(http.HandlerFunc(g.token)))
	mux.Handle("GET /.well-known/jwks.json", g.open(g.jwks))
	mux.Handle("GET /.well-known/oauth-authorization-server", http.HandlerFunc(g.discovery))
}

type ctxKey struct{}

// IdentityFrom returns the identity the authed middleware verified.
func IdentityFrom(ctx context.Context) (authn.Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(authn.Identity)
	return id, ok
}

// open adapts a handler that returns an API error.
func (g *Gateway) open(h func(http.ResponseWriter, *http.Request) *apiError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if e := h(w, r); e != nil {
			writeError(w, e)
		}
	})
}

// authed requires a valid bearer token, from the Authorization header only:
// tokens in URLs end up in logs and histories.
func (g *Gateway) authed(h func(http.ResponseWriter, *http.Request, *authv1.Caller) *apiError) http.Handler {
	return g.open(func(w http.ResponseWriter, r *http.Request) *apiError {
		tok, ok := BearerToken(r)
		if !ok {
			return errUnauthorized
		}
		id, err := g.verifier.Verify(r.Context(), tok)
		if err != nil {
			return errorf(http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, id)
		return h(w, r.WithContext(ctx), &authv1.Caller{UserId: id.UserID})
	})
}

// BearerToken extracts the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 4096 {
		return "", false
	}
	return tok, true
}

func (g *Gateway) limitByIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.limiter.Allow(g.ClientIP(r)) {
			w.Header().Set("Retry-After", "1")
			writeError(w, errRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP is the address rate limits and login throttling are keyed on
// (see Config.TrustProxy).
func (g *Gateway) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	client, err := netip.ParseAddr(host)
	if err != nil || !g.cfg.TrustProxy || !g.trustedProxy(client) {
		return host // not through a proxy: X-Forwarded-For is only the client's say
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && g.trustedProxy(client); i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbled: nothing before it was written by a proxy of ours
		}
		client = hop
	}
	return client.Unmap().String()
}

func (g *Gateway) trustedProxy(a netip.Addr) bool {
	a = a.Unmap()
	if g.cfg.TrustedProxies == nil {
		return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
	}
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// callCtx bounds one call to the auth function.
func (g *Gateway) callCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), g.cfg.CallTimeout)
}

// CORS answers preflights and marks responses for the allowed origins only.
// Credentials are never allowed: the API authenticates with bearer tokens.
func (g *Gateway) CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" || !slices.Contains(g.cfg.AllowedOrigins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SecurityHeaders sets the headers every response carries. The CSP allows
// only the connector's own scripts and styles, so injected markup cannot run.
// fileOrigins are where shared files live (the S3 store's public origin):
// pages load images from there and upload to it.
func SecurityHeaders(next http.Handler, fileOrigins ...string) http.Handler {
	extra := ""
	for _, o := range fileOrigins {
		if o != "" {
			extra += " " + o
		}
	}
	csp := "default-src 'self'; img-src 'self' https: data:" + extra + "; connect-src 'self'" + extra + "; " +
		"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

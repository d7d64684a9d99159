// Command connector is Parley's public entry point: it holds the browsers'
// WebSockets, serves the REST gateway and the web client, and fans messages
// out to rooms. It is long-lived (min-scale 1) while the functions behind it
// scale to zero.
//
// Environment:
//
//	AUTH_URL        the auth function, e.g. http://auth.parley.svc.cluster.local (required)
//	PERSIST_URL     the persist function (required)
//	NOTIFICATION_URL the notification function (required)
//	MODERATION_URL  the moderation function (required)
//	SEARCH_URL      the search function (required)
//	REDIS_URL       Redis or a Redis Cluster (required; see knative/stores.RedisURL)
//	KAFKA_BROKERS   Kafka bootstrap servers (required)
//	KAFKA_TOPIC     the Broker's topic (parley-events)
//	KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD  Kafka login (none); on a cluster the parley-connector KafkaUser
//	KAFKA_SASL_MECHANISM     SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
//	KAFKA_SECURITY_PROTOCOL  SASL_PLAINTEXT (default with a login) or SASL_SSL; PLAINTEXT without one
//	PUBLIC_URL      where browsers reach this connector (required)
//	JWT_ISSUER      access tokens' issuer (PUBLIC_URL)
//	JWT_AUDIENCE    access tokens' audience (parley)
//	ALLOWED_ORIGINS extra origins allowed to call the API (comma-separated; none)
//	TRUST_PROXY     take client IPs from X-Forwarded-For (true: Knative's ingress sets it)
//	TRUSTED_PROXIES the proxies' networks, CIDRs, comma-separated (the private ranges)
//	REFRESH_TOKEN_TTL  how long the web client's refresh cookie lives (720h); set it as auth's is set
//	WEB_DIR         the built web client to serve
//	S3_ENDPOINT     the S3 store of shared files, as the connector reaches it (none: files are off)
//	S3_PUBLIC_URL   the same store as browsers reach it (S3_ENDPOINT)
//	S3_BUCKET, S3_REGION  (parley-files, us-east-1)
//	S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY  the store's login (required with S3_ENDPOINT)
//	FILES_UPLOAD_TTL, FILES_DOWNLOAD_TTL  how long presigned URLs work (5m each)
//	FILES_ATTACH_TTL  how long an upload waits for a message before it is swept (24h)
//	FILES_USER_BYTES_PER_DAY  bytes of upload URLs one user gets per UTC day, all connectors together (1 GiB)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/eventlog"
	"github.com/parley-chat/parley/connector/internal/files"
	"github.com/parley-chat/parley/connector/internal/gateway"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/members"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/seqs"
	"github.com/parley-chat/parley/connector/internal/ws"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

func main() {
	ksvc.Main("connector", build)
}

func build(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	// Sends wait on Kafka with a connection's worth of commands around them.
	rdb, err := stores.RedisURL(cfg.redisURL, 256)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("REDIS_URL: %w", err)
	}
	authConn, err := dialFunction(cfg.authURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("AUTH_URL: %w", err)
	}
	persistConn, err := dialFunction(cfg.persistURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("PERSIST_URL: %w", err)
	}
	notificationConn, err := dialFunction(cfg.notificationURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("NOTIFICATION_URL: %w", err)
	}
	moderationConn, err := dialFunction(cfg.moderationURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("MODERATION_URL: %w", err)
	}
	searchConn, err := dialFunction(cfg.searchURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("SEARCH_URL: %w", err)
	}
	log.Info("kafka", "brokers", cfg.kafkaBrokers, "login", cfg.kafkaAuth) // without the password
	events, err := eventlog.New(eventlog.Config{Brokers: cfg.kafkaBrokers, Topic: cfg.kafkaTopic, Auth: cfg.kafkaAuth})
	if err != nil {
		return ksvc.Service{}, err
	}
	auth := authv1.NewAuthServiceClient(authConn)
	verifier, err := authn.NewVerifier(jwksSource{auth}, authn.Config{Issuer: cfg.issuer, Audience: cfg.audience})
	if err != nil {
		return ksvc.Service{}, err
	}
	notifications := notificationv1.NewNotificationServiceClient(notificationConn)
	var fileStore *files.Store
	var fileOrigin string
	if cfg.files.Endpoint != "" {
		if fileStore, err = files.New(cfg.files, rdb); err != nil {
			return ksvc.Service{}, err
		}
		fileOrigin = fileStore.Origin()
		log.Info("files", "store", fileOrigin, "bucket", cfg.files.Bucket) // without the login
	} else {
		log.Warn("S3_ENDPOINT is not set: file sharing is off")
	}
	gw := gateway.New(gateway.Config{
		PublicURL: cfg.publicURL, Issuer: cfg.issuer, AllowedOrigins: cfg.allowedOrigins, TrustProxy: cfg.trustProxy,
		TrustedProxies: cfg.trustedProxies,
		RefreshTTL:     cfg.refreshTTL,
	}, gateway.Clients{Auth: auth,
		Notifications: notifications,
		Moderation:    moderationv1.NewModerationServiceClient(moderationConn),
		Search:        searchv1.NewSearchServiceClient(searchConn),
		Files:         fileStore}, verifier, log)
	gw.MirrorBlocks(rdb) // a send right after a block is refused (livev1.BlockedKey)

	reg := prometheus.NewRegistry()
	rdb.AddHook(stores.New(reg).RedisHook())
	connectorID := connectorName()
	fanout := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_connector_fanout_seconds",
		Help:    "From a room frame's arrival from Redis to its hand-off to every local subscriber's queue.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16),
	})
	reg.MustRegister(fanout)
	presenceTTL := cfg.presenceTTL
	wsCfg := cfg.ws
	wsCfg.ConnectorID, wsCfg.Logger = connectorID, log
	wsCfg.AllowedOrigins = append(cfg.allowedOrigins, origin(cfg.publicURL))
	// Nothing below fails: the hub and the sockets' user feed each hold a
	// Redis subscription from here on, closed when the service stops.
	persist := persistv1.NewPersistServiceClient(persistConn)
	seqAuthority := seqs.New(rdb, persist, log)
	h := hub.New(rdb, hub.Config{Logger: log, Head: seqAuthority.Head,
		FanoutObserved: func(d time.Duration) { fanout.Observe(d.Seconds()) }})
	tracker := presence.New(rdb, presenceTTL, log)
	sockets := ws.New(wsCfg,
		ws.Deps{Hub: h, Redis: rdb, Verifier: verifier, Members: members.New(membership{auth}, 10*time.Second),
			History: persist, Log: events, Presence: tracker, Metrics: ws.NewMetrics(reg), Seqs: seqAuthority,
			Notifications: notifications, Files: wsFiles(fileStore)})

	mux := http.NewServeMux()
	gw.Register(mux)
	mux.Handle("GET /ws", sockets)
	if cfg.webDir != "" {
		mux.Handle("/", staticFiles(cfg.webDir))
	}
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	return ksvc.Service{
		HTTP:     gateway.SecurityHeaders(gw.CORS(mux), fileOrigin),
		Registry: reg,
		Start: func(context.Context) error {
			sweep := func(ctx context.Context) { sockets.RunPresence(ctx, presenceTTL/3) }
			loops := []func(context.Context){h.Run, tracker.Run, sweep, sockets.RunPings, sockets.RunUserFeed}
			if fileStore != nil {
				loops = append(loops, func(ctx context.Context) { ensureBucket(ctx, fileStore, log) },
					func(ctx context.Context) { fileStore.RunSweeper(ctx, time.Minute, log) })
			}
			for _, run := range loops {
				bg.Add(1)
				go func() { defer bg.Done(); run(bgCtx) }()
			}
			log.Info("connector started", "connector_id", connectorID)
			return nil
		},
		Ready: func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		// Shutdown order: tell every client to reconnect elsewhere, flush
		// Kafka, then close Redis and the function connections.
		Stop: func(ctx context.Context) error {
			sockets.Shutdown(ctx)
			events.Close(5 * time.Second)
			stopBg()
			h.Close()
			bg.Wait()
			return errors.Join(authConn.Close(), persistConn.Close(), notificationConn.Close(), moderationConn.Close(), searchConn.Close(), rdb.Close())
		},
	}, nil
}

// ensureBucket makes the file store's bucket if it is missing (a new
// cluster's SeaweedFS starts empty), retrying while the store is away; until
// then uploads fail with 503.
func ensureBucket(ctx context.Context, s *files.Store, log *slog.Logger) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		err := s.EnsureBucket(ctx)
		if err == nil {
			return
		}
		log.Warn("file store not ready", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// wsFiles is the store as ws.Deps wants it: a nil interface when files are off.
func wsFiles(s *files.Store) ws.Files {
	if s == nil {
		return nil
	}
	return s
}

// connectorName identifies this process in logs, frames and events.
func connectorName() string {
	host, _ := os.Hostname()
	return host + "-" + uuid.NewString()[:8]
}

func origin(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// membership adapts the auth client to members.Checker.
type membership struct{ auth authv1.AuthServiceClient }

func (m membership) CheckMembership(ctx context.Context, roomID, userID string) (*authv1.CheckMembershipResponse, error) {
	return m.auth.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: roomID, UserId: userID})
}

// staticFiles serves the built web client (GET and HEAD only).
func staticFiles(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// dialFunction connects to a function's Knative URL over h2c. The
// connection is lazy, so a function scaled to zero is only started by the
// first call, through the activator.
func dialFunction(raw string) (*grpc.ClientConn, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a URL like http://auth.parley.svc.cluster.local", raw)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return grpc.NewClient("passthrough:///"+host, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
}

// jwksSource fetches the JWKS from the auth function.
type jwksSource struct{ auth authv1.AuthServiceClient }

func (s jwksSource) JWKS(ctx context.Context) ([]byte, error) {
	resp, err := s.auth.GetJWKS(ctx, &authv1.GetJWKSRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Json, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

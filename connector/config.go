package main

import (
	"net/netip"
	"time"

	"github.com/parley-chat/parley/connector/internal/files"
	"github.com/parley-chat/parley/connector/internal/ws"
	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/knative/ksvc"
)

// config is the connector's environment, read once by configFromEnv.
type config struct {
	authURL, persistURL, notificationURL, moderationURL, searchURL string
	redisURL, publicURL, kafkaBrokers, kafkaTopic                  string
	kafkaAuth                                                      kafka.Credentials
	issuer, audience                                               string
	allowedOrigins                                                 []string
	trustProxy                                                     bool
	trustedProxies                                                 []netip.Prefix // nil: the private ranges
	presenceTTL                                                    time.Duration
	// refreshTTL is the session cookie's lifetime (REFRESH_TOKEN_TTL, as
	// auth's refresh tokens; zero means the gateway's default).
	refreshTTL time.Duration
	webDir     string
	// files is the S3 store of shared files (S3_*); files are off without
	// S3_ENDPOINT.
	files files.Config
	// ws holds the socket limits: WS_SEND_QUEUE (frames queued per socket,
	// 1024), WS_SEND_RATE and WS_SEND_BURST (messages per second per user,
	// 10 and 30), WS_FRAME_RATE and WS_FRAME_BURST (frames per second per
	// socket, 50 and 200), WS_AUTH_TIMEOUT (10s), WS_SOCKETS_PER_USER
	// (authenticated sockets of one user, on all connectors together, 32); zero means
	// ws's default.
	ws ws.Config
}

func configFromEnv(getenv func(string) string) (config, error) {
	env := ksvc.NewEnv(getenv)
	c := config{
		authURL: env.Required("AUTH_URL"), persistURL: env.Required("PERSIST_URL"),
		notificationURL: env.Required("NOTIFICATION_URL"), moderationURL: env.Required("MODERATION_URL"),
		searchURL: env.Required("SEARCH_URL"),
		redisURL:  env.Required("REDIS_URL"), publicURL: env.Required("PUBLIC_URL"),
		kafkaBrokers: env.Required("KAFKA_BROKERS"), kafkaTopic: env.String("KAFKA_TOPIC", "parley-events"),
		audience: env.String("JWT_AUDIENCE", "parley"), allowedOrigins: splitList(getenv("ALLOWED_ORIGINS")),
		trustProxy:  getenv("TRUST_PROXY") != "false",
		presenceTTL: env.Duration("PRESENCE_TTL", 45*time.Second, time.Second),
		refreshTTL:  env.Duration("REFRESH_TOKEN_TTL", 0, time.Minute),
		webDir:      getenv("WEB_DIR"),
	}
	c.issuer = env.String("JWT_ISSUER", c.publicURL)
	for _, cidr := range splitList(getenv("TRUSTED_PROXIES")) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			env.Fail("TRUSTED_PROXIES", cidr, "networks in CIDR form (10.244.0.0/16)")
			continue
		}
		c.trustedProxies = append(c.trustedProxies, p)
	}
	c.files = files.Config{Endpoint: getenv("S3_ENDPOINT"), PublicURL: getenv("S3_PUBLIC_URL"),
		Bucket: env.String("S3_BUCKET", "parley-files"), Region: getenv("S3_REGION"),
		AccessKey: getenv("S3_ACCESS_KEY_ID"), SecretKey: getenv("S3_SECRET_ACCESS_KEY"),
		UploadTTL:       env.Duration("FILES_UPLOAD_TTL", 0, time.Second),
		DownloadTTL:     env.Duration("FILES_DOWNLOAD_TTL", 0, time.Second),
		AttachTTL:       env.Duration("FILES_ATTACH_TTL", 0, time.Minute),
		UserBytesPerDay: int64(env.PositiveFloat("FILES_USER_BYTES_PER_DAY", 0))}
	if c.files.Endpoint != "" && (c.files.AccessKey == "" || c.files.SecretKey == "") {
		env.Fail("S3_ENDPOINT", c.files.Endpoint, "to come with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY")
	}
	c.ws = ws.Config{
		SendQueue:      int(env.PositiveFloat("WS_SEND_QUEUE", 0)),
		SendRate:       env.PositiveFloat("WS_SEND_RATE", 0),
		SendBurst:      int(env.PositiveFloat("WS_SEND_BURST", 0)),
		FrameRate:      env.PositiveFloat("WS_FRAME_RATE", 0),
		FrameBurst:     int(env.PositiveFloat("WS_FRAME_BURST", 0)),
		AuthTimeout:    env.Duration("WS_AUTH_TIMEOUT", 0, time.Nanosecond),
		SocketsPerUser: int(env.PositiveFloat("WS_SOCKETS_PER_USER", 0)),
	}
	if (getenv("WS_SEND_RATE") == "") != (getenv("WS_SEND_BURST") == "") {
		env.Fail("WS_SEND_RATE", getenv("WS_SEND_RATE"), "to be set with WS_SEND_BURST")
	}
	if (getenv("WS_FRAME_RATE") == "") != (getenv("WS_FRAME_BURST") == "") {
		env.Fail("WS_FRAME_RATE", getenv("WS_FRAME_RATE"), "to be set with WS_FRAME_BURST")
	}
	if err := env.Err(); err != nil {
		return c, err
	}
	var err error
	c.kafkaAuth, err = kafka.CredentialsFromEnv(getenv)
	return c, err
}

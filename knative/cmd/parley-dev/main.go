// Command parley-dev runs the whole Parley platform on one machine: it
// starts the infrastructure (knative/devstack), renders the Knative
// manifests and runs them in the local emulator (knative/emulator), waits for
// the connector, and prints the URL to open. Ctrl-C stops everything it
// started, in order. It is what `make run` runs.
//
// Settings, all optional (environment):
//
//	PARLEY_STATE_DIR      data and generated secrets          (.parley)
//	PARLEY_BIN_DIR        built services (make build)          (bin)
//	PARLEY_MANIFESTS      kustomize folder to run              (knative/base)
//	PARLEY_KNATIVE_CONFIG Knative's settings, as make deploy sets them (knative/deploy/knative-config.yaml)
//	PARLEY_HTTP_PORT      the connector's public port          (8080)
//	PARLEY_METRICS_PORT   emulator metrics                     (29090)
//	PARLEY_CONNECTOR_METRICS_PORT                              (29091)
//	PARLEY_INGRESS_PORT   Broker ingress                       (28080)
//	PARLEY_PG_PORT, PARLEY_REDIS_PORT, PARLEY_MONGO_PORT, PARLEY_KAFKA_PORT, PARLEY_S3_PORT
//	PARLEY_IDLE_TIMEOUT   scale-to-zero idle window            (60s)
//	PARLEY_REDIS_CLUSTER  run Redis as a Redis Cluster of this many masters, 3 or more,
//	                      on PARLEY_REDIS_PORT and the ports after it (one Redis)
//	PARLEY_MODEL_DIR      moderation model folder (make run: the demo model)
//	ONNXRUNTIME_LIB       libonnxruntime for moderation (make run fetches it)
//	DATABASE_URL, REDIS_URL, MONGO_URI, KAFKA_BROKERS: use these servers instead
//	S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (S3_BUCKET, S3_REGION,
//	S3_PUBLIC_URL): an S3 store of your own for files, instead of SeaweedFS
//	SEARCH_DATABASE_URL   the search function's database (needed with DATABASE_URL)
//	KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM, KAFKA_SECURITY_PROTOCOL:
//	                      the login to KAFKA_BROKERS, for the connector and the Broker (none)
//
// A port of 0 means any free port.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/manifests"
	"github.com/parley-chat/parley/knative/platform"
)

// connectorPodMetricsPort is the port of the connector's METRICS_ADDR in
// knative/base/connector.yaml.
const connectorPodMetricsPort = 9464

func main() {
	emulator.TuneHostGC()
	log := ksvc.NewLogger("parley-dev", slog.LevelInfo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("parley-dev failed", "error", err)
		os.Exit(1)
	}
}

type settings struct {
	stateDir, binDir, manifestDir, knativeConfig        string
	httpPort, metricsPort, connMetricsPort, ingressPort int
	pgPort, redisPort, mongoPort, kafkaPort, s3Port     int
	idle                                                time.Duration
	redisCluster                                        int
}

func readSettings() (settings, error) {
	s := settings{
		stateDir:      envOr("PARLEY_STATE_DIR", ".parley"),
		binDir:        envOr("PARLEY_BIN_DIR", "bin"),
		manifestDir:   envOr("PARLEY_MANIFESTS", filepath.Join("knative", "base")),
		knativeConfig: envOr("PARLEY_KNATIVE_CONFIG", filepath.Join("knative", "deploy", "knative-config.yaml")),
	}
	ports := []struct {
		key  string
		dst  *int
		def  int
		free int // what "0" becomes
	}{
		{"PARLEY_HTTP_PORT", &s.httpPort, 8080, 0},
		{"PARLEY_METRICS_PORT", &s.metricsPort, 29090, 0},
		{"PARLEY_CONNECTOR_METRICS_PORT", &s.connMetricsPort, 29091, -1},
		{"PARLEY_INGRESS_PORT", &s.ingressPort, 28080, 0},
		{"PARLEY_PG_PORT", &s.pgPort, devstack.DefaultPostgresPort, -1},
		{"PARLEY_REDIS_PORT", &s.redisPort, devstack.DefaultRedisPort, -1},
		{"PARLEY_MONGO_PORT", &s.mongoPort, devstack.DefaultMongoPort, -1},
		{"PARLEY_KAFKA_PORT", &s.kafkaPort, devstack.DefaultKafkaPort, -1},
		{"PARLEY_S3_PORT", &s.s3Port, devstack.DefaultS3Port, -1},
	}
	for _, p := range ports {
		v := os.Getenv(p.key)
		if v == "" {
			*p.dst = p.def
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return s, fmt.Errorf("%s=%q is not a port number", p.key, v)
		}
		if n == 0 {
			n = p.free
		}
		*p.dst = n
	}
	var err error
	if s.idle, err = time.ParseDuration(envOr("PARLEY_IDLE_TIMEOUT", "60s")); err != nil {
		return s, fmt.Errorf("PARLEY_IDLE_TIMEOUT: %w", err)
	}
	if v := os.Getenv("PARLEY_REDIS_CLUSTER"); v != "" {
		if s.redisCluster, err = strconv.Atoi(v); err != nil || s.redisCluster < 3 {
			return s, fmt.Errorf("PARLEY_REDIS_CLUSTER=%q: a number of masters, 3 or more", v)
		}
	}
	return s, nil
}

func run(ctx context.Context, log *slog.Logger) error {
	s, err := readSettings()
	if err != nil {
		return err
	}
	rendered, err := manifests.Render(s.manifestDir)
	if err != nil {
		return err
	}
	if s.httpPort == 0 {
		if s.httpPort, err = freePort(); err != nil {
			return err
		}
	}
	webOrigins := []string{"http://localhost:" + strconv.Itoa(s.httpPort), "http://127.0.0.1:" + strconv.Itoa(s.httpPort)}
	stack, err := devstack.Up(ctx, devstack.Config{
		StateDir: s.stateDir, FerretDBBinary: filepath.Join(s.binDir, "ferretdb"), InstallMissing: true,
		SeaweedFSBinary: filepath.Join(s.binDir, "weed"), S3AllowedOrigins: webOrigins,
		PostgresPort: s.pgPort, RedisPort: s.redisPort, MongoPort: s.mongoPort, KafkaPort: s.kafkaPort, S3Port: s.s3Port,
		RedisClusterNodes: s.redisCluster, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := stack.Close(); err != nil {
			log.Error("stopping infrastructure", "error", err)
		}
		log.Info("stopped")
	}()

	metricsLn, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.metricsPort)))
	if err != nil {
		return fmt.Errorf("metrics port: %w", err)
	}
	if s.connMetricsPort < 0 {
		if s.connMetricsPort, err = freePort(); err != nil {
			return err
		}
	}
	connectorMetrics := "127.0.0.1:" + strconv.Itoa(s.connMetricsPort)
	jwtKeys, err := devstack.LoadOrCreateSecret(filepath.Join(s.stateDir, "secrets", "jwt-signing-keys"), newSigningKey)
	if err != nil {
		return err
	}
	// The emulator gives each service only the variables its manifest names:
	// this one reaches the notification function alone.
	vapidKey, err := devstack.LoadOrCreateSecret(filepath.Join(s.stateDir, "secrets", "vapid-private-key"), newVAPIDKey)
	if err != nil {
		return err
	}
	env := map[string]string{}
	queueProxy, err := filepath.Abs(filepath.Join(s.binDir, "queue"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(queueProxy); err != nil {
		queueProxy = "" // the emulator says what running without it means
	}
	// A pod reaches the host's loopback and, over HTTP, the outside; not a
	// database or Kafka elsewhere.
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "MONGO_URI", "KAFKA_BROKERS"} {
		if os.Getenv(k) != "" && queueProxy != "" {
			log.Warn("servers of your own are set: Services run as bare processes, not as pods", "variable", k)
			queueProxy = ""
		}
	}
	// As pods, the connector serves metrics on its manifest's address inside
	// its namespace, published on the host; as a bare process it binds the
	// host address itself.
	if queueProxy == "" || emulator.PodsSupported() != nil {
		env["METRICS_ADDR"] = connectorMetrics
	}
	connectorEnv := map[string]string{"ALLOWED_ORIGINS": "http://localhost:" + strconv.Itoa(s.httpPort)} // either name of this machine
	if web, err := filepath.Abs(filepath.Join("web", "dist")); err == nil {
		if _, statErr := os.Stat(web); statErr == nil {
			connectorEnv["WEB_DIR"] = web
		}
	}
	reg := prometheus.NewRegistry()
	// The moderation model (make run passes the demo model) and onnxruntime
	// (ONNXRUNTIME_LIB, make run fetches it) reach moderation through New.
	p, err := platform.New(platform.Config{
		Stack: stack, Manifests: rendered, KnativeConfig: s.knativeConfig, ResolveImage: platform.BinaryResolver(s.binDir),
		HTTPPort: s.httpPort, SigningKeys: jwtKeys, VAPIDKey: vapidKey, ModelDir: os.Getenv("PARLEY_MODEL_DIR"),
		Env: env, ServiceEnv: map[string]map[string]string{"connector": connectorEnv},
		IngressPort: s.ingressPort, IdleTimeout: s.idle, QueueProxy: queueProxy,
		Publish: map[string]map[int]int{"connector": {connectorPodMetricsPort: s.connMetricsPort}},
		Logger:  log, Registry: reg,
	})
	if err != nil {
		metricsLn.Close()
		return err
	}
	em := p.Emulator
	metricsSrv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go metricsSrv.Serve(metricsLn)
	defer metricsSrv.Close()

	emDone := make(chan error, 1)
	go func() { emDone <- em.Run(ctx) }()

	url, _ := em.URL("parley", "connector")
	if err := platform.WaitReady(ctx, url+"/readyz", 2*time.Minute); err != nil {
		<-emDone
		return fmt.Errorf("connector did not become ready: %w", err)
	}
	fmt.Printf("\n  Parley is running: open %s\n\n"+
		"  metrics:       http://%s/metrics (emulator), http://%s/metrics (connector)\n"+
		"  broker ingress: %s (OIDC: an EventPolicy must allow the sender)\n  data:          %s\n  stop:          Ctrl-C\n\n",
		url, metricsLn.Addr(), connectorMetrics, em.IngressURL("parley", "default"), s.stateDir)
	return <-emDone
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// newSigningKey returns a JWT_SIGNING_KEYS entry: a key id and an Ed25519 seed.
func newSigningKey() string {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	return "local-" + time.Now().UTC().Format("20060102") + ":" + base64.RawURLEncoding.EncodeToString(seed)
}

// newVAPIDKey returns a Web Push (VAPID) private key: a random P-256
// scalar, base64url (valid but for a 2^-32 chance, which the notification
// function would report at start).
func newVAPIDKey() string {
	key := make([]byte, 32)
	rand.Read(key)
	return base64.RawURLEncoding.EncodeToString(key)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Package emulator runs Parley's Knative manifests on one machine, without a
// cluster: each Knative Service becomes a pod (its own network namespace,
// with Knative's queue-proxy in front; see pod.go) or, without root, a bare
// local process, that scales from and to zero behind an activator, and each
// Kafka-class Broker and its Triggers are implemented over a real
// Kafka-protocol broker with Knative's delivery semantics (consumer group
// per Trigger, exact attribute filters, ordered or unordered delivery,
// retries with backoff, dead-letter sinks, replies).
//
// What it deliberately does not do: more than one replica per service, TLS,
// and the Broker's own managed topics (only externally managed topics).
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
)

// Config configures an Emulator. Zero fields get the defaults in their comments.
type Config struct {
	// Manifests is a rendered YAML stream (see manifests.Render). Required.
	Manifests []byte
	// ResolveImage maps a container image (e.g. ko://…/functions/auth) to a
	// local executable. Required when the manifests have services.
	ResolveImage func(image string) (string, error)
	// KafkaBrokers are the bootstrap addresses of the Kafka cluster behind
	// every Broker. Required when the manifests have Brokers.
	KafkaBrokers []string
	// KafkaAuth is the Brokers' data plane's login (Knative's, the
	// parley-knative KafkaUser on a cluster): its producer, its Triggers'
	// consumer groups and its dead-letter sinks. Zero means no login.
	KafkaAuth kafka.Credentials
	// Env sets variables in every service, over the manifest's values; it
	// must provide each variable a manifest takes from a Secret or ConfigMap.
	Env map[string]string
	// ExtraEnv adds variables to one service by name, beyond its manifest:
	// local tuning (limits, log levels) that has no place in the manifests.
	ExtraEnv map[string]map[string]string
	// Host to bind activators and the ingress on. Default 127.0.0.1.
	Host string
	// Ports pins a service's activator port by service name; others get a free port.
	Ports map[string]int
	// IngressPort is the Broker ingress port; zero picks a free one.
	IngressPort int
	// IdleTimeout is how long a scale-to-zero service may sit idle before it
	// is stopped. Default 60s.
	IdleTimeout time.Duration
	// StartTimeout bounds a cold start. Default 30s.
	StartTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL. Default 10s.
	StopTimeout time.Duration
	// CrashBackoff is how long requests fail fast after a failed start. Default 1s.
	CrashBackoff time.Duration
	// QueueProxy is Knative's queue-proxy binary (make build puts it in
	// bin/queue). With it, and as root with iproute2, each Service runs as a
	// pod: its own network namespace, queue-proxy in front. Otherwise each
	// runs as a bare process on a loopback port, and New logs that.
	QueueProxy string
	// DialOut is how pods' HTTP traffic to non-loopback hosts leaves the
	// machine (see egress.go). Default: a plain dial.
	DialOut func(ctx context.Context, network, addr string) (net.Conn, error)
	// Publish makes a pod's loopback ports reachable on the host, by service
	// name: pod port -> host port on Host (for a service's own metrics port).
	// Without pods the service binds its addresses on the host itself, and
	// Publish is ignored.
	Publish map[string]map[int]int
	// ProcessOutput receives the services' stdout and stderr. Default os.Stderr.
	ProcessOutput io.Writer
	// Logger for the emulator's own logs. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the emulator's metrics. Default: a new registry.
	Registry prometheus.Registerer
	// OIDC turns on Knative Eventing's sender authentication
	// (config-features authentication-oidc: enabled): a post to a Broker's
	// ingress, or a Trigger's reply, must come from a sender its
	// EventPolicies allow; a post without a valid token gets 401, one the
	// policies refuse 403. Services get their tokens as on a pod, from the
	// serviceAccountToken volumes their manifests project.
	OIDC bool
	// DefaultAuthorizationMode decides for a Broker no EventPolicy applies
	// to (config-features default-authorization-mode). Default
	// allow-same-namespace, as in Knative.
	DefaultAuthorizationMode string
	// TriggerStart is where a Trigger's new consumer group starts reading:
	// StartEarliest (default) or StartLatest, Knative's own default, which
	// Parley's deploy changes (see ApplyKnativeConfig).
	TriggerStart string
}

// Emulator is a running local Knative. Create it with New, then Run it.
type Emulator struct {
	cfg     Config
	spec    Spec
	log     *slog.Logger
	metrics *metrics

	revisions   map[string]*revision // by namespace/name
	activators  map[string]net.Listener
	ingressLn   net.Listener
	issuer      *issuer               // mints the services' projected tokens
	tokenDir    string                // where they are written
	authorizers map[string]Authorizer // by Kind/namespace/name of a Broker or KafkaSink
	brokers     map[string]BrokerSpec // by namespace/name
	sinks       map[string]string     // KafkaSink namespace/name -> topic
	dispatchers []*dispatcher

	httpClient *http.Client
	producer   *kgo.Client

	queueBin   string       // queue-proxy, when Services run as pods
	podSeq     atomic.Int64 // names each pod's namespace
	pods       sync.Map     // namespace name -> *podNet, for dial
	publishLns []publishedPort
	egressLn   net.Listener // the pods' HTTP proxy to beyond the machine
}

// New parses the manifests, resolves images and binds every listener, so a
// port already taken is reported here. Objects that cannot be used are
// logged and left out; the rest still runs.
func New(cfg Config) (*Emulator, error) {
	cfg.setDefaults()
	spec, err := ParseSpec(cfg.Manifests)
	if err != nil {
		return nil, err
	}
	em := &Emulator{
		cfg: cfg, spec: spec, log: cfg.Logger, metrics: newMetrics(cfg.Registry),
		revisions: map[string]*revision{}, activators: map[string]net.Listener{},
		brokers: map[string]BrokerSpec{}, sinks: map[string]string{},
	}
	em.httpClient = &http.Client{Transport: newDeliveryTransport(em.dial)}
	if cfg.QueueProxy != "" {
		if err := PodsSupported(); err != nil {
			em.log.Warn("services run as bare processes without queue-proxy: reduced fidelity to Knative", "reason", err)
		} else {
			em.queueBin = cfg.QueueProxy
			removeStalePodNets(em.log)
		}
	} else {
		em.log.Warn("services run as bare processes without queue-proxy: reduced fidelity to Knative", "reason", "no queue-proxy binary configured")
	}
	for _, err := range spec.Skipped {
		em.log.Error("manifest object skipped", "error", err)
	}
	ok := false
	defer func() {
		if !ok {
			em.closeListeners()
			em.removeTokens()
		}
	}()
	for _, s := range spec.Services {
		if err := em.addService(s); err != nil {
			var netErr *net.OpError
			if errors.As(err, &netErr) {
				return nil, err // a pinned port is taken: running without it would mislead
			}
			em.log.Error("service skipped", "ksvc", s.Name, "error", err)
		}
	}
	em.authorizers = map[string]Authorizer{}
	for _, s := range spec.Sinks {
		em.sinks[s.Namespace+"/"+s.Name] = s.Topic
		em.authorizers["KafkaSink/"+s.Namespace+"/"+s.Name] = NewAuthorizer(spec.EventPolicies, s.Namespace, "KafkaSink", s.Name, cfg.DefaultAuthorizationMode)
	}
	if em.issuer, err = newIssuer(); err != nil {
		return nil, err
	}
	if err := em.setUpTokens(); err != nil {
		return nil, err
	}
	for _, b := range spec.Brokers {
		em.brokers[b.Namespace+"/"+b.Name] = b
		em.authorizers["Broker/"+b.Namespace+"/"+b.Name] = NewAuthorizer(spec.EventPolicies, b.Namespace, "Broker", b.Name, cfg.DefaultAuthorizationMode)
	}
	if len(em.brokers) > 0 {
		if len(cfg.KafkaBrokers) == 0 {
			return nil, errors.New("emulator: manifests have a Broker but Config.KafkaBrokers is empty")
		}
		if em.ingressLn, err = em.listen("broker ingress", cfg.IngressPort); err != nil {
			return nil, err
		}
	}
	for _, t := range spec.Triggers {
		if err := em.addTrigger(t); err != nil {
			em.log.Error("trigger skipped", "trigger", t.Namespace+"/"+t.Name, "error", err)
		}
	}
	if em.queueBin != "" {
		if em.egressLn, err = em.listen("pods' egress proxy", 0); err != nil {
			return nil, err
		}
	}
	// Env can name other services' and the ingress's addresses only once all are bound.
	for _, r := range em.revisions {
		if r.env, err = em.buildEnv(r.spec); err != nil {
			return nil, fmt.Errorf("emulator: service %s: %w", r.spec.Name, err)
		}
		if em.egressLn != nil {
			proxy := "http://" + em.egressLn.Addr().String()
			r.env = append(r.env, "HTTP_PROXY="+proxy, "HTTPS_PROXY="+proxy, "NO_PROXY=localhost,127.0.0.1,::1")
		}
		own := map[int]bool{r.spec.Port: true}
		for _, p := range reservedPorts {
			own[p] = true
		}
		r.hostPorts = hostPorts(r.env, own)
	}
	if em.queueBin != "" {
		if err := em.publishPorts(); err != nil {
			return nil, err
		}
	}
	ok = true
	return em, nil
}

func (c *Config) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.CrashBackoff == 0 {
		c.CrashBackoff = time.Second
	}
	if c.ProcessOutput == nil {
		c.ProcessOutput = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.TriggerStart == "" {
		c.TriggerStart = StartEarliest
	}
	if c.DefaultAuthorizationMode == "" {
		c.DefaultAuthorizationMode = AuthorizationAllowSameNamespace
	}
}

func (em *Emulator) addService(s ServiceSpec) error {
	if em.cfg.ResolveImage == nil {
		return errors.New("no Config.ResolveImage to find its binary")
	}
	bin, err := em.cfg.ResolveImage(s.Image)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Image, err)
	}
	ln, err := em.listen("service "+s.Name, em.cfg.Ports[s.Name])
	if err != nil {
		return err
	}
	key := s.Namespace + "/" + s.Name
	em.revisions[key] = &revision{spec: s, bin: bin, em: em}
	em.activators[key] = ln
	return nil
}

func (em *Emulator) addTrigger(t TriggerSpec) error {
	b, ok := em.brokers[t.Namespace+"/"+t.Broker]
	if !ok {
		return fmt.Errorf("broker %s/%s not found", t.Namespace, t.Broker)
	}
	url, err := em.resolve(t.Subscriber)
	if err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	if dls := t.Delivery.DeadLetter; dls != nil {
		if err := em.checkDestination(*dls); err != nil {
			return fmt.Errorf("dead-letter sink: %w", err)
		}
	}
	d := &dispatcher{em: em, spec: t, name: t.Namespace + "/" + t.Name, subscriber: url, topic: b.Topic}
	if t.Subscriber.Kind == "Service" {
		d.rev = em.revisions[t.Subscriber.Namespace+"/"+t.Subscriber.Name]
	}
	em.dispatchers = append(em.dispatchers, d)
	return nil
}

func (em *Emulator) checkDestination(d Destination) error {
	if d.Kind == "KafkaSink" {
		if _, ok := em.sinks[d.Namespace+"/"+d.Name]; !ok {
			return fmt.Errorf("KafkaSink %s/%s not found", d.Namespace, d.Name)
		}
		return nil
	}
	_, err := em.resolve(d)
	return err
}

// resolve turns a destination into the URL to POST to.
func (em *Emulator) resolve(d Destination) (string, error) {
	if d.URI != "" {
		return d.URI, nil
	}
	if d.Kind != "Service" {
		return "", fmt.Errorf("%w: %s (the emulator resolves Knative Services, KafkaSinks and URIs)", errUnknownDestination, d)
	}
	ln, ok := em.activators[d.Namespace+"/"+d.Name]
	if !ok {
		return "", fmt.Errorf("%w: Service %s/%s does not exist", errUnknownDestination, d.Namespace, d.Name)
	}
	return "http://" + ln.Addr().String(), nil
}

func (em *Emulator) listen(what string, port int) (net.Listener, error) {
	addr := net.JoinHostPort(em.cfg.Host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: %s: listen on %s: %w", what, addr, err)
	}
	return ln, nil
}

func (em *Emulator) closeListeners() {
	for _, ln := range em.activators {
		ln.Close()
	}
	for _, p := range em.publishLns {
		p.ln.Close()
	}
	if em.ingressLn != nil {
		em.ingressLn.Close()
	}
	if em.egressLn != nil {
		em.egressLn.Close()
	}
}

// clusterHost matches in-cluster service hosts such as
// auth.parley.svc.cluster.local or kafka-broker-ingress.knative-eventing.svc,
// with an optional :80.
var clusterHost = regexp.MustCompile(`([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?(?::80)?`)

// buildEnv gives a process a minimal environment: no variable of the
// emulator's own leaks in except PATH, HOME and the OTEL_* settings.
func (em *Emulator) buildEnv(s ServiceSpec) ([]string, error) {
	env := []string{
		"K_SERVICE=" + s.Name, "K_CONFIGURATION=" + s.Name, "K_REVISION=" + s.Name + "-00001",
		"HOST=" + em.cfg.Host, // local processes listen on loopback only
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "HOME" || k == "TMPDIR" || strings.HasPrefix(k, "OTEL_") {
			env = append(env, kv)
		}
	}
	for _, v := range s.Env {
		val, override := em.cfg.Env[v.Name]
		if !override {
			if v.FromRef {
				return nil, fmt.Errorf("env %s comes from a Secret or ConfigMap: set it in the emulator's Env", v.Name)
			}
			val = em.localTokenPath(s.Namespace+"/"+s.Name, em.rewriteHosts(v.Value))
		}
		env = append(env, v.Name+"="+val)
	}
	for k, v := range em.cfg.ExtraEnv[s.Name] {
		env = append(env, k+"="+v)
	}
	return env, nil
}

// rewriteHosts points cluster DNS names at the local activators and ingress.
func (em *Emulator) rewriteHosts(v string) string {
	return clusterHost.ReplaceAllStringFunc(v, func(host string) string {
		m := clusterHost.FindStringSubmatch(host)
		if m[1] == "kafka-broker-ingress" && m[2] == "knative-eventing" && em.ingressLn != nil {
			return em.ingressLn.Addr().String()
		}
		if ln, ok := em.activators[m[2]+"/"+m[1]]; ok {
			return ln.Addr().String()
		}
		return host
	})
}

// URL is the local address of a service's activator, e.g. http://127.0.0.1:8080.
func (em *Emulator) URL(namespace, service string) (string, bool) {
	ln, ok := em.activators[namespace+"/"+service]
	if !ok {
		return "", false
	}
	return "http://" + ln.Addr().String(), true
}

// ServiceEnv is the environment the emulator gives a service's process
// (without PORT), for running extra replicas of it by hand.
func (em *Emulator) ServiceEnv(namespace, service string) ([]string, bool) {
	r, ok := em.revisions[namespace+"/"+service]
	if !ok {
		return nil, false
	}
	return append([]string(nil), r.env...), true
}

// IngressURL is where to POST CloudEvents for a Broker, as on a cluster.
func (em *Emulator) IngressURL(namespace, broker string) string {
	if em.ingressLn == nil {
		return ""
	}
	return "http://" + em.ingressLn.Addr().String() + "/" + namespace + "/" + broker
}

// Run serves until ctx is cancelled, then stops consuming, drains the
// activators and terminates every process.
func (em *Emulator) Run(ctx context.Context) error {
	defer em.removeTokens() // after every process has stopped
	defer em.httpClient.CloseIdleConnections()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	if len(em.brokers) > 0 {
		auth, err := kgoauth.Opts(em.cfg.KafkaAuth)
		if err != nil {
			em.closeListeners()
			return fmt.Errorf("emulator: KafkaAuth: %w", err)
		}
		// Clipped: each client's append below copies instead of sharing.
		kafkaOpts := slices.Clip(append(auth, kgo.SeedBrokers(em.cfg.KafkaBrokers...)))
		em.producer, err = kgo.NewClient(append(kafkaOpts,
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
			// Every Trigger decodes every record: on a local broker,
			// compressing them only costs CPU.
			kgo.ProducerBatchCompression(kgo.NoCompression()))...)
		if err != nil {
			em.closeListeners()
			return fmt.Errorf("emulator: kafka producer: %w", err)
		}
		defer em.producer.Close()
		for _, d := range em.dispatchers {
			d.client, err = kgo.NewClient(append(kafkaOpts,
				kgo.ConsumerGroup("knative-trigger-"+d.spec.Namespace+"-"+d.spec.Name),
				kgo.ConsumeTopics(d.topic),
				kgo.ConsumeResetOffset(em.triggerStart()),
				kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
				kgo.FetchMaxWait(500*time.Millisecond))...)
			if err != nil {
				em.closeListeners()
				return fmt.Errorf("emulator: trigger %s: kafka client: %w", d.name, err)
			}
		}
	}

	var servers []*http.Server
	serve := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				em.log.Error("listener failed", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	for key, ln := range em.activators {
		serve(ln, newActivator(em.revisions[key]))
	}
	if em.ingressLn != nil {
		serve(em.ingressLn, &ingress{em: em})
	}
	if em.egressLn != nil {
		serve(em.egressLn, newEgress(em.cfg.DialOut))
	}
	for _, p := range em.publishLns {
		wg.Add(1)
		go func() { defer wg.Done(); em.servePublished(p) }()
	}
	for _, r := range em.revisions {
		if r.spec.MinScale > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); r.keepWarm(runCtx) }()
		}
	}
	for _, d := range em.dispatchers {
		wg.Add(1)
		go func() { defer wg.Done(); d.run(runCtx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); em.reap(runCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); em.rotateTokens(runCtx) }()
	em.log.Info("emulator running", "services", len(em.revisions), "triggers", len(em.dispatchers),
		"idle_timeout", em.cfg.IdleTimeout.String())

	<-ctx.Done()
	cancel()
	shutdownCtx, done := context.WithTimeout(context.Background(), em.cfg.StopTimeout)
	defer done()
	for _, srv := range servers {
		srv.Shutdown(shutdownCtx)
	}
	for _, p := range em.publishLns {
		p.ln.Close()
	}
	var stopWG sync.WaitGroup
	for _, r := range em.revisions {
		stopWG.Add(1)
		go func() { defer stopWG.Done(); r.stop() }()
	}
	stopWG.Wait()
	em.log.Info("emulator stopped")
	return nil
}

// reap scales idle services to zero.
func (em *Emulator) reap(ctx context.Context) {
	tick := time.NewTicker(max(em.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, r := range em.revisions {
			if r.spec.MinScale == 0 {
				r.scaleToZero(em.cfg.IdleTimeout)
			}
		}
	}
}

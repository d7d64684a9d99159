package ksvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Service is what a binary hands to Run. Every field is optional, but a
// service with neither Events, GRPC nor HTTP serves only health endpoints.
type Service struct {
	// Events handles CloudEvents POSTed by the Broker (functions).
	Events EventHandler
	// GRPC serves requests whose content type is application/grpc.
	GRPC *grpc.Server
	// HTTP serves every other request (the connector); it takes precedence over Events.
	HTTP http.Handler
	// Start runs before the listener accepts traffic; an error aborts Run.
	Start func(ctx context.Context) error
	// Stop runs after the listener has drained, to close pools and flush producers.
	Stop func(ctx context.Context) error
	// Ready is polled by /readyz; nil means ready once started.
	Ready func(ctx context.Context) error
	// Registry receives the runtime's metrics and is served on /metrics; nil means a new one.
	Registry *prometheus.Registry
}

// Main is the whole body of a Parley main function: it reads the standard
// environment, runs svc until SIGTERM or SIGINT, and exits non-zero on error.
// build constructs the service; it receives the context that is cancelled on
// shutdown and the configured logger.
func Main(name string, build func(ctx context.Context, log *slog.Logger) (Service, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := FromEnv(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	flush, err := setupTracing(ctx, name)
	if err != nil {
		cfg.Logger.Error("tracing", "error", err)
		os.Exit(2)
	}
	svc, err := build(ctx, cfg.Logger)
	if err == nil {
		err = Run(ctx, cfg, svc)
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if ferr := flush(flushCtx); ferr != nil {
		cfg.Logger.Warn("flushing traces", "error", ferr)
	}
	cancel()
	if err != nil {
		cfg.Logger.Error("exiting", "error", err)
		os.Exit(1)
	}
}

// Run serves svc until ctx is cancelled, then drains and stops it.
func Run(ctx context.Context, cfg Config, svc Service) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ksvc: listen on %s: %w", addr, err)
	}
	return serve(ctx, cfg, svc, ln)
}

func serve(ctx context.Context, cfg Config, svc Service, ln net.Listener) (err error) {
	log := cfg.Logger
	reg := svc.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	var ready atomic.Bool

	mux := &router{svc: svc, metrics: m, ready: &ready, readBody: cfg.ReadBodyTimeout}
	if svc.Events != nil {
		mux.events = &eventServer{handle: svc.Events, maxBytes: cfg.MaxEventBytes, log: log, metrics: m}
	}
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		metricsSrv = &http.Server{Addr: cfg.MetricsAddr, Handler: metricsHandler, ReadHeaderTimeout: cfg.ReadHeaderTimeout}
	} else {
		mux.metricsHandler = metricsHandler
	}

	if svc.Start != nil {
		if err := svc.Start(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("ksvc: start %s: %w", cfg.Name, err)
		}
	}
	defer func() {
		if svc.Stop == nil {
			return
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if stopErr := svc.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("ksvc: stop %s: %w", cfg.Name, stopErr))
		}
	}()

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	if metricsSrv != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("ksvc: metrics listener %s: %w", cfg.MetricsAddr, err)
		}
		go func() { serveErr <- metricsSrv.Serve(mln) }()
	}
	ready.Store(true)
	m.ready.Set(1)
	m.startup.Set(time.Since(processStart).Seconds())
	log.Info("serving", "addr", ln.Addr().String(), "grpc", svc.GRPC != nil, "events", svc.Events != nil, "http", svc.HTTP != nil)

	select {
	case err := <-serveErr:
		return fmt.Errorf("ksvc: serve: %w", err)
	case <-ctx.Done():
	}

	// Fail readiness first so routers stop sending new work, then drain.
	ready.Store(false)
	m.ready.Set(0)
	log.Info("draining", "drain_delay", cfg.DrainDelay.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if cfg.DrainDelay > 0 {
		select {
		case <-time.After(cfg.DrainDelay):
		case <-shutdownCtx.Done():
		}
	}
	srv.SetKeepAlivesEnabled(false)
	shutdownErr := srv.Shutdown(shutdownCtx)
	if svc.GRPC != nil {
		// Streams served through ServeHTTP end with the HTTP server; Stop
		// releases the gRPC server's own bookkeeping.
		svc.GRPC.Stop()
	}
	if metricsSrv != nil {
		shutdownErr = errors.Join(shutdownErr, metricsSrv.Shutdown(shutdownCtx))
	}
	if shutdownErr != nil {
		return fmt.Errorf("ksvc: drain: %w", shutdownErr)
	}
	log.Info("stopped")
	return nil
}

type router struct {
	svc            Service
	events         *eventServer
	metrics        *metrics
	metricsHandler http.Handler
	ready          *atomic.Bool
	readBody       time.Duration
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		if rt.svc.GRPC == nil {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "12") // UNIMPLEMENTED
			w.Header().Set("Grpc-Message", "this service has no gRPC API")
			w.WriteHeader(http.StatusOK)
			return
		}
		rt.timed("grpc", rt.svc.GRPC, w, r)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
		return
	case "/readyz":
		rt.serveReady(w, r)
		return
	case "/metrics":
		if rt.metricsHandler != nil {
			rt.metricsHandler.ServeHTTP(w, r)
			return
		}
	}
	// The body's deadline. The server clears it when it reads the
	// connection's next request, and Hijack clears it for a WebSocket.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(rt.readBody))
	switch {
	case rt.svc.HTTP != nil:
		rt.timed("http", rt.svc.HTTP, w, r)
	case rt.events != nil:
		rt.timed("event", rt.events, w, r)
	default:
		http.NotFound(w, r)
	}
}

func (rt *router) timed(kind string, h http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.ServeHTTP(w, r)
	rt.metrics.requests.WithLabelValues(kind).Inc()
	rt.metrics.requestTime.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

func (rt *router) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !rt.ready.Load() {
		http.Error(w, "not ready: starting or draining", http.StatusServiceUnavailable)
		return
	}
	if rt.svc.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rt.svc.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n"))
}

// NewGRPCServer returns a gRPC server with the standard health service
// registered and gRPC calls traced, so Knative's and the emulator's gRPC probes and clients'
// health checks work the same for every Parley service.
func NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler()))...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	return s
}

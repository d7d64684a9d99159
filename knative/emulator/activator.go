package emulator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// activator is the fixed address of one service. Like Knative's activator
// it holds requests while the service scales from zero, then proxies them,
// HTTP/1.1 (including WebSocket upgrades) and h2c gRPC alike.
type activator struct {
	rev   *revision
	proxy *httputil.ReverseProxy
}

type ctxKey struct{}

func newActivator(rev *revision) *activator {
	a := &activator{rev: rev}
	a.proxy = &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { forward(pr, pr.In.Context().Value(ctxKey{}).(string)) },
		Transport:     protocolTransport{h1: newH1Transport(rev.em.dial), h2c: newH2CTransport(rev.em.dial)},
		FlushInterval: -1, // stream gRPC and WebSocket frames as they come
		ErrorHandler:  a.proxyError,
		BufferPool:    proxyBuffers{},
	}
	return a
}

// forward points a proxied request at addr as Knative's activator and
// queue-proxy do (knative.dev/serving/pkg/http.NewHeaderPruningReverseProxy,
// a Director proxy): the Host it was called with is kept, and the caller's
// address is appended to X-Forwarded-For, after what earlier proxies put
// there. A service behind them sees every hop, the client's first.
func forward(pr *httputil.ProxyRequest, addr string) {
	pr.SetURL(&url.URL{Scheme: "http", Host: addr})
	pr.Out.Host = pr.In.Host
	// Rewrite starts from a request without X-Forwarded-For; a Director
	// proxy keeps the incoming one.
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
}

// proxyBuffers lends the proxy its copy buffers; without a pool it
// allocates 32 KB per request, most of the activator's garbage.
type proxyBuffers struct{}

var proxyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (proxyBuffers) Get() []byte { return proxyBufferPool.Get().(*[32 << 10]byte)[:] }
func (proxyBuffers) Put(b []byte) {
	if cap(b) == 32<<10 {
		proxyBufferPool.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}

func (a *activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.rev.spec.Timeout)
	defer cancel()
	p, release, err := a.rev.acquire(ctx)
	if err != nil {
		a.rev.em.log.Warn("request not routed", "ksvc", a.rev.spec.Name, "error", err)
		unavailable(w, r, err.Error())
		return
	}
	defer release()
	a.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, p.addr)))
}

func (a *activator) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	a.rev.em.log.Warn("proxy error", "ksvc", a.rev.spec.Name, "error", err)
	if isGRPC(r) {
		grpcError(w, "14", "upstream failed: "+err.Error()) // UNAVAILABLE
		return
	}
	http.Error(w, "upstream failed: "+err.Error(), http.StatusBadGateway)
}

func unavailable(w http.ResponseWriter, r *http.Request, msg string) {
	if isGRPC(r) {
		grpcError(w, "14", msg)
		return
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// grpcError answers with a trailers-only gRPC status, which every gRPC
// client understands without a message body.
func grpcError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Grpc-Status", code)
	w.Header().Set("Grpc-Message", url.PathEscape(msg))
	w.WriteHeader(http.StatusOK)
}

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// protocolTransport keeps the client's protocol to the process: HTTP/2
// requests (gRPC) go over h2c, everything else over HTTP/1.1.
type protocolTransport struct{ h1, h2c http.RoundTripper }

func (t protocolTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.ProtoMajor == 2 {
		return t.h2c.RoundTrip(r)
	}
	return t.h1.RoundTrip(r)
}

// dialFunc dials a host:port where host may name a pod (see Emulator.dial).
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func newH1Transport(dial dialFunc) *http.Transport {
	return &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
}

func newH2CTransport(dial dialFunc) *http.Transport {
	t := &http.Transport{
		DialContext:     dial,
		IdleConnTimeout: 30 * time.Second,
		Protocols:       new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

package emulator

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"time"
)

// egress lets pods reach beyond the machine. A pod's namespace has
// loopback only, so its services get HTTP_PROXY and HTTPS_PROXY pointing
// at this proxy (forwarded into the pod like any host port); Go's HTTP and
// gRPC clients use it for every non-loopback host (Web Push endpoints, an
// OIDC provider), and still go directly to loopback ones.
type egress struct {
	dial  dialFunc
	proxy *httputil.ReverseProxy
}

func newEgress(dial dialFunc) *egress {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	return &egress{dial: dial, proxy: &httputil.ReverseProxy{
		// A proxy request carries the absolute URL to fetch.
		Rewrite:   func(*httputil.ProxyRequest) {},
		Transport: &http.Transport{DialContext: dial, IdleConnTimeout: 30 * time.Second},
	}}
}

func (e *egress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		if !r.URL.IsAbs() {
			http.Error(w, "this is a forward proxy: send an absolute URL or CONNECT", http.StatusBadRequest)
			return
		}
		e.proxy.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	up, err := e.dial(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		http.Error(w, "egress: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	w.WriteHeader(http.StatusOK)
	down, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer down.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, buf) // what the client sent after CONNECT, then the rest
		if c, ok := up.(interface{ CloseWrite() error }); ok {
			c.CloseWrite()
		}
		close(done)
	}()
	io.Copy(down, up)
	if c, ok := down.(interface{ CloseWrite() error }); ok {
		c.CloseWrite()
	}
	<-done
}

// Command connector is Parley's public entry point: it holds the browsers'
// WebSockets, serves the REST gateway and the web client, and fans messages
// out to rooms. It is long-lived (min-scale 1) while the functions behind it
// scale to zero.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("connector", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		opts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
		if err != nil {
			return ksvc.Service{}, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opts)
		return ksvc.Service{
			HTTP:  newRouter(os.Getenv("WEB_DIR")),
			Ready: func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
			Stop:  func(context.Context) error { return rdb.Close() },
		}, nil
	})
}

// newRouter serves the built web client from webDir, when there is one.
func newRouter(webDir string) http.Handler {
	mux := http.NewServeMux()
	if webDir != "" {
		mux.Handle("GET /", http.FileServer(http.Dir(webDir)))
	}
	return securityHeaders(mux)
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

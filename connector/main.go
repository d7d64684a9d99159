// Command connector is Parley's public entry point: it holds the browsers'
// WebSockets, serves the REST gateway and the web client, and fans messages
// out to rooms. It is long-lived (min-scale 1) while the functions behind it
// scale to zero.
//
// Environment:
//
//	AUTH_URL        the auth function, e.g. http://auth.parley.svc.cluster.local (required)
//	REDIS_URL       Redis (required)
//	PUBLIC_URL      where browsers reach this connector (required)
//	JWT_ISSUER      access tokens' issuer (PUBLIC_URL)
//	JWT_AUDIENCE    access tokens' audience (parley)
//	ALLOWED_ORIGINS extra origins allowed to call the API (comma-separated; none)
//	TRUST_PROXY     take client IPs from X-Forwarded-For (true: Knative's ingress sets it)
//	WEB_DIR         the built web client to serve
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

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/gateway"
	"github.com/parley-chat/parley/knative/ksvc"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

func main() {
	ksvc.Main("connector", build)
}

func build(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
	env := os.Getenv
	for _, k := range []string{"AUTH_URL", "REDIS_URL", "PUBLIC_URL"} {
		if env(k) == "" {
			return ksvc.Service{}, fmt.Errorf("%s is required", k)
		}
	}
	opts, err := redis.ParseURL(env("REDIS_URL"))
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	authConn, err := dialFunction(env("AUTH_URL"))
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("AUTH_URL: %w", err)
	}
	auth := authv1.NewAuthServiceClient(authConn)
	issuer := or(env("JWT_ISSUER"), env("PUBLIC_URL"))
	verifier, err := authn.NewVerifier(jwksSource{auth}, authn.Config{Issuer: issuer, Audience: or(env("JWT_AUDIENCE"), "parley")})
	if err != nil {
		return ksvc.Service{}, err
	}
	gw := gateway.New(gateway.Config{
		PublicURL: env("PUBLIC_URL"), Issuer: issuer, AllowedOrigins: splitList(env("ALLOWED_ORIGINS")),
		TrustProxy: env("TRUST_PROXY") != "false",
	}, auth, verifier, log)

	mux := http.NewServeMux()
	gw.Register(mux)
	if dir := env("WEB_DIR"); dir != "" {
		mux.Handle("GET /", http.FileServer(http.Dir(dir)))
	}
	return ksvc.Service{
		HTTP:  gateway.SecurityHeaders(gw.CORS(mux)),
		Ready: func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Stop: func(context.Context) error {
			return errors.Join(authConn.Close(), rdb.Close())
		},
	}, nil
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
	return grpc.NewClient("passthrough:///"+host, grpc.WithTransportCredentials(insecure.NewCredentials()))
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

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

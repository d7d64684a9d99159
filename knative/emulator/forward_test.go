package emulator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"

	servinghttp "knative.dev/serving/pkg/http"
)

// The activator hands a service the X-Forwarded-For that Knative's
// activator and queue-proxy would: what earlier proxies wrote, then the
// caller. A service that takes its client from that list (the connector's
// rate limits) is tested against the hops it meets on a cluster.
func TestTheActivatorForwardsAsKnativesProxiesDo(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(r.Header.Values("X-Forwarded-For"), " | "), " host=", r.Host)
	}))
	defer backend.Close()
	target := strings.TrimPrefix(backend.URL, "http://")
	proxies := map[string]http.Handler{
		"knative":  servinghttp.NewHeaderPruningReverseProxy(target, servinghttp.NoHostOverride, nil, false),
		"emulator": &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { forward(pr, target) }},
	}
	for name, xff := range map[string][]string{
		"no proxy before":      nil,
		"the ingress before":   {"203.0.113.7"},
		"two proxies, 2 lines": {"203.0.113.7", "198.51.100.2, 10.244.0.4"},
	} {
		seen := map[string]string{}
		for proxy, h := range proxies {
			r := httptest.NewRequest(http.MethodGet, "http://connector.parley.example/api", nil)
			r.RemoteAddr = "10.244.0.9:5555"
			for _, v := range xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			seen[proxy] = w.Body.String()
		}
		if seen["emulator"] != seen["knative"] || !strings.Contains(seen["emulator"], "10.244.0.9 host=connector.parley.example") {
			t.Errorf("%s: the service saw %q behind the emulator, %q behind Knative", name, seen["emulator"], seen["knative"])
		}
	}
}

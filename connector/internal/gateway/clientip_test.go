package gateway

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// The client is the nearest address behind the proxies in front: on
// Knative the ingress's client, before the activator's and queue-proxy's
// entries (cluster addresses). What a client writes itself never wins over
// what the ingress saw, and a socket that is not a proxy's is the client.
func TestClientIPIsTheNearestAddressBehindTheProxies(t *testing.T) {
	knative := &Gateway{cfg: Config{TrustProxy: true}}
	for name, c := range map[string]struct {
		peer string
		xff  []string
		want string
	}{
		"ingress, activator, queue-proxy": {"127.0.0.1:5000", []string{"203.0.113.7, 10.244.0.4, 10.244.0.9"}, "203.0.113.7"},
		"no activator in the path":        {"127.0.0.1:5000", []string{"203.0.113.7, 10.244.0.4"}, "203.0.113.7"},
		"a forged entry before":           {"127.0.0.1:5000", []string{"1.2.3.4, 203.0.113.7, 10.244.0.4"}, "203.0.113.7"},
		"one entry per header line":       {"127.0.0.1:5000", []string{"1.2.3.4", "203.0.113.7", "10.244.0.4"}, "203.0.113.7"},
		"a client on the cluster's LAN":   {"127.0.0.1:5000", []string{"192.168.49.1, 10.244.0.4"}, "192.168.49.1"},
		"no header":                       {"10.244.0.4:5000", nil, "10.244.0.4"},
		"garbled before the ingress's":    {"127.0.0.1:5000", []string{"not-an-ip, 10.244.0.4"}, "10.244.0.4"},
		"not through a proxy":             {"203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		"IPv6 client":                     {"[::1]:5000", []string{"2001:db8::7, fd00::4"}, "2001:db8::7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := knative.ClientIP(r); got != c.want {
			t.Errorf("%s: ClientIP = %s, want %s", name, got, c.want)
		}
	}

	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7, 192.168.1.20")
	if got := (&Gateway{cfg: Config{TrustProxy: false}}).ClientIP(r); got != "10.0.0.2" {
		t.Errorf("without TrustProxy: %s, want the socket's address", got)
	}
	// Only the configured networks are proxies: an office's 192.168 address
	// in front of a cluster on 10.0.0.0/8 is a client.
	narrow := &Gateway{cfg: Config{TrustProxy: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	if got := narrow.ClientIP(r); got != "192.168.1.20" {
		t.Errorf("with TrustedProxies 10.0.0.0/8: %s, want 192.168.1.20", got)
	}
}

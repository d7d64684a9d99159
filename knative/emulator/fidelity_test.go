package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These tests hold the emulator to what Knative's queue-proxy does in a
// pod. They need pods (root and iproute2, as in CI).

// httpServiceYAML is testfn serving its HTTP routes (/ws, /hang, /slow)
// with extra lines in the revision spec and extra env pairs.
func httpServiceYAML(name, specLines string, env ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: %s, namespace: test}
spec:
  template:
    spec:
%s      containers:
        - image: ko://example.com/testfn
          ports: [{name: http1, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /readyz}}
          env:
            - {name: HTTP_ROUTES, value: "1"}
`, name, specLines)
	for i := 0; i+1 < len(env); i += 2 {
		fmt.Fprintf(&b, "            - {name: %s, value: %q}\n", env[i], env[i+1])
	}
	return b.String()
}

func requirePods(t *testing.T, h *harness) {
	t.Helper()
	if h.em.queueBin == "" {
		t.Fatalf("this test needs Services to run as pods (root and iproute2): %v", PodsSupported())
	}
}

// A container that listens on a port queue-proxy owns (here the metrics
// port 9090, as the connector once did) never serves, and the error says
// why. Which of the two binds the port first is a race, on a cluster as
// here: kubelet starts the user container, then queue-proxy, without
// waiting. Mostly queue-proxy wins and the container exits (503, naming
// the port); when the container wins, queue-proxy exits instead, having
// perhaps passed a probe first, and the request in flight fails (502).
// So a request must never succeed, and a cold start must soon report the
// clash; each request after a failed pod starts a new one.
func TestServiceListeningOnAReservedPortFailsToStart(t *testing.T) {
	h := startEmulator(t, httpServiceYAML("clash", "", "METRICS_ADDR", ":9090"), nil)
	requirePods(t, h)
	url, _ := h.em.URL("test", "clash")
	for attempt := 1; ; attempt++ {
		resp, err := http.Get(url + "/slow?d=0s")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			for _, want := range []string{":9090", "address already in use"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("error %q does not mention %q", body, want)
				}
			}
			return
		case resp.StatusCode == http.StatusBadGateway && attempt < 10:
			t.Logf("attempt %d: queue-proxy lost the port race (%s)", attempt, strings.TrimSpace(string(body)))
		default:
			t.Fatalf("attempt %d: status %d (%s), want 503: a Service listening on :9090 must not start", attempt, resp.StatusCode, body)
		}
	}
}

// queue-proxy cuts a request whose response has not started by the
// revision's responseStartTimeoutSeconds with 504, lets one that has
// started stream on, and (serving v0.50, knative/serving#16169) counts a
// WebSocket's 101 as no response: the socket is closed at that timeout
// too, which is why the connector's manifest must raise it.
func TestResponseStartTimeoutCutsSilentRequestsAndWebSockets(t *testing.T) {
	const startTimeout = 2 * time.Second
	h := startEmulator(t, httpServiceYAML("timeouts", "      timeoutSeconds: 30\n      responseStartTimeoutSeconds: 2\n"), nil)
	requirePods(t, h)
	url, _ := h.em.URL("test", "timeouts")

	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket through queue-proxy: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	opened := time.Now()
	echo := func() error {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			return err
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err == nil && string(msg) != "ping" {
			err = fmt.Errorf("echo %q", msg)
		}
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("WebSocket echo before the timeout: %v", err)
	}

	begin := time.Now()
	resp, err = http.Get(url + "/hang")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(begin)
	if resp.StatusCode != http.StatusGatewayTimeout || took < startTimeout || took > startTimeout+3*time.Second {
		t.Fatalf("a response that never starts: %d %q after %s, want 504 after %s", resp.StatusCode, body, took, startTimeout)
	}

	// The WebSocket opened before /hang, so its timer has fired too.
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = ws.ReadMessage()
	if err == nil {
		t.Fatalf("WebSocket still open %s after opening, past responseStartTimeoutSeconds", time.Since(opened))
	}

	// A response that starts in time may take longer than the timeout.
	resp, err = http.Get(url + "/slow?d=0s")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a prompt response: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A revision told to stop (scale to zero, shutdown) finishes the request
// in flight through queue-proxy before its processes go.
func TestStoppingRevisionFinishesItsInFlightRequest(t *testing.T) {
	h := startEmulator(t, httpServiceYAML("drain", "      timeoutSeconds: 30\n"), func(c *Config) {
		c.StopTimeout = 10 * time.Second
	})
	requirePods(t, h)
	url, _ := h.em.URL("test", "drain")
	rev := h.em.revisions["test/drain"]

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/slow?d=1s")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	eventually(t, 10*time.Second, "the request in flight", func() bool {
		rev.mu.Lock()
		defer rev.mu.Unlock()
		return rev.state == ready && rev.inflight == 1
	})
	rev.stop()
	r := <-done
	if r.err != nil || r.status != http.StatusOK || r.body != "slept 1s" {
		t.Fatalf("in-flight request across the stop: %d %q %v, want 200 \"slept 1s\"", r.status, r.body, r.err)
	}
	rev.mu.Lock()
	state := rev.state
	rev.mu.Unlock()
	if state != stopped {
		t.Fatalf("revision state %d after stop, want stopped", state)
	}
}

// A namespace left by an emulator that died (SIGKILL skips its cleanup) is
// removed when the next one starts; one of a running emulator is not.
func TestStalePodNamespacesAreRemovedAtStart(t *testing.T) {
	if err := PodsSupported(); err != nil {
		t.Fatalf("this test needs pods (root and iproute2): %v", err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1", podNetPrefix, dead.Process.Pid)
	live := podNetPrefix + "1-1" // pid 1 is always running
	for _, name := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", live).Run() })
	startEmulator(t, serviceYAML("fn", 0), nil)
	if _, err := os.Stat(filepath.Join(netnsDir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s still there (stat: %v)", stale, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("namespace %s of a live process was removed: %v", live, err)
	}
}

// A pod has loopback only, yet its HTTP clients reach hosts beyond the
// machine (Web Push endpoints) through the emulator's egress proxy. The
// test's "outside" is a loopback server behind a name that only the
// proxy's dialer knows: traffic may not leave this machine.
func TestPodReachesTheOutsideThroughTheEgressProxy(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from outside") })
	plain, tlsSrv := httptest.NewServer(hello), httptest.NewTLSServer(hello)
	t.Cleanup(plain.Close)
	t.Cleanup(tlsSrv.Close)
	outside := map[string]string{ // what the proxy dials -> where it really goes
		"push.example.test:80":  plain.Listener.Addr().String(),
		"push.example.test:443": tlsSrv.Listener.Addr().String(),
	}
	h := startEmulator(t, httpServiceYAML("egress", ""), func(c *Config) {
		c.DialOut = func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := outside[addr]
			if !ok {
				return nil, fmt.Errorf("unexpected egress to %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, to)
		}
	})
	requirePods(t, h)
	url, _ := h.em.URL("test", "egress")
	for _, target := range []string{"http://push.example.test/", "https://push.example.test/"} {
		resp, err := http.Get(url + "/fetch?url=" + target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello from outside" {
			t.Errorf("GET %s from the pod: %d %q", target, resp.StatusCode, body)
		}
	}
}

package ksvc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// start serves svc on a free loopback port until the test ends (or stop is
// called) and returns its base URL.
func start(t *testing.T, cfg Config, svc Service) (url string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = "test"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, svc, ln) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() { cancel(); result = <-done })
		return result
	}
	t.Cleanup(func() { stop() })
	url = "http://" + ln.Addr().String()
	waitFor(t, "the service to be ready", func() bool { return status(t, url+"/readyz") == http.StatusOK })
	return url, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// post sends a binary-mode CloudEvent of type typ with body data.
func post(t *testing.T, url, typ string, data []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", "1")
	req.Header.Set("Ce-Source", "test")
	req.Header.Set("Ce-Type", typ)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// What an event's handler answers decides what the Broker does with it:
// nothing to say 202, a reply 200 with the reply as a binary-mode event, a
// permanent error 400 (dead-lettered), any other error 500 (retried), and
// an event over the size limit 413.
func TestAnEventsAnswerTellsTheBrokerWhatToDo(t *testing.T) {
	url, _ := start(t, Config{MaxEventBytes: 64}, Service{Events: func(_ context.Context, e event.Event) (*event.Event, error) {
		switch e.Type() {
		case "permanent":
			return nil, Permanent(errors.New("bad event"))
		case "transient":
			return nil, errors.New("store down")
		case "reply":
			r := event.New()
			r.SetID("r1")
			r.SetSource("test")
			r.SetType("replied")
			return &r, nil
		}
		return nil, nil
	}})
	for typ, want := range map[string]int{"ok": http.StatusAccepted, "permanent": http.StatusBadRequest,
		"transient": http.StatusInternalServerError, "reply": http.StatusOK} {
		resp := post(t, url, typ, []byte(`{}`))
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", typ, resp.StatusCode, want)
		}
		if typ == "reply" && resp.Header.Get("Ce-Type") != "replied" {
			t.Errorf("reply event type %q", resp.Header.Get("Ce-Type"))
		}
	}
	if resp := post(t, url, "ok", bytes.Repeat([]byte("x"), 100)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("an event over the limit: %d, want 413", resp.StatusCode)
	}
	if got := status(t, url+"/"); got != http.StatusMethodNotAllowed {
		t.Errorf("GET on the events endpoint: %d, want 405", got)
	}
}

// CloudEvents and gRPC share the one port Knative gives a Service: a
// request is gRPC by its content type.
func TestEventsAndGRPCShareOnePort(t *testing.T) {
	handled := make(chan string, 1)
	url, _ := start(t, Config{}, Service{GRPC: NewGRPCServer(), Events: func(_ context.Context, e event.Event) (*event.Event, error) {
		handled <- e.Type()
		return nil, nil
	}})
	if resp := post(t, url, "hello", []byte(`{}`)); resp.StatusCode != http.StatusAccepted || <-handled != "hello" {
		t.Fatalf("event: %d", resp.StatusCode)
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health on the same port: %v, %v", res, err)
	}
}

// On shutdown a service fails readiness first, finishes the requests it
// has, then stops.
func TestShutdownFailsReadinessAndFinishesInFlightWork(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	url, stop := start(t, Config{DrainDelay: time.Minute, ShutdownTimeout: time.Second}, Service{
		Events: func(context.Context, event.Event) (*event.Event, error) {
			close(entered)
			<-release
			return nil, nil
		}})
	answered := make(chan int, 1)
	go func() { answered <- post(t, url, "slow", []byte(`{}`)).StatusCode }()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitFor(t, "readiness to fail while draining", func() bool { return status(t, url+"/readyz") == http.StatusServiceUnavailable })
	close(release)
	if got := <-answered; got != http.StatusAccepted {
		t.Errorf("the in-flight event was answered %d, want 202", got)
	}
	if err := <-stopped; err != nil && !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("stop: %v", err)
	}
}

// A broker client sends the service's OIDC token, read afresh for each
// request because the kubelet rotates the file in place.
func TestBrokerClientSendsTheCurrentToken(t *testing.T) {
	seen := make(chan string, 2)
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer broker.Close()
	file := filepath.Join(t.TempDir(), "token")
	client, err := NewBrokerClient(broker.URL, file)
	if err != nil {
		t.Fatal(err)
	}
	send := func() string {
		e := event.New()
		e.SetID("1")
		e.SetSource("test")
		e.SetType("t")
		if res := client.Send(cloudevents.ContextWithTarget(context.Background(), broker.URL), e); !cloudevents.IsACK(res) {
			t.Fatal(res)
		}
		return <-seen
	}
	for _, token := range []string{"first", "rotated"} {
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := send(); got != "Bearer "+token {
			t.Errorf("Authorization %q, want Bearer %s", got, token)
		}
	}
	os.Remove(file)
	e := event.New()
	e.SetID("2")
	e.SetSource("test")
	e.SetType("t")
	if res := client.Send(cloudevents.ContextWithTarget(context.Background(), broker.URL), e); cloudevents.IsACK(res) {
		t.Error("sent without the token file: a post without credentials would be refused anyway, so it must fail here")
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer other.Close()
	os.WriteFile(file, []byte("secret"), 0o600)
	if res := client.Send(cloudevents.ContextWithTarget(context.Background(), other.URL), e); !cloudevents.IsACK(res) || <-seen != "" {
		t.Errorf("the token went to a host other than the broker's (%v)", res)
	}
	noToken, err := NewBrokerClient(broker.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if res := noToken.Send(cloudevents.ContextWithTarget(context.Background(), broker.URL), e); !cloudevents.IsACK(res) || <-seen != "" {
		t.Errorf("a client without a token file: %v", res)
	}
}

// A function's loops run from Start until Stop, and its stores close only
// after every loop has returned; a Start that cannot prepare runs none.
func TestLoopsRunBetweenStartAndStopAndStoresCloseLast(t *testing.T) {
	running := make(chan struct{})
	var ended bool
	start, stop := Loops(func(context.Context) error { return nil }, func(context.Context) error {
		if !ended {
			t.Error("stores closed while a loop was running")
		}
		return nil
	}, func(ctx context.Context) {
		close(running)
		<-ctx.Done()
		ended = true
	})
	if err := start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-running
	if err := stop(context.Background()); err != nil || !ended {
		t.Fatalf("stop: %v, loop ended %v", err, ended)
	}
	failing, _ := Loops(func(context.Context) error { return errors.New("no store") }, nil,
		func(context.Context) { t.Error("a loop ran although prepare failed") })
	if err := failing(context.Background()); err == nil {
		t.Fatal("start without its stores succeeded")
	}
}

// A request whose body stops coming, a CloudEvent or one of the Service's
// HTTP API, is cut off at ReadBodyTimeout (400 or the connection closed),
// not waited for with a goroutine and a connection.
func TestABodyThatStallsIsCutOff(t *testing.T) {
	readAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	for name, svc := range map[string]Service{
		"event": {Events: func(context.Context, event.Event) (*event.Event, error) { return nil, nil }},
		"http":  {HTTP: readAll},
	} {
		url, _ := start(t, Config{ReadBodyTimeout: 200 * time.Millisecond}, svc)
		body, stall := io.Pipe()
		req, err := http.NewRequest(http.MethodPost, url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 100
		for k, v := range map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "1",
			"Ce-Source": "test", "Ce-Type": "ok"} {
			req.Header.Set(k, v)
		}
		go stall.Write([]byte(`{"half":`)) // and nothing more
		done := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		select {
		case code := <-done:
			if code != http.StatusBadRequest && code != 0 {
				t.Errorf("%s: a stalled body got %d, want 400 or the connection closed", name, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the server still waits for a stalled body after 10s", name)
		}
		stall.Close()
	}
}

// A WebSocket upgrade keeps reading past ReadBodyTimeout: the socket lives
// on after its handshake (net/http's Hijack clears the deadline; this
// holds it to that).
func TestAWebSocketUpgradeHasNoBodyDeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	read := make(chan error, 1)
	url, _ := start(t, Config{ReadBodyTimeout: timeout}, Service{HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			read <- err
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		_, err = buf.ReadByte()
		read <- err
	})})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	<-time.After(3 * timeout) // the socket's first frame comes late
	conn.Write([]byte{1})
	if err := <-read; err != nil {
		t.Fatalf("the upgraded socket's read failed: %v", err)
	}
}

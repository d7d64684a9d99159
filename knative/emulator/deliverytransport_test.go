package emulator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// deliveryServer is a subscriber that counts the connections it accepted
// and the requests it answered.
type deliveryServer struct {
	*httptest.Server
	conns, closed, requests atomic.Int64
	mu                      sync.Mutex
	open                    []net.Conn
}

func newDeliveryServer(t *testing.T, h http.HandlerFunc) *deliveryServer {
	s := &deliveryServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(w, r)
	}))
	s.Config.ConnState = func(c net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
		case http.StateClosed:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// closeConns closes every connection the server accepted, as a restarted
// or idle-timed-out subscriber does.
func (s *deliveryServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.open {
		c.Close()
	}
	s.open = nil
}

func post(t *testing.T, client *http.Client, ctx context.Context, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return client.Do(req)
}

func newDeliveryClient(t *testing.T) (*http.Client, *deliveryTransport) {
	var d net.Dialer
	tr := newDeliveryTransport(d.DialContext)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

// Deliveries one after another share one kept-alive connection, and each
// request and answer arrive whole.
func TestDeliveriesReuseTheirConnection(t *testing.T) {
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Ce-Id", r.Header.Get("Ce-Id"))
		w.Write(bytes.ToUpper(b))
	})
	client, _ := newDeliveryClient(t)
	for i := range 20 {
		resp, err := post(t, client, context.Background(), srv.URL+"/fn", strings.Repeat("x", i*500))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != strings.Repeat("X", i*500) {
			t.Fatalf("answer %d: %d bytes, %v", i, len(b), err)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("20 deliveries opened %d connections, want 1", n)
	}
}

// A kept-alive connection the subscriber closed meanwhile costs no failed
// delivery: the request goes once, on a new connection.
func TestADeliveryOnAConnectionTheServerClosedGoesOnANewOne(t *testing.T) {
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	client, _ := newDeliveryClient(t)
	for range 2 {
		resp, err := post(t, client, context.Background(), srv.URL, "event")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.closeConns()
	}
	if n, c := srv.requests.Load(), srv.conns.Load(); n != 2 || c != 2 {
		t.Errorf("%d requests on %d connections, want 2 on 2", n, c)
	}
}

// An answer with Connection: close, or with more body than is worth
// reading, leaves its connection closed rather than reused; a small unread
// body is read to its end and the connection kept.
func TestAConnectionIsKeptOnlyWhenItsAnswerWasReadToItsEnd(t *testing.T) {
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/big":
			w.Write(bytes.Repeat([]byte("b"), 64<<10))
		default:
			w.Write([]byte("small"))
		}
	})
	client, _ := newDeliveryClient(t)
	for _, c := range []struct {
		path  string
		conns int64 // opened by the end of this step
	}{{"/small", 1}, {"/small", 1}, {"/close", 1}, {"/small", 2}, {"/big", 2}, {"/small", 3}} {
		resp, err := post(t, client, context.Background(), srv.URL+c.path, "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // unread
		if n := srv.conns.Load(); n != c.conns {
			t.Fatalf("after %s: %d connections, want %d", c.path, n, c.conns)
		}
	}
}

// A delivery whose context ends while the subscriber works returns the
// context's error at once, and its connection is not reused.
func TestADeliveryEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
	})
	defer close(release)
	client, _ := newDeliveryClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := post(t, client, ctx, srv.URL+"/slow", "event"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	resp, err := post(t, client, context.Background(), srv.URL+"/fast", "event")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want a new one after the cancelled delivery", n)
	}
}

// CloseIdleConnections closes the idle connections, and those in use as
// their deliveries end.
func TestCloseIdleConnectionsLeavesNoneOpen(t *testing.T) {
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) {})
	client, tr := newDeliveryClient(t)
	busy, err := post(t, client, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	idle, err := post(t, client, context.Background(), srv.URL, "") // busy's connection is taken: a second one
	if err != nil {
		t.Fatal(err)
	}
	idle.Body.Close()
	tr.CloseIdleConnections()
	busy.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.closed.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections closed", srv.closed.Load(), srv.conns.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// A connection idle longer than the idle timeout is closed, not reused:
// the subscriber may have closed it meanwhile.
func TestAConnectionIdleTooLongIsNotReused(t *testing.T) {
	srv := newDeliveryServer(t, func(w http.ResponseWriter, r *http.Request) {})
	client, tr := newDeliveryClient(t)
	tr.idleTimeout = 0
	for range 3 {
		resp, err := post(t, client, context.Background(), srv.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("%d connections for 3 deliveries past the idle timeout, want a new one each", n)
	}
}

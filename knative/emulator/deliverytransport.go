package emulator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// deliveryTransport is the HTTP/1.1 keep-alive transport the emulated
// Broker posts events with. It writes a request and reads its answer on
// the calling goroutine, with net/http's own request writer and response
// reader. http.Transport hands each request to a connection's write
// goroutine and each answer back from its read goroutine: two goroutine
// wake-ups a delivery, about 15 µs of CPU each time (BENCHMARKS.md,
// "Deliveries written and read on the delivering goroutine"). On the wire
// nothing changes: the same requests on the same kept-alive connections.
//
// What it leaves out, because deliveries do not need it: HTTPS, proxies,
// HTTP/2, protocol upgrades, and a retry on a fresh connection of a
// request body that cannot be rewound.
type deliveryTransport struct {
	dial        dialFunc
	maxIdle     int // per host
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*deliveryConn // host:port -> idle, most recent last
	closed bool
}

type deliveryConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newDeliveryTransport(dial dialFunc) *deliveryTransport {
	return &deliveryTransport{dial: dial, maxIdle: 256, idleTimeout: 30 * time.Second, idle: map[string][]*deliveryConn{}}
}

// RoundTrip sends req on an idle connection to its host, or a new one. A
// kept-alive connection the server closed meanwhile fails before any
// answer; the request then goes once more on a new connection.
// (http.Transport notices most such connections ahead, with the read
// goroutine this transport does without, and does not resend a POST.)
func (t *deliveryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, fmt.Errorf("delivery transport: scheme %q: only http", req.URL.Scheme)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	if c := t.takeIdle(addr); c != nil {
		resp, err := t.exchange(req, addr, c)
		if err == nil || !errors.Is(err, errStaleConn) || req.Body != nil && req.GetBody == nil {
			return resp, err
		}
		if req.Body != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
	conn, err := t.dial(req.Context(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return t.exchange(req, addr, &deliveryConn{Conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)})
}

// errStaleConn marks a connection that failed before its answer began.
// On a kept-alive one, the server had most likely closed it while idle; if
// it had read the request instead and died, the retry is one more
// delivery of an event, which Knative's at-least-once delivery allows.
var errStaleConn = errors.New("connection failed before the answer")

// exchange writes req on c and reads the answer's head; the body is read
// from c by the caller, and closing it gives c back (see deliveryBody).
func (t *deliveryTransport) exchange(req *http.Request, addr string, c *deliveryConn) (*http.Response, error) {
	ctx := req.Context()
	// A cancelled context unblocks the reads and writes below.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if err := req.Write(c.bw); err != nil {
		return fail(fmt.Errorf("%w: %w", errStaleConn, err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("%w: %w", errStaleConn, err))
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(fmt.Errorf("%w: %w", errStaleConn, err))
	}
	resp, err := http.ReadResponse(c.br, req)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, req) // 100 Continue, 103 Early Hints: the answer follows
	}
	if err != nil {
		return fail(err)
	}
	resp.Body = &deliveryBody{ReadCloser: resp.Body, t: t, addr: addr, c: c, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

// deliveryBody gives its connection back once the body was read to its
// end and closed, or closes it when the rest of the body is not worth
// reading or the connection may not be kept.
type deliveryBody struct {
	io.ReadCloser
	t    *deliveryTransport
	addr string
	c    *deliveryConn
	stop func() bool
	keep bool
	done bool
}

// drainLimit bounds what Close reads past what the caller read to keep
// the connection: beyond it, a new connection is cheaper.
const drainLimit = 4 << 10

func (b *deliveryBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	n, err := io.Copy(io.Discard, io.LimitReader(b.ReadCloser, drainLimit+1))
	b.ReadCloser.Close()
	if !b.stop() || !b.keep || err != nil || n > drainLimit {
		// stop returned false: the context ended, and its deadline is set.
		b.c.Close()
		return nil
	}
	b.t.putIdle(b.addr, b.c)
	return nil
}

// takeIdle returns the most recently used idle connection to addr, or
// nil. Past idleTimeout it and all older ones are closed instead: the
// subscriber may have closed them already.
func (t *deliveryTransport) takeIdle(addr string) *deliveryConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[addr]
	if len(conns) == 0 {
		return nil
	}
	c := conns[len(conns)-1]
	if time.Since(c.idleSince) < t.idleTimeout {
		t.idle[addr] = conns[:len(conns)-1]
		return c
	}
	for _, old := range conns {
		old.Close()
	}
	delete(t.idle, addr)
	return nil
}

func (t *deliveryTransport) putIdle(addr string, c *deliveryConn) {
	c.SetDeadline(time.Time{})
	c.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.idle[addr]) >= t.maxIdle {
		c.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], c)
}

// CloseIdleConnections closes every idle connection, and from then on
// every connection as its request ends: the emulator is stopping.
func (t *deliveryTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for addr, conns := range t.idle {
		for _, c := range conns {
			c.Close()
		}
		delete(t.idle, addr)
	}
}

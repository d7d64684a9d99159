package loadgen

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeConnector speaks just enough of the REST API and protocol v1 for a
// run: it acks sends and delivers them to the room, except those refuse
// picks, which get an error frame with that code instead.
type fakeConnector struct {
	refuse func(n int) string // n counts measured sends from 1; "" acks

	mu       sync.Mutex
	measured int
	acked    int            // measured sends acked
	refused  map[string]int // measured sends refused, by code
	rooms    map[string][]*fakeConn
}

// messageFrame keeps type first, as the connector writes it.
type messageFrame struct {
	Type    string            `json:"type"`
	RoomID  string            `json:"room_id"`
	Message map[string]string `json:"message"`
}

type fakeConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (c *fakeConn) write(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.WriteJSON(v)
}

func (f *fakeConnector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v1/auth/register":
		json.NewEncoder(w).Encode(map[string]string{"access_token": "t"})
	case r.URL.Path == "/api/v1/rooms":
		json.NewEncoder(w).Encode(map[string]string{"id": "room"})
	case strings.HasSuffix(r.URL.Path, "/join"):
	case r.URL.Path == "/ws":
		f.serveWS(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeConnector) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{"parley.v1"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	c := &fakeConn{ws: ws}
	for {
		var fr struct{ Type, ID, Text string }
		var rooms struct {
			Rooms []struct {
				RoomID string `json:"room_id"`
			}
			RoomID string `json:"room_id"`
		}
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		json.Unmarshal(b, &fr)
		json.Unmarshal(b, &rooms)
		switch fr.Type {
		case "subscribe":
			f.mu.Lock()
			f.rooms[rooms.Rooms[0].RoomID] = append(f.rooms[rooms.Rooms[0].RoomID], c)
			f.mu.Unlock()
			c.write(map[string]string{"type": "subscribed", "id": fr.ID})
		case "send":
			f.mu.Lock()
			code := ""
			if fr.ID[0] != warmupMark {
				f.measured++
				if code = f.refuse(f.measured); code != "" {
					f.refused[code]++
				} else {
					f.acked++
				}
			}
			members := f.rooms[rooms.RoomID]
			f.mu.Unlock()
			if code != "" {
				c.write(map[string]any{"type": "error", "id": fr.ID, "code": code, "retry_after_ms": 100})
				continue
			}
			c.write(map[string]any{"type": "ack", "id": fr.ID, "seq": 1})
			for _, m := range members {
				m.write(messageFrame{Type: "message", RoomID: rooms.RoomID, Message: map[string]string{"text": fr.Text}})
			}
		}
	}
}

func startFake(t *testing.T, refuse func(int) string) (*fakeConnector, string) {
	f := &fakeConnector{refuse: refuse, refused: map[string]int{}, rooms: map[string][]*fakeConn{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// A send the connector refuses (rate_limited) is counted as rejected, by
// code, never as published, and expects no deliveries.
func TestRejectedSendsAreNotPublished(t *testing.T) {
	f, url := startFake(t, func(n int) string {
		if n%3 == 0 {
			return "rate_limited"
		}
		return ""
	})
	res, err := Run(context.Background(), Config{URL: url, Clients: 4, Rooms: 1, Publishers: 2, Rate: 100,
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	acked, refused := f.acked, f.refused["rate_limited"]
	f.mu.Unlock()
	if refused == 0 || res.Published != int64(acked) || res.Rejected["rate_limited"] != int64(refused) {
		t.Fatalf("published %d, rejected %v; the connector acked %d and refused %d", res.Published, res.Rejected, acked, refused)
	}
	if res.Expected != int64(acked)*4 || res.Delivered != res.Expected || res.Unanswered != 0 {
		t.Fatalf("expected %d deliveries (%d acked × 4 members), delivered %d, unanswered %d", res.Expected, acked, res.Delivered, res.Unanswered)
	}
	// Asked follows the schedule alone. Offered may fall short of it on a
	// busy machine, where a publisher stalled near the end has no time left
	// to catch up (TestSlowPublisherCatchesUp is about catching up).
	if res.Asked != 100 || res.Offered == 0 || res.Offered > res.Asked {
		t.Fatalf("asked %d, offered %d: want 2 publishers × 100/s × 0.5 s = 100 asked, and at most that offered", res.Asked, res.Offered)
	}
}

// slowConn stalls the first send frame written on it, as a busy machine
// or a full socket buffer stalls a publisher. Frames from a client are
// masked, so it goes by count: the upgrade request, auth and subscribe
// come first, one write each.
type slowConn struct {
	net.Conn
	stall  time.Duration
	writes int
}

func (c *slowConn) Write(b []byte) (int, error) {
	if c.writes++; c.writes == 4 {
		time.Sleep(c.stall) // the slowness under test, not synchronisation
	}
	return c.Conn.Write(b)
}

// A publisher that falls behind catches up: every send asked for in the
// measured time is sent, and the lag is reported.
func TestSlowPublisherCatchesUp(t *testing.T) {
	_, url := startFake(t, func(int) string { return "" })
	const stall = 300 * time.Millisecond
	cfg := Config{URL: url, Clients: 2, Rooms: 1, Publishers: 1, Rate: 200, Duration: time.Second, Warmup: -1}
	cfg.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return &slowConn{Conn: conn, stall: stall}, err
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Asked != 200 || res.Offered != 200 || res.Published != 200 {
		t.Fatalf("asked %d, offered %d, published %d: want all 200 (200/s for 1 s) despite a %v stall",
			res.Asked, res.Offered, res.Published, stall)
	}
	if res.MaxLagMS < float64(stall.Milliseconds())/2 {
		t.Fatalf("max lag %.1f ms after a %v stall", res.MaxLagMS, stall)
	}
}

// Spread deals every room's members round the servers, in equal shares,
// and the publishers (the first clients) over them too.
func TestSpread(t *testing.T) {
	for _, tc := range []struct{ clients, rooms, n int }{
		{1000, 10, 3}, {200, 10, 3}, {90, 9, 3}, {12, 3, 3}, {100, 50, 3}, {1000, 10, 1}, {40, 10, 4},
	} {
		perServer := make([]int, tc.n)
		servers := map[int]map[int]bool{} // room → servers holding a member
		for i := range tc.clients {
			s := Spread(i, tc.rooms, tc.n)
			if s < 0 || s >= tc.n {
				t.Fatalf("%+v: client %d on server %d", tc, i, s)
			}
			perServer[s]++
			room := i % tc.rooms
			if servers[room] == nil {
				servers[room] = map[int]bool{}
			}
			servers[room][s] = true
		}
		members := tc.clients / tc.rooms
		for room, on := range servers {
			if len(on) != min(tc.n, members) {
				t.Errorf("%+v: room %d on %d servers, want %d", tc, room, len(on), min(tc.n, members))
			}
		}
		for s, got := range perServer {
			if d := got - tc.clients/tc.n; d < -tc.rooms || d > tc.rooms {
				t.Errorf("%+v: server %d holds %d clients of %d", tc, s, got, tc.clients)
			}
		}
		for p := range min(tc.rooms, tc.n) { // publishers 0, 1, … each on its own server
			if got := Spread(p, tc.rooms, tc.n); got != p {
				t.Errorf("%+v: publisher %d on server %d", tc, p, got)
			}
		}
	}
}

// ByRoom puts every member of a room on the room's one server, and the
// rooms round the servers.
func TestByRoomPutsEachRoomOnOneServer(t *testing.T) {
	c := Config{Rooms: 10, SocketURLs: []string{"a", "b", "c"}, ByRoom: true}
	rooms := map[int]map[int]bool{} // server → rooms on it
	for i := range 1000 {
		room, s := i%c.Rooms, c.server(i)
		if s != room%3 {
			t.Fatalf("client %d of room %d on server %d, want %d", i, room, s, room%3)
		}
		if rooms[s] == nil {
			rooms[s] = map[int]bool{}
		}
		rooms[s][room] = true
	}
	if len(rooms[0]) != 4 || len(rooms[1]) != 3 || len(rooms[2]) != 3 {
		t.Errorf("rooms per server: %d, %d, %d; want 4, 3, 3", len(rooms[0]), len(rooms[1]), len(rooms[2]))
	}
}

// With several socket servers, the clients connect to each as Spread
// says, and every delivery still counts (here the servers share one fake,
// as connectors share Redis).
func TestRunSpreadsSocketsOverServers(t *testing.T) {
	f := &fakeConnector{refuse: func(int) string { return "" }, refused: map[string]int{}, rooms: map[string][]*fakeConn{}}
	var mu sync.Mutex
	sockets := map[string]int{}
	var urls []string
	for range 3 {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ws" {
				mu.Lock()
				sockets[srv.URL]++
				mu.Unlock()
			}
			f.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	res, err := Run(context.Background(), Config{URL: urls[0], SocketURLs: urls, Clients: 12, Rooms: 2, Publishers: 2, Rate: 20,
		Duration: 300 * time.Millisecond, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, u := range urls {
		if sockets[u] != 4 || res.Sockets[i] != 4 {
			t.Errorf("server %d: %d sockets (result says %d), want 4 of 12", i, sockets[u], res.Sockets[i])
		}
	}
	if res.Published == 0 || res.Delivered != res.Expected {
		t.Errorf("published %d, delivered %d of %d", res.Published, res.Delivered, res.Expected)
	}
}

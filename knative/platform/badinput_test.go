package platform

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestBadFramesGetErrorsAndTheConnectorKeepsServing(t *testing.T) {
	ada := newUser(t)
	room := newRoom(t, ada)

	// Frames before authentication.
	c := dialRaw(t, plat.url)
	c.write(frame{"type": "subscribe", "id": "early", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	if e := c.expect("error", nil); e.str("code") != "not_authenticated" || e.str("id") != "early" {
		t.Fatalf("frame before auth: %v", e)
	}
	c.write(frame{"type": "auth", "token": ada.token})
	c.expect("ready", nil)

	cases := []struct {
		name string
		raw  string
		code string
	}{
		{"invalid json", `{"type": "send", `, "bad_frame"},
		{"not an object", `[1,2,3]`, "bad_frame"},
		{"unknown type", `{"type":"teleport"}`, "unknown_type"},
		{"no type", `{"id":"x"}`, "bad_frame"},
		{"unknown field", `{"type":"typing","room_id":"` + room + `","state":"start","extra":1}`, "bad_frame"},
		{"invalid utf-8", "{\"type\":\"send\",\"room_id\":\"" + room + "\",\"client_msg_id\":\"c\",\"text\":\"\xff\xfe\"}", "bad_frame"},
		{"empty text", `{"type":"send","room_id":"` + room + `","client_msg_id":"c","text":"   "}`, "bad_frame"},
		{"text too long", `{"type":"send","room_id":"` + room + `","client_msg_id":"c","text":"` + strings.Repeat("é", 4001) + `"}`, "text_too_long"},
		{"control characters", `{"type":"send","room_id":"` + room + `","client_msg_id":"c","text":"a\u0000b"}`, "bad_frame"},
		{"bad room id", `{"type":"send","room_id":"../../etc","client_msg_id":"c","text":"hi"}`, "bad_frame"},
		{"room id not a UUID", `{"type":"send","room_id":"general","client_msg_id":"c","text":"hi"}`, "bad_frame"},
		// auth would take it for the room; everything keyed by its text would not
		{"room id in capitals", `{"type":"send","room_id":"` + strings.ToUpper(room) + `","client_msg_id":"c","text":"hi"}`, "bad_frame"},
	}
	for _, tc := range cases {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)); err != nil {
			t.Fatal(err)
		}
		if e := c.expect("error", nil); e.str("code") != tc.code || e.str("message") == "" {
			t.Errorf("%s: got %v, want code %s", tc.name, e, tc.code)
		}
	}
	c.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	if e := c.expect("error", nil); e.str("code") != "bad_frame" {
		t.Errorf("binary frame: %v", e)
	}
	// Still serving this very socket.
	c.sendText(room, "still here")

	// Oversized frames close the socket with 1009, which reaches the client
	// through Knative's proxies while the rest of the frame is still
	// arriving at the connector.
	for _, size := range []int{20 << 10, 256 << 10, 512 << 10, 512 << 10, 512 << 10} {
		big := dial(t, plat.url, ada)
		big.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"send","text":"`+strings.Repeat("x", size)+`"}`))
		select {
		case code := <-big.closed:
			if code != websocket.CloseMessageTooBig {
				t.Errorf("a frame of %d bytes closed the socket with %d, want 1009", size, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("a frame of %d bytes did not close the socket", size)
		}
	}

	// Flooding gets rate_limited errors, and extreme flooding a 4429 close.
	strict := startConnector(t, "WS_FRAME_RATE=5", "WS_FRAME_BURST=5")
	flood := dial(t, strict.url, ada)
	limited := false
	for range 1000 {
		if flood.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"presence","status":"online"}`)) != nil {
			break
		}
	}
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case f, ok := <-flood.frames:
			if !ok {
				break wait
			}
			if f.str("code") == "rate_limited" {
				limited = true
			}
		case <-deadline:
			break wait
		}
	}
	if !limited {
		t.Error("1000 frames at once were never rate limited")
	}
	select {
	case code := <-flood.closed:
		if code != 4429 {
			t.Errorf("flood closed with %d, want 4429", code)
		}
	default:
		t.Error("extreme flood did not close the socket")
	}

	// A token that does not verify: error frame, then close 4401.
	bad := dialRaw(t, plat.url)
	bad.write(frame{"type": "auth", "token": "not-a-token"})
	if e := bad.expect("error", nil); e.str("code") != "invalid_token" {
		t.Errorf("bad token: %v", e)
	}
	if code := <-bad.closed; code != 4401 {
		t.Errorf("bad token closed with %d, want 4401", code)
	}

	// The connector serves new sockets as before.
	fresh := dial(t, plat.url, ada)
	fresh.subscribe(room, 0)
	fresh.sendText(room, "after the storm")
}

func TestOriginIsChecked(t *testing.T) {
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}}
	header := map[string][]string{"Origin": {"https://evil.example"}}
	_, resp, err := d.Dial(strings.Replace(plat.url, "http", "ws", 1)+"/ws", header)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
	header["Origin"] = []string{plat.publicURL}
	conn, _, err := d.Dial(strings.Replace(plat.url, "http", "ws", 1)+"/ws", header)
	if err != nil {
		t.Fatalf("own origin refused: %v", err)
	}
	conn.Close()
}

func TestNoAuthFrameInTimeCloses(t *testing.T) {
	r := startConnector(t, "WS_AUTH_TIMEOUT=300ms")
	c := dialRaw(t, r.url)
	select {
	case code := <-c.closed:
		if code != 4408 {
			t.Fatalf("closed with %d, want 4408", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("socket without auth was not closed")
	}
}

func TestSubprotocolToken(t *testing.T) {
	ada := newUser(t)
	d := websocket.Dialer{Subprotocols: []string{"parley.v1", "parley.auth." + ada.token}}
	conn, resp, err := d.Dial(strings.Replace(plat.url, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "parley.v1" {
		t.Fatalf("negotiated %q (the token must never be echoed)", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	var f frame
	if err := conn.ReadJSON(&f); err != nil || f.str("type") != "ready" || f.str("user_id") != ada.id {
		t.Fatalf("first frame %v %v", f, err)
	}
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// The servers Config.Server names.
const (
	ServerParley     = "parley"
	ServerCentrifugo = "centrifugo"
)

// wire is one server's client protocol: everything else in a run is the
// same for every server.
type wire interface {
	// setup returns one connection token per account (Config.Users) and
	// the rooms' names.
	setup(ctx context.Context, cfg Config) (tokens, rooms []string, err error)
	// join dials one client to the server at url, authenticates it with
	// token and subscribes it to room, returning once the server says it
	// is subscribed.
	join(ctx context.Context, cfg Config, url, token, room string) (*websocket.Conn, error)
	// sendFrame is a publisher's send k into room: key is unique in the
	// run (an idempotency key), text the message.
	sendFrame(room string, k int, warmup bool, key, text string) []byte
	// delivery reports whether a line the server sent carries a message to
	// a member, its text after `"text":"`. It runs for every delivery.
	delivery(line []byte) bool
	// answer reads any other line.
	answer(line []byte) answer
}

// answer is what a line that is not a delivery means to the client.
type answer struct {
	send   bool   // it answers one of the client's sends
	warmup bool   // … a warm-up send
	code   string // … refusing it with this code; "" when accepted
	pong   []byte // a reply to write back (a ping's pong)
}

var wires = map[string]wire{ServerParley: parleyWire{}, ServerCentrifugo: centrifugoWire{}}

// parleyWire is Parley's protocol v1 (connector/PROTOCOL.md).
type parleyWire struct{}

func (parleyWire) setup(ctx context.Context, cfg Config) ([]string, []string, error) {
	return setup(ctx, cfg)
}

func (parleyWire) join(ctx context.Context, cfg Config, url, token, room string) (*websocket.Conn, error) {
	// A read buffer the size of a typical coalesced write (up to 128
	// frames) keeps a busy client to one read call per message.
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 20 * time.Second, ReadBufferSize: 16 << 10,
		NetDialContext: cfg.dial}
	conn, _, err := d.DialContext(ctx, strings.Replace(url, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		return nil, err
	}
	conn.WriteJSON(map[string]any{"type": "auth", "token": token})
	conn.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "rooms": []map[string]any{{"room_id": room, "last_seq": 0}}})
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for got := false; !got; {
		_, data, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f struct{ Type, Code, Message string }
			json.Unmarshal(line, &f)
			switch f.Type {
			case "subscribed":
				got = true
			case "error":
				conn.Close()
				return nil, fmt.Errorf("%s: %s", f.Code, f.Message)
			}
		}
	}
	conn.SetReadDeadline(time.Time{})
	return conn, nil
}

func (parleyWire) sendFrame(room string, k int, warmup bool, key, text string) []byte {
	id := strconv.Itoa(k)
	if warmup {
		id = string(warmupMark) + id
	}
	frame, _ := json.Marshal(map[string]string{"type": "send", "id": id, "room_id": room, "client_msg_id": key, "text": text})
	return frame
}

var (
	parleyMessage = []byte(`{"type":"message"`) // the connector writes type first
	parleyAck     = []byte(`"type":"ack"`)
	parleyRefused = []byte(`"type":"error"`)
)

func (parleyWire) delivery(line []byte) bool { return bytes.HasPrefix(line, parleyMessage) }

func (parleyWire) answer(line []byte) answer {
	if !bytes.Contains(line, parleyAck) && !bytes.Contains(line, parleyRefused) {
		return answer{}
	}
	var f struct{ Type, ID, Code string }
	if json.Unmarshal(line, &f) != nil || f.ID == "" {
		return answer{}
	}
	a := answer{send: true, warmup: f.ID[0] == warmupMark}
	if f.Type != "ack" {
		a.code = f.Code
	}
	return a
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// centrifugoWire is Centrifugo's JSON client protocol (v2, the one its SDKs
// speak) over WebSocket: commands and replies carry a numeric id, several
// may share one WebSocket message a line each, and publications arrive as
// pushes. Publishing is client-side, into a namespace that allows it for
// subscribers (the harness's configuration): the same path as a Parley
// send, in on the publisher's socket, through Redis, out to the members,
// with a reply to the publisher once the broker has it.
type centrifugoWire struct{}

// Command ids: 1 and 2 connect and subscribe; send k is sendID+k, with
// warmupID set for warm-up sends, so an answer says which it was.
const (
	connectID   = 1
	subscribeID = 2
	sendID      = 3
	warmupID    = 1 << 30
)

// setup signs a connection token per account: Centrifugo keeps no
// accounts, it trusts what the application's key signed. Channels need no
// creating.
func (centrifugoWire) setup(_ context.Context, cfg Config) ([]string, []string, error) {
	tokens := make([]string, cfg.Users)
	for i := range tokens {
		claims := jwt.MapClaims{"sub": fmt.Sprintf("%s%d", cfg.Prefix, i), "exp": time.Now().Add(24 * time.Hour).Unix()}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(cfg.TokenKey)
		if err != nil {
			return nil, nil, fmt.Errorf("loadgen: sign a Centrifugo token: %w", err)
		}
		tokens[i] = tok
	}
	rooms := make([]string, cfg.Rooms)
	for r := range rooms {
		rooms[r] = fmt.Sprintf("room:%s%d", cfg.Prefix, r)
	}
	return tokens, rooms, nil
}

func (centrifugoWire) join(ctx context.Context, cfg Config, url, token, room string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 16 << 10, NetDialContext: cfg.dial}
	conn, _, err := d.DialContext(ctx, strings.Replace(url, "http", "ws", 1)+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	// Centrifugo takes commands only after a connect has succeeded.
	steps := []struct {
		id  uint32
		cmd map[string]any
	}{
		{connectID, map[string]any{"id": connectID, "connect": map[string]string{"token": token, "name": "parley-load"}}},
		{subscribeID, map[string]any{"id": subscribeID, "subscribe": map[string]string{"channel": room}}},
	}
	for _, s := range steps {
		if err := conn.WriteJSON(s.cmd); err != nil {
			conn.Close()
			return nil, err
		}
		if err := awaitReply(conn, s.id); err != nil {
			conn.Close()
			return nil, err
		}
	}
	conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// awaitReply reads until the reply to command id, which it returns as an
// error when it is one.
func awaitReply(conn *websocket.Conn, id uint32) error {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if bytes.Equal(line, centrifugoPing) {
				if err := conn.WriteMessage(websocket.TextMessage, centrifugoPing); err != nil {
					return err
				}
				continue
			}
			var r centrifugoReply
			if json.Unmarshal(line, &r) != nil || r.ID != id {
				continue
			}
			if r.Error != nil {
				return fmt.Errorf("centrifugo: %d %s", r.Error.Code, r.Error.Message)
			}
			return nil
		}
	}
}

type centrifugoReply struct {
	ID    uint32 `json:"id"`
	Error *struct {
		Code    uint32 `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (centrifugoWire) sendFrame(room string, k int, warmup bool, _, text string) []byte {
	id := sendID + k
	if warmup {
		id |= warmupID
	}
	frame, _ := json.Marshal(map[string]any{"id": id, "publish": map[string]any{"channel": room, "data": map[string]string{"text": text}}})
	return frame
}

var (
	centrifugoPush = []byte(`{"push":`)
	centrifugoPub  = []byte(`"pub":`)
	centrifugoPing = []byte(`{}`)
)

func (centrifugoWire) delivery(line []byte) bool {
	return bytes.HasPrefix(line, centrifugoPush) && bytes.Contains(line, centrifugoPub)
}

func (centrifugoWire) answer(line []byte) answer {
	// The server pings with an empty object and wants one back.
	if bytes.Equal(line, centrifugoPing) {
		return answer{pong: centrifugoPing}
	}
	var r centrifugoReply
	if json.Unmarshal(line, &r) != nil || r.ID&^warmupID < sendID {
		return answer{}
	}
	a := answer{send: true, warmup: r.ID&warmupID != 0}
	if r.Error != nil {
		a.code = strconv.FormatUint(uint64(r.Error.Code), 10) + " " + r.Error.Message
	}
	return a
}

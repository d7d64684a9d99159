// Command smoke checks a deployed Parley end to end, as the deploy
// workflow's kind job runs it: two new accounts share a new room, each sends
// a message over its own WebSocket and sees the other's arrive, then the
// first message must be in the room's history — which only persist writes,
// so with persist scaled to zero beforehand this is a scale-from-zero
// through the Kafka Broker and its Trigger.
//
//	smoke -url http://connector.parley.<ip>.sslip.io:<port> [-timeout 3m]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "", "the connector's URL (required)")
	timeout := flag.Duration("timeout", 3*time.Minute, "for the whole check; cold starts count")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "smoke: -url is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, strings.TrimRight(*url, "/")); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
	fmt.Println("smoke: two clients chatted through the connector and the message is in history")
}

func run(ctx context.Context, base string) error {
	nonce := make([]byte, 4)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	tag := hex.EncodeToString(nonce)
	alice, err := register(ctx, base, "smokea"+tag)
	if err != nil {
		return err
	}
	bob, err := register(ctx, base, "smokeb"+tag)
	if err != nil {
		return err
	}
	var room struct{ ID string }
	if err := call(ctx, base, "POST", "/api/v1/rooms", alice, map[string]string{"name": "smoke " + tag}, &room); err != nil {
		return fmt.Errorf("create room: %w", err)
	}
	if err := call(ctx, base, "POST", "/api/v1/rooms/"+room.ID+"/join", bob, nil, nil); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	a, err := dial(ctx, base, alice, room.ID)
	if err != nil {
		return fmt.Errorf("alice: %w", err)
	}
	defer a.Close()
	b, err := dial(ctx, base, bob, room.ID)
	if err != nil {
		return fmt.Errorf("bob: %w", err)
	}
	defer b.Close()

	hello := "hello from alice " + tag
	if err := chat(ctx, a, b, room.ID, "a"+tag, hello); err != nil {
		return fmt.Errorf("alice to bob: %w", err)
	}
	if err := chat(ctx, b, a, room.ID, "b"+tag, "hello from bob "+tag); err != nil {
		return fmt.Errorf("bob to alice: %w", err)
	}
	// Persist stores messages as the Broker delivers them; until then the
	// room's history does not have it. Ask again until it does or the
	// deadline passes.
	for {
		found, err := inHistory(ctx, b, room.ID, hello)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q never appeared in the room's history: is persist receiving its Trigger's events? %w", hello, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// chat sends text from one socket and waits for its ack there and its
// delivery on the other.
func chat(ctx context.Context, from, to *websocket.Conn, room, id, text string) error {
	if err := from.WriteJSON(map[string]string{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text}); err != nil {
		return err
	}
	if _, err := await(ctx, from, func(f frame) bool { return f.Type == "ack" && f.ID == id }); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if _, err := await(ctx, to, func(f frame) bool { return f.Type == "message" && f.Message.Text == text }); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

func inHistory(ctx context.Context, c *websocket.Conn, room, text string) (bool, error) {
	id := fmt.Sprintf("h%d", time.Now().UnixNano())
	if err := c.WriteJSON(map[string]any{"type": "history", "id": id, "room_id": room, "before_seq": 0, "limit": 100}); err != nil {
		return false, err
	}
	f, err := await(ctx, c, func(f frame) bool { return f.Type == "history" && f.ID == id })
	if err != nil {
		return false, err
	}
	for _, m := range f.Messages {
		if m.Text == text {
			return true, nil
		}
	}
	return false, nil
}

type message struct {
	Text string `json:"text"`
}

type frame struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Code     string    `json:"code"`
	Message  message   `json:"message"`
	Messages []message `json:"messages"`
}

// await reads frames until want matches one; an error frame for the same
// request, a read error or the deadline ends the wait.
func await(ctx context.Context, c *websocket.Conn, want func(frame) bool) (frame, error) {
	deadline, _ := ctx.Deadline()
	if err := c.SetReadDeadline(deadline); err != nil {
		return frame{}, err
	}
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return frame{}, err
		}
		// The server may put several frames in one message, one a line.
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f frame
			if err := json.Unmarshal(line, &f); err != nil {
				return frame{}, fmt.Errorf("frame %q: %w", line, err)
			}
			if f.Type == "error" {
				return frame{}, fmt.Errorf("error frame: %s", line)
			}
			if want(f) {
				return f, nil
			}
		}
	}
}

// dial opens an authenticated socket subscribed to room.
func dial(ctx context.Context, base, token, room string) (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: time.Minute}
	c, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		return nil, err
	}
	for _, f := range []any{
		map[string]string{"type": "auth", "id": "a", "token": token},
		map[string]any{"type": "subscribe", "id": "s", "rooms": []map[string]any{{"room_id": room, "last_seq": 0}}},
	} {
		if err := c.WriteJSON(f); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := await(ctx, c, func(f frame) bool { return f.Type == "subscribed" }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func register(ctx context.Context, base, name string) (string, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := call(ctx, base, "POST", "/api/v1/auth/register", "",
		map[string]string{"username": name, "email": name + "@smoke.test", "password": hex.EncodeToString(secret)}, &out)
	if err != nil {
		return "", fmt.Errorf("register %s: %w", name, err)
	}
	return out.AccessToken, nil
}

// call makes one REST call. auth cold-starts on the first: the connector's
// gRPC call waits for it, within the request.
func call(ctx context.Context, base, method, path, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, payload)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

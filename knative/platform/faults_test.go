package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/kafka/devbroker"
)

// resilientClient keeps sending through disconnects: it reconnects (to
// any live connector), resumes from the last seq it has, and retries an
// unacknowledged message with the same client_msg_id.
type resilientClient struct {
	u     user
	room  string
	urls  []string
	mu    sync.Mutex
	recv  []frame // every message frame, across connections
	acked map[string]int64
	// retried are message ids whose ack needed a reconnect: their live
	// delivery may come late (after the seqs that followed them).
	retried map[string]bool
}

type connEvents struct {
	conn *websocket.Conn
	acks chan frame // acks and errors
	gone chan struct{}
}

func (c *resilientClient) lastSeq() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last int64
	for _, m := range c.recv {
		last = max(last, m.num("seq"))
	}
	return last
}

func (c *resilientClient) connect() (*connEvents, error) {
	for _, url := range c.urls {
		d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 2 * time.Second}
		conn, _, err := d.Dial(strings.Replace(url, "http", "ws", 1)+"/ws", nil)
		if err != nil {
			continue
		}
		ev := &connEvents{conn: conn, acks: make(chan frame, 64), gone: make(chan struct{})}
		go func() {
			defer close(ev.gone)
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					return
				}
				for _, line := range bytes.Split(data, []byte("\n")) {
					var f frame
					json.Unmarshal(line, &f)
					switch f.str("type") {
					case "message":
						c.mu.Lock()
						c.recv = append(c.recv, f.msg())
						c.mu.Unlock()
					case "ack", "error", "ready", "subscribed":
						ev.acks <- f
					}
				}
			}
		}()
		conn.WriteJSON(frame{"type": "auth", "token": c.u.token})
		conn.WriteJSON(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": c.room, "last_seq": c.lastSeq()}}})
		return ev, nil
	}
	return nil, fmt.Errorf("no connector reachable")
}

// run connects, waits for start, then sends n messages, each acknowledged
// exactly once, whatever happens.
func (c *resilientClient) run(n int, every time.Duration, ready *sync.WaitGroup, start <-chan struct{}) error {
	ev, err := c.connect()
	for err == nil {
		f := <-ev.acks
		if f.str("type") == "subscribed" {
			break
		}
	}
	ready.Done()
	if err != nil {
		return err
	}
	<-start
	for i := 0; i < n; {
		if ev == nil {
			var err error
			if ev, err = c.connect(); err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		cid := fmt.Sprintf("%s-%d", c.u.name, i)
		if err := ev.conn.WriteJSON(frame{"type": "send", "id": cid, "room_id": c.room, "client_msg_id": cid, "text": cid}); err != nil {
			ev = nil
			continue
		}
		reconnected := false
	wait:
		for {
			select {
			case f := <-ev.acks:
				if f.str("id") != cid {
					continue
				}
				if f.str("type") == "ack" {
					c.mu.Lock()
					c.acked[f.str("message_id")] = f.num("seq")
					if reconnected {
						c.retried[f.str("message_id")] = true
					}
					c.mu.Unlock()
					i++
					time.Sleep(every)
				} else {
					time.Sleep(200 * time.Millisecond) // in_progress or unavailable: retry the same id
				}
				break wait
			case <-ev.gone:
				ev = nil
				reconnected = true
				c.mu.Lock()
				c.retried[cid] = true
				c.mu.Unlock()
				break wait
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s: no answer for %s", c.u.name, cid)
			}
		}
		if ev == nil {
			// Reconnect and retry the same client_msg_id.
			for ev == nil {
				ev, _ = c.connect()
				if ev == nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
			reconnected = true
			c.markRetried(cid)
		}
	}
	return nil
}

func (c *resilientClient) markRetried(cid string) {
	c.mu.Lock()
	c.retried[cid] = true
	c.mu.Unlock()
}

func ackedSoFar(clients []*resilientClient) int {
	n := 0
	for _, c := range clients {
		c.mu.Lock()
		n += len(c.acked)
		c.mu.Unlock()
	}
	return n
}

func TestConnectorKilledWhileClientsSend(t *testing.T) {
	victim := startConnector(t)
	owner := newUser(t)
	var users []user
	for range 20 {
		users = append(users, newUser(t))
	}
	room := newRoom(t, owner, users...)
	clients := make([]*resilientClient, len(users))
	for i, u := range users {
		urls := []string{victim.url, plat.url} // half start on the victim
		if i%2 == 1 {
			urls = []string{plat.url, victim.url}
		}
		clients[i] = &resilientClient{u: u, room: room, urls: urls, acked: map[string]int64{}, retried: map[string]bool{}}
	}
	const perClient = 30
	var wg, ready sync.WaitGroup
	errs := make(chan error, len(clients))
	start := make(chan struct{})
	for _, c := range clients {
		wg.Add(1)
		ready.Add(1)
		go func() { defer wg.Done(); errs <- c.run(perClient, 30*time.Millisecond, &ready, start) }()
	}
	ready.Wait() // everyone is subscribed before anyone sends
	close(start)
	// Kill it mid-traffic: once about a quarter of the sends are acked.
	for deadline := time.Now().Add(30 * time.Second); ackedSoFar(clients) < len(clients)*perClient/4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends acked before the kill", ackedSoFar(clients))
		}
	}
	victim.cmd.Process.Signal(syscall.SIGKILL)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Every acked message, once, to every member.
	all := map[string]int64{}
	retried := map[string]bool{}
	for _, c := range clients {
		for id, seq := range c.acked {
			all[id] = seq
		}
		for id := range c.retried {
			retried[id] = true
		}
	}
	if len(all) != len(clients)*perClient {
		t.Fatalf("%d distinct acked messages, want %d", len(all), len(clients)*perClient)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range clients {
		for {
			c.mu.Lock()
			n := len(c.recv)
			c.mu.Unlock()
			if n >= len(all) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.mu.Lock()
		seen := map[string]int{}
		var late int
		var top int64
		for _, m := range c.recv {
			seen[m.str("id")]++
			if m.num("seq") < top && !retried[m.str("id")] && !retried[m.str("client_msg_id")] {
				late++
			}
			top = max(top, m.num("seq"))
		}
		c.mu.Unlock()
		for id, seq := range all {
			if seen[id] != 1 {
				var got []int64
				c.mu.Lock()
				for _, m := range c.recv {
					if d := m.num("seq") - seq; d > -5 && d < 5 {
						got = append(got, m.num("seq"))
					}
				}
				c.mu.Unlock()
				t.Fatalf("%s received message %s (seq %d, retried %v) %d times; seqs around it: %v",
					c.u.name, id, seq, retried[id], seen[id], got)
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("%s received %d distinct messages, %d were acked", c.u.name, len(seen), len(all))
		}
		if late > 0 {
			t.Errorf("%s received %d messages out of seq order that were not retried sends", c.u.name, late)
		}
	}

	// Stored exactly once in MongoDB.
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(context.Background())
	coll := mc.Database("parley").Collection("messages")
	var stored int64
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		stored, _ = coll.CountDocuments(context.Background(), bson.M{"room_id": room})
		if stored >= int64(len(all)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stored != int64(len(all)) {
		t.Fatalf("MongoDB holds %d messages of the room, want %d", stored, len(all))
	}
	cur, _ := coll.Find(context.Background(), bson.M{"room_id": room})
	var docs []struct {
		ID  string `bson:"_id"`
		Seq int64  `bson:"seq"`
	}
	cur.All(context.Background(), &docs)
	for _, d := range docs {
		if seq, ok := all[d.ID]; !ok || seq != d.Seq {
			t.Fatalf("stored message %s seq %d was not acked as such (acked seq %d)", d.ID, d.Seq, seq)
		}
	}
}

func TestPersistKilledMidBatchStoresEverythingOnce(t *testing.T) {
	ada := newUser(t)
	room := newRoom(t, ada)
	a := dial(t, plat.url, ada)
	const n = 600
	ids := map[string]bool{}
	for i := range n {
		ids[a.sendText(room, fmt.Sprint("m", i)).str("message_id")] = true
		if i == n/3 {
			// Persist has been storing this room's messages: kill it mid-stream.
			var pid int
			for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				pid = processOf("persist")
			}
			if pid == 0 {
				t.Fatal("persist is not running while messages flow")
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(context.Background())
	coll := mc.Database("parley").Collection("messages")
	var stored int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if stored, _ = coll.CountDocuments(context.Background(), bson.M{"room_id": room}); stored >= n {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // redeliveries still in flight must not add anything
	stored, _ = coll.CountDocuments(context.Background(), bson.M{"room_id": room})
	if stored != n {
		t.Fatalf("MongoDB holds %d messages, want exactly %d", stored, n)
	}
	cur, _ := coll.Find(context.Background(), bson.M{"room_id": room})
	var docs []struct {
		ID  string `bson:"_id"`
		Seq int64  `bson:"seq"`
	}
	cur.All(context.Background(), &docs)
	seqs := map[int64]bool{}
	for _, d := range docs {
		if !ids[d.ID] || seqs[d.Seq] {
			t.Fatalf("unexpected or duplicate document %v", d)
		}
		seqs[d.Seq] = true
	}
}

func TestKafkaDownMeansErrorNotAck(t *testing.T) {
	// The same logins: the connector is refused for Kafka being down, not for its password.
	kb, err := devbroker.Start(context.Background(), devbroker.Config{Users: stack.KafkaUsers()})
	if err != nil {
		t.Fatal(err)
	}
	r := startConnector(t, "KAFKA_BROKERS="+kb.Addr())
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, r.url, ada)
	b := dial(t, plat.url, bob)
	b.subscribe(room, 0)
	a.sendText(room, "while kafka is up")
	b.waitMessages(room, 1)
	kb.Close()
	cid := uuid.NewString()
	a.write(frame{"type": "send", "id": "down", "room_id": room, "client_msg_id": cid, "text": "while kafka is down"})
	select {
	case f := <-waitAny(a, "down"):
		if f.str("type") != "error" || f.str("code") != "unavailable" {
			t.Fatalf("send with Kafka down answered %v", f)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to a send while Kafka is down")
	}
	time.Sleep(300 * time.Millisecond)
	if msgs := b.messages(room); len(msgs) != 1 {
		t.Fatalf("%d messages delivered; the failed send must not be", len(msgs))
	}
}

// waitAny returns the next ack or error with the given frame id.
func waitAny(c *client, id string) <-chan frame {
	ch := make(chan frame, 1)
	go func() {
		for f := range c.frames {
			if f.str("id") == id && (f.str("type") == "ack" || f.str("type") == "error") {
				ch <- f
				return
			}
		}
	}()
	return ch
}

func TestSlowConsumerIsDisconnectedAndTheRoomKeepsGoing(t *testing.T) {
	r := startConnector(t, "WS_SEND_QUEUE=256")
	ada, bob, slow := newUser(t), newUser(t), newUser(t)
	room := newRoom(t, ada, bob, slow)
	// The slow client does not read until the others are done.
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}}
	conn, _, err := d.Dial(strings.Replace(r.url, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(frame{"type": "auth", "token": slow.token})
	conn.WriteJSON(frame{"type": "subscribe", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	a := dial(t, plat.url, ada)
	b := dial(t, r.url, bob) // same connector as the slow one
	b.subscribe(room, 0)
	// The slow socket reads up to its subscription, then no more.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for subscribed := false; !subscribed; {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("slow socket before its subscription: %v", err)
		}
		subscribed = bytes.Contains(data, []byte(`"type":"subscribed"`))
	}
	text := strings.Repeat("€", 4000) // 12 KB: 2000 of them outgrow socket buffers and the queue
	const n = 2000
	start := time.Now()
	for range n {
		a.sendText(room, text)
	}
	b.waitMessages(room, n)
	t.Logf("%d messages reached the healthy member in %s", n, time.Since(start))
	// The slow socket was cut: reading it now ends in a close, not in 1500 messages.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the slow socket is still open after %d messages", got)
			}
			if ce, ok := err.(*websocket.CloseError); ok && ce.Code != 4001 && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("slow socket closed with %d", ce.Code)
			}
			t.Logf("slow socket ended after %d messages: %v", got, err)
			break
		}
		got += bytes.Count(data, []byte(`"type":"message"`))
	}
	if got >= n {
		t.Fatalf("the slow consumer received all %d messages: it was never cut off", got)
	}
}

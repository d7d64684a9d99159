package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/otel/trace"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/protocol"
	"github.com/parley-chat/parley/connector/internal/seqs"
	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// callTimeout bounds one dependency call made for a frame.
const callTimeout = 5 * time.Second

func (s *session) handle(ctx context.Context, f protocol.Frame) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch f.Type {
	case protocol.TypeAuth:
		s.authenticate(ctx, f.ID, f.Token)
	case protocol.TypeSubscribe:
		s.subscribe(ctx, f)
	case protocol.TypeUnsubscribe:
		s.leaveRoom(f.RoomID)
	case protocol.TypeSend:
		s.send(ctx, f)
	case protocol.TypeEdit, protocol.TypeDelete:
		s.change(ctx, f)
	case protocol.TypeTyping:
		s.typing(ctx, f)
	case protocol.TypePresence:
		if err := s.srv.presence.Set(ctx, s.identity().UserID, s.id, f.Status); err != nil {
			s.unavailable(f.ID, err)
		}
	case protocol.TypeWatch:
		s.srv.watch(s, f.UserIDs)
		for user, st := range s.srv.presence.Statuses(ctx, f.UserIDs) {
			s.reply(protocol.Presence(user, st))
		}
	case protocol.TypeRead:
		s.read(ctx, f)
	case protocol.TypeHistory:
		s.historyPage(ctx, f)
	}
}

// leaveRoom stops delivering a room to this socket.
func (s *session) leaveRoom(roomID string) {
	s.mu.Lock()
	_, ok := s.rooms[roomID]
	delete(s.rooms, roomID)
	s.mu.Unlock()
	if ok {
		s.srv.hub.Leave(roomID, s)
	}
}

// member checks membership and answers not_a_member itself.
func (s *session) member(ctx context.Context, f protocol.Frame, roomID string) (string, bool) {
	role, err := s.srv.members.Role(ctx, roomID, s.identity().UserID)
	if err != nil {
		s.unavailable(f.ID, err)
		return "", false
	}
	if role == "" {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeNotMember,
			Message: "you are not a member of this room", RoomID: roomID})
		return "", false
	}
	return role, true
}

func (s *session) unavailable(id string, err error) { s.unavailableIn(id, "", err) }

// unavailableIn names the room when a frame (subscribe) covers several.
func (s *session) unavailableIn(id, roomID string, err error) {
	s.srv.logger.Warn("frame failed on a dependency", "error", err)
	s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: id, Code: protocol.CodeUnavailable,
		Message: "temporarily unavailable: retry", RoomID: roomID, RetryAfterMS: 1000})
}

// subscribe joins rooms; with last_seq > 0 it first replays what the
// client missed (history), holding live frames back meanwhile, so the
// client gets every message after last_seq exactly once, in order.
func (s *session) subscribe(ctx context.Context, f protocol.Frame) {
	for _, c := range f.Rooms {
		if _, ok := s.member(ctx, f, c.RoomID); !ok || !s.inRange(ctx, f, c.RoomID, "last_seq", c.LastSeq) {
			continue
		}
		// Live frames are held from the moment of joining until the cursor
		// is settled (and history replayed), so none is lost or doubled.
		s.mu.Lock()
		rs := &roomState{seqWindow: seqWindow{last: c.LastSeq}, catchingUp: true}
		s.rooms[c.RoomID] = rs
		s.mu.Unlock()
		seq, err := s.srv.hub.Join(ctx, c.RoomID, s)
		if err != nil {
			s.mu.Lock()
			delete(s.rooms, c.RoomID)
			s.mu.Unlock()
			s.unavailableIn(f.ID, c.RoomID, err)
			continue
		}
		s.reply(protocol.SubscribedFrame{Type: protocol.TypeSubscribed, ID: f.ID, RoomID: c.RoomID, Seq: seq})
		if c.LastSeq == 0 {
			// A new subscription starts now: everything after seq is live.
			s.mu.Lock()
			rs.advance(seq)
			s.releaseHeld(rs)
			s.mu.Unlock()
			continue
		}
		// History stops at the hub's frontier: later seqs come from the hub
		// (held until now), in order even if some were still in flight,
		// where the history window would have had a hole for them.
		s.catchUp(ctx, f.ID, c.RoomID, rs, s.srv.hub.Frontier(c.RoomID))
	}
}

// catchUp replays history after rs.last (below until, when not zero), then
// releases the live frames held meanwhile.
func (s *session) catchUp(ctx context.Context, frameID, roomID string, rs *roomState, until int64) {
	s.mu.Lock()
	after := rs.last
	s.mu.Unlock()
	for {
		resp, err := s.srv.history.History(ctx, &persistv1.HistoryRequest{RoomId: roomID, AfterSeq: after, Limit: protocol.MaxHistory})
		if err != nil {
			// Release what was held; the client subscribes again from
			// the same seq to get what it missed.
			s.unavailableIn(frameID, roomID, err)
			break
		}
		s.mu.Lock()
		reached := false
		for _, raw := range resp.Messages {
			seq := eventsv1.SeqOf(raw)
			if until > 0 && seq >= until {
				reached = true
				break
			}
			if rs.fresh(seq) {
				s.enqueue(messageFrame(roomID, raw))
			}
			after = seq
		}
		s.mu.Unlock()
		if reached || !resp.More || len(resp.Messages) == 0 {
			break
		}
	}
	s.mu.Lock()
	s.releaseHeld(rs)
	s.mu.Unlock()
}

// releaseHeld delivers the live frames held during catch-up. Called with s.mu held.
func (s *session) releaseHeld(rs *roomState) {
	for _, h := range rs.held {
		if rs.fresh(h.seq) {
			s.enqueue(h.frame)
		}
	}
	rs.held, rs.catchingUp = nil, false
}

func messageFrame(roomID string, msg json.RawMessage) []byte {
	b, _ := json.Marshal(protocol.MessageFrame{Type: protocol.TypeMessage, RoomID: roomID, Message: msg})
	return b
}

func dedupKey(roomID, userID, clientMsgID string) string {
	return "dedup:{" + roomID + "}:" + userID + ":" + clientMsgID
}

// sendRecord is what the de-duplication key of a client_msg_id holds: the
// message as first built (so a retry re-sends the very same message) and
// whether it was delivered.
type sendRecord struct {
	Done    bool            `json:"done"`
	Started int64           `json:"started"` // unix ms of the attempt holding it
	Message json.RawMessage `json:"message"`
}

// staleAfter is when a pending send is presumed dead (its connector
// crashed): past the Kafka delivery timeout, a retry takes it over.
const staleAfter = 6 * time.Second

// takeOver claims a pending record for a retry if it is still the one read.
var takeOver = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end
return 0`)

// send is the send path: de-duplicate by client_msg_id, take the room's
// next seq, make the message durable in Kafka, then add it to the history
// window and publish it to the room, then ack. Nothing is delivered or
// acked that Kafka does not have, and a retry with the same client_msg_id
// (even on another connector, even after a crash mid-send) yields the
// original message and ack.
//
// Seqs are taken in the order the socket's frames arrive (sends that queue
// up meanwhile are claimed in one pipelined round trip); the Kafka wait
// runs concurrently (up to maxInflightSends per socket), and the hub puts
// publications back in seq order.
func (s *session) send(ctx context.Context, f protocol.Frame) {
	begin := time.Now()
	id := s.identity()
	if !s.srv.sendRate.Allow(id.UserID) {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeRateLimited,
			Message: "sending too fast", RetryAfterMS: 200})
		return
	}
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	s.inflight <- struct{}{} // released when the send is answered
	s.queueClaim(s.newClaim(ctx, f, id, begin))
}

// deliver appends a claimed message to Kafka, then publishes and acks it.
func (s *session) deliver(ctx context.Context, f protocol.Frame, msg eventsv1.Message, begin time.Time) {
	ctx, span := ksvc.Tracer().Start(ctx, "kafka append "+eventsv1.TypeMessageSent, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	stopSending := s.srv.hub.Sending(f.RoomID, msg.Seq) // other connectors wait for this seq meanwhile
	appending := time.Now()
	err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeMessageSent, msg.ID, f.RoomID, msg))
	s.srv.metrics.appendLatency.Observe(time.Since(appending).Seconds())
	stopSending()
	if err != nil {
		// Never a false ack. The claim stays: a retry re-sends this same
		// message once the attempt is stale. Until then rooms go on
		// without it (it arrives late, if it does).
		if err := s.srv.rdb.ZRem(context.WithoutCancel(ctx), hub.PendingKey(f.RoomID), msg.Seq).Err(); err != nil {
			s.srv.logger.Warn("a failed send stays in flight until it lapses", "room", f.RoomID, "seq", msg.Seq, "error", err)
		}
		s.srv.metrics.sendErrors.Inc()
		s.unavailable(f.ID, err)
		return
	}
	raw, _ := json.Marshal(msg)
	done, _ := json.Marshal(sendRecord{Done: true, Message: raw})
	done = append(strconv.AppendInt(nil, msg.Seq, 10), append([]byte{' '}, done...)...)
	pipe := s.srv.rdb.TxPipeline()
	hk := eventsv1.HistoryKey(f.RoomID)
	pipe.ZAdd(ctx, hk, redis.Z{Score: float64(msg.Seq), Member: raw})
	pipe.ZRemRangeByRank(ctx, hk, 0, -eventsv1.HistoryWindow-1)
	pipe.Publish(ctx, hub.Channel(f.RoomID), hub.PublishMessage(msg.Seq, messageFrame(f.RoomID, raw)))
	pipe.ZRem(ctx, hub.PendingKey(f.RoomID), msg.Seq)
	pipe.Set(ctx, dedupKey(f.RoomID, msg.UserID, f.ClientMsgID), done, 24*time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		// The message is durable; members still get it from history.
		s.srv.logger.Error("publish after durable append failed", "room", f.RoomID, "seq", msg.Seq, "error", err)
	}
	s.reply(protocol.AckFrame{Type: protocol.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq, ClientMsgID: f.ClientMsgID})
	s.srv.metrics.sendLatency.Observe(time.Since(begin).Seconds())
}

// claimScript takes a client_msg_id in one round trip: the existing record
// if there is one, else the room's next seq (seqs.TakeLua; KEYS[2] counter,
// KEYS[4] lease) with a pending record
// holding the message (ARGV[1]). The record keeps the seq beside the
// message, as "<seq> <record JSON>", so the JSON is never edited. A new seq
// is registered as in flight until ARGV[2] (Unix ms) in the room's pending
// set (KEYS[3], see hub.PendingKey), which forgets what lapsed by ARGV[3].
// It answers {seq, record, seqs left in the lease}, {0, record} for a known
// client_msg_id, or {-1} when the room needs a new lease first.
var claimScript = redis.NewScript(seqs.TakeLua + `
local prev = redis.call('GET', KEYS[1])
if prev then return {0, prev} end
local seq = take_seq(KEYS[2], KEYS[4])
if not seq then return {-1} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], seq)
local rec = seq .. ' ' .. ARGV[1]
redis.call('SET', KEYS[1], rec, 'EX', 86400)
return {seq, rec, tonumber(redis.call('HGET', KEYS[4], 'ceil')) - seq}`)

// renewAhead is how many seqs may be left in a room's lease before a send
// renews it in the background, so sends rarely wait for a reservation.
const renewAhead = 200

// parseRecord splits a send record into its seq and JSON. A record written
// before seqs were kept beside it carries its seq in the message.
func parseRecord(rec string) (int64, sendRecord, error) {
	var r sendRecord
	seq := int64(-1)
	if sp := strings.IndexByte(rec, ' '); sp > 0 && rec[0] != '{' {
		n, err := strconv.ParseInt(rec[:sp], 10, 64)
		if err != nil {
			return 0, r, err
		}
		seq, rec = n, rec[sp+1:]
	}
	if err := json.Unmarshal([]byte(rec), &r); err != nil {
		return 0, r, err
	}
	if seq < 0 {
		seq = eventsv1.SeqOf(r.Message)
	}
	return seq, r, nil
}

// claim is a send waiting for its seq.
type claim struct {
	ctx      context.Context
	f        protocol.Frame
	msg      eventsv1.Message
	keys     []string
	args     []any
	begin    time.Time
	renewals int // leases asked for this send (see renewLeases)
}

// newClaim builds the message a send would append and the claim script's
// keys and arguments for it.
func (s *session) newClaim(ctx context.Context, f protocol.Frame, id authn.Identity, begin time.Time) claim {
	msg := eventsv1.Message{ID: uuid.Must(uuid.NewV7()).String(), RoomID: f.RoomID, UserID: id.UserID,
		Username: id.Username, Text: f.Text, ClientMsgID: f.ClientMsgID, CreatedAt: time.Now().UTC()}
	counter, lease := s.srv.seqs.Keys(f.RoomID)
	c := claim{ctx: ctx, f: f, msg: msg, begin: begin,
		keys: []string{dedupKey(f.RoomID, id.UserID, f.ClientMsgID), counter, hub.PendingKey(f.RoomID), lease}}
	now := time.Now()
	c.args = claimArgs(c.record(now), now)
	return c
}

// record is the pending send record of a claim attempted at now.
func (c claim) record(now time.Time) []byte {
	raw, _ := json.Marshal(c.msg)
	rec, _ := json.Marshal(sendRecord{Started: now.UnixMilli(), Message: raw})
	return rec
}

// claimArgs are the claim script's arguments for a send claimed at now.
func claimArgs(record []byte, now time.Time) []any {
	return []any{record, now.Add(hub.SendingTTL).UnixMilli(), now.UnixMilli()}
}

// settle turns the claim script's answer into the message to append for
// this client_msg_id: a new one, or the one of a dead earlier attempt. It
// answers duplicates itself (original ack, or in_progress) and returns
// false for them.
func (s *session) settle(ctx context.Context, c claim, res []any, err error) (eventsv1.Message, bool) {
	f, msg, dk := c.f, c.msg, c.keys[0]
	if err != nil || len(res) < 2 {
		s.unavailable(f.ID, fmt.Errorf("claim %s: %v", dk, err))
		return msg, false
	}
	prev, _ := res[1].(string)
	seq, rec, err := parseRecord(prev)
	if err != nil || json.Unmarshal(rec.Message, &msg) != nil {
		s.unavailable(f.ID, fmt.Errorf("corrupt send record %s", dk))
		return msg, false
	}
	msg.Seq = seq
	if fresh, _ := res[0].(int64); fresh > 0 {
		if left, _ := res[2].(int64); left < renewAhead {
			s.renewSoon(f.RoomID)
		}
		return msg, true // a new message, seq taken
	}
	if rec.Done {
		s.reply(protocol.AckFrame{Type: protocol.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq, ClientMsgID: msg.ClientMsgID})
		return msg, false
	}
	if time.Since(time.UnixMilli(rec.Started)) < staleAfter {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeInProgress,
			Message: "this client_msg_id is being sent: retry shortly", RetryAfterMS: 500})
		return msg, false
	}
	rec.Started = time.Now().UnixMilli()
	next, _ := json.Marshal(rec)
	next = append(strconv.AppendInt(nil, seq, 10), append([]byte{' '}, next...)...)
	if won, err := takeOver.Run(ctx, s.srv.rdb, []string{dk}, prev, next).Int(); err != nil || won == 0 {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeInProgress,
			Message: "this client_msg_id is being sent: retry shortly", RetryAfterMS: 500})
		return msg, false
	}
	return msg, true // re-send the very same message (same id and seq)
}

// event builds a CloudEvent keyed by room, so a room's events stay in
// order, carrying ctx's trace so the message is one trace from socket to storage.
func (s *session) event(ctx context.Context, typ, id, roomID string, data any) event.Event {
	// data is one of eventsv1's payloads, which always encode.
	e, _ := eventsv1.New(id, typ, eventsv1.SourceConnector+s.srv.cfg.ConnectorID, roomID, time.Now().UTC(), data)
	ksvc.InjectTrace(ctx, &e)
	return e
}

// change edits or deletes a message: the author may, and for deletes so
// may moderators and admins.
func (s *session) change(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	msg, err := s.lookup(ctx, f.RoomID, f.MessageID, f.Seq)
	if errors.Is(err, errNoMessage) {
		s.sendError(f.ID, protocol.CodeNotFound, "no such message in this room")
		return
	}
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	mine := msg.UserID == id.UserID
	if msg.Deleted || msg.Hidden || !(mine || (f.Type == protocol.TypeDelete && id.IsModerator())) {
		s.sendError(f.ID, protocol.CodeForbidden, "you can only change your own, visible messages")
		return
	}
	now := time.Now().UTC()
	var ev event.Event
	frameType := protocol.TypeEdited
	if f.Type == protocol.TypeEdit {
		msg.Text, msg.EditedAt = f.Text, now
		ev = s.event(ctx, eventsv1.TypeMessageEdited, uuid.NewString(), f.RoomID,
			eventsv1.MessageEdited{MessageID: msg.ID, RoomID: f.RoomID, UserID: id.UserID, Text: f.Text, EditedAt: now})
	} else {
		msg.Text, msg.Deleted = "", true
		frameType = protocol.TypeDeleted
		ev = s.event(ctx, eventsv1.TypeMessageDeleted, uuid.NewString(), f.RoomID,
			eventsv1.MessageDeleted{MessageID: msg.ID, RoomID: f.RoomID, UserID: id.UserID, DeletedAt: now})
	}
	if err := s.srv.log.Append(ctx, ev); err != nil {
		s.unavailable(f.ID, err)
		return
	}
	raw, _ := json.Marshal(msg)
	frame, _ := json.Marshal(protocol.MessageFrame{Type: frameType, RoomID: f.RoomID, Message: raw})
	bg := context.WithoutCancel(ctx)
	if err := replaceInWindow(bg, s.srv.rdb, msg.RoomID, msg.Seq, raw); err != nil {
		s.srv.logger.Warn("history window update", "error", err)
	}
	s.srv.hub.Publish(bg, f.RoomID, hub.EphemeralEnvelope(frame))
	s.reply(protocol.AckFrame{Type: protocol.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq})
}

var errNoMessage = errors.New("no such message")

// lookup finds a message in the history window, else in persist.
func (s *session) lookup(ctx context.Context, roomID, messageID string, seq int64) (eventsv1.Message, error) {
	var m eventsv1.Message
	vals, err := s.srv.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: eventsv1.HistoryKey(roomID),
		ByScore: true, Start: seq, Stop: seq}).Result()
	if err == nil && len(vals) == 1 {
		if json.Unmarshal([]byte(vals[0]), &m) == nil && m.ID == messageID {
			return m, nil
		}
	}
	resp, err := s.srv.history.GetMessage(ctx, &persistv1.GetMessageRequest{RoomId: roomID, MessageId: messageID})
	if status.Code(err) == codes.NotFound {
		return m, errNoMessage
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(resp.Message, &m)
}

var replaceScript = redis.NewScript(eventsv1.ReplaceInHistory)

func replaceInWindow(ctx context.Context, rdb *redis.Client, roomID string, seq int64, raw []byte) error {
	return replaceScript.Run(ctx, rdb, []string{eventsv1.HistoryKey(roomID)}, seq, raw).Err()
}

func (s *session) typing(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	frame, _ := json.Marshal(protocol.TypingFrame{Type: protocol.TypeTyping, RoomID: f.RoomID,
		UserID: id.UserID, Username: id.Username, State: f.State})
	if err := s.srv.hub.Publish(ctx, f.RoomID, hub.EphemeralEnvelope(frame)); err != nil {
		s.unavailable(f.ID, err)
	}
}

// receiptsKey is the Redis hash of a room's read positions, user -> seq.
func receiptsKey(roomID string) string { return "receipts:{" + roomID + "}" }

// raiseReceipt stores a read position only if it moves forward.
var raiseReceipt = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0`)

func (s *session) read(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "seq", f.Seq) {
		return
	}
	raised, err := raiseReceipt.Run(ctx, s.srv.rdb, []string{receiptsKey(f.RoomID)}, id.UserID, f.Seq).Int()
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	if raised == 0 {
		return
	}
	now := time.Now().UTC()
	if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeReceiptRead, uuid.NewString(), f.RoomID,
		eventsv1.ReceiptRead{RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq, At: now})); err != nil {
		s.srv.logger.Warn("receipt not logged", "error", err)
	}
	frame, _ := json.Marshal(protocol.ReceiptFrame{Type: protocol.TypeReceipt, RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq})
	s.srv.hub.Publish(ctx, f.RoomID, hub.EphemeralEnvelope(frame))
}

func (s *session) historyPage(ctx context.Context, f protocol.Frame) {
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "before_seq", f.BeforeSeq) {
		return
	}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	resp, err := s.srv.history.History(ctx, &persistv1.HistoryRequest{RoomId: f.RoomID, BeforeSeq: f.BeforeSeq, Limit: int32(limit)})
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	msgs := make([]json.RawMessage, len(resp.Messages))
	for i, m := range resp.Messages {
		msgs[i] = m
	}
	receipts, _ := s.srv.rdb.HGetAll(ctx, receiptsKey(f.RoomID)).Result()
	s.reply(protocol.HistoryFrame{Type: protocol.TypeHistory, ID: f.ID, RoomID: f.RoomID, Messages: msgs,
		More: resp.More, Receipts: receipts, HiddenReasons: s.hiddenReasons(ctx, f.RoomID, msgs)})
}

// hiddenReasons looks up why moderation hid the reader's own messages in
// a page. Most pages hold none, and a cheap byte search skips decoding
// those; a lookup that fails leaves the page without reasons (the
// messages still show as hidden).
func (s *session) hiddenReasons(ctx context.Context, roomID string, msgs []json.RawMessage) map[string]string {
	me := s.identity().UserID
	var ids []string
	for _, raw := range msgs {
		if !bytes.Contains(raw, []byte(`"hidden":true`)) {
			continue
		}
		var m struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
			Hidden bool   `json:"hidden"`
		}
		if json.Unmarshal(raw, &m) == nil && m.Hidden && m.UserID == me {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	vals, err := s.srv.rdb.HMGet(ctx, eventsv1.HiddenReasonsKey(roomID), ids...).Result()
	if err != nil {
		s.srv.logger.Warn("hidden reasons", "room", roomID, "error", err)
		return nil
	}
	out := map[string]string{}
	for i, v := range vals {
		if why, ok := v.(string); ok {
			out[ids[i]] = why
		}
	}
	return out
}

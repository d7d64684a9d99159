package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"go.opentelemetry.io/otel/trace"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// maxInflightSends bounds the sends of one socket waiting on Kafka at once.
const maxInflightSends = 64

// sendRecord is what the de-duplication key of a client_msg_id holds:
// while the send is pending, the message as first built (so a retry
// re-sends the very same message); once delivered, only the message's id
// (doneMessage), since a retry then gets the ack again and nothing else.
type sendRecord struct {
	Done    bool            `json:"done"`
	Started int64           `json:"started,omitempty"` // unix ms of the attempt holding it; none once done
	Message json.RawMessage `json:"message"`
}

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
func (s *session) send(ctx context.Context, f livev1.Frame) {
	begin := time.Now()
	id := s.identity()
	if !s.srv.sendRate.Allow(id.UserID) {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeRateLimited,
			Message: "sending too fast", RetryAfterMS: 200})
		return
	}
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	if s.refuseBlocked(ctx, f) {
		return
	}
	if f.ThreadID != "" && !s.threadRoot(ctx, f) {
		return
	}
	attached, ok := s.attachments(ctx, f, id.UserID)
	if !ok {
		return
	}
	if s.inflight == nil { // the handler goroutine alone sends; releases come after
		s.inflight = make(chan struct{}, maxInflightSends)
	}
	s.inflight <- struct{}{} // released when the send is answered
	c := s.newClaim(ctx, f, id, begin, attached)
	// The same cached answer as the membership check. Should it fail, the
	// kind stays unknown, which costs persist's quiet mark, nothing else.
	c.roomKind, _ = s.srv.members.Kind(ctx, f.RoomID, id.UserID)
	s.queueClaim(c)
}

// deliver appends a claimed message to Kafka, then publishes and acks it.
func (s *session) deliver(ctx context.Context, c claim, msg eventsv1.Message) {
	f := c.f
	ctx, span := ksvc.Tracer().Start(ctx, "kafka append "+eventsv1.TypeMessageSent, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	// Encoded once: the event, the history window, the room's frame and
	// the send record all carry these bytes.
	raw, _ := json.Marshal(msg)
	stopSending := s.srv.hub.Sending(f.RoomID, msg.Seq) // other connectors wait for this seq meanwhile
	appending := time.Now()
	e := s.event(ctx, eventsv1.TypeMessageSent, msg.ID, f.RoomID, json.RawMessage(raw))
	if c.roomKind != "" {
		e.SetExtension(eventsv1.ExtRoomKind, c.roomKind)
	}
	err := s.srv.log.Append(ctx, e)
	s.srv.metrics.appendLatency.Observe(time.Since(appending).Seconds())
	stopSending()
	if err != nil {
		// Never a false ack. The claim stays: a retry re-sends this same
		// message once the attempt is stale. Until then rooms go on
		// without it (it arrives late, if it does).
		if err := s.srv.rdb.ZRem(context.WithoutCancel(ctx), c.pendingKey(), msg.Seq).Err(); err != nil {
			s.srv.logger.Warn("a failed send stays in flight until it lapses", "room", f.RoomID, "seq", msg.Seq, "error", err)
		}
		s.srv.metrics.sendErrors.Inc()
		s.unavailable(f.ID, err)
		return
	}
	done := recordValue(msg.Seq, sendRecord{Done: true, Message: doneMessage(msg.ID)})
	pipe := s.srv.rdb.TxPipeline()
	hk := livev1.HistoryKey(f.RoomID)
	pipe.ZAdd(ctx, hk, redis.Z{Score: float64(msg.Seq), Member: raw})
	pipe.ZRemRangeByRank(ctx, hk, 0, -livev1.HistoryWindow-1)
	pipe.SPublish(ctx, livev1.RoomChannel(f.RoomID), livev1.MessageEnvelope(msg.Seq, messageFrame(f.RoomID, raw)))
	pipe.ZRem(ctx, c.pendingKey(), msg.Seq)
	pipe.Set(ctx, c.dedupKey(), done, livev1.DedupTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		// The message is durable; members still get it from history.
		s.srv.logger.Error("publish after durable append failed", "room", f.RoomID, "seq", msg.Seq, "error", err)
	}
	s.reply(livev1.AckFrame{Type: livev1.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq, ClientMsgID: f.ClientMsgID})
	s.srv.metrics.sendLatency.Observe(time.Since(c.begin).Seconds())
	if len(msg.Attachments) > 0 {
		s.announceImages(ctx, msg)
	}
}

// doneMessage is the message a delivered send's record keeps: its id, all
// the ack names beside the seq and the key's own client_msg_id. A record
// lives for livev1.DedupTTL, so at 500 messages/s the whole message would
// hold gigabytes of Redis for retries that never need it.
// The id is a UUID the connector made, so it needs no escaping.
func doneMessage(id string) json.RawMessage {
	return append(append([]byte(`{"id":"`), id...), `"}`...)
}

// recordValue is what a client_msg_id's key holds: the seq beside the
// record's JSON, "<seq> <record>" (see claims).
func recordValue(seq int64, rec sendRecord) []byte {
	b, _ := json.Marshal(rec) // a sendRecord always encodes
	v := make([]byte, 0, 21+len(b))
	v = strconv.AppendInt(v, seq, 10)
	v = append(v, ' ')
	return append(v, b...)
}

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

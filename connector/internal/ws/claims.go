package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/seqs"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// claim is a send waiting for its seq.
type claim struct {
	ctx      context.Context
	f        livev1.Frame
	msg      eventsv1.Message
	keys     []string
	args     []any
	begin    time.Time
	renewals int // leases asked for this send (see renewLeases)
	roomKind string
}

// newClaim builds the message a send would append and the claim script's
// keys and arguments for it.
func (s *session) newClaim(ctx context.Context, f livev1.Frame, id authn.Identity, begin time.Time, attached []eventsv1.Attachment) claim {
	msg := eventsv1.Message{ID: uuid.Must(uuid.NewV7()).String(), RoomID: f.RoomID, UserID: id.UserID,
		Username: id.Username, Text: f.Text, ClientMsgID: f.ClientMsgID, CreatedAt: time.Now().UTC(), ThreadID: f.ThreadID,
		Attachments: attached}
	counter, lease := s.srv.seqs.Keys(f.RoomID)
	c := claim{ctx: ctx, f: f, msg: msg, begin: begin,
		keys: []string{livev1.DedupKey(f.RoomID, id.UserID, f.ClientMsgID), counter, livev1.SendingKey(f.RoomID), lease,
			livev1.BlockedKey(f.RoomID)}}
	now := time.Now()
	c.args = claimArgs(c.record(now), now)
	return c
}

// dedupKey and pendingKey are the claim's keys of its client_msg_id and of
// its room's seqs in flight (see claims).
func (c claim) dedupKey() string   { return c.keys[0] }
func (c claim) pendingKey() string { return c.keys[2] }

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

// claims holds the claim function, which takes a client_msg_id in one
// round trip: the existing record if there is one, else the room's next
// seq (take_seq, see seqs.Library; KEYS[2] counter, KEYS[4] lease) with a
// pending record holding the message (ARGV[1]). The record keeps the seq
// beside the message, as "<seq> <record JSON>", so the JSON is never
// edited. A new seq is registered as in flight until ARGV[2] (Unix ms) in
// the room's pending set (KEYS[3], see livev1.SendingKey), which forgets
// what lapsed by ARGV[3]. A sender in the room's livev1.BlockedKey
// (KEYS[5]) takes no seq: the block is checked here, in the round trip the
// send makes anyway, so it holds from the moment the block was answered.
// The sender is read from the record's message rather than passed apart
// (an argument more costs the send path an allocation): in compact JSON a
// quote inside a string value is escaped, so the first "user_id":" is the
// message's field. It answers {seq, record, seqs left in the lease}, {0,
// record} for a known client_msg_id, {-2, empty} for a blocked sender, or
// {-1} when the room needs a new lease first.
var claims = seqs.NewLibrary(map[string]string{"claim": `
local prev = redis.call('GET', KEYS[1])
if prev then return {0, prev} end
if redis.call('SISMEMBER', KEYS[5], string.match(ARGV[1], '"user_id":"([^"]*)"')) == 1 then return {-2, ''} end
local seq, ceil = take_seq(KEYS[2], KEYS[4])
if not seq then return {-1} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], seq)
local rec = seq .. ' ' .. ARGV[1]
redis.call('SET', KEYS[1], rec, 'EX', ` + strconv.Itoa(int(livev1.DedupTTL.Seconds())) + `)
return {seq, rec, ceil - seq}`})

// renewAhead is how many seqs may be left in a room's lease before a send
// renews it in the background, so sends rarely wait for a reservation.
const renewAhead = 200

// queueClaim hands a send to the claimer, a goroutine that runs only while
// sends wait for their seq. It claims every send queued meanwhile in one
// Redis round trip, in the order they came, so a socket that sends fast is
// not held to one round trip per message while its later frames wait.
// The caller holds an inflight slot for the send; it is released once the
// send is answered.
func (s *session) queueClaim(c claim) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.claims = append(s.claims, c)
	if !s.claiming {
		s.claiming = true
		s.sends.Add(1)
		go s.claimQueued()
	}
}

func (s *session) claimQueued() {
	defer s.sends.Done()
	for {
		s.cmu.Lock()
		batch := s.claims
		s.claims = nil
		if len(batch) == 0 {
			s.claiming = false
			s.cmu.Unlock()
			return
		}
		s.cmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		answers, errs := s.claimAll(ctx, batch)
		var leaseless []claim
		for i, c := range batch {
			if errs[i] == nil && len(answers[i]) == 1 {
				leaseless = append(leaseless, c)
				continue
			}
			msg, ok := s.settle(ctx, c, answers[i], errs[i])
			if !ok {
				<-s.inflight
				continue
			}
			s.sends.Add(1)
			go func() {
				defer func() { <-s.inflight; s.sends.Done() }()
				ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), callTimeout)
				defer cancel()
				s.deliver(ctx, c, msg)
			}()
		}
		s.renewLeases(ctx, leaseless)
		cancel()
	}
}

// renewLeases gives each room of sends that found no valid seq lease a new
// one (see package seqs) and queues the sends again, ahead of those that
// came meanwhile. A send whose room cannot get a lease is answered
// unavailable: no seq, no ack. If another connector renewed a room between
// two pipelined claims, a later send of the same burst may have taken a
// seq before an earlier one; that can only happen right after Redis lost
// or rewound the room's counter.
func (s *session) renewLeases(ctx context.Context, cs []claim) {
	if len(cs) == 0 {
		return
	}
	failed := map[string]error{}
	for _, c := range cs {
		if _, done := failed[c.f.RoomID]; !done {
			failed[c.f.RoomID] = s.srv.seqs.Renew(ctx, c.f.RoomID)
		}
	}
	var again []claim
	now := time.Now()
	for _, c := range cs {
		c.renewals++
		err := failed[c.f.RoomID]
		if err == nil && c.renewals > maxRenewals {
			err = fmt.Errorf("still no valid lease after %d renewals", maxRenewals)
		}
		if err != nil {
			s.unavailable(c.f.ID, fmt.Errorf("no seq lease for room %s: %w", c.f.RoomID, err))
			<-s.inflight
			continue
		}
		// Claimed anew now: its in-flight mark and start time count from here.
		c.args = claimArgs(c.record(now), now)
		again = append(again, c)
	}
	s.cmu.Lock()
	s.claims = append(again, s.claims...)
	s.cmu.Unlock()
}

// maxRenewals bounds how often one send asks for a new lease.
const maxRenewals = 2

// renewSoon renews a room's lease in the background before it runs out;
// the session's sends wait for it on close.
func (s *session) renewSoon(roomID string) {
	s.sends.Add(1)
	if !s.srv.seqs.RenewSoon(roomID, s.sends.Done) {
		s.sends.Done()
	}
}

// claimAll runs the claim script for each send, pipelined: Redis runs them
// one after another in this order, so seqs follow the socket's order.
func (s *session) claimAll(ctx context.Context, batch []claim) ([][]any, []error) {
	answers, errs := make([][]any, len(batch)), make([]error, len(batch))
	cmds := make([]*redis.Cmd, len(batch))
	pipe := s.srv.rdb.Pipeline()
	for i, c := range batch {
		cmds[i] = claims.FCall(ctx, pipe, "claim", c.keys, c.args...)
	}
	pipe.Exec(ctx) // errors are per command
	for i, cmd := range cmds {
		if seqs.Missing(cmd.Err()) {
			// The server lacks the library (new, or restarted without
			// it): Call loads it. The sends after this one failed the
			// same way, so order holds.
			cmd = claims.Call(ctx, s.srv.rdb, "claim", batch[i].keys, batch[i].args...)
		}
		answers[i], errs[i] = cmd.Slice()
	}
	return answers, errs
}

// settle turns the claim script's answer into the message to append for
// this client_msg_id: a new one, or the one of a dead earlier attempt. It
// answers duplicates itself (original ack, or in_progress) and returns
// false for them.
func (s *session) settle(ctx context.Context, c claim, res []any, err error) (eventsv1.Message, bool) {
	f, msg, dk := c.f, c.msg, c.dedupKey()
	if err != nil || len(res) < 2 {
		s.unavailable(f.ID, fmt.Errorf("claim %s: %v", dk, err))
		return msg, false
	}
	seq, _ := res[0].(int64)
	if seq == blockedSender {
		s.tellBlocked(f)
		return msg, false
	}
	if seq > 0 {
		// A new message, seq taken: the record is this claim's own, of
		// c.msg, so there is nothing to read back.
		msg.Seq = seq
		if left, _ := res[2].(int64); left < renewAhead {
			s.renewSoon(f.RoomID)
		}
		return msg, true
	}
	prev, _ := res[1].(string)
	seq, rec, err := parseRecord(prev)
	if err != nil || json.Unmarshal(rec.Message, &msg) != nil {
		s.unavailable(f.ID, fmt.Errorf("corrupt send record %s", dk))
		return msg, false
	}
	msg.Seq = seq
	if rec.Done {
		s.reply(livev1.AckFrame{Type: livev1.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq, ClientMsgID: msg.ClientMsgID})
		return msg, false
	}
	if time.Since(time.UnixMilli(rec.Started)) < staleAfter {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeInProgress,
			Message: "this client_msg_id is being sent: retry shortly", RetryAfterMS: 500})
		return msg, false
	}
	rec.Started = time.Now().UnixMilli()
	next := recordValue(seq, rec)
	if won, err := takeOver.Run(ctx, s.srv.rdb, []string{dk}, prev, next).Int(); err != nil || won == 0 {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeInProgress,
			Message: "this client_msg_id is being sent: retry shortly", RetryAfterMS: 500})
		return msg, false
	}
	return msg, true // re-send the very same message (same id and seq)
}

// staleAfter is when a pending send is presumed dead (its connector
// crashed): past the Kafka delivery timeout, a retry takes it over.
const staleAfter = 6 * time.Second

// takeOver claims a pending record for a retry if it is still the one read.
var takeOver = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end
return 0`)

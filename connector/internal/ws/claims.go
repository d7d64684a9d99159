package ws

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

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
				s.deliver(ctx, c.f, msg, c.begin)
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
		cmds[i] = claimScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	pipe.Exec(ctx) // errors are per command
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			// Redis lost the script (restarted): Run loads it again. The
			// sends after this one failed the same way, so order holds.
			cmd = claimScript.Run(ctx, s.srv.rdb, batch[i].keys, batch[i].args...)
		}
		answers[i], errs[i] = cmd.Slice()
	}
	return answers, errs
}

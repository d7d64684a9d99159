package ws

import (
	"context"

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
		for i, c := range batch {
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
		cancel()
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

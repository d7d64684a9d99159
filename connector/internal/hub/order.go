package hub

import "time"

// Frontier is the seq from which the hub delivers a room's messages in
// order: every lower seq was delivered before, or given up on after
// GapWait. A subscriber catching up after Join needs history only below it;
// the rest reaches it from the hub, in order, even seqs still in flight.
// Zero when the room has no local members.
func (h *Hub) Frontier(roomID string) int64 {
	r := h.lookup(roomID)
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Next()
}

// ordered delivers seq in order, holding later ones back (see package
// order). Called with r.mu held.
func (r *room) ordered(seq int64, frame []byte, touched map[Subscriber]struct{}) {
	if r.order.Offer(seq, frame) && frame != nil {
		r.deliver(seq, frame, touched)
	}
	r.drain(touched)
}

// drain delivers held-back messages that are now in order, and keeps the
// gap timer running only while something is held back.
func (r *room) drain(touched map[Subscriber]struct{}) {
	for seq, frame, ok := r.order.Pop(); ok; seq, frame, ok = r.order.Pop() {
		if frame != nil {
			r.deliver(seq, frame, touched)
		}
	}
	r.watchGap()
}

// watchGap starts the gap timer when messages are held back (and the room
// is set up), and stops it when none is.
func (r *room) watchGap() {
	switch {
	case !r.order.Waiting() && r.timer != nil:
		r.timer.Stop()
		r.timer = nil
	case r.order.Waiting() && r.order.Next() > 0 && r.timer == nil:
		r.timer = time.AfterFunc(r.hub.cfg.GapWait, r.skipGap)
	}
}

// skipGap runs GapWait after a seq went missing. While a missing seq is
// in flight (its sender is still waiting on Kafka) it waits again;
// otherwise it gives up on the missing seq(s): the lowest held message goes
// out and delivery continues from there.
func (r *room) skipGap() {
	r.mu.Lock()
	r.timer = nil
	if !r.order.Waiting() {
		r.mu.Unlock()
		return
	}
	from, to := r.order.Gap()
	r.mu.Unlock()
	wait := r.hub.inFlight(r.id, from, to) // no Redis call under the lock
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.order.Waiting() {
		return
	}
	if wait > 0 || r.order.Next() != from { // still in flight, or moved on meanwhile: look again later
		if r.timer == nil {
			r.timer = time.AfterFunc(min(max(wait, time.Millisecond), r.hub.cfg.GapWait), r.skipGap)
		}
		return
	}
	r.order.Skip()
	touched := map[Subscriber]struct{}{}
	r.drain(touched)
	for s := range touched {
		s.Flush()
	}
}

func (r *room) deliver(seq int64, frame []byte, touched map[Subscriber]struct{}) {
	for s := range r.subs {
		s.Deliver(r.id, seq, frame)
		touched[s] = struct{}{}
	}
}

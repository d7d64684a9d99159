// Package order puts a room's messages back in seq order. Connectors
// publish a room's messages as their Kafka acknowledgements come, so they
// may arrive out of order; a Buffer holds a later seq back until the
// earlier ones arrive, or until its owner gives up on them (Skip).
//
// A Buffer makes no calls and keeps no time: its owner decides how long a
// gap is waited for. It is not safe for concurrent use; the owner's lock
// guards it.
package order

import (
	"cmp"
	"slices"
)

// Buffer is one room's ordering. The zero value holds everything until Start.
type Buffer struct {
	next    int64            // the next seq in order; 0 until Start
	pending map[int64][]byte // held back; a nil frame is a seq that will never come
}

// Held is a message the buffer hands back.
type Held struct {
	Seq   int64
	Frame []byte
}

// Next is the seq from which messages are released in order: every lower
// one was released, or given up on. 0 before Start.
func (b *Buffer) Next() int64 { return b.next }

// Waiting reports whether messages are held back for a missing seq.
func (b *Buffer) Waiting() bool { return len(b.pending) > 0 }

// Offer takes a message; frame is nil for a seq that will never come. It
// reports whether the caller delivers the message now: it is the next in
// order (then Pop releases those held behind it), or it is late, below
// Next (delivered anyway: clients order by seq). Before Start, and while
// an earlier seq is missing, it is held.
func (b *Buffer) Offer(seq int64, frame []byte) (now bool) {
	if b.next == 0 || seq > b.next {
		if b.pending == nil {
			b.pending = map[int64][]byte{}
		}
		b.pending[seq] = frame
		return false
	}
	if seq == b.next {
		b.next++
	}
	return true
}

// Pop releases the next message in order if it was held; a released seq
// that will never come has a nil frame.
func (b *Buffer) Pop() (seq int64, frame []byte, ok bool) {
	if b.next == 0 {
		return 0, nil, false
	}
	if frame, ok = b.pending[b.next]; !ok {
		return 0, nil, false
	}
	delete(b.pending, b.next)
	seq = b.next
	b.next++
	return seq, frame, true
}

// Start begins in-order delivery after seq after. What was held up to
// after is returned in seq order, to go out late; Pop then releases what
// is in order.
func (b *Buffer) Start(after int64) []Held {
	b.next = after + 1
	var late []Held
	for seq, frame := range b.pending {
		if seq < b.next {
			if frame != nil {
				late = append(late, Held{seq, frame})
			}
			delete(b.pending, seq)
		}
	}
	slices.SortFunc(late, func(a, b Held) int { return cmp.Compare(a.Seq, b.Seq) })
	return late
}

// Gap is the run of missing seqs [from, to) that holds the lowest held
// message back. Only meaningful while Waiting.
func (b *Buffer) Gap() (from, to int64) { return b.next, b.lowest() }

// Skip gives up on the missing seqs before the lowest held message; Pop
// then releases from there.
func (b *Buffer) Skip() {
	if b.Waiting() {
		b.next = b.lowest()
	}
}

func (b *Buffer) lowest() int64 {
	lowest := int64(-1)
	for s := range b.pending {
		if lowest < 0 || s < lowest {
			lowest = s
		}
	}
	return lowest
}

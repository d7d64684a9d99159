// Package seqwindow remembers which of a room's recent seqs a socket was
// given, so a message that reaches it twice (a history replay overlapping
// live delivery, a re-publish) goes out once, and a late one still goes out.
//
// A Window is not safe for concurrent use: its owner's lock guards it.
package seqwindow

// Size is how far below the highest delivered seq a late seq is still
// recognised. A power of two, as Window indexes a ring with it.
const Size = 4096

// Window remembers which of the Size seqs up to Last were delivered: one
// bit each in a 512-byte ring, allocated with the first delivery, where a
// map cost ~100 KB per busy subscription and a hash lookup per frame.
type Window struct {
	last int64    // highest seq delivered, or the cursor a subscription starts after
	seen []uint64 // bit s%Size for s in (last-Size, last]
}

// After returns a window for a subscription that resumes after seq last:
// seqs up to it count as delivered unless they come within Size of it.
func After(last int64) Window { return Window{last: last} }

// Last is the highest seq delivered, or the cursor the window started after.
func (w *Window) Last() int64 { return w.last }

// Fresh reports whether seq was not delivered yet and records it.
func (w *Window) Fresh(seq int64) bool {
	if seq <= w.last-Size || seq <= 0 {
		return false
	}
	w.Advance(seq)
	word, bit := w.slot(seq)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}

// Advance moves Last up to seq, forgetting what falls out of the window;
// seqs between the old and the new Last count as not delivered.
func (w *Window) Advance(seq int64) {
	if seq <= w.last {
		return
	}
	if w.seen == nil {
		w.seen = make([]uint64, Size/64)
	}
	if seq-w.last >= Size {
		clear(w.seen)
	} else {
		for s := w.last + 1; s <= seq; s++ {
			word, bit := w.slot(s)
			*word &^= bit
		}
	}
	w.last = seq
}

func (w *Window) slot(seq int64) (*uint64, uint64) {
	i := uint64(seq) % Size
	return &w.seen[i/64], 1 << (i % 64)
}

package ws

// recentWindow is how far below the highest delivered seq a late seq is
// still recognised. A power of two, as seqWindow indexes a ring with it.
const recentWindow = 4096

// seqWindow remembers which of the recentWindow seqs up to last were
// delivered: one bit each in a 512-byte ring, allocated with the first
// delivery, where a map cost ~100 KB per busy subscription and a hash
// lookup per frame.
type seqWindow struct {
	last int64    // highest seq delivered, or the cursor a subscription starts after
	seen []uint64 // bit s%recentWindow for s in (last-recentWindow, last]
}

// fresh reports whether seq was not delivered yet and records it.
func (w *seqWindow) fresh(seq int64) bool {
	if seq <= w.last-recentWindow || seq <= 0 {
		return false
	}
	w.advance(seq)
	word, bit := w.slot(seq)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}

// advance moves last up to seq, forgetting what falls out of the window;
// seqs between the old and the new last count as not delivered.
func (w *seqWindow) advance(seq int64) {
	if seq <= w.last {
		return
	}
	if w.seen == nil {
		w.seen = make([]uint64, recentWindow/64)
	}
	if seq-w.last >= recentWindow {
		clear(w.seen)
	} else {
		for s := w.last + 1; s <= seq; s++ {
			word, bit := w.slot(s)
			*word &^= bit
		}
	}
	w.last = seq
}

func (w *seqWindow) slot(seq int64) (*uint64, uint64) {
	i := uint64(seq) % recentWindow
	return &w.seen[i/64], 1 << (i % 64)
}

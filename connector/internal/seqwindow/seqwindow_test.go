package seqwindow

import "testing"

func TestSeqWindowDeliversEachSeqOnce(t *testing.T) {
	w := After(10) // a subscription resuming after seq 10
	for _, c := range []struct {
		seq  int64
		want bool
	}{
		{11, true}, {11, false}, // a re-publish
		{13, true}, {12, true}, {12, false}, // late, then once only
		{10, true}, // at or below the cursor but never delivered here: a replay fills it
		{10, false},
		{0, false}, {-1, false},
		{13 + Size, true}, // jumps ahead: 13 falls out of the window
		{13, false},       // too old to tell: taken as delivered
		{14, true},        // inside the window again, and never seen
		{14 + Size, true}, // pushes 14 out
		{14, false},
		{15, true}, // still inside the window
	} {
		if got := w.Fresh(c.seq); got != c.want {
			t.Fatalf("fresh(%d) = %v, want %v (last %d)", c.seq, got, c.want, w.Last())
		}
	}
}

// Bits of seqs that wrapped around the ring must not make their successors
// look delivered.
func TestSeqWindowForgetsWhatWrapsAround(t *testing.T) {
	var w Window
	for seq := int64(1); seq <= 3*Size; seq++ {
		if !w.Fresh(seq) {
			t.Fatalf("seq %d, never delivered, was taken for delivered", seq)
		}
	}
	w.Advance(5 * Size)
	for seq := int64(4*Size + 1); seq <= 5*Size; seq++ {
		if !w.Fresh(seq) {
			t.Fatalf("after advance, seq %d was taken for delivered", seq)
		}
	}
}

func BenchmarkSeqWindowInOrder(b *testing.B) {
	var w Window
	seq := int64(0)
	for b.Loop() {
		seq++
		w.Fresh(seq)
	}
}

package order

import (
	"fmt"
	"slices"
	"testing"
)

// released offers each message (seq:frame; frame "" is a seq that will
// never come) and lists what the caller delivers, in delivery order.
func released(b *Buffer, offers ...string) []string {
	var out []string
	for _, o := range offers {
		var seq int64
		var frame string
		fmt.Sscanf(o, "%d:%s", &seq, &frame)
		var f []byte
		if frame != "" {
			f = []byte(frame)
		}
		if b.Offer(seq, f) && f != nil {
			out = append(out, fmt.Sprintf("%d:%s", seq, f))
		}
		out = append(out, pop(b)...)
	}
	return out
}

func pop(b *Buffer) []string {
	var out []string
	for seq, f, ok := b.Pop(); ok; seq, f, ok = b.Pop() {
		if f != nil {
			out = append(out, fmt.Sprintf("%d:%s", seq, f))
		}
	}
	return out
}

func TestLaterSeqsWaitForEarlierOnes(t *testing.T) {
	var b Buffer
	b.Start(0)
	got := released(&b, "2:b", "3:c", "1:a", "4:d")
	if want := []string{"1:a", "2:b", "3:c", "4:d"}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	if b.Waiting() || b.Next() != 5 {
		t.Fatalf("waiting %v, next %d", b.Waiting(), b.Next())
	}
}

func TestASeqThatWillNeverComeReleasesThoseBehindIt(t *testing.T) {
	var b Buffer
	b.Start(0)
	if got := released(&b, "2:b", "1:"); !slices.Equal(got, []string{"2:b"}) {
		t.Fatalf("released %v", got)
	}
}

func TestSkipGivesUpOnTheGap(t *testing.T) {
	var b Buffer
	b.Start(0)
	if got := released(&b, "3:c", "5:e"); len(got) != 0 {
		t.Fatalf("released %v before the gap was given up", got)
	}
	if from, to := b.Gap(); from != 1 || to != 3 {
		t.Fatalf("gap [%d, %d), want [1, 3)", from, to)
	}
	b.Skip()
	if got := pop(&b); !slices.Equal(got, []string{"3:c"}) {
		t.Fatalf("after skip released %v", got)
	}
	// Late now: delivered anyway, once, and Next stays.
	if got := released(&b, "1:a"); !slices.Equal(got, []string{"1:a"}) || b.Next() != 4 {
		t.Fatalf("late seq released %v, next %d", got, b.Next())
	}
}

func TestEverythingWaitsForStart(t *testing.T) {
	var b Buffer
	if got := released(&b, "1:a", "3:c", "5:e", "4:d"); len(got) != 0 {
		t.Fatalf("released %v before Start", got)
	}
	late := b.Start(3)
	if len(late) != 2 || late[0].Seq != 1 || late[1].Seq != 3 {
		t.Fatalf("late %v, want seqs 1 and 3 in order", late)
	}
	if got := pop(&b); !slices.Equal(got, []string{"4:d", "5:e"}) {
		t.Fatalf("released %v after Start", got)
	}
}

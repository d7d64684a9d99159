package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Replies stored while a thread's summary is computed share the next
// computation, and every caller gets a result computed after its reply
// was stored.
func TestRepliesArrivingTogetherShareOneComputation(t *testing.T) {
	var fl threadFlights
	var stored, runs atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	compute := func() (messageDoc, error) {
		n := runs.Add(1)
		if n == 1 {
			close(started)
			<-release // the first computation is slow: replies pile up behind it
		}
		return messageDoc{Seq: stored.Load()}, nil
	}
	call := func() int64 {
		mine := stored.Add(1) // the reply is stored, then counted
		doc, err := fl.do("root", compute)
		if err != nil || doc.Seq < mine {
			t.Errorf("reply %d got a summary of %d replies (%v)", mine, doc.Seq, err)
		}
		return doc.Seq
	}
	var wg sync.WaitGroup
	wg.Go(func() { call() })
	<-started
	for range 20 {
		wg.Go(func() { call() })
	}
	for fl.waiting("root") < 21 { // every caller has stored its reply and waits behind the first
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 2 {
		t.Errorf("%d computations for 21 replies, want 2 (the slow one, then one for the 20 behind it)", n)
	}
	if fl.waiting("root") != 0 || len(fl.flights) != 0 {
		t.Error("a finished thread's flight is kept")
	}
}

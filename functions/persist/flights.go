package main

import "sync"

// threadFlights coalesces the summary updates of a thread's replies within
// this process. A reply is stored before its summary is computed, so one
// computation that starts after a reply was stored counts it: replies
// arriving together (a busy thread, the unordered Trigger's concurrent
// deliveries) share one computation instead of each running its own and
// retrying against the others'. Other replicas' updates are reconciled by
// addReply's check.
type threadFlights struct {
	mu      sync.Mutex
	flights map[string]*threadFlight
}

type threadFlight struct {
	mu        sync.Mutex // held while a computation runs
	refs      int        // callers holding or waiting for mu; guarded by threadFlights.mu
	asked     uint64     // replies stored so far, numbered; guarded by threadFlights.mu
	covered   uint64     // every reply numbered up to this is counted; guarded by mu
	doc       messageDoc // what that computation returned; guarded by mu
	docErr    error
	hasResult bool
}

// do runs compute for a reply of root that is stored already, unless a
// computation that started after it was stored has finished meanwhile, and
// returns that computation's result.
func (t *threadFlights) do(root string, compute func() (messageDoc, error)) (messageDoc, error) {
	t.mu.Lock()
	if t.flights == nil {
		t.flights = map[string]*threadFlight{}
	}
	fl := t.flights[root]
	if fl == nil {
		fl = &threadFlight{}
		t.flights[root] = fl
	}
	fl.refs++
	fl.asked++
	mine := fl.asked
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if fl.refs--; fl.refs == 0 {
			delete(t.flights, root)
		}
		t.mu.Unlock()
	}()

	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.hasResult && fl.covered >= mine && fl.docErr == nil {
		return fl.doc, nil // a computation that began after this reply was stored
	}
	t.mu.Lock()
	upTo := fl.asked // every reply numbered so far was stored before this computation starts
	t.mu.Unlock()
	fl.doc, fl.docErr = compute()
	fl.covered, fl.hasResult = upTo, true
	return fl.doc, fl.docErr
}

// waiting is how many callers hold or wait for root's flight (for tests).
func (t *threadFlights) waiting(root string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fl := t.flights[root]; fl != nil {
		return fl.refs
	}
	return 0
}

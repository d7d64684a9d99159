package platform

import (
	"syscall"
	"testing"
	"time"
)

func TestSIGTERMTellsClientsToReconnect(t *testing.T) {
	r := startConnector(t)
	ada := newUser(t)
	c := dial(t, r.url, ada)
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case code := <-c.closed:
		if code != 4000 {
			t.Fatalf("closed with %d, want 4000 (reconnect)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no close frame after SIGTERM")
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("connector exited with %v after SIGTERM, want a clean exit", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("connector did not exit after SIGTERM")
	}
}

func TestCrashedConnectorLeavesNoGhosts(t *testing.T) {
	watcherSide := startConnector(t, "PRESENCE_TTL=3s")
	doomed := startConnector(t, "PRESENCE_TTL=3s")
	ada, bob := newUser(t), newUser(t)
	a := dial(t, watcherSide.url, ada)
	dial(t, doomed.url, bob)
	a.write(frame{"type": "watch", "user_ids": []string{bob.id}})
	if p := a.expect("presence", nil); p.str("status") != "online" {
		t.Fatalf("bob %v", p)
	}
	doomed.cmd.Process.Signal(syscall.SIGKILL)
	begin := time.Now()
	a.expect("presence", func(f frame) bool { return f.str("user_id") == bob.id && f.str("status") == "offline" })
	t.Logf("ghost cleared %s after the crash", time.Since(begin).Round(100*time.Millisecond))
}

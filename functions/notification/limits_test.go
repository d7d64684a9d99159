package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// syncBuffer collects the runtime's log lines, written from its goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Through the real runtime: an oversized event is answered 400, which the
// Broker does not retry (it goes to the dead-letter sink), with a log line
// that says why, and the function goes on serving.
func TestOversizedEventIsAnswered400AndLogged(t *testing.T) {
	e := newEnv(t)
	logs := &syncBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // ksvc.Run listens itself
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ksvc.Run(ctx, ksvc.Config{Name: "notification", Host: "127.0.0.1", Port: port,
			Logger: slog.New(slog.NewJSONHandler(logs, nil))}, ksvc.Service{Events: e.f.Handle})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	eventually(t, "the function to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	post := func(id, typ, data string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(data))
		// The source is the one auth stamps on what it emits.
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": id, "Ce-Source": "parley/auth", "Ce-Type": typ,
			"Content-Type": "application/json"} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := `{"user_id":"` + uuid.NewString() + `","username":"carol","display_name":"` +
		strings.Repeat("c", eventsv1.MaxDataBytes) + `"}`
	if status := post("too-big", eventsv1.TypeUserCreated, big); status != http.StatusBadRequest {
		t.Fatalf("oversized event answered %d, want 400", status)
	}
	if l := logs.String(); !strings.Contains(l, `"ce_id":"too-big"`) || !strings.Contains(l, "over the limit") {
		t.Fatalf("no log line says why the event was refused:\n%s", l)
	}
	ok := `{"user_id":"` + uuid.NewString() + `","username":"dave","display_name":"Dave","created_at":"2026-12-06T00:00:00Z"}`
	if status := post("fine", eventsv1.TypeUserCreated, ok); status != http.StatusAccepted {
		t.Fatalf("a valid event after the refusal answered %d, want 202", status)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

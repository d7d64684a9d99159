// Command testfn is the function the emulator's tests and benchmarks run:
// a real ksvc binary whose behaviour each CloudEvent type selects, and which
// reports every event it handles to SINK_URL.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/knative/ksvc"
)

// Record is what testfn reports to SINK_URL for each event it handles.
type Record struct {
	Tag  string `json:"tag"`
	ID   string `json:"id"`
	Type string `json:"type"`
	Key  string `json:"key"`
	Data string `json:"data"`
	PID  int    `json:"pid"`
}

func main() {
	if os.Getenv("EXIT_AT_START") != "" {
		fmt.Fprintln(os.Stderr, "testfn: EXIT_AT_START is set: refusing to start")
		os.Exit(1)
	}
	if d, err := time.ParseDuration(os.Getenv("START_DELAY")); err == nil {
		time.Sleep(d)
	}
	ksvc.Main("testfn", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		f := &fn{tag: os.Getenv("TAG"), sink: os.Getenv("SINK_URL"), crashDir: os.Getenv("CRASH_DIR"),
			client: &http.Client{Timeout: 5 * time.Second}}
		svc := ksvc.Service{Events: f.handle, GRPC: ksvc.NewGRPCServer()}
		if os.Getenv("HTTP_ROUTES") != "" {
			svc.HTTP = httpRoutes()
		}
		return svc, nil
	})
}

// httpRoutes serve the timeout and drain tests (HTTP_ROUTES=1):
// /ws echoes WebSocket messages, /hang never starts its response,
// /slow?d=1s answers after d, and /fetch?url=… answers with what a GET of
// url (through the environment's proxy) returned.
func httpRoutes() http.Handler {
	mux := http.NewServeMux()
	upgrader := websocket.Upgrader{}
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	})
	// The test's HTTPS "outside" has a self-signed certificate.
	insecure := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		resp, err := insecure.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(d)
		fmt.Fprintf(w, "slept %s", d)
	})
	return mux
}

type fn struct {
	tag, sink, crashDir string
	client              *http.Client
}

func (f *fn) handle(ctx context.Context, e event.Event) (*event.Event, error) {
	switch e.Type() {
	case "test.fail":
		f.report(ctx, e)
		return nil, errors.New("test.fail always fails")
	case "test.poison":
		f.report(ctx, e)
		return nil, ksvc.Permanent(errors.New("test.poison cannot be processed"))
	case "test.crash":
		marker := filepath.Join(f.crashDir, e.ID())
		if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
			os.WriteFile(marker, nil, 0o600)
			os.Exit(3) // mid-request, without answering
		}
	case "test.slow":
		d, _ := time.ParseDuration(string(e.Data()))
		time.Sleep(d)
	}
	if err := f.report(ctx, e); err != nil {
		return nil, err
	}
	if e.Type() == "test.reply" {
		r := event.New()
		r.SetID(e.ID() + "-reply")
		r.SetSource("testfn/" + f.tag)
		r.SetType("test.replied")
		r.SetExtension(cekafka.PartitionKey, e.Extensions()[cekafka.PartitionKey])
		r.SetData("text/plain", e.Data())
		return &r, nil
	}
	return nil, nil
}

func (f *fn) report(ctx context.Context, e event.Event) error {
	if f.sink == "" {
		return nil
	}
	key, _ := e.Extensions()[cekafka.PartitionKey].(string)
	body, _ := json.Marshal(Record{Tag: f.tag, ID: e.ID(), Type: e.Type(), Key: key, Data: string(e.Data()), PID: os.Getpid()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.sink, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("report to sink: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sink answered %s", resp.Status)
	}
	return nil
}

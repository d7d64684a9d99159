package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A request body that stops coming is cut off at ReadBodyTimeout with 400,
// not waited for with a goroutine and a connection.
func TestARequestBodyThatStallsIsCutOff(t *testing.T) {
	g := New(Config{PublicURL: "http://chat.example", ReadBodyTimeout: 200 * time.Millisecond}, Clients{}, nil,
		slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body, stall := io.Pipe()
	defer stall.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/auth/login", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 100
	req.Header.Set("Content-Type", "application/json")
	go stall.Write([]byte(`{"login":`)) // and nothing more
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		if code != http.StatusBadRequest && code != 0 {
			t.Errorf("a stalled body got %d, want 400 or the connection closed", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway still waits for a stalled body after 10s")
	}
}

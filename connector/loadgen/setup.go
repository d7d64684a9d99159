package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// setup creates (or logs into) the accounts and rooms of a run and returns
// one token per account and the room ids. Rooms are public; each account
// joins the rooms its clients are in.
func setup(ctx context.Context, cfg Config) ([]string, []string, error) {
	tokens := make([]string, cfg.Users)
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Users)
	sem := make(chan struct{}, 4) // the account endpoints are rate limited per IP
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			tok, err := account(ctx, cfg.URL, fmt.Sprintf("%s%d", cfg.Prefix, i))
			if err != nil {
				errs <- err
				return
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, nil, err
	}
	rooms := make([]string, cfg.Rooms)
	for r := range rooms {
		var room struct{ ID string }
		if err := call(ctx, cfg.URL, "POST", "/api/v1/rooms", tokens[0], map[string]string{"name": fmt.Sprintf("%s room %d %d", cfg.Prefix, r, time.Now().Unix())}, &room); err != nil {
			return nil, nil, fmt.Errorf("create room: %w", err)
		}
		rooms[r] = room.ID
	}
	joined := map[[2]int]bool{}
	for i := range cfg.Clients {
		u, r := i%cfg.Users, i%cfg.Rooms
		if joined[[2]int{u, r}] {
			continue
		}
		joined[[2]int{u, r}] = true
		if err := call(ctx, cfg.URL, "POST", "/api/v1/rooms/"+rooms[r]+"/join", tokens[u], nil, nil); err != nil {
			return nil, nil, fmt.Errorf("join: %w", err)
		}
	}
	return tokens, rooms, nil
}

// account registers name, or logs in when it exists from an earlier run.
func account(ctx context.Context, base, name string) (string, error) {
	password := "load-test " + name
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := call(ctx, base, "POST", "/api/v1/auth/register", "", map[string]string{"username": name, "email": name + "@load.test", "password": password}, &out)
	if err != nil {
		err = call(ctx, base, "POST", "/api/v1/auth/login", "", map[string]string{"login": name, "password": password}, &out)
	}
	return out.AccessToken, err
}

// call makes one REST call, waiting out rate limits.
func call(ctx context.Context, base, method, path, token string, body, out any) error {
	b, _ := json.Marshal(body)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 100 {
			resp.Body.Close()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			var e map[string]any
			json.NewDecoder(resp.Body).Decode(&e)
			return fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, e)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
}

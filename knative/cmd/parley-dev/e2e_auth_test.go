package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// runningStack is the platform `make run` started, seen from outside.
type runningStack struct {
	url     string // the connector
	metrics string // the emulator's metrics URL
	makePID int
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// errorCode returns body.error.code of a REST error.
func (r reply) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (s *runningStack) call(t *testing.T, method, path, token, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	json.Unmarshal(raw, &r.body)
	return r
}

func (s *runningStack) json(t *testing.T, method, path, token string, v any) reply {
	t.Helper()
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	return s.call(t, method, path, token, "application/json", body)
}

func (s *runningStack) register(t *testing.T, name string) (token, refresh, id string) {
	t.Helper()
	r := s.json(t, "POST", "/api/v1/auth/register", "", map[string]string{
		"username": name, "email": name + "@example.com", "password": "correct horse " + name})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.status, r.raw)
	}
	user := r.body["user"].(map[string]any)
	return r.body["access_token"].(string), r.body["refresh_token"].(string), user["id"].(string)
}

// metric returns the value of one sample line of the emulator's metrics.
func (s *runningStack) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func (s *runningStack) testAuthColdStart(t *testing.T) {
	const series = `emulator_cold_starts_total{service="auth"}`
	if v := s.metric(t, series); v != "" && v != "0" {
		t.Fatalf("auth started before anyone called it: %s = %s", series, v)
	}
	s.register(t, "firstuser") // REST → connector → gRPC → activator → auth
	if v := s.metric(t, series); v != "1" {
		t.Fatalf("%s = %q after the first call, want 1", series, v)
	}
}

func (s *runningStack) testAccounts(t *testing.T) {
	ada, adaRefresh, adaID := s.register(t, "ada")
	_, _, bobID := s.register(t, "bob")

	if r := s.json(t, "POST", "/api/v1/auth/login", "", map[string]string{"login": "ada@example.com", "password": "correct horse ada"}); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	if r := s.json(t, "POST", "/api/v1/auth/login", "", map[string]string{"login": "ada", "password": "nope nope"}); r.status != 401 || r.errorCode() != "invalid_credentials" {
		t.Fatalf("wrong password: %d %s", r.status, r.raw)
	}
	me := s.json(t, "GET", "/api/v1/me", ada, nil)
	if me.status != 200 || me.body["username"] != "ada" || me.body["email"] != "ada@example.com" || me.body["id"] != adaID {
		t.Fatalf("me: %d %s", me.status, me.raw)
	}
	if r := s.json(t, "PATCH", "/api/v1/me", ada, map[string]string{"display_name": "Ada Lovelace"}); r.status != 200 || r.body["display_name"] != "Ada Lovelace" {
		t.Fatalf("update me: %d %s", r.status, r.raw)
	}

	room := s.json(t, "POST", "/api/v1/rooms", ada, map[string]string{"name": "engines", "kind": "private"})
	if room.status != 201 || room.body["my_role"] != "owner" || room.body["kind"] != "private" {
		t.Fatalf("create room: %d %s", room.status, room.raw)
	}
	roomID := room.body["id"].(string)
	if r := s.json(t, "POST", "/api/v1/rooms/"+roomID+"/invites", ada, map[string]string{"user_id": bobID}); r.status != 201 || r.body["role"] != "member" {
		t.Fatalf("invite: %d %s", r.status, r.raw)
	}
	members := s.json(t, "GET", "/api/v1/rooms/"+roomID+"/members", ada, nil)
	if list, _ := members.body["members"].([]any); members.status != 200 || len(list) != 2 {
		t.Fatalf("members: %d %s", members.status, members.raw)
	}
	dm := s.json(t, "POST", "/api/v1/dms", ada, map[string]string{"user_id": bobID})
	dmAgain := s.json(t, "POST", "/api/v1/dms", ada, map[string]string{"user_id": bobID})
	if dm.status != 200 || dm.body["kind"] != "direct" || dm.body["id"] != dmAgain.body["id"] {
		t.Fatalf("dm: %s / %s", dm.raw, dmAgain.raw)
	}
	found := s.json(t, "GET", "/api/v1/users?prefix=bo", ada, nil)
	if users, _ := found.body["users"].([]any); len(users) != 1 {
		t.Fatalf("user search: %s", found.raw)
	}

	// Refresh rotates; logout revokes.
	r := s.json(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": adaRefresh})
	if r.status != 200 || r.body["refresh_token"] == adaRefresh {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	newRefresh := r.body["refresh_token"].(string)
	if r := s.json(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": newRefresh}); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if r := s.json(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": newRefresh}); r.status != 401 || r.errorCode() != "invalid_grant" {
		t.Fatalf("refresh after logout: %d %s", r.status, r.raw)
	}
}

func (s *runningStack) testOAuth2(t *testing.T) {
	s.register(t, "oauthuser")
	ctx := context.Background()
	cfg := &oauth2.Config{ClientID: "parley-cli", Endpoint: oauth2.Endpoint{TokenURL: s.url + "/oauth/token"}}
	tok, err := cfg.PasswordCredentialsToken(ctx, "oauthuser", "correct horse oauthuser")
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || time.Until(tok.Expiry) < 10*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	// The client library's HTTP client authenticates API calls.
	resp, err := cfg.Client(ctx, tok).Get(s.url + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/me with an OAuth2 client: %d", resp.StatusCode)
	}
	// An expired access token is refreshed by the library through the refresh_token grant.
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh grant did not rotate the tokens")
	}

	var re *oauth2.RetrieveError
	if _, err := cfg.PasswordCredentialsToken(ctx, "oauthuser", "wrong password"); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("wrong password: %v", err)
	}
	bad := *cfg
	bad.ClientID = "unknown-client"
	if _, err := bad.PasswordCredentialsToken(ctx, "oauthuser", "correct horse oauthuser"); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("unknown client: %v", err)
	}
	r := s.call(t, "POST", "/oauth/token", "", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials&client_id=parley-cli"))
	if r.status != 400 || r.body["error"] != "unsupported_grant_type" {
		t.Fatalf("unsupported grant: %d %s", r.status, r.raw)
	}

	disc := s.json(t, "GET", "/.well-known/oauth-authorization-server", "", nil)
	if disc.body["issuer"] != s.url || disc.body["token_endpoint"] != s.url+"/oauth/token" || disc.body["jwks_uri"] != s.url+"/.well-known/jwks.json" {
		t.Fatalf("discovery: %s", disc.raw)
	}
	jwks := s.json(t, "GET", "/.well-known/jwks.json", "", nil)
	keys, _ := jwks.body["keys"].([]any)
	if jwks.status != 200 || len(keys) == 0 || keys[0].(map[string]any)["crv"] != "Ed25519" || strings.Contains(string(jwks.raw), `"d"`) {
		t.Fatalf("jwks: %s", jwks.raw)
	}
}

func (s *runningStack) testBadInput(t *testing.T) {
	token, _, _ := s.register(t, "checker")
	long := strings.Repeat("x", 300)
	reg := func(username, email, password, display string) []byte {
		b, _ := json.Marshal(map[string]string{"username": username, "email": email, "password": password, "display_name": display})
		return b
	}
	cases := []struct {
		name, method, path, ctype, token string
		body                             []byte
		status                           int
		code                             string
	}{
		{"empty username", "POST", "/api/v1/auth/register", "application/json", "", reg("", "e1@example.com", "password123", ""), 400, "invalid_argument"},
		{"overlong username", "POST", "/api/v1/auth/register", "application/json", "", reg(long, "e2@example.com", "password123", ""), 400, "invalid_argument"},
		{"sql injection username", "POST", "/api/v1/auth/register", "application/json", "", reg("x'); DROP TABLE users;--", "e3@example.com", "password123", ""), 400, "invalid_argument"},
		{"control characters", "POST", "/api/v1/auth/register", "application/json", "", reg("ctrlname", "e4@example.com", "password123", "bell\u0007"), 400, "invalid_argument"},
		{"overlong display name", "POST", "/api/v1/auth/register", "application/json", "", reg("longdisplay", "e5@example.com", "password123", long), 400, "invalid_argument"},
		{"invalid utf-8", "POST", "/api/v1/auth/register", "application/json", "", []byte("{\"username\":\"utf\xff8\",\"email\":\"e6@example.com\",\"password\":\"password123\"}"), 400, "invalid_utf8"},
		{"oversized body", "POST", "/api/v1/auth/register", "application/json", "", []byte(`{"username":"` + strings.Repeat("a", 70<<10) + `"}`), 413, "body_too_large"},
		{"wrong content type", "POST", "/api/v1/auth/register", "text/plain", "", reg("plaintext", "e7@example.com", "password123", ""), 415, "unsupported_media_type"},
		{"form content type", "POST", "/api/v1/auth/register", "application/x-www-form-urlencoded", "", []byte("username=formuser"), 415, "unsupported_media_type"},
		{"malformed json", "POST", "/api/v1/auth/register", "application/json", "", []byte(`{"username": "broken"`), 400, "invalid_json"},
		{"unknown field", "POST", "/api/v1/auth/register", "application/json", "", []byte(`{"username":"extra1","email":"e8@example.com","password":"password123","role":"admin"}`), 400, "invalid_json"},
		{"wrong type", "POST", "/api/v1/auth/register", "application/json", "", []byte(`{"username":42}`), 400, "invalid_json"},
		{"two values", "POST", "/api/v1/auth/register", "application/json", "", []byte(`{"username":"twice1"} {}`), 400, "invalid_json"},
		{"no token", "GET", "/api/v1/me", "", "", nil, 401, "unauthorized"},
		{"bad token", "GET", "/api/v1/me", "", "not.a.token", nil, 401, "invalid_token"},
		{"token in url is ignored", "GET", "/api/v1/me?access_token=" + token, "", "", nil, 401, "unauthorized"},
		{"bad room id", "GET", "/api/v1/rooms/not-a-uuid", "", token, nil, 400, "invalid_argument"},
		{"unknown room", "GET", "/api/v1/rooms/0190b0a0-0000-7000-8000-000000000000", "", token, nil, 404, "room_not_found"},
		{"bad room kind", "POST", "/api/v1/rooms", "application/json", token, []byte(`{"name":"x","kind":"secret"}`), 400, "invalid_argument"},
		{"bad limit", "GET", "/api/v1/users?prefix=a&limit=1000", "", token, nil, 400, "invalid_argument"},
		{"unknown endpoint", "GET", "/api/v1/nope", "", token, nil, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.path, c.token, c.ctype, c.body)
			if r.status != c.status || r.errorCode() != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, c.status, c.code)
			}
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("error without a message: %s", r.raw)
			}
		})
	}
	// Nothing of the rejected registrations was stored.
	for _, prefix := range []string{"x'", "ctrl", "longd", "utf", "plain", "formu", "broken", "extra", "twice"} {
		r := s.json(t, "GET", "/api/v1/users?prefix="+urlQuery(prefix), token, nil)
		if users, _ := r.body["users"].([]any); r.status != 200 || len(users) != 0 {
			t.Errorf("search %q after bad registrations: %d %s", prefix, r.status, r.raw)
		}
	}
	// And the service still serves.
	s.register(t, "stillworks")
}

func urlQuery(s string) string {
	return strings.NewReplacer("'", "%27", " ", "%20").Replace(s)
}

func (s *runningStack) testHeaders(t *testing.T) {
	r := s.json(t, "GET", "/.well-known/jwks.json", "", nil)
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	req, _ := http.NewRequest("OPTIONS", s.url+"/api/v1/auth/login", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS allowed a foreign origin: %v", resp.Header)
	}
}

func (s *runningStack) testRateLimit(t *testing.T) {
	limited := 0
	for i := range 150 {
		r := s.json(t, "POST", "/api/v1/auth/login", "", map[string]string{"login": fmt.Sprint("nobody", i), "password": "whatever1"})
		if r.status == http.StatusTooManyRequests {
			// Either the gateway's request limit or auth's failed-login throttle (per IP).
			switch code := r.errorCode(); {
			case code == "rate_limited" && r.header.Get("Retry-After") != "":
			case code == "too_many_attempts":
			default:
				t.Fatalf("429 without a known code or Retry-After: %v %s", r.header, r.raw)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("150 rapid logins from one address were never rate limited")
	}
}

package platform

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// sessionCall posts to an auth endpoint as a browser page would, with the
// given Origin, SessionHeader value and refresh cookie ("" leaves each out).
func sessionCall(t *testing.T, path, origin, header, cookie string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", plat.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if header != "" {
		req.Header.Set("X-Parley-Session", header)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "parley_refresh", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// refreshCookie returns the parley_refresh cookie a response sets, or nil.
func refreshCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "parley_refresh" {
			return c
		}
	}
	return nil
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// The web client's refresh token lives in an HttpOnly, SameSite=Strict
// cookie scoped to the auth endpoints, used only with the session header
// from the connector's own origin, rotated on every refresh with reuse
// detection, and dropped at logout.
func TestSessionCookieIsHttpOnlyRotatedAndRefusedCrossSite(t *testing.T) {
	u := newUser(t)
	login := map[string]string{"login": u.name, "password": "password " + u.name}
	origin := plat.publicURL

	// Login from another origin, or without the header's value, sets nothing.
	for name, c := range map[string]struct{ origin, header string }{
		"another origin": {"http://evil.example", "cookie"}, "no origin": {"", "cookie"}, "bad header": {origin, "yes"},
	} {
		resp, out := sessionCall(t, "/api/v1/auth/login", c.origin, c.header, "", login)
		if resp.StatusCode != http.StatusForbidden || refreshCookie(resp) != nil {
			t.Errorf("login, %s: %d %v, cookie %v; want 403 and no cookie", name, resp.StatusCode, out, refreshCookie(resp))
		}
	}

	resp, out := sessionCall(t, "/api/v1/auth/login", origin, "cookie", "", login)
	first := refreshCookie(resp)
	if resp.StatusCode != http.StatusOK || first == nil || first.Value == "" {
		t.Fatalf("login: %d %v, cookie %v", resp.StatusCode, out, first)
	}
	if _, inBody := out["refresh_token"]; inBody || out["access_token"] == "" {
		t.Errorf("the web client's login answered %v: the refresh token belongs in the cookie only", out)
	}
	if !first.HttpOnly || first.SameSite != http.SameSiteStrictMode || first.Path != "/api/v1/auth/" || first.Secure || first.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/api/v1/auth/, persistent, not Secure over http", first)
	}

	// Using the cookie takes the header and the connector's own origin.
	for name, c := range map[string]struct{ origin, header string }{
		"another origin": {"http://evil.example", "cookie"}, "no origin": {"", "cookie"},
		"no header": {origin, ""}, "bad header": {origin, "1"},
	} {
		resp, out := sessionCall(t, "/api/v1/auth/refresh", c.origin, c.header, first.Value, map[string]string{})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("refresh, %s: %d %v, want 403", name, resp.StatusCode, out)
		}
		resp, out = sessionCall(t, "/api/v1/auth/logout", c.origin, c.header, first.Value, map[string]string{})
		if resp.StatusCode != http.StatusForbidden || refreshCookie(resp) != nil {
			t.Errorf("logout, %s: %d %v, want 403 and the cookie untouched", name, resp.StatusCode, out)
		}
	}
	if resp, out := sessionCall(t, "/api/v1/auth/refresh", origin, "cookie", "", map[string]string{}); resp.StatusCode != http.StatusUnauthorized || errCode(out) != "no_session" {
		t.Errorf("refresh without a cookie: %d %v, want 401 no_session", resp.StatusCode, out)
	}

	// A refresh rotates the cookie, and the new access token works.
	resp, out = sessionCall(t, "/api/v1/auth/refresh", origin, "cookie", first.Value, map[string]string{})
	second := refreshCookie(resp)
	if resp.StatusCode != http.StatusOK || second == nil || second.Value == first.Value {
		t.Fatalf("refresh: %d %v, cookie %v: want a new one", resp.StatusCode, out, second)
	}
	access, _ := out["access_token"].(string)
	rest(t, "GET", "/api/v1/me", access, nil, http.StatusOK, nil)

	// The rotated cookie again (a stolen copy): refused, cleared, and the
	// whole family revoked, the legitimate cookie included.
	resp, out = sessionCall(t, "/api/v1/auth/refresh", origin, "cookie", first.Value, map[string]string{})
	if c := refreshCookie(resp); resp.StatusCode != http.StatusUnauthorized || c == nil || c.MaxAge >= 0 {
		t.Errorf("reused cookie: %d %v, cookie %v: want 401 and the cookie cleared", resp.StatusCode, out, c)
	}
	if resp, _ := sessionCall(t, "/api/v1/auth/refresh", origin, "cookie", second.Value, map[string]string{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the family outlived a reuse: %d", resp.StatusCode)
	}

	// Logout revokes and clears.
	resp, _ = sessionCall(t, "/api/v1/auth/login", origin, "cookie", "", login)
	third := refreshCookie(resp)
	resp, out = sessionCall(t, "/api/v1/auth/logout", origin, "cookie", third.Value, map[string]string{})
	if c := refreshCookie(resp); resp.StatusCode != http.StatusNoContent || c == nil || c.MaxAge >= 0 {
		t.Errorf("logout: %d %v, cookie %v: want 204 and the cookie cleared", resp.StatusCode, out, c)
	}
	if resp, _ := sessionCall(t, "/api/v1/auth/refresh", origin, "cookie", third.Value, map[string]string{}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d, want 401", resp.StatusCode)
	}

	// Clients without the header keep the token in the body, and no cookie.
	resp, out = sessionCall(t, "/api/v1/auth/login", "", "", "", login)
	if rt, _ := out["refresh_token"].(string); resp.StatusCode != http.StatusOK || rt == "" || refreshCookie(resp) != nil ||
		strings.Contains(resp.Header.Get("Set-Cookie"), "parley_refresh") {
		t.Errorf("a plain client's login: %d, refresh token %q, cookie %v", resp.StatusCode, rt, refreshCookie(resp))
	}
}

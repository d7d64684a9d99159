package gateway

import (
	"net/http"
	"net/url"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// The web client's session. Its refresh token lives in an HttpOnly cookie,
// out of reach of any script (an XSS cannot read it, only use it while the
// page is open), scoped to the auth endpoints and SameSite=Strict, so
// another site cannot make the browser send it. The access token stays in
// the page's memory. Against cross-site request forgery each request that
// sets or uses the cookie must also carry SessionHeader, which a page of
// another origin cannot add without a CORS preflight the gateway never
// grants, and an Origin equal to PublicURL's.
//
// Other clients (the CLI, tests) keep the refresh token in the JSON body,
// as before: without SessionHeader no cookie is set or read.
const (
	// SessionHeader asks for, and proves a same-origin caller of, the
	// cookie session: "X-Parley-Session: cookie".
	SessionHeader = "X-Parley-Session"
	sessionMode   = "cookie"
	// RefreshCookie holds the refresh token; it is sent only to
	// refreshCookiePath, where refresh and logout live.
	RefreshCookie     = "parley_refresh"
	refreshCookiePath = "/api/v1/auth/"
)

var (
	errNoSession    = errorf(http.StatusUnauthorized, "no_session", "no session cookie: log in")
	errCrossOrigin  = errorf(http.StatusForbidden, "origin_not_allowed", "the session cookie is only used from the web client's own origin")
	errNoCSRFHeader = errorf(http.StatusForbidden, "session_header_required", "send "+SessionHeader+": "+sessionMode+" to use the session cookie")
)

// cookieSession says whether r asks for the cookie session, and refuses
// one that cannot have come from the web client's own pages.
func (g *Gateway) cookieSession(r *http.Request) (bool, *apiError) {
	mode := r.Header.Get(SessionHeader)
	if mode == "" {
		return false, nil
	}
	if mode != sessionMode {
		return false, errNoCSRFHeader
	}
	// Browsers send Origin with every POST; a caller without one is not a
	// browser page and has no business with a browser's cookie.
	if o := r.Header.Get("Origin"); o == "" || o != g.publicOrigin {
		return false, errCrossOrigin
	}
	return true, nil
}

// setRefreshCookie hands the browser its new refresh token (rotated on
// every use) and takes it out of the body.
func (g *Gateway) setRefreshCookie(w http.ResponseWriter, t *tokenJSON) {
	http.SetCookie(w, &http.Cookie{Name: RefreshCookie, Value: t.RefreshToken, Path: refreshCookiePath,
		MaxAge: int(g.cfg.RefreshTTL / time.Second), HttpOnly: true, Secure: g.secureCookies, SameSite: http.SameSiteStrictMode})
	t.RefreshToken = ""
}

func (g *Gateway) clearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: RefreshCookie, Path: refreshCookiePath, MaxAge: -1, HttpOnly: true,
		Secure: g.secureCookies, SameSite: http.SameSiteStrictMode})
}

// writeTokens answers a login, registration or refresh.
func (g *Gateway) writeTokens(w http.ResponseWriter, status int, resp *authv1.TokenResponse, cookie bool) {
	out := tokenOut(resp)
	if cookie {
		g.setRefreshCookie(w, &out)
	}
	writeJSON(w, status, out)
}

// refreshTokenOf is the token a refresh or logout presents: the body's,
// else (for the web client) the cookie's.
func (g *Gateway) refreshTokenOf(r *http.Request, body string) (token string, cookie bool, e *apiError) {
	if body != "" {
		return body, false, nil
	}
	cookie, e = g.cookieSession(r)
	if e != nil {
		return "", false, e
	}
	if !cookie {
		if _, err := r.Cookie(RefreshCookie); err == nil {
			return "", false, errNoCSRFHeader // a cookie sent without the header: maybe forged
		}
		return "", false, &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "refresh_token",
			Message: "refresh_token is required (or the session cookie with " + SessionHeader + ")"}
	}
	c, err := r.Cookie(RefreshCookie)
	if err != nil || c.Value == "" {
		return "", true, errNoSession
	}
	return c.Value, true, nil
}

func originOf(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

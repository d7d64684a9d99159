package gateway

import (
	"encoding/json"
	"net/http"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// token is the OAuth2 token endpoint (RFC 6749 §3.2) for the "password"
// (§4.3) and "refresh_token" (§6) grants. Errors use §5.2's format, not the
// REST API's, so standard OAuth2 clients understand them.
func (g *Gateway) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "send the request as application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	clientID := r.PostForm.Get("client_id")
	if user, _, ok := r.BasicAuth(); ok {
		clientID = user
	}
	if !slices.Contains(g.cfg.OAuthClients, clientID) {
		w.Header().Set("WWW-Authenticate", `Basic realm="parley"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	var (
		resp *authv1.TokenResponse
		err  error
	)
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "password":
		user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
		if user == "" || pass == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
			return
		}
		resp, err = g.auth.Login(ctx, &authv1.LoginRequest{Login: user, Password: pass, ClientIp: g.ClientIP(r)})
	case "refresh_token":
		tok := r.PostForm.Get("refresh_token")
		if tok == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
			return
		}
		resp, err = g.auth.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: tok})
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported grants: password, refresh_token")
		return
	}
	if err != nil {
		st := status.Convert(err)
		switch st.Code() {
		case codes.Unauthenticated, codes.ResourceExhausted, codes.InvalidArgument:
			oauthError(w, http.StatusBadRequest, "invalid_grant", st.Message())
		case codes.Unavailable, codes.DeadlineExceeded:
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "retry shortly")
		default:
			g.log.Error("token endpoint", "error", err)
			oauthError(w, http.StatusInternalServerError, "server_error", "internal error")
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": resp.AccessToken, "token_type": resp.TokenType, "expires_in": resp.ExpiresIn,
		"refresh_token": resp.RefreshToken,
	})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// discovery is the authorization server metadata (RFC 8414).
func (g *Gateway) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                g.cfg.Issuer,
		"token_endpoint":                        g.cfg.PublicURL + "/oauth/token",
		"jwks_uri":                              g.cfg.PublicURL + "/.well-known/jwks.json",
		"grant_types_supported":                 []string{"password", "refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"response_types_supported":              []string{},
		"token_endpoint_auth_signing_alg_values_supported": []string{"EdDSA"},
	})
}

func (g *Gateway) jwks(w http.ResponseWriter, r *http.Request) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.GetJWKS(ctx, &authv1.GetJWKSRequest{})
	if err != nil {
		return fromGRPC(err)
	}
	if !json.Valid(resp.Json) {
		return errorf(http.StatusBadGateway, "bad_gateway", "the auth function returned an invalid key set")
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(resp.Json)
	return nil
}

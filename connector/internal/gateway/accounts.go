package gateway

import (
	"net/http"
	"strconv"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

func (g *Gateway) register(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Username    string `json:"username"`
		Email       string `json:"email"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	cookie, e := g.cookieSession(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.Register(ctx, &authv1.RegisterRequest{Username: in.Username, Email: in.Email,
		Password: in.Password, DisplayName: in.DisplayName, ClientIp: g.ClientIP(r)})
	if err != nil {
		return fromGRPC(err)
	}
	g.writeTokens(w, http.StatusCreated, resp, cookie)
	return nil
}

func (g *Gateway) login(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	cookie, e := g.cookieSession(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.Login(ctx, &authv1.LoginRequest{Login: in.Login, Password: in.Password, ClientIp: g.ClientIP(r)})
	if err != nil {
		return fromGRPC(err)
	}
	g.writeTokens(w, http.StatusOK, resp, cookie)
	return nil
}

type refreshIn struct {
	RefreshToken string `json:"refresh_token"`
}

func (g *Gateway) refresh(w http.ResponseWriter, r *http.Request) *apiError {
	var in refreshIn
	if e := decode(r, &in); e != nil {
		return e
	}
	token, cookie, e := g.refreshTokenOf(r, in.RefreshToken)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: token})
	if err != nil {
		e := fromGRPC(err)
		if cookie && e.status == http.StatusUnauthorized {
			g.clearRefreshCookie(w) // revoked or reused: the session is over
		}
		return e
	}
	g.writeTokens(w, http.StatusOK, resp, cookie)
	return nil
}

func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) *apiError {
	var in refreshIn
	if e := decode(r, &in); e != nil {
		return e
	}
	token, cookie, e := g.refreshTokenOf(r, in.RefreshToken)
	if cookie {
		g.clearRefreshCookie(w) // whatever auth answers, this browser is logged out
	}
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	if _, err := g.auth.Logout(ctx, &authv1.LogoutRequest{RefreshToken: token}); err != nil {
		return fromGRPC(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) changePassword(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	if _, err := g.auth.ChangePassword(ctx, &authv1.ChangePasswordRequest{Caller: c,
		CurrentPassword: in.CurrentPassword, NewPassword: in.NewPassword}); err != nil {
		return fromGRPC(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) me(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	return g.userByID(w, r, c, c.UserId)
}

func (g *Gateway) getUser(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	return g.userByID(w, r, c, r.PathValue("id"))
}

func (g *Gateway) userByID(w http.ResponseWriter, r *http.Request, c *authv1.Caller, id string) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	u, err := g.auth.GetUser(ctx, &authv1.GetUserRequest{Caller: c, UserId: id})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (g *Gateway) updateMe(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		DisplayName *string `json:"display_name"`
		AvatarURL   *string `json:"avatar_url"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	u, err := g.auth.UpdateProfile(ctx, &authv1.UpdateProfileRequest{Caller: c, DisplayName: in.DisplayName, AvatarUrl: in.AvatarURL})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (g *Gateway) searchUsers(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	limit, e := queryLimit(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.SearchUsers(ctx, &authv1.SearchUsersRequest{Caller: c, Prefix: r.URL.Query().Get("prefix"), Limit: limit})
	if err != nil {
		return fromGRPC(err)
	}
	users := make([]*userJSON, 0, len(resp.Users))
	for _, u := range resp.Users {
		users = append(users, userOut(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

func (g *Gateway) setGlobalRole(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		Role string `json:"role"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	role, ok := authv1.ParseGlobalRole(in.Role)
	if !ok {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "role", Message: "role must be user, moderator or admin"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	u, err := g.auth.SetGlobalRole(ctx, &authv1.SetGlobalRoleRequest{Caller: c, UserId: r.PathValue("id"), Role: role})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

// queryLimit reads ?limit=, 1 to 50; absent means the server default.
func queryLimit(r *http.Request) (int32, *apiError) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 50 {
		return 0, &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "limit", Message: "limit must be 1 to 50"}
	}
	return int32(n), nil
}

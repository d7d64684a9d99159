package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// service implements authv1.AuthServiceServer.
type service struct {
	authv1.UnimplementedAuthServiceServer
	store     *store
	tokens    *tokenIssuer
	argon     Argon2Params
	hashing   hashSlots
	dummyHash string // verified against when the login names nobody, so timing tells nothing
	publisher *publisher
	log       *slog.Logger
}

func newService(st *store, tokens *tokenIssuer, argon Argon2Params, hashers int, pub *publisher, log *slog.Logger) (*service, error) {
	dummy, err := hashPassword("parley-timing-equaliser", argon)
	if err != nil {
		return nil, err
	}
	return &service{store: st, tokens: tokens, argon: argon, hashing: make(hashSlots, max(hashers, 1)), dummyHash: dummy,
		publisher: pub, log: log}, nil
}

// hash is hashPassword in one of the service's hashing slots.
func (s *service) hash(ctx context.Context, password string) (hash string, err error) {
	if busy := s.hashing.run(ctx, func() { hash, err = hashPassword(password, s.argon) }); busy != nil {
		return "", busy
	}
	return hash, err
}

// verify is verifyPassword in one of the service's hashing slots; busy is
// set when no slot came free in time.
func (s *service) verify(ctx context.Context, password, encoded string) (ok bool, busy, err error) {
	busy = s.hashing.run(ctx, func() { ok, err = verifyPassword(password, encoded) })
	return ok, busy, err
}

// Accounts.

func (s *service) Register(ctx context.Context, req *authv1.RegisterRequest) (*authv1.TokenResponse, error) {
	displayName := req.DisplayName
	if displayName == "" {
		displayName = req.Username
	}
	for _, err := range []error{validUsername(req.Username), validEmail(req.Email), validPassword("password", req.Password),
		validText("display_name", displayName, maxDisplayName, true)} {
		if err != nil {
			return nil, err
		}
	}
	hash, err := s.hash(ctx, req.Password)
	if err != nil {
		return nil, toStatus(err)
	}
	u := user{ID: uuid.Must(uuid.NewV7()), Username: req.Username, Email: req.Email, DisplayName: displayName,
		PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	ev := outboxEvent{Type: eventsv1.TypeUserCreated, PartitionKey: u.ID.String(), Data: eventsv1.UserCreated{
		UserID: u.ID.String(), Username: u.Username, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt}}
	if u.Role, err = s.store.createUser(ctx, u, ev); err != nil {
		return nil, toStatus(err)
	}
	s.publisher.notify()
	s.log.InfoContext(ctx, "user registered", "user_id", u.ID.String(), "role", u.Role)
	return s.issue(ctx, u, uuid.Nil)
}

func (s *service) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.TokenResponse, error) {
	if req.Login == "" || len(req.Login) > maxEmail || !utf8.ValidString(req.Login) {
		return nil, invalidArgument("login", "must be a username or email of at most %d characters", maxEmail)
	}
	if len(req.Password) > 4*maxPassword {
		return nil, invalidArgument("password", "must be at most %d characters", maxPassword)
	}
	// The identifier is resolved first so that username and email spend
	// one budget; an unknown one costs the same queries and hash as a known
	// one, so neither timing nor locks tell who exists.
	u, err := s.store.userByLogin(ctx, req.Login)
	hash, subject := u.PasswordHash, "user:"+u.ID.String()
	if errors.Is(err, errNoRows) {
		hash, subject = s.dummyHash, "name:"+strings.ToLower(req.Login)
	} else if err != nil {
		return nil, toStatus(err)
	}
	keys := newLoginKeys(subject, req.ClientIp)
	if locked, err := s.store.loginThrottled(ctx, keys); err != nil {
		return nil, toStatus(err)
	} else if locked {
		return nil, errTooManyAttempts
	}
	ok, busy, verr := s.verify(ctx, req.Password, hash)
	if busy != nil {
		return nil, busy
	}
	if verr != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID.String(), "error", verr)
	}
	if !ok || hash == s.dummyHash {
		if err := s.store.recordLoginFailure(ctx, keys); err != nil {
			s.log.WarnContext(ctx, "record login failure", "error", err)
		}
		return nil, errInvalidCredentials
	}
	if err := s.store.clearFailures(ctx, keys.pair); err != nil {
		s.log.WarnContext(ctx, "clear login failures", "error", err)
	}
	return s.issue(ctx, u, uuid.Nil)
}

// issue returns an access token and a new refresh token (a new family when
// family is nil).
func (s *service) issue(ctx context.Context, u user, family uuid.UUID) (*authv1.TokenResponse, error) {
	access, err := s.tokens.accessToken(u)
	if err != nil {
		return nil, toStatus(err)
	}
	refresh, hash := newRefreshToken()
	if family == uuid.Nil {
		family = uuid.Must(uuid.NewV7())
	}
	rt := refreshToken{ID: uuid.Must(uuid.NewV7()), FamilyID: family, UserID: u.ID, Hash: hash,
		ExpiresAt: s.tokens.now().Add(s.tokens.refreshTTL)}
	if err := s.store.insertRefresh(ctx, rt); err != nil {
		return nil, toStatus(err)
	}
	return s.tokenResponse(u, access, refresh), nil
}

func (s *service) tokenResponse(u user, access, refresh string) *authv1.TokenResponse {
	return &authv1.TokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.tokens.accessTTL.Seconds()),
		RefreshToken: refresh, User: userProto(u, true)}
}

func (s *service) Refresh(ctx context.Context, req *authv1.RefreshRequest) (*authv1.TokenResponse, error) {
	if req.RefreshToken == "" || len(req.RefreshToken) > 128 {
		return nil, errInvalidGrant
	}
	refresh, hash := newRefreshToken()
	next := refreshToken{ID: uuid.Must(uuid.NewV7()), Hash: hash, ExpiresAt: s.tokens.now().Add(s.tokens.refreshTTL)}
	userID, err := s.store.rotateRefresh(ctx, hashRefreshToken(req.RefreshToken), next)
	if errors.Is(err, errRefreshReused) {
		s.log.WarnContext(ctx, "refresh token reuse detected; token family revoked")
	}
	if err != nil {
		return nil, toStatus(err)
	}
	u, err := s.store.userByID(ctx, userID)
	if err != nil {
		return nil, toStatus(err)
	}
	access, err := s.tokens.accessToken(u)
	if err != nil {
		return nil, toStatus(err)
	}
	return s.tokenResponse(u, access, refresh), nil
}

func (s *service) Logout(ctx context.Context, req *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	if req.RefreshToken != "" && len(req.RefreshToken) <= 128 {
		if err := s.store.revokeFamily(ctx, hashRefreshToken(req.RefreshToken)); err != nil {
			return nil, toStatus(err)
		}
	}
	return &authv1.LogoutResponse{}, nil
}

func (s *service) ChangePassword(ctx context.Context, req *authv1.ChangePasswordRequest) (*authv1.ChangePasswordResponse, error) {
	u, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	if err := validPassword("new_password", req.NewPassword); err != nil {
		return nil, err
	}
	// Guessing the current password (with a stolen access token) is held
	// to the same budget as guessing it at login.
	keys := newLoginKeys("password-change:user:"+u.ID.String(), "")
	if locked, err := s.store.loginThrottled(ctx, keys); err != nil {
		return nil, toStatus(err)
	} else if locked {
		return nil, errTooManyAttempts
	}
	ok, busy, _ := s.verify(ctx, req.CurrentPassword, u.PasswordHash)
	if busy != nil {
		return nil, busy
	}
	if !ok {
		if err := s.store.recordLoginFailure(ctx, keys); err != nil {
			s.log.WarnContext(ctx, "record password change failure", "error", err)
		}
		return nil, wrongPassword
	}
	if err := s.store.clearFailures(ctx, keys.pair); err != nil {
		s.log.WarnContext(ctx, "clear password change failures", "error", err)
	}
	hash, err := s.hash(ctx, req.NewPassword)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.store.setPassword(ctx, u.ID, hash); err != nil {
		return nil, toStatus(err)
	}
	return &authv1.ChangePasswordResponse{}, nil
}

func (s *service) GetUser(ctx context.Context, req *authv1.GetUserRequest) (*authv1.User, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	id, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	u, err := s.store.userByID(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return userProto(u, u.ID == me.ID || me.Role == authv1.RoleAdmin), nil
}

func (s *service) UpdateProfile(ctx context.Context, req *authv1.UpdateProfileRequest) (*authv1.User, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	if req.DisplayName != nil {
		if err := validText("display_name", *req.DisplayName, maxDisplayName, true); err != nil {
			return nil, err
		}
	}
	if req.AvatarUrl != nil {
		if err := validAvatarURL(*req.AvatarUrl); err != nil {
			return nil, err
		}
	}
	u, err := s.store.updateProfile(ctx, me.ID, req.DisplayName, req.AvatarUrl)
	if err != nil {
		return nil, toStatus(err)
	}
	return userProto(u, true), nil
}

func (s *service) SearchUsers(ctx context.Context, req *authv1.SearchUsersRequest) (*authv1.SearchUsersResponse, error) {
	if _, err := s.caller(ctx, req.Caller); err != nil {
		return nil, err
	}
	if err := validText("prefix", req.Prefix, maxUsername, true); err != nil {
		return nil, err
	}
	users, err := s.store.searchUsers(ctx, req.Prefix, clampLimit(req.Limit))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &authv1.SearchUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, userProto(u, false))
	}
	return out, nil
}

func (s *service) SetGlobalRole(ctx context.Context, req *authv1.SetGlobalRoleRequest) (*authv1.User, error) {
	me, err := s.caller(ctx, req.Caller)
	if err != nil {
		return nil, err
	}
	if me.Role != authv1.RoleAdmin {
		return nil, errForbidden
	}
	id, err := parseID("user_id", req.UserId)
	if err != nil {
		return nil, err
	}
	if id == me.ID {
		return nil, failedPrecondition("OWN_ROLE", "admins cannot change their own role; ask another admin")
	}
	role := authv1.RoleName(req.Role)
	if req.Role == authv1.GlobalRole_GLOBAL_ROLE_UNSPECIFIED {
		return nil, invalidArgument("role", "must be user, moderator or admin")
	}
	u, err := s.store.setRole(ctx, id, role)
	if err != nil {
		return nil, toStatus(err)
	}
	return userProto(u, true), nil
}

func (s *service) GetJWKS(context.Context, *authv1.GetJWKSRequest) (*authv1.JWKS, error) {
	return &authv1.JWKS{Json: s.tokens.jwks()}, nil
}

// caller loads the calling user; the connector vouches for the id, auth
// re-reads the role so a demotion applies at once.
func (s *service) caller(ctx context.Context, c *authv1.Caller) (user, error) {
	if c == nil {
		return user{}, errUnauthenticated
	}
	id, err := uuid.Parse(c.UserId)
	if err != nil {
		return user{}, errUnauthenticated
	}
	u, err := s.store.userByID(ctx, id)
	if errors.Is(err, errUserNotFound) {
		return u, errUnauthenticated
	}
	return u, toStatus(err)
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, invalidArgument(field, "must be a UUID")
	}
	return id, nil
}

func clampLimit(n int32) int {
	if n <= 0 || n > maxSearchLimit {
		return 20
	}
	return int(n)
}

func userProto(u user, withEmail bool) *authv1.User {
	p := &authv1.User{Id: u.ID.String(), Username: u.Username, DisplayName: u.DisplayName, AvatarUrl: u.AvatarURL,
		Role: globalRoleProto(u.Role)}
	if !u.CreatedAt.IsZero() {
		p.CreatedAt = timestamppb.New(u.CreatedAt)
	}
	if withEmail {
		p.Email = u.Email
	}
	return p
}

// globalRoleProto reads a stored global role; anything unknown is a user.
func globalRoleProto(r string) authv1.GlobalRole {
	if role, ok := authv1.ParseGlobalRole(r); ok {
		return role
	}
	return authv1.GlobalRole_GLOBAL_ROLE_USER
}

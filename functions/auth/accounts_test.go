package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

func TestRegisterLoginAndTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := e.register(t, "ada")
	if reg.User.Role != authv1.GlobalRole_GLOBAL_ROLE_ADMIN {
		t.Errorf("first user role = %v, want admin", reg.User.Role)
	}
	if second := e.register(t, "bob"); second.User.Role != authv1.GlobalRole_GLOBAL_ROLE_USER {
		t.Errorf("second user role = %v, want user", second.User.Role)
	}
	for _, login := range []string{"ada", "ADA", "ada@example.com", "Ada@Example.com"} {
		resp, err := e.client.Login(ctx, &authv1.LoginRequest{Login: login, Password: "correct horse ada"})
		if err != nil {
			t.Fatalf("login as %q: %v", login, err)
		}
		if resp.User.Id != reg.User.Id || resp.TokenType != "Bearer" || resp.ExpiresIn != 900 {
			t.Errorf("login as %q: %+v", login, resp)
		}
	}
	_, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "wrong password"})
	if reason(err) != "INVALID_CREDENTIALS" {
		t.Errorf("wrong password: %v", err)
	}
	_, errUnknown := e.client.Login(ctx, &authv1.LoginRequest{Login: "nobody", Password: "wrong password"})
	if status.Convert(errUnknown).Message() != status.Convert(err).Message() || reason(errUnknown) != reason(err) {
		t.Errorf("unknown user and wrong password differ: %v vs %v", errUnknown, err)
	}

	// The access token carries what the connector needs, signed with the active key.
	var claims authv1.AccessClaims
	tok, _, err := jwt.NewParser().ParseUnverified(reg.AccessToken, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["alg"] != "EdDSA" || tok.Header["kid"] != "k1" || claims.Subject != reg.User.Id ||
		claims.Issuer != "parley-test" || claims.Audience[0] != "parley-test" || claims.ID == "" ||
		claims.Roles[0] != "admin" || claims.Username != "ada" || claims.ExpiresAt.Sub(claims.IssuedAt.Time).Minutes() != 15 {
		t.Errorf("token header %v claims %+v", tok.Header, claims)
	}

	// The stored password is an argon2id hash, never the password.
	var hash string
	e.pool.QueryRow(ctx, "SELECT password_hash FROM users WHERE username = 'ada'").Scan(&hash)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(hash, "correct horse") {
		t.Errorf("stored hash %q", hash)
	}
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r1 := e.register(t, "ada").RefreshToken
	refresh := func(tok string) (*authv1.TokenResponse, error) {
		return e.client.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: tok})
	}
	resp2, err := refresh(r1)
	if err != nil {
		t.Fatal(err)
	}
	r2 := resp2.RefreshToken
	if r2 == r1 || resp2.AccessToken == "" {
		t.Fatal("refresh did not rotate the token")
	}
	resp3, err := refresh(r2)
	if err != nil {
		t.Fatal(err)
	}
	// r1 was rotated away: presenting it again is a replay.
	if _, err := refresh(r1); reason(err) != "INVALID_GRANT" || !strings.Contains(status.Convert(err).Message(), "reuse") {
		t.Fatalf("replayed token: %v", err)
	}
	// ...which revoked the whole family, including the newest token.
	if _, err := refresh(resp3.RefreshToken); reason(err) != "INVALID_GRANT" {
		t.Fatalf("newest token of a revoked family: %v", err)
	}
	// Another login is another family and still works.
	login, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "correct horse ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(login.RefreshToken); err != nil {
		t.Fatalf("fresh family: %v", err)
	}
	if _, err := refresh("not-a-token"); reason(err) != "INVALID_GRANT" {
		t.Fatalf("garbage token: %v", err)
	}
	// Only hashes are stored.
	if n := e.count(t, "SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')", r1); n != 0 {
		t.Error("a refresh token is stored in clear")
	}
}

func TestLogoutAndPasswordChangeRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := e.register(t, "ada")
	if _, err := e.client.Logout(ctx, &authv1.LogoutRequest{RefreshToken: reg.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: reg.RefreshToken}); reason(err) != "INVALID_GRANT" {
		t.Fatalf("refresh after logout: %v", err)
	}
	// Logging out twice, or with garbage, is harmless.
	if _, err := e.client.Logout(ctx, &authv1.LogoutRequest{RefreshToken: "garbage"}); err != nil {
		t.Fatal(err)
	}

	a, _ := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "correct horse ada"})
	b, _ := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "correct horse ada"})
	_, err := e.client.ChangePassword(ctx, &authv1.ChangePasswordRequest{Caller: caller(reg), CurrentPassword: "wrong", NewPassword: "new password 1"})
	if reason(err) != "WRONG_PASSWORD" {
		t.Fatalf("change with wrong current password: %v", err)
	}
	if _, err := e.client.ChangePassword(ctx, &authv1.ChangePasswordRequest{Caller: caller(reg),
		CurrentPassword: "correct horse ada", NewPassword: "new password 1"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*authv1.TokenResponse{a, b} {
		if _, err := e.client.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: s.RefreshToken}); reason(err) != "INVALID_GRANT" {
			t.Errorf("session survived a password change: %v", err)
		}
	}
	if _, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "new password 1"}); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
}

func TestConcurrentRegistrationsOfOneUsername(t *testing.T) {
	e := newEnv(t)
	const n = 100
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "Racer"
			if i%2 == 1 {
				name = "racer" // case-insensitively the same
			}
			_, results[i] = e.client.Register(context.Background(), &authv1.RegisterRequest{
				Username: name, Email: fmt.Sprintf("r%d@example.com", i), Password: "password123"})
		}()
	}
	wg.Wait()
	ok, conflicts, winner := 0, 0, 0
	for i, err := range results {
		switch {
		case err == nil:
			ok++
			winner = i
		case status.Code(err) == codes.AlreadyExists && reason(err) == "USERNAME_TAKEN":
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	if c := e.count(t, "SELECT count(*) FROM users"); c != 1 {
		t.Errorf("%d users stored", c)
	}
	_, err := e.client.Register(context.Background(), &authv1.RegisterRequest{Username: "other", Email: fmt.Sprintf("R%d@EXAMPLE.com", winner), Password: "password123"})
	if reason(err) != "EMAIL_TAKEN" {
		t.Errorf("email reuse with other case: %v", err)
	}
}

// loginFrom returns a login attempt from one client address.
func (e *testEnv) loginFrom(ip string) func(login, password string) error {
	return func(login, password string) error {
		_, err := e.client.Login(context.Background(), &authv1.LoginRequest{Login: login, Password: password, ClientIp: ip})
		return err
	}
}

func TestFailingClientIsThrottled(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada")
	stranger := e.loginFrom("198.51.100.7")
	for i := range pairThrottle.limit {
		if err := stranger("ada", "wrong"); reason(err) != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Locked for this client, even with the right password.
	if err := stranger("ada", "correct horse ada"); reason(err) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("failing client not throttled: %v", err)
	}
	// An unknown account locks the same way, so locks reveal nothing.
	for range pairThrottle.limit {
		stranger("ghost", "wrong")
	}
	if err := stranger("ghost", "wrong"); reason(err) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("unknown account not throttled: %v", err)
	}
	// One address failing across many accounts is locked too.
	sprayer := e.loginFrom("192.0.2.7")
	for i := range clientThrottle.limit {
		sprayer(fmt.Sprintf("user%d", i), "wrong")
	}
	e.register(t, "carol")
	if err := sprayer("carol", "correct horse carol"); reason(err) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("throttled address: %v", err)
	}
	if err := e.loginFrom("192.0.2.8")("carol", "correct horse carol"); err != nil {
		t.Fatalf("other address: %v", err)
	}
}

func TestStrangersCannotLockTheOwnerOut(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada")
	// One stranger keeps failing well past its own lock, by name and email.
	stranger := e.loginFrom("198.51.100.7")
	for i := range 3 * pairThrottle.limit {
		login := "ada"
		if i%2 == 1 {
			login = "ADA@example.com"
		}
		if err := stranger(login, "wrong"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if err := e.loginFrom("203.0.113.9")("ada", "correct horse ada"); err != nil {
		t.Fatalf("owner locked out by one stranger: %v", err)
	}
	// Many strangers together put the account under attack: then any
	// client with a failure against it is refused, and still not the owner.
	for i := range attackAt {
		e.loginFrom(fmt.Sprintf("10.1.%d.%d", i/pairThrottle.limit, i%pairThrottle.limit))("ada@example.com", "wrong")
	}
	typo := e.loginFrom("203.0.113.10")
	if err := typo("ada", "wrong"); reason(err) != "INVALID_CREDENTIALS" {
		t.Fatalf("first failure: %v", err)
	}
	if err := typo("ada", "correct horse ada"); reason(err) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("failing client during an attack: %v", err)
	}
	if err := e.loginFrom("203.0.113.9")("ada@example.com", "correct horse ada"); err != nil {
		t.Fatalf("owner locked out during an attack: %v", err)
	}
}

func TestStaleLoginCountersAreSweptByLaterFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 15 {
		if _, err := e.pool.Exec(ctx, `INSERT INTO login_failures (key, failures, window_start)
			VALUES ($1, 3, now() - interval '1 hour')`, fmt.Sprint("pair:name:old", i, "|10.9.9.9")); err != nil {
			t.Fatal(err)
		}
	}
	// Past its window but still locked: it still counts.
	if _, err := e.pool.Exec(ctx, `INSERT INTO login_failures (key, failures, window_start, locked_until)
		VALUES ('ip:10.9.9.10', 60, now() - interval '1 hour', now() + interval '10 minutes')`); err != nil {
		t.Fatal(err)
	}
	login := e.loginFrom("198.51.100.7")
	for range 2 {
		login("nobody", "wrong")
	}
	if n := e.count(t, "SELECT count(*) FROM login_failures WHERE key LIKE 'pair:name:old%'"); n != 0 {
		t.Errorf("%d stale counters left after two failures", n)
	}
	if n := e.count(t, "SELECT count(*) FROM login_failures WHERE key IN ('ip:10.9.9.10', 'pair:name:nobody|198.51.100.7')"); n != 2 {
		t.Errorf("%d of the 2 counters that still count are left", n)
	}
}

func TestUsernameAndEmailShareOneBudget(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada")
	login := e.loginFrom("198.51.100.7")
	for i := range pairThrottle.limit {
		name := "ada"
		if i%2 == 1 {
			name = "Ada@Example.com"
		}
		if err := login(name, "wrong"); reason(err) != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	for _, name := range []string{"ada", "ada@example.com"} {
		if err := login(name, "correct horse ada"); reason(err) != "TOO_MANY_ATTEMPTS" {
			t.Fatalf("%s keeps its own budget: %v", name, err)
		}
	}
}

func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	long := strings.Repeat("a", 300)
	// Invalid UTF-8 cannot cross gRPC (proto strings are UTF-8); the
	// connector's REST tests cover it at the edge.
	cases := map[string]*authv1.RegisterRequest{
		"empty username":        {Username: "", Email: "a@example.com", Password: "password123"},
		"short username":        {Username: "ab", Email: "a@example.com", Password: "password123"},
		"overlong username":     {Username: long[:33], Email: "a@example.com", Password: "password123"},
		"sql in username":       {Username: "x'; DROP TABLE users;--", Email: "a@example.com", Password: "password123"},
		"bad email":             {Username: "abc", Email: "not-an-email", Password: "password123"},
		"email with name":       {Username: "abc", Email: "Ada <a@example.com>", Password: "password123"},
		"overlong email":        {Username: "abc", Email: long + "@example.com", Password: "password123"},
		"short password":        {Username: "abc", Email: "a@example.com", Password: "short"},
		"overlong password":     {Username: "abc", Email: "a@example.com", Password: long},
		"control in display":    {Username: "abc", Email: "a@example.com", Password: "password123", DisplayName: "bad\x00name"},
		"newline in display":    {Username: "abc", Email: "a@example.com", Password: "password123", DisplayName: "two\nlines"},
		"overlong display name": {Username: "abc", Email: "a@example.com", Password: "password123", DisplayName: long},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.Register(ctx, req)
			if status.Code(err) != codes.InvalidArgument || reason(err) != "INVALID_ARGUMENT" {
				t.Fatalf("got %v", err)
			}
		})
	}
	if n := e.count(t, "SELECT count(*) FROM users"); n != 0 {
		t.Fatalf("%d users stored from bad input", n)
	}
	// SQL in a login is just a wrong login; the table is intact.
	_, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "' OR '1'='1", Password: "' OR '1'='1"})
	if reason(err) != "INVALID_CREDENTIALS" {
		t.Fatalf("sql login: %v", err)
	}
	// Quotes are fine where free text is allowed, and stored verbatim.
	reg, err := e.client.Register(ctx, &authv1.RegisterRequest{Username: "bobby", Email: "b@example.com",
		Password: "password123", DisplayName: "Robert'); DROP TABLE users;--"})
	if err != nil {
		t.Fatal(err)
	}
	if reg.User.DisplayName != "Robert'); DROP TABLE users;--" || e.count(t, "SELECT count(*) FROM users") != 1 {
		t.Fatalf("display name %q", reg.User.DisplayName)
	}
	for name, req := range map[string]*authv1.UpdateProfileRequest{
		"javascript avatar": {Caller: caller(reg), AvatarUrl: ptr("javascript:alert(1)")},
		"avatar with creds": {Caller: caller(reg), AvatarUrl: ptr("https://u:p@example.com/a.png")},
		"empty display":     {Caller: caller(reg), DisplayName: ptr("")},
	} {
		if _, err := e.client.UpdateProfile(ctx, req); reason(err) != "INVALID_ARGUMENT" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.client.GetUser(ctx, &authv1.GetUserRequest{Caller: &authv1.Caller{UserId: "not-a-uuid"}, UserId: reg.User.Id}); reason(err) != "UNAUTHENTICATED" {
		t.Errorf("bad caller: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestProfileAndSearch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ada := e.register(t, "ada")
	e.register(t, "adam")
	e.register(t, "bob")
	e.register(t, "a_b") // '_' must match literally, not as a LIKE wildcard
	u, err := e.client.UpdateProfile(ctx, &authv1.UpdateProfileRequest{Caller: caller(ada), DisplayName: ptr("Ada L."), AvatarUrl: ptr("https://example.com/ada.png")})
	if err != nil || u.DisplayName != "Ada L." || u.AvatarUrl != "https://example.com/ada.png" {
		t.Fatalf("update: %+v %v", u, err)
	}
	res, err := e.client.SearchUsers(ctx, &authv1.SearchUsersRequest{Caller: caller(ada), Prefix: "AD"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range res.Users {
		names = append(names, u.Username)
		if u.Email != "" {
			t.Errorf("search leaks email of %s", u.Username)
		}
	}
	if strings.Join(names, ",") != "ada,adam" {
		t.Errorf("search AD = %v", names)
	}
	res, _ = e.client.SearchUsers(ctx, &authv1.SearchUsersRequest{Caller: caller(ada), Prefix: "a_"})
	if len(res.Users) != 1 || res.Users[0].Username != "a_b" {
		t.Errorf("search a_ = %v", res.Users)
	}
}

func TestUserCreatedEventReachesTheBroker(t *testing.T) {
	e := newEnv(t)
	e.broker.setDown(true)
	ada := e.register(t, "ada")
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"); n != 1 {
		t.Fatalf("%d unsent events while the broker is down, want 1", n)
	}
	e.broker.setDown(false)
	eventually(t, "user.created delivered after the broker recovers", func() bool {
		return len(e.broker.events(eventsv1.TypeUserCreated)) == 1
	})
	ev := e.broker.events(eventsv1.TypeUserCreated)[0]
	if ev["user_id"] != ada.User.Id || ev["username"] != "ada" || ev["_partitionkey"] != ada.User.Id {
		t.Errorf("event %v", ev)
	}
	// The row is marked sent when its transaction commits, just after the send.
	eventually(t, "outbox row marked sent", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
	})
}

func TestMigrationsAreSafeToRunConcurrently(t *testing.T) {
	e := newEnv(t) // already migrated once
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = migrate(context.Background(), e.pool) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "SELECT count(*) FROM schema_migrations"); n != len(files) {
		t.Errorf("%d migration rows, want one per migration (%d)", n, len(files))
	}
}

func TestPasswordHashing(t *testing.T) {
	h, err := hashPassword("hunter2 hunter2", testArgon)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := verifyPassword("hunter2 hunter2", h); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := verifyPassword("hunter3 hunter3", h); ok {
		t.Error("wrong password accepted")
	}
	h2, _ := hashPassword("hunter2 hunter2", testArgon)
	if h == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!!$AA"} {
		if _, err := verifyPassword("x", bad); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestSigningKeysConfig(t *testing.T) {
	keys, err := parseSigningKeys(generateSigningKey("new") + "," + generateSigningKey("old"))
	if err != nil || len(keys) != 2 || keys[0].kid != "new" {
		t.Fatalf("keys %v %v", keys, err)
	}
	issuer := &tokenIssuer{keys: keys}
	if jwks := string(issuer.jwks()); !strings.Contains(jwks, `"kid":"new"`) || !strings.Contains(jwks, `"kid":"old"`) ||
		!strings.Contains(jwks, `"crv":"Ed25519"`) || strings.Contains(jwks, `"d"`) {
		t.Errorf("jwks %s", jwks)
	}
	for _, bad := range []string{"", "nokid", ":AAAA", "k:short", "k:" + strings.Repeat("A", 43) + ",k:" + strings.Repeat("A", 43)} {
		if _, err := parseSigningKeys(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// A password hash waits for one of the service's hashing slots (each hash
// holds 19 MiB), and fails as busy, not out of memory, when none comes
// free while its caller waits.
func TestPasswordHashesWaitForASlot(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada")
	ctx := context.Background()
	tokens := &tokenIssuer{keys: e.cfg.keys, issuer: e.cfg.issuer, audience: e.cfg.audience,
		accessTTL: time.Minute, refreshTTL: time.Hour, now: time.Now}
	svc, err := newService(&store{pool: e.pool}, tokens, testArgon, 1, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	login := &authv1.LoginRequest{Login: "ada", Password: "correct horse ada", ClientIp: "198.51.100.1"}
	svc.hashing <- struct{}{}                                // the one slot, taken
	short, cancel := context.WithTimeout(ctx, 2*time.Second) // room for the queries before the wait for a slot
	defer cancel()
	if _, err := svc.Login(short, login); reason(err) != "BUSY" || status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("login with every slot taken: %v, want BUSY", err)
	}
	<-svc.hashing
	if _, err := svc.Login(ctx, login); err != nil {
		t.Fatalf("login with a slot free: %v", err)
	}
}

// Guessing the current password to change it is held to the login's
// budget: after pairThrottle.limit wrong guesses even the right one waits.
func TestPasswordChangeGuessesAreThrottled(t *testing.T) {
	e := newEnv(t)
	reg := e.register(t, "ada")
	ctx := context.Background()
	change := func(current string) error {
		_, err := e.client.ChangePassword(ctx, &authv1.ChangePasswordRequest{Caller: caller(reg), CurrentPassword: current,
			NewPassword: "new password 1"})
		return err
	}
	for i := range pairThrottle.limit {
		if err := change("wrong"); reason(err) != "WRONG_PASSWORD" {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := change("correct horse ada"); reason(err) != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("after %d wrong guesses: %v, want TOO_MANY_ATTEMPTS", pairThrottle.limit, err)
	}
	// Logins are another budget: the owner still signs in.
	if _, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "ada", Password: "correct horse ada", ClientIp: "198.51.100.1"}); err != nil {
		t.Fatalf("login after the change was throttled: %v", err)
	}
}

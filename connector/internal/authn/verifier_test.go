package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// keySet is a JWKS served from memory, counting fetches.
type keySet struct {
	mu      sync.Mutex
	keys    map[string]ed25519.PrivateKey
	fetches int
}

func newKeySet(kids ...string) *keySet {
	ks := &keySet{keys: map[string]ed25519.PrivateKey{}}
	for _, kid := range kids {
		ks.add(kid)
	}
	return ks
}

func (ks *keySet) add(kid string) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ks.mu.Lock()
	ks.keys[kid] = priv
	ks.mu.Unlock()
}

func (ks *keySet) JWKS(context.Context) ([]byte, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.fetches++
	var keys []map[string]string
	for kid, priv := range ks.keys {
		keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
			"x": base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))})
	}
	return json.Marshal(map[string]any{"keys": keys})
}

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func validClaims() authv1.AccessClaims {
	return authv1.AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "parley", Subject: "0190b0a0-0000-7000-8000-000000000001", Audience: jwt.ClaimStrings{"parley"},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ID: "jti-1",
		},
		Roles: []string{"moderator"}, Username: "ada",
	}
}

func (ks *keySet) sign(t testing.TB, kid string, c authv1.AccessClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(ks.keys[kid])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestVerifier(t testing.TB, ks *keySet) *Verifier {
	v, err := NewVerifier(ks, Config{Issuer: "parley", Audience: "parley", Now: func() time.Time { return now }, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAcceptsAValidToken(t *testing.T) {
	ks := newKeySet("k1")
	id, err := newTestVerifier(t, ks).Verify(context.Background(), ks.sign(t, "k1", validClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != validClaims().Subject || id.Role != "moderator" || id.Username != "ada" || !id.IsModerator() || id.TokenID != "jti-1" {
		t.Errorf("identity %+v", id)
	}
}

func TestVerifyRejects(t *testing.T) {
	ks := newKeySet("k1")
	v := newTestVerifier(t, ks)
	mutate := func(f func(*authv1.AccessClaims)) string {
		c := validClaims()
		f(&c)
		return ks.sign(t, "k1", c)
	}
	valid := ks.sign(t, "k1", validClaims())
	parts := strings.Split(valid, ".")
	pub := ks.keys["k1"].Public().(ed25519.PublicKey)

	cases := map[string]string{
		"expired":          mutate(func(c *authv1.AccessClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }),
		"no expiry":        mutate(func(c *authv1.AccessClaims) { c.ExpiresAt = nil }),
		"not yet valid":    mutate(func(c *authv1.AccessClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) }),
		"issued in future": mutate(func(c *authv1.AccessClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(5 * time.Minute)) }),
		"wrong audience":   mutate(func(c *authv1.AccessClaims) { c.Audience = jwt.ClaimStrings{"someone-else"} }),
		"wrong issuer":     mutate(func(c *authv1.AccessClaims) { c.Issuer = "evil" }),
		"no subject":       mutate(func(c *authv1.AccessClaims) { c.Subject = "" }),
		"no roles":         mutate(func(c *authv1.AccessClaims) { c.Roles = nil }),
		"unknown kid": func() string {
			other := newKeySet("k9")
			return other.sign(t, "k9", validClaims())
		}(),
		"no kid": func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims())
			s, _ := tok.SignedString(ks.keys["k1"])
			return s
		}(),
		"tampered payload": func() string {
			c := validClaims()
			c.Roles = []string{"admin"}
			payload, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
		}(),
		"tampered signature": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
		"alg none": func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims())
			tok.Header["kid"] = "k1"
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(),
		"hmac with the public key": func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
			tok.Header["kid"] = "k1"
			s, _ := tok.SignedString([]byte(pub))
			return s
		}(),
		"garbage":   "not.a.jwt",
		"empty":     "",
		"two parts": parts[0] + "." + parts[1],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}

func TestKeyRotationAndRefreshLimits(t *testing.T) {
	ks := newKeySet("k1")
	clock := now
	v, _ := NewVerifier(ks, Config{Issuer: "parley", Audience: "parley", MinRefresh: 10 * time.Second,
		Now: func() time.Time { return clock }})
	ctx := context.Background()
	if _, err := v.Verify(ctx, ks.sign(t, "k1", validClaims())); err != nil {
		t.Fatal(err)
	}
	// Forged kids do not trigger a fetch each: at most one per MinRefresh.
	forger := newKeySet("forged")
	for range 50 {
		v.Verify(ctx, forger.sign(t, "forged", validClaims()))
	}
	if ks.fetches != 1 {
		t.Fatalf("%d JWKS fetches, want 1", ks.fetches)
	}
	// A new key appears (rotation): found after MinRefresh.
	ks.add("k2")
	clock = clock.Add(11 * time.Second)
	c := validClaims()
	c.ExpiresAt = jwt.NewNumericDate(clock.Add(time.Minute))
	if _, err := v.Verify(ctx, ks.sign(t, "k2", c)); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	// Tokens of the old key still verify while it is published.
	if _, err := v.Verify(ctx, ks.sign(t, "k1", c)); err != nil {
		t.Fatalf("old key: %v", err)
	}
}

func TestParseJWKSRejectsBadDocuments(t *testing.T) {
	for _, doc := range []string{`nope`, `{"keys":[]}`, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"!!"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","n":"x","e":"AQAB"}]}`} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

func TestCachedVerificationStillChecksExpiryAndIdentity(t *testing.T) {
	ks := newKeySet("k1")
	clock := now
	v, _ := NewVerifier(ks, Config{Issuer: "parley", Audience: "parley", Now: func() time.Time { return clock }})
	ctx := context.Background()
	tok := ks.sign(t, "k1", validClaims())
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Same signature, different payload: must not hit the cache.
	parts := strings.Split(tok, ".")
	c := validClaims()
	c.Roles = []string{"admin"}
	payload, _ := json.Marshal(c)
	if _, err := v.Verify(ctx, parts[0]+"."+base64.RawURLEncoding.EncodeToString(payload)+"."+parts[2]); err == nil {
		t.Fatal("tampered token accepted through the cache")
	}
	clock = clock.Add(20 * time.Minute)
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("expired token accepted through the cache")
	}
}

// BenchmarkVerify measures verification: "uncached" is the full check
// (parse, EdDSA signature, claims) a new token costs; "cached" is a token
// seen before. Run with -cpu 1 for per-core rates.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"uncached", -1}, {"cached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			ks := newKeySet("k1")
			v, _ := NewVerifier(ks, Config{Issuer: "parley", Audience: "parley", Now: func() time.Time { return now }, CacheSize: tc.cache})
			tok := ks.sign(b, "k1", validClaims())
			ctx := context.Background()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
		})
	}
}

// Package authn verifies Parley access tokens in the connector, locally:
// the auth function's public keys (JWKS) are fetched once and cached, and
// fetched again only when a token names a key id the cache does not know
// (key rotation). No call to auth happens per request or per message.
package authn

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// KeySource returns the current JSON Web Key Set.
type KeySource interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// Identity is who a verified token speaks for.
type Identity struct {
	UserID   string
	Username string
	Role     string // user, moderator or admin
	TokenID  string
	Expires  time.Time
	token    string // the verified token, for the cache's equality check
}

// IsModerator reports whether the identity may moderate (moderators and admins).
func (id Identity) IsModerator() bool {
	return id.Role == authv1.RoleModerator || id.Role == authv1.RoleAdmin
}

// Config configures a Verifier. Zero fields get the defaults in comments.
type Config struct {
	Issuer   string // required
	Audience string // required
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// MinRefresh is the least time between two JWKS fetches triggered by
	// unknown key ids, so forged kids cannot make us hammer auth. Default 10s.
	MinRefresh time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the cache of verified tokens. A browser presents the
	// same token on every request for its 15-minute life, and a signature
	// check costs ~40µs, so remembering recent results saves most of that.
	// Zero means 65536; negative disables the cache.
	CacheSize int
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	src    KeySource
	parser *jwt.Parser

	mu        sync.RWMutex
	keys      map[string]ed25519.PublicKey
	cacheMu   sync.RWMutex
	cache     map[string]Identity // by token signature
	fetchMu   sync.Mutex          // one fetch at a time
	lastFetch time.Time
}

// Errors a caller may distinguish; every failure wraps ErrInvalidToken.
var (
	ErrInvalidToken = errors.New("invalid access token")
	ErrUnknownKey   = fmt.Errorf("%w: unknown signing key", ErrInvalidToken)
)

// NewVerifier returns a Verifier that fetches keys from src lazily.
func NewVerifier(src KeySource, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("authn: issuer and audience are required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.MinRefresh == 0 {
		cfg.MinRefresh = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1 << 16
	}
	v := &Verifier{cfg: cfg, src: src, keys: map[string]ed25519.PublicKey{}, cache: map[string]Identity{}}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), // rejects none, HS*, RS*…
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return v, nil
}

// Verify checks the token's signature, algorithm, issuer, audience and
// times, and returns its identity.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	sig := token[strings.LastIndexByte(token, '.')+1:]
	if v.cfg.CacheSize > 0 && len(sig) >= 64 {
		v.cacheMu.RLock()
		id, ok := v.cache[sig]
		v.cacheMu.RUnlock()
		// Same signature means same header and claims only if the token is
		// identical: compare it all before trusting the entry.
		if ok && id.token == token && v.cfg.Now().Before(id.Expires) {
			return id, nil
		}
	}
	id, err := v.verify(ctx, token)
	if err == nil && v.cfg.CacheSize > 0 && len(sig) >= 64 {
		v.cacheMu.Lock()
		if len(v.cache) >= v.cfg.CacheSize {
			v.cache = make(map[string]Identity, v.cfg.CacheSize) // bounded: start over
		}
		id.token = token
		v.cache[sig] = id
		v.cacheMu.Unlock()
	}
	return id, err
}

func (v *Verifier) verify(ctx context.Context, token string) (Identity, error) {
	var claims authv1.AccessClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Identity{}, err
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Subject == "" || len(claims.Roles) == 0 {
		return Identity{}, fmt.Errorf("%w: missing sub or roles", ErrInvalidToken)
	}
	return Identity{UserID: claims.Subject, Username: claims.Username, Role: claims.Roles[0],
		TokenID: claims.ID, Expires: claims.ExpiresAt.Time}, nil
}

func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	v.mu.RUnlock()
	if ok {
		return k, nil
	}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	v.mu.RLock()
	k, ok = v.keys[kid]
	v.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownKey
	}
	return k, nil
}

// refresh fetches the JWKS unless another caller just did.
func (v *Verifier) refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if !v.lastFetch.IsZero() && v.cfg.Now().Sub(v.lastFetch) < v.cfg.MinRefresh {
		return nil
	}
	doc, err := v.src.JWKS(ctx)
	if err != nil {
		return fmt.Errorf("authn: fetch JWKS: %w", err)
	}
	keys, err := ParseJWKS(doc)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
	v.lastFetch = v.cfg.Now()
	return nil
}

// ParseJWKS extracts the Ed25519 signing keys of a JWKS document.
func ParseJWKS(doc []byte) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("authn: JWKS: %w", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("authn: JWKS key %q: bad x", k.Kid)
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, errors.New("authn: JWKS has no Ed25519 signing keys")
	}
	return keys, nil
}

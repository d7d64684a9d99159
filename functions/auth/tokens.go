package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// signingKey is one Ed25519 key with its key id.
type signingKey struct {
	kid  string
	priv ed25519.PrivateKey
}

// parseSigningKeys reads JWT_SIGNING_KEYS: comma-separated kid:seed pairs,
// each seed 32 bytes in base64url. The first key signs; all are published in
// the JWKS, so a key being rotated out still verifies tokens it signed.
func parseSigningKeys(s string) ([]signingKey, error) {
	var keys []signingKey
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kid, seed64, ok := strings.Cut(part, ":")
		if !ok || kid == "" {
			return nil, errors.New("auth: JWT_SIGNING_KEYS entries must be kid:base64url-seed")
		}
		seed, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seed64, "="))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("auth: JWT_SIGNING_KEYS key %q: want a %d-byte base64url seed", kid, ed25519.SeedSize)
		}
		if seen[kid] {
			return nil, fmt.Errorf("auth: JWT_SIGNING_KEYS: duplicate kid %q", kid)
		}
		seen[kid] = true
		keys = append(keys, signingKey{kid: kid, priv: ed25519.NewKeyFromSeed(seed)})
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: JWT_SIGNING_KEYS is empty: generate one with `openssl rand 32 | basenc --base64url`")
	}
	return keys, nil
}

// generateSigningKey returns a new JWT_SIGNING_KEYS entry.
func generateSigningKey(kid string) string {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	return kid + ":" + base64.RawURLEncoding.EncodeToString(seed)
}

type tokenIssuer struct {
	keys       []signingKey
	issuer     string
	audience   string
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
}

// accessToken signs a short-lived access token for u.
func (t *tokenIssuer) accessToken(u user) (string, error) {
	now := t.now()
	claims := authv1.AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   u.ID.String(),
			Audience:  jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.accessTTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Roles:    []string{u.Role},
		Username: u.Username,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = t.keys[0].kid
	return tok.SignedString(t.keys[0].priv)
}

// jwks returns the public keys as a JSON Web Key Set (RFC 7517, RFC 8037).
func (t *tokenIssuer) jwks() []byte {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range t.keys {
		pub := k.priv.Public().(ed25519.PublicKey)
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
			Kid: k.kid, Alg: "EdDSA", Use: "sig"})
	}
	b, _ := json.Marshal(set)
	return b
}

// newRefreshToken returns an opaque token for the client and the hash to store.
func newRefreshToken() (string, []byte) {
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := base64.RawURLEncoding.EncodeToString(raw)
	return tok, hashRefreshToken(tok)
}

func hashRefreshToken(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

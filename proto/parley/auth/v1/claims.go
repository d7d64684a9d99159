package authv1

import "github.com/golang-jwt/jwt/v5"

// AccessClaims is the payload of a Parley access token: the contract between
// the auth function, which signs it, and the connector, which verifies it.
type AccessClaims struct {
	jwt.RegisteredClaims
	// Roles holds the global role ("user", "moderator" or "admin").
	Roles []string `json:"roles"`
	// Username is the login name, for display without a lookup.
	Username string `json:"preferred_username"`
}

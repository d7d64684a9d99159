package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"google.golang.org/grpc/codes"
)

// Argon2Params are argon2id's cost parameters. The defaults follow OWASP's
// recommendation (19 MiB, 2 passes, 1 lane): about 30-60 ms per hash on one
// core of a small server, which makes offline guessing expensive while a
// login stays well under 100 ms. They are stored in every hash, so raising
// them later only affects new passwords.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is the production default; ARGON2_* variables override it.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// hashPassword returns a PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func hashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("auth: malformed password hash")

// verifyPassword reports whether password matches the PHC hash, in constant
// time with respect to the password.
func verifyPassword(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// hashSlots bounds the argon2id hashes running at once. Each holds its
// MemoryKiB (19 MiB) while it runs, and logins and sign-ups come in
// bursts: without a bound, a dozen at once take the process past its
// memory limit (256 MiB in knative/base/auth.yaml). A hash waits for a
// slot as long as its caller does.
type hashSlots chan struct{}

// DefaultHashSlots is ARGON2_CONCURRENCY's default: 4 hashes, 76 MiB.
const DefaultHashSlots = 4

var errHashersBusy = apiErrors.New(codes.ResourceExhausted, "BUSY", "too many sign-ins at once: try again in a moment")

// run runs f in a slot, or fails once ctx ends while it waits for one.
func (h hashSlots) run(ctx context.Context, f func()) error {
	select {
	case h <- struct{}{}:
	case <-ctx.Done():
		return errHashersBusy
	}
	defer func() { <-h }()
	f()
	return nil
}

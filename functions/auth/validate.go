package main

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits. Every text a user sends is checked here before it reaches SQL
// or a token, so the database only ever holds valid, bounded UTF-8.
const (
	minUsername, maxUsername = 3, 32
	maxEmail                 = 254
	minPassword, maxPassword = 8, 128 // characters; argon2 cost does not depend on it beyond that
	maxDisplayName           = 64
	maxAvatarURL             = 2048
	maxRoomName              = 80
	maxTopic                 = 500
	maxSearchLimit           = 50
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func validUsername(s string) error {
	if n := utf8.RuneCountInString(s); n < minUsername || n > maxUsername {
		return invalidArgument("username", "must be %d to %d characters", minUsername, maxUsername)
	}
	if !usernameRE.MatchString(s) {
		return invalidArgument("username", "may hold letters, digits, '_', '.' and '-', and must start with a letter or digit")
	}
	return nil
}

func validEmail(s string) error {
	if len(s) == 0 || len(s) > maxEmail || !utf8.ValidString(s) || hasControl(s) {
		return invalidArgument("email", "must be a valid address of at most %d characters", maxEmail)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return invalidArgument("email", "must be a plain address such as ada@example.com")
	}
	return nil
}

func validPassword(field, s string) error {
	if !utf8.ValidString(s) {
		return invalidArgument(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n < minPassword || n > maxPassword {
		return invalidArgument(field, "must be %d to %d characters", minPassword, maxPassword)
	}
	return nil
}

// validText checks a free-text field: valid UTF-8, no control characters,
// no leading or trailing space, at most max characters, and non-empty when required.
func validText(field, s string, max int, required bool) error {
	switch {
	case !utf8.ValidString(s):
		return invalidArgument(field, "must be valid UTF-8")
	case hasControl(s):
		return invalidArgument(field, "must not contain control characters")
	case strings.TrimSpace(s) != s:
		return invalidArgument(field, "must not start or end with spaces")
	case required && s == "":
		return invalidArgument(field, "is required")
	case utf8.RuneCountInString(s) > max:
		return invalidArgument(field, "must be at most %d characters", max)
	}
	return nil
}

func validAvatarURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxAvatarURL || hasControl(s) {
		return invalidArgument("avatar_url", "must be an http(s) URL of at most %d characters", maxAvatarURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return invalidArgument("avatar_url", "must be an http(s) URL without credentials")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

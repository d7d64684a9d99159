package ksvc

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Env reads one service's settings from its environment into its typed
// config, the same way in every service: each service has a
// configFromEnv(getenv) that reads every variable through an Env and then
// asks Err once, so one start names every variable that is wrong, each with
// what it wants. getenv is os.Getenv in main and a map in tests.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv reads from getenv.
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err reports every bad or missing variable read so far; nil when none.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Fail records a problem with key found by the service's own checks.
func (e *Env) Fail(key, value, want string) {
	e.errs = append(e.errs, fmt.Errorf("%s=%q: want %s", key, value, want))
}

// String is key's value, or def when it is unset or empty.
func (e *Env) String(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// Required is key's value; unset or empty is an error.
func (e *Env) Required(key string) string {
	v := e.getenv(key)
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required", key))
	}
	return v
}

// Duration is key as a Go duration of at least least, or def when unset.
func (e *Env) Duration(key string, def, least time.Duration) time.Duration {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < least {
		want := "a duration of at least " + least.String()
		if least <= time.Nanosecond {
			want = "a duration above zero"
		}
		e.Fail(key, v, want+" (such as 10s)")
		return def
	}
	return d
}

// PositiveFloat is key as a number above zero, or def when unset.
func (e *Env) PositiveFloat(key string, def float64) float64 {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		e.Fail(key, v, "a positive number")
		return def
	}
	return f
}

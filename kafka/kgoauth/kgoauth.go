// Package kgoauth turns kafka.Credentials into franz-go client options, for
// the Go clients of the Broker's data plane (the emulator) and of the tests.
package kgoauth

import (
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/parley-chat/parley/kafka"
)

// Opts are the options that log a kgo client in with c; none for the zero
// Credentials.
func Opts(c kafka.Credentials) ([]kgo.Opt, error) {
	if c.Username == "" {
		return nil, nil
	}
	var opts []kgo.Opt
	switch c.Mechanism {
	case kafka.MechanismSCRAMSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism()))
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism()))
	default:
		return nil, fmt.Errorf("kgoauth: unknown SASL mechanism %q", c.Mechanism)
	}
	if c.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

package kafka

import (
	"fmt"
	"log/slog"
)

// Credentials are a client's login to Kafka. The zero value logs in as
// nobody over plain TCP (PLAINTEXT), for a broker without authentication.
type Credentials struct {
	Mechanism string // SCRAM-SHA-512 (the cluster's), SCRAM-SHA-256 or PLAIN
	Username  string
	Password  string
	// TLS selects SASL_SSL over SASL_PLAINTEXT. Neither the cluster's
	// listener nor the local broker uses it: both are only reachable from
	// inside (NetworkPolicies, loopback).
	TLS bool
}

// The variables a service reads its Credentials from.
const (
	EnvSecurityProtocol = "KAFKA_SECURITY_PROTOCOL" // PLAINTEXT, SASL_PLAINTEXT or SASL_SSL; default from the others
	EnvSASLMechanism    = "KAFKA_SASL_MECHANISM"    // default SCRAM-SHA-512
	EnvSASLUsername     = "KAFKA_SASL_USERNAME"
	EnvSASLPassword     = "KAFKA_SASL_PASSWORD"
)

// MechanismSCRAMSHA512 is the mechanism of the cluster's and the local broker's users.
const MechanismSCRAMSHA512 = "SCRAM-SHA-512"

// CredentialsFromEnv reads KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD,
// KAFKA_SASL_MECHANISM and KAFKA_SECURITY_PROTOCOL. With no username it
// returns the zero Credentials; anything inconsistent is an error, so a
// typo never silently means "no login".
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	c := Credentials{Mechanism: getenv(EnvSASLMechanism), Username: getenv(EnvSASLUsername), Password: getenv(EnvSASLPassword)}
	protocol := getenv(EnvSecurityProtocol)
	if c.Username == "" {
		if c.Password != "" || c.Mechanism != "" || (protocol != "" && protocol != "PLAINTEXT") {
			return Credentials{}, fmt.Errorf("kafka: %s is required with %s, %s or %s=%s",
				EnvSASLUsername, EnvSASLPassword, EnvSASLMechanism, EnvSecurityProtocol, protocol)
		}
		return Credentials{}, nil
	}
	if c.Password == "" {
		return Credentials{}, fmt.Errorf("kafka: %s is required with %s", EnvSASLPassword, EnvSASLUsername)
	}
	if c.Mechanism == "" {
		c.Mechanism = MechanismSCRAMSHA512
	}
	switch c.Mechanism {
	case "PLAIN", "SCRAM-SHA-256", MechanismSCRAMSHA512:
	default:
		return Credentials{}, fmt.Errorf("kafka: %s=%q: want SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", EnvSASLMechanism, c.Mechanism)
	}
	switch protocol {
	case "", "SASL_PLAINTEXT":
	case "SASL_SSL":
		c.TLS = true
	default:
		return Credentials{}, fmt.Errorf("kafka: %s=%q with a SASL login: want SASL_PLAINTEXT or SASL_SSL", EnvSecurityProtocol, protocol)
	}
	return c, nil
}

// Protocol is Kafka's security.protocol for c.
func (c Credentials) Protocol() string {
	switch {
	case c.Username == "":
		return "PLAINTEXT"
	case c.TLS:
		return "SASL_SSL"
	default:
		return "SASL_PLAINTEXT"
	}
}

// Env is c as the variables CredentialsFromEnv reads; empty for no login.
func (c Credentials) Env() map[string]string {
	if c.Username == "" {
		return map[string]string{}
	}
	return map[string]string{
		EnvSecurityProtocol: c.Protocol(), EnvSASLMechanism: c.Mechanism,
		EnvSASLUsername: c.Username, EnvSASLPassword: c.Password,
	}
}

// String leaves the password out, so printing or logging c never shows it.
func (c Credentials) String() string {
	if c.Username == "" {
		return c.Protocol()
	}
	return fmt.Sprintf("%s %s as %s", c.Protocol(), c.Mechanism, c.Username)
}

// GoString leaves the password out of %#v too.
func (c Credentials) GoString() string { return "kafka.Credentials(" + c.String() + ")" }

// LogValue leaves the password out of slog records.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

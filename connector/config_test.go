package main

import (
	"strings"
	"testing"
	"time"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func required() map[string]string {
	return map[string]string{
		"AUTH_URL": "http://auth", "PERSIST_URL": "http://persist", "NOTIFICATION_URL": "http://notification",
		"MODERATION_URL": "http://moderation", "SEARCH_URL": "http://search", "REDIS_URL": "redis://127.0.0.1:6379", "PUBLIC_URL": "https://chat.example",
		"KAFKA_BROKERS": "127.0.0.1:9092",
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := configFromEnv(envOf(required()))
	if err != nil {
		t.Fatal(err)
	}
	if c.issuer != "https://chat.example" || c.audience != "parley" || c.kafkaTopic != "parley-events" ||
		c.presenceTTL != 45*time.Second || !c.trustProxy || c.ws.SendRate != 0 || c.ws.AuthTimeout != 0 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigFromEnvReadsLimits(t *testing.T) {
	vars := required()
	for k, v := range map[string]string{"WS_SEND_RATE": "1000", "WS_SEND_BURST": "1000", "WS_FRAME_RATE": "2000",
		"WS_FRAME_BURST": "2000", "WS_SEND_QUEUE": "256", "WS_AUTH_TIMEOUT": "3s", "PRESENCE_TTL": "3s",
		"ALLOWED_ORIGINS": "http://a, http://b", "TRUST_PROXY": "false", "JWT_ISSUER": "parley",
		"TRUSTED_PROXIES": "10.244.0.0/16, fd00::/8"} {
		vars[k] = v
	}
	c, err := configFromEnv(envOf(vars))
	if err != nil {
		t.Fatal(err)
	}
	if c.ws.SendRate != 1000 || c.ws.SendBurst != 1000 || c.ws.FrameRate != 2000 || c.ws.FrameBurst != 2000 ||
		c.ws.SendQueue != 256 || c.ws.AuthTimeout != 3*time.Second || c.presenceTTL != 3*time.Second ||
		len(c.allowedOrigins) != 2 || c.allowedOrigins[1] != "http://b" || c.trustProxy || c.issuer != "parley" ||
		len(c.trustedProxies) != 2 || c.trustedProxies[1].String() != "fd00::/8" {
		t.Errorf("read %+v", c)
	}
}

// Every bad variable is named in one error, with what it wants.
func TestConfigFromEnvNamesEveryBadVariable(t *testing.T) {
	for name, c := range map[string]struct {
		set   map[string]string
		unset string
		want  []string
	}{
		"missing":            {unset: "PERSIST_URL", want: []string{"PERSIST_URL is required"}},
		"short presence ttl": {set: map[string]string{"PRESENCE_TTL": "500ms"}, want: []string{`PRESENCE_TTL="500ms": want a duration of at least 1s`}},
		"not a duration":     {set: map[string]string{"WS_AUTH_TIMEOUT": "ten"}, want: []string{`WS_AUTH_TIMEOUT="ten": want a duration above zero`}},
		"rate without burst": {set: map[string]string{"WS_SEND_RATE": "5"}, want: []string{"WS_SEND_RATE", "WS_SEND_BURST"}},
		"negative and zero": {set: map[string]string{"WS_FRAME_RATE": "-1", "WS_FRAME_BURST": "0"},
			want: []string{`WS_FRAME_RATE="-1": want a positive number`, `WS_FRAME_BURST="0": want a positive number`}},
		"bad kafka login": {set: map[string]string{"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p", "KAFKA_SASL_MECHANISM": "MD5"},
			want: []string{"KAFKA_SASL_MECHANISM"}},
		"proxy not a network": {set: map[string]string{"TRUSTED_PROXIES": "10.244.0.0/16, 10.96.0.1"},
			want: []string{`TRUSTED_PROXIES="10.96.0.1": want networks in CIDR form`}},
	} {
		t.Run(name, func(t *testing.T) {
			vars := required()
			delete(vars, c.unset)
			for k, v := range c.set {
				vars[k] = v
			}
			_, err := configFromEnv(envOf(vars))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCredentialsFromEnv(t *testing.T) {
	tests := map[string]struct {
		env     map[string]string
		want    string // Protocol()
		wantErr bool
	}{
		"none":               {env: nil, want: "PLAINTEXT"},
		"explicit plaintext": {env: map[string]string{EnvSecurityProtocol: "PLAINTEXT"}, want: "PLAINTEXT"},
		"login":              {env: map[string]string{EnvSASLUsername: "u", EnvSASLPassword: "p"}, want: "SASL_PLAINTEXT"},
		"login over TLS": {env: map[string]string{EnvSASLUsername: "u", EnvSASLPassword: "p", EnvSecurityProtocol: "SASL_SSL"},
			want: "SASL_SSL"},
		"no password":           {env: map[string]string{EnvSASLUsername: "u"}, wantErr: true},
		"password without user": {env: map[string]string{EnvSASLPassword: "p"}, wantErr: true},
		"SASL without user":     {env: map[string]string{EnvSecurityProtocol: "SASL_PLAINTEXT"}, wantErr: true},
		"login over PLAINTEXT": {env: map[string]string{EnvSASLUsername: "u", EnvSASLPassword: "p", EnvSecurityProtocol: "PLAINTEXT"},
			wantErr: true},
		"unknown mechanism": {env: map[string]string{EnvSASLUsername: "u", EnvSASLPassword: "p", EnvSASLMechanism: "GSSAPI"},
			wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := CredentialsFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %v as %v", tc.env, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Protocol() != tc.want {
				t.Fatalf("protocol %s, want %s", c.Protocol(), tc.want)
			}
			back, err := CredentialsFromEnv(func(k string) string { return c.Env()[k] })
			if err != nil || back != c {
				t.Fatalf("Env() does not read back: %v, %v", back, err)
			}
		})
	}
}

func TestCredentialsNeverPrintThePassword(t *testing.T) {
	c := Credentials{Mechanism: MechanismSCRAMSHA512, Username: "parley-connector", Password: "s3cret-pw"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("kafka", "login", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s", c, c, c), logged.String()} {
		if strings.Contains(out, c.Password) {
			t.Errorf("password printed: %s", out)
		}
	}
}

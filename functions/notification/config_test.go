package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/functions/notification/webpush"
)

func TestConfigFromEnv(t *testing.T) {
	key, err := webpush.NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		vars      map[string]string
		push      bool
		hosts     []string
		wantError string
	}{
		"no key, no Web Push": {vars: map[string]string{}, hosts: webpush.DefaultPushServices},
		"key":                 {vars: map[string]string{"VAPID_PRIVATE_KEY": key}, push: true, hosts: webpush.DefaultPushServices},
		"allowed hosts": {vars: map[string]string{"VAPID_PRIVATE_KEY": key, "WEBPUSH_ALLOWED_HOSTS": "a.example,b.example"},
			push: true, hosts: []string{"a.example", "b.example"}},
		"bad key":     {vars: map[string]string{"VAPID_PRIVATE_KEY": "not base64!"}, wantError: "VAPID private key"},
		"bad subject": {vars: map[string]string{"VAPID_PRIVATE_KEY": key, "VAPID_SUBJECT": "http://x"}, wantError: "VAPID subject"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := configFromEnv(func(k string) string { return c.vars[k] })
			if c.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantError) {
					t.Fatalf("error %v, want one saying %q", err, c.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.vapid != nil) != c.push || !slices.Equal(cfg.pushHosts, c.hosts) || (newSender(cfg) != nil) != c.push {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

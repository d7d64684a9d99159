package main

import (
	"strings"

	"github.com/parley-chat/parley/functions/notification/webpush"
	"github.com/parley-chat/parley/knative/ksvc"
)

// config is notification's environment, read once by configFromEnv. The
// stores (REDIS_URL, MONGO_URI, MONGO_DB) are read by knative/stores.
type config struct {
	// vapid signs Web Push requests; nil when VAPID_PRIVATE_KEY is unset
	// (no Web Push).
	vapid *webpush.VAPID
	// pushHosts are the push services a subscription may name
	// (WEBPUSH_ALLOWED_HOSTS, comma-separated; the browsers' by default).
	pushHosts []string
}

func configFromEnv(getenv func(string) string) (config, error) {
	env := ksvc.NewEnv(getenv)
	c := config{pushHosts: webpush.DefaultPushServices}
	if h := getenv("WEBPUSH_ALLOWED_HOSTS"); h != "" {
		c.pushHosts = strings.Split(h, ",")
	}
	key := getenv("VAPID_PRIVATE_KEY")
	if key == "" {
		return c, env.Err()
	}
	// The subject says who sends: the operator's contact, or the site.
	subject := getenv("VAPID_SUBJECT")
	if subject == "" {
		subject = "mailto:webpush@localhost"
		if pub := getenv("PUBLIC_URL"); strings.HasPrefix(pub, "https://") {
			subject = pub
		}
	}
	v, err := webpush.ParseVAPID(key, subject)
	if err != nil {
		return c, err
	}
	c.vapid = v
	return c, env.Err()
}

// Command notification turns messages and new accounts into notifications:
// @mentions of members and direct messages (from parley.message.stored),
// welcomes (from parley.user.created). It stores them in MongoDB, pushes new
// ones to online users through Redis (user:{id}), and serves List, MarkRead
// and UnreadCounts over gRPC. It keeps its own projection of usernames and
// memberships from parley.user.created and parley.room.member.* events.
//
// Users who are offline get new notifications as Web Push messages on the
// browsers they subscribed, when a VAPID key is configured.
//
// Environment: MONGO_URI and REDIS_URL (required), MONGO_DB (parley);
// VAPID_PRIVATE_KEY (base64url P-256 scalar; unset disables Web Push),
// VAPID_SUBJECT (mailto: or https: contact; default PUBLIC_URL when https,
// else mailto:webpush@localhost), WEBPUSH_ALLOWED_HOSTS (push services
// endpoints may point at, comma-separated, ".suffix" for subdomains;
// default the services of Chrome, Edge, Firefox and Safari).
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/functions/notification/webpush"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

func main() {
	ksvc.Main("notification", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		return build(os.Getenv, log)
	})
}

func build(getenv func(string) string, log *slog.Logger) (ksvc.Service, error) {
	cfg, err := configFromEnv(getenv) // configuration first: nothing to close if it is wrong
	if err != nil {
		return ksvc.Service{}, err
	}
	sender := newSender(cfg)
	reg := prometheus.NewRegistry()
	state, err := stores.New(reg).OpenState(getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	rdb := state.Redis
	st := newStore(state.Mongo)
	push := &pusher{store: st, log: log, sender: sender}
	inserts := newInsertBatcher(st)
	f := &function{store: st, inserts: inserts, rdb: rdb, log: log, push: push, created: newCreatedCounter(reg)}
	g := ksvc.NewGRPCServer()
	notificationv1.RegisterNotificationServiceServer(g, &listServer{store: st, push: push})
	start, stop := ksvc.Loops(st.ensureIndexes, state.Close, inserts.Run)
	return ksvc.Service{
		Events:   f.Handle,
		GRPC:     g,
		Registry: reg,
		Start:    start,
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Stop:     stop,
	}, nil
}

// newSender makes the Web Push sender of cfg; nil without a VAPID key.
func newSender(cfg config) *webpush.Sender {
	if cfg.vapid == nil {
		return nil
	}
	client := &http.Client{Timeout: pushTimeout,
		// A push service answers; it does not redirect. Following one would
		// let a subscription point the function anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &webpush.Sender{VAPID: cfg.vapid, Client: client, AllowedHosts: cfg.pushHosts}
}

// Command notification turns messages and new accounts into notifications:
// @mentions of members and direct messages (from parley.message.stored),
// welcomes (from parley.user.created). It stores them in MongoDB, pushes new
// ones to online users through Redis (user:{id}), and serves List, MarkRead
// and UnreadCounts over gRPC. It keeps its own projection of usernames and
// memberships from parley.user.created and parley.room.member.* events.
//
// Environment: MONGO_URI and REDIS_URL (required), MONGO_DB (parley).
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

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
	if getenv("MONGO_URI") == "" || getenv("REDIS_URL") == "" {
		return ksvc.Service{}, errors.New("MONGO_URI and REDIS_URL are required")
	}
	reg := prometheus.NewRegistry()
	storeErrors := stores.New(reg)
	mc, db, err := storeErrors.OpenMongo(getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	rdb, err := storeErrors.OpenRedis(getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	st := newStore(db)
	f := &function{store: st, rdb: rdb, log: log, created: newCreatedCounter(reg)}
	g := ksvc.NewGRPCServer()
	notificationv1.RegisterNotificationServiceServer(g, &listServer{store: st})
	return ksvc.Service{
		Events:   f.Handle,
		GRPC:     g,
		Registry: reg,
		Start:    st.ensureIndexes,
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Stop: func(ctx context.Context) error {
			return errors.Join(mc.Disconnect(ctx), rdb.Close())
		},
	}, nil
}

// Command persist is the message-persist function. From the Broker it takes
// parley.message.sent/edited/deleted/flagged/restored/reacted and
// parley.receipt.read and applies them, idempotently, to MongoDB
// (micro-batched inserts) and to the Redis recent-history window; it replies
// parley.message.stored. Over gRPC it serves History and GetMessage.
//
// Environment: MONGO_URI (required), MONGO_DB (parley), REDIS_URL (required).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

func main() {
	ksvc.Main("persist", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		return build(ctx, os.Getenv, log)
	})
}

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (ksvc.Service, error) {
	reg := prometheus.NewRegistry()
	state, err := stores.New(reg).OpenState(getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	rdb := state.Redis
	st := newStore(state.Mongo)
	c := &cache{rdb: rdb}
	b := newBatcher(st.insertMany)
	f := &function{store: st, cache: c, batcher: b, log: log, conflicts: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "parley_persist_seq_conflicts_total",
		Help: "Messages refused because a different message holds their room and seq (or id): never stored as duplicates.",
	})}
	reg.MustRegister(f.conflicts)
	g := ksvc.NewGRPCServer()
	persistv1.RegisterPersistServiceServer(g, &historyServer{store: st, cache: c})

	start, stop := ksvc.Loops(st.ensureIndexes, state.Close, b.Run)
	return ksvc.Service{
		Events:   f.Handle,
		GRPC:     g,
		Registry: reg,
		Start:    start,
		Ready:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Stop:     stop,
	}, nil
}

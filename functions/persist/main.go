// Command persist is the message-persist function: it stores every message
// event the Broker delivers. See function.go.
package main

import (
	"context"
	"log/slog"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("persist", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		f := &function{log: log}
		return ksvc.Service{Events: f.Handle, GRPC: ksvc.NewGRPCServer()}, nil
	})
}

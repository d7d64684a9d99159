// Command moderation classifies every sent message and flags toxic ones.
package main

import (
	"context"
	"log/slog"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("moderation", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		f := &function{log: log}
		return ksvc.Service{Events: f.Handle, GRPC: ksvc.NewGRPCServer()}, nil
	})
}

// Command auth is the identity function: users, credentials, tokens, rooms
// and roles, reached by the connector over gRPC.
package main

import (
	"context"
	"log/slog"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("auth", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		return ksvc.Service{GRPC: ksvc.NewGRPCServer()}, nil
	})
}

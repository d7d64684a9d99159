// Command notification turns stored messages and new users into
// notifications for the people they concern.
package main

import (
	"context"
	"log/slog"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("notification", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		f := &function{log: log}
		return ksvc.Service{Events: f.Handle, GRPC: ksvc.NewGRPCServer()}, nil
	})
}

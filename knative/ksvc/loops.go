package ksvc

import (
	"context"
	"sync"
)

// Loops returns the Start and Stop of a function that prepares its stores,
// runs background loops (its batchers) while it serves, and closes its
// stores last. Stop runs once the listener has drained, so no handler
// waits on a loop when the loops end.
func Loops(prepare, closeStores func(context.Context) error, loops ...func(context.Context)) (start, stop func(context.Context) error) {
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start = func(ctx context.Context) error {
		if err := prepare(ctx); err != nil {
			return err
		}
		for _, loop := range loops {
			wg.Go(func() { loop(runCtx) })
		}
		return nil
	}
	stop = func(ctx context.Context) error {
		cancel()
		wg.Wait()
		return closeStores(ctx)
	}
	return start, stop
}

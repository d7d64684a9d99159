package main

import (
	"context"
	"testing"
)

// Every start creates the indexes: a restart must find them there.
func TestIndexesAreCreatedAgainOnEveryStart(t *testing.T) {
	e := newEnv(t) // the first start
	for range 2 {
		if err := e.f.store.ensureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/knative/ksvc"
)

// function handles the event types its Triggers subscribe to (knative/base/triggers.yaml).
type function struct {
	log *slog.Logger
}

var handledTypes = map[string]bool{
	"parley.message.sent": true, "parley.message.edited": true, "parley.message.deleted": true,
	"parley.message.flagged": true, "parley.receipt.read": true,
}

// Handle acknowledges the message events persist owns; anything else is a
// routing mistake, answered 400 so it is dead-lettered rather than retried.
func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if !handledTypes[e.Type()] {
		return nil, ksvc.Permanent(fmt.Errorf("persist: unexpected event type %q", e.Type()))
	}
	f.log.DebugContext(ctx, "event received", "ce_type", e.Type(), "ce_id", e.ID())
	return nil, nil
}

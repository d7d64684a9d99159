package ksvc

import (
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// CheckEvent refuses an event no function of Parley's accepts, whoever
// delivered it: one whose source is not its type's emitter
// (eventsv1.CheckEmitter) or whose data is over eventsv1.MaxDataBytes. The
// refusal is Permanent: the Trigger dead-letters the event with the reason.
func CheckEvent(service string, e event.Event) error {
	if err := eventsv1.CheckEmitter(e.Type(), e.Source()); err != nil {
		return Permanent(fmt.Errorf("%s: refused: %w", service, err))
	}
	if n := len(e.Data()); n > eventsv1.MaxDataBytes {
		return Permanent(fmt.Errorf("%s: %s event %s: data of %d bytes is over the limit of %d",
			service, e.Type(), e.ID(), n, eventsv1.MaxDataBytes))
	}
	return nil
}

// DecodeEvent reads the data of a checked event (CheckEvent) as a T and
// has valid check the fields its caller needs. Data that is not a T's
// JSON, or that valid refuses, is a Permanent error: redelivering the same
// event cannot make it right.
func DecodeEvent[T any](service string, e event.Event, valid func(*T) bool) (T, error) {
	var v T
	err := json.Unmarshal(e.Data(), &v)
	if err != nil || !valid(&v) {
		if err == nil {
			err = fmt.Errorf("a field it needs is missing")
		}
		return v, Permanent(fmt.Errorf("%s: bad %s data in event %s: %w", service, e.Type(), e.ID(), err))
	}
	return v, nil
}

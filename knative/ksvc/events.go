package ksvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// EventHandler handles one CloudEvent delivered by a Trigger. A non-nil
// returned event is the reply, which the Broker publishes like any other event.
//
// Errors decide retries, as Knative Eventing does: an error wrapped with
// Permanent answers 400 and is not retried (the event goes to the dead-letter
// sink); any other error answers 500 and the Broker retries with backoff.
type EventHandler func(ctx context.Context, e event.Event) (*event.Event, error)

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as caused by the event itself, so redelivery cannot help.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

type eventServer struct {
	handle   EventHandler
	maxBytes int64
	log      *slog.Logger
	metrics  *metrics
}

func (s *eventServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "CloudEvents are delivered with POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBytes)
	msg := cehttp.NewMessageFromHttpRequest(r)
	e, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("event larger than %d bytes", s.maxBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "not a valid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := e.Validate(); err != nil {
		http.Error(w, "not a valid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}

	done := s.metrics.observeEvent(metricType(e.Type()))
	ctx, span := Tracer().Start(ExtractTrace(r.Context(), e), "event "+metricType(e.Type()), trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	reply, err := s.handle(ctx, *e)
	if err != nil {
		status := http.StatusInternalServerError
		if IsPermanent(err) {
			status = http.StatusBadRequest
		}
		done(status)
		span.SetStatus(codes.Error, err.Error())
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "event handling failed",
			slog.String("ce_type", e.Type()), slog.String("ce_id", e.ID()),
			slog.Int("status", status), slog.String("error", err.Error()))
		http.Error(w, err.Error(), status)
		return
	}
	done(http.StatusOK)
	if reply == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if _, traced := reply.Extensions()["traceparent"]; !traced {
		InjectTrace(ctx, reply)
	}
	if err := reply.Validate(); err != nil {
		s.log.Error("handler returned an invalid reply event", "ce_type", e.Type(), "error", err)
		http.Error(w, "invalid reply event: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err := cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(reply), http.StatusOK, w); err != nil {
		s.log.Error("write reply event", "error", err)
	}
}

// metricType is an event type as a metrics label: Parley's types as they
// are, any other "other". The label is set before the handler checks who
// sent the event, so made-up types would each add series for good.
func metricType(typ string) string {
	if eventsv1.EmitterOf(typ) == "" {
		return "other"
	}
	return typ
}

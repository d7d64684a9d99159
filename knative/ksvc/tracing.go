package ksvc

import (
	"context"
	"fmt"
	"os"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer Parley's own spans come from.
func Tracer() trace.Tracer { return otel.Tracer("github.com/parley-chat/parley") }

var propagator = propagation.TraceContext{}

// setupTracing installs W3C trace-context propagation and, when an OTLP
// endpoint is configured with the standard OTEL_EXPORTER_OTLP_* variables,
// an exporter. It returns the function that flushes spans at shutdown.
func setupTracing(ctx context.Context, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagator)
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("ksvc: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// ceCarrier exposes a CloudEvent's distributed-tracing extension
// (traceparent, tracestate) to the propagator.
type ceCarrier struct{ e *event.Event }

func (c ceCarrier) Get(key string) string {
	v, _ := c.e.Extensions()[key].(string)
	return v
}

func (c ceCarrier) Set(key, value string) { c.e.SetExtension(key, value) }

func (c ceCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// InjectTrace records ctx's span in e, so the trace continues wherever
// the event goes (Kafka, the Broker, a function).
func InjectTrace(ctx context.Context, e *event.Event) {
	propagator.Inject(ctx, ceCarrier{e})
}

// ExtractTrace returns ctx joined to the trace recorded in e, if any.
func ExtractTrace(ctx context.Context, e *event.Event) context.Context {
	return propagator.Extract(ctx, ceCarrier{e})
}

// Package ksvc makes a binary a good Knative Service: it is the one place that
// knows how Parley's functions and the connector are served.
//
// One listener on $PORT speaks HTTP/1.1 and cleartext HTTP/2 (h2c). Requests
// whose content type is application/grpc go to the gRPC server; /healthz,
// /readyz and /metrics are answered here; everything else goes to the
// service's HTTP handler or, for functions, to the CloudEvents handler.
//
// Run owns the lifecycle: it starts the optional Starter, serves until the
// context is cancelled (SIGTERM or SIGINT in Main), then fails readiness so no
// new traffic is routed here, waits DrainDelay, drains in-flight requests and
// streams, and finally stops the Stopper, all under ShutdownTimeout.
package ksvc

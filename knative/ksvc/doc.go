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
//
// Every service is built the same way on top of it: configFromEnv(getenv)
// reads its environment into a typed config through Env (every bad variable
// named at once); Loops starts and stops its background loops; a function
// refuses an event with CheckEvent and reads its data with DecodeEvent
// (refusals are Permanent, so the Trigger dead-letters them); gRPC errors a
// client may see are APIErrors, with an ErrorInfo reason the connector's
// REST layer turns into its error code.
package ksvc

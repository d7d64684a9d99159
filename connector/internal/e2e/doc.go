// Package e2e holds the connector's end-to-end tests: the real auth,
// persist and connector binaries run through the local Knative emulator
// over real PostgreSQL, Redis, FerretDB and a Kafka-protocol broker, and
// clients speak protocol v1 over real WebSockets.
package e2e

// Package platform holds the whole-platform tests: the real functions and
// connector binaries run through the local Knative emulator over real
// PostgreSQL, Redis, FerretDB and a Kafka-protocol broker, and clients
// speak protocol v1 over real WebSockets.
package platform

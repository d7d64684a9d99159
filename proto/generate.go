// Package proto holds Parley's gRPC contracts and CloudEvent payload
// schemas. The Go code beside each .proto file is generated and committed;
// regenerate it with `make generate` (protoc from Debian's
// protobuf-compiler, plugins pinned as tools in go.mod).
package proto

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. $(find parley -name '*.proto' | sort)"

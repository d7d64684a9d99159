package ksvc

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// APIError is an error a function's gRPC client may see: a gRPC code, a
// stable machine-readable reason (ErrorInfo.Reason, which the connector
// turns into its JSON error code, lower-cased), a human message and, for a
// bad argument, the field at fault.
type APIError struct {
	Code    codes.Code
	Domain  string // the function's, e.g. "auth.parley"
	Reason  string // e.g. "INVALID_ARGUMENT"
	Message string
	Field   string
}

func (e *APIError) Error() string { return e.Message }

// GRPCStatus lets grpc-go send e with its ErrorInfo.
func (e *APIError) GRPCStatus() *grpcstatus.Status {
	st := grpcstatus.New(e.Code, e.Message)
	info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: e.Domain}
	if e.Field != "" {
		info.Metadata = map[string]string{"field": e.Field}
	}
	if withDetails, err := st.WithDetails(info); err == nil {
		return withDetails
	}
	return st
}

// APIErrors makes the APIErrors of one function (its ErrorInfo domain).
type APIErrors string

// New is an error with code, reason and message.
func (d APIErrors) New(code codes.Code, reason, msg string) *APIError {
	return &APIError{Code: code, Domain: string(d), Reason: reason, Message: msg}
}

// InvalidArgument says what is wrong with field.
func (d APIErrors) InvalidArgument(field, format string, args ...any) error {
	return &APIError{Code: codes.InvalidArgument, Domain: string(d), Reason: "INVALID_ARGUMENT", Field: field,
		Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Invalid says what is wrong with a request, when more than one field
// can be.
func (d APIErrors) Invalid(format string, args ...any) error {
	return &APIError{Code: codes.InvalidArgument, Domain: string(d), Reason: "INVALID_ARGUMENT",
		Message: fmt.Sprintf(format, args...)}
}

// Unavailable says a store the call needs is down; the client retries.
func (d APIErrors) Unavailable(msg string) error {
	return &APIError{Code: codes.Unavailable, Domain: string(d), Reason: "UNAVAILABLE", Message: msg}
}

// NotFound says the thing asked for does not exist.
func (d APIErrors) NotFound(msg string) error {
	return &APIError{Code: codes.NotFound, Domain: string(d), Reason: "NOT_FOUND", Message: msg}
}

// ToStatus passes APIErrors through and hides every other error behind
// Internal, so store details never reach a client.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	var api *APIError
	if errors.As(err, &api) {
		return api
	}
	return grpcstatus.Error(codes.Internal, "internal error")
}

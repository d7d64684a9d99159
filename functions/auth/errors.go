package main

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiError is an error a client may see: a gRPC code, a stable
// machine-readable reason (ErrorInfo.Reason, which the connector turns into
// its JSON error code) and a human message.
type apiError struct {
	code   codes.Code
	reason string
	msg    string
	field  string
}

func (e *apiError) Error() string { return e.msg }

// GRPCStatus lets grpc-go send e with its ErrorInfo.
func (e *apiError) GRPCStatus() *status.Status {
	st := status.New(e.code, e.msg)
	info := &errdetails.ErrorInfo{Reason: e.reason, Domain: "auth.parley"}
	if e.field != "" {
		info.Metadata = map[string]string{"field": e.field}
	}
	if withDetails, err := st.WithDetails(info); err == nil {
		return withDetails
	}
	return st
}

var (
	errInvalidCredentials = &apiError{code: codes.Unauthenticated, reason: "INVALID_CREDENTIALS", msg: "wrong login or password"}
	errTooManyAttempts    = &apiError{code: codes.ResourceExhausted, reason: "TOO_MANY_ATTEMPTS", msg: "too many failed logins: try again later"}
	errUsernameTaken      = &apiError{code: codes.AlreadyExists, reason: "USERNAME_TAKEN", msg: "that username is taken"}
	errEmailTaken         = &apiError{code: codes.AlreadyExists, reason: "EMAIL_TAKEN", msg: "an account with that email exists"}
	errInvalidGrant       = &apiError{code: codes.Unauthenticated, reason: "INVALID_GRANT", msg: "the refresh token is invalid, expired or revoked"}
	errUserNotFound       = &apiError{code: codes.NotFound, reason: "USER_NOT_FOUND", msg: "no such user"}
	errRoomNotFound       = &apiError{code: codes.NotFound, reason: "ROOM_NOT_FOUND", msg: "no such room"}
	errNotMember          = &apiError{code: codes.PermissionDenied, reason: "NOT_A_MEMBER", msg: "you are not a member of this room"}
	errForbidden          = &apiError{code: codes.PermissionDenied, reason: "FORBIDDEN", msg: "your role does not allow this"}
	errUnauthenticated    = &apiError{code: codes.Unauthenticated, reason: "UNAUTHENTICATED", msg: "caller is missing or unknown"}
)

func invalidArgument(field, format string, args ...any) error {
	return &apiError{code: codes.InvalidArgument, reason: "INVALID_ARGUMENT", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

func failedPrecondition(reason, msg string) error {
	return &apiError{code: codes.FailedPrecondition, reason: reason, msg: msg}
}

// toStatus passes API errors through and hides everything else behind
// Internal, so database details never reach a client.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var api *apiError
	if errors.As(err, &api) {
		return api
	}
	if errors.Is(err, errContextDone) {
		return status.Error(codes.Canceled, "request cancelled")
	}
	return status.Error(codes.Internal, "internal error")
}

var errContextDone = errors.New("context done")

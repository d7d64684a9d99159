package main

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parley-chat/parley/knative/ksvc"
)

// apiErrors are auth's client-visible errors (ksvc.APIError, domain auth.parley).
const apiErrors = ksvc.APIErrors("auth.parley")

var (
	errInvalidCredentials = apiErrors.New(codes.Unauthenticated, "INVALID_CREDENTIALS", "wrong login or password")
	errTooManyAttempts    = apiErrors.New(codes.ResourceExhausted, "TOO_MANY_ATTEMPTS", "too many failed logins: try again later")
	errUsernameTaken      = apiErrors.New(codes.AlreadyExists, "USERNAME_TAKEN", "that username is taken")
	errEmailTaken         = apiErrors.New(codes.AlreadyExists, "EMAIL_TAKEN", "an account with that email exists")
	errInvalidGrant       = apiErrors.New(codes.Unauthenticated, "INVALID_GRANT", "the refresh token is invalid, expired or revoked")
	errUserNotFound       = apiErrors.New(codes.NotFound, "USER_NOT_FOUND", "no such user")
	errRoomNotFound       = apiErrors.New(codes.NotFound, "ROOM_NOT_FOUND", "no such room")
	errNotMember          = apiErrors.New(codes.PermissionDenied, "NOT_A_MEMBER", "you are not a member of this room")
	errForbidden          = apiErrors.New(codes.PermissionDenied, "FORBIDDEN", "your role does not allow this")
	errUnauthenticated    = apiErrors.New(codes.Unauthenticated, "UNAUTHENTICATED", "caller is missing or unknown")
	errBlocked            = apiErrors.New(codes.PermissionDenied, "BLOCKED", "this person does not accept direct messages from you")
	// wrongPassword refuses a password change: it names the field, unlike
	// errInvalidCredentials at login, which must not say which part was wrong.
	wrongPassword = &ksvc.APIError{Code: codes.Unauthenticated, Domain: string(apiErrors), Reason: "WRONG_PASSWORD",
		Field: "current_password", Message: "the current password is wrong"}
)

func invalidArgument(field, format string, args ...any) error {
	return apiErrors.InvalidArgument(field, format, args...)
}

func failedPrecondition(reason, msg string) error {
	return apiErrors.New(codes.FailedPrecondition, reason, msg)
}

// toStatus passes API errors through and hides everything else behind
// Internal, so database details never reach a client.
func toStatus(err error) error {
	if errors.Is(err, errContextDone) {
		return status.Error(codes.Canceled, "request cancelled")
	}
	return ksvc.ToStatus(err)
}

var errContextDone = errors.New("context done")

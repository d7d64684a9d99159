package gateway

import (
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiError is the JSON error body of every REST failure:
//
//	{"error": {"code": "username_taken", "message": "that username is taken", "field": "username"}}
//
// code is stable and machine-readable; message is for people.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, msg string) *apiError {
	return &apiError{status: status, Code: code, Message: msg}
}

var (
	errUnauthorized    = errorf(http.StatusUnauthorized, "unauthorized", "a valid access token is required (Authorization: Bearer …)")
	errRateLimited     = errorf(http.StatusTooManyRequests, "rate_limited", "too many requests: slow down")
	errAuthUnavailable = errorf(http.StatusServiceUnavailable, "unavailable", "the service is temporarily unavailable: retry shortly")
)

var httpStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.FailedPrecondition: http.StatusConflict,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.Canceled:           499,
}

// fromGRPC maps a function's gRPC error to the REST error: its ErrorInfo
// reason becomes the code, lower-cased.
func fromGRPC(err error) *apiError {
	st := status.Convert(err)
	code, ok := httpStatus[st.Code()]
	if !ok {
		return errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	if st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
		return errAuthUnavailable
	}
	e := &apiError{status: code, Code: strings.ToLower(st.Code().String()), Message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			e.Code = strings.ToLower(info.Reason)
			e.Field = info.Metadata["field"]
		}
	}
	return e
}

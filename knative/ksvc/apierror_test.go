package ksvc

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

func TestAPIErrorsCarryTheirErrorInfo(t *testing.T) {
	const errs = APIErrors("test.parley")
	for name, c := range map[string]struct {
		err                error
		code               codes.Code
		reason, field, msg string
	}{
		"invalid argument": {errs.InvalidArgument("limit", "is 1..%d", 100), codes.InvalidArgument, "INVALID_ARGUMENT", "limit", "limit: is 1..100"},
		"invalid":          {errs.Invalid("want a or b"), codes.InvalidArgument, "INVALID_ARGUMENT", "", "want a or b"},
		"unavailable":      {errs.Unavailable("down: retry"), codes.Unavailable, "UNAVAILABLE", "", "down: retry"},
		"not found":        {errs.NotFound("no such thing"), codes.NotFound, "NOT_FOUND", "", "no such thing"},
		"own reason":       {errs.New(codes.AlreadyExists, "TAKEN", "taken"), codes.AlreadyExists, "TAKEN", "", "taken"},
		"wrapped":          {ToStatus(fmt.Errorf("deep: %w", errs.NotFound("gone"))), codes.NotFound, "NOT_FOUND", "", "gone"},
	} {
		st := grpcstatus.Convert(c.err)
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			info, _ = d.(*errdetails.ErrorInfo)
		}
		if st.Code() != c.code || st.Message() != c.msg || info == nil || info.Reason != c.reason ||
			info.Domain != "test.parley" || info.Metadata["field"] != c.field {
			t.Errorf("%s: %v %q %v", name, st.Code(), st.Message(), info)
		}
	}
}

func TestToStatusHidesOtherErrors(t *testing.T) {
	st := grpcstatus.Convert(ToStatus(errors.New("pq: relation users: connection refused at 10.0.0.3")))
	if st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("got %v %q", st.Code(), st.Message())
	}
	if ToStatus(nil) != nil {
		t.Error("nil became an error")
	}
}

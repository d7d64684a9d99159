package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"unicode/utf8"
)

// maxBody caps every JSON request body. The largest legitimate one (a
// registration) is well under 2 KiB.
const maxBody = 64 << 10

// decode reads a JSON object into dst strictly: the right content type, at
// most maxBody bytes, valid UTF-8 (encoding/json would silently replace bad
// bytes), no unknown fields, nothing after the object.
func decode(r *http.Request, dst any) *apiError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "bad_request", "could not read the request body")
	}
	if len(body) > maxBody {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than 64 KiB")
	}
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, "invalid_utf8", "the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			return &apiError{status: http.StatusBadRequest, Code: "invalid_json", Field: typ.Field, Message: "field " + typ.Field + " has the wrong type"}
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON")
		default:
			return errorf(http.StatusBadRequest, "invalid_json", err.Error())
		}
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid_json", "the request body holds more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "error", err)
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	writeJSON(w, e.status, map[string]*apiError{"error": e})
}

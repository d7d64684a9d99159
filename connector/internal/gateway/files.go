package gateway

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/connector/internal/files"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// uploadRequest is the body of POST /api/v1/rooms/{id}/uploads.
type uploadRequest struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

var errFilesOff = errorf(http.StatusNotImplemented, "files_disabled", "file sharing is not configured on this server")

// POST /api/v1/rooms/{id}/uploads: a presigned URL to upload one file to
// the room, for a member. The file is checked against the limits here and,
// by the store, against what was signed (its length and type); a message
// attaches it by id (send frame, attachments). Nothing is stored here.
func (g *Gateway) createUpload(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	if g.files == nil {
		return errFilesOff
	}
	if !g.uploadLimiter.Allow(c.UserId) {
		w.Header().Set("Retry-After", "1")
		return errRateLimited
	}
	var req uploadRequest
	if e := decode(r, &req); e != nil {
		return e
	}
	roomID := r.PathValue("id")
	if e := g.requireMember(r, roomID, c); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	up, err := g.files.PresignUpload(ctx, roomID, c.UserId, req.Name, req.Size, req.ContentType)
	if errors.Is(err, files.ErrRefused) {
		return fileRefused(err)
	}
	if quota := (*files.QuotaError)(nil); errors.As(err, &quota) {
		return quotaReached(w, quota)
	}
	if err != nil {
		g.log.Error("presign upload", "room", roomID, "error", err)
		return errAuthUnavailable
	}
	writeJSON(w, http.StatusCreated, up)
	return nil
}

// GET /api/v1/rooms/{id}/files/{file}[?thumbnail=1]: a member's short-lived
// URL of a file (or of an image's thumbnail). Browsers cannot send a
// bearer token from an <img> or a link, so a client asking for JSON gets
// {"url", "expires_at"} to use; other clients are redirected (302).
func (g *Gateway) getFile(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	if g.files == nil {
		return errFilesOff
	}
	roomID := r.PathValue("id")
	if e := g.requireMember(r, roomID, c); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	thumb := r.URL.Query().Get("thumbnail") == "1"
	dl, err := g.files.PresignDownload(ctx, roomID, r.PathValue("file"), thumb)
	if errors.Is(err, files.ErrNotFound) {
		what := "file"
		if thumb {
			what = "thumbnail (it may not be made yet)"
		}
		return errorf(http.StatusNotFound, "not_found", "no such "+what+" in this room")
	}
	if err != nil {
		g.log.Error("presign download", "room", roomID, "error", err)
		return errAuthUnavailable
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, dl)
		return nil
	}
	http.Redirect(w, r, dl.URL, http.StatusFound)
	return nil
}

// requireMember asks auth, not a cache: a member who left a moment ago
// neither uploads to the room nor reads its files.
func (g *Gateway) requireMember(r *http.Request, roomID string, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.auth.CheckMembership(ctx, &authv1.CheckMembershipRequest{RoomId: roomID, UserId: c.UserId})
	if err != nil {
		return fromGRPC(err)
	}
	if !resp.Member {
		return &apiError{status: http.StatusForbidden, Code: "not_a_member", Message: "you are not a member of this room"}
	}
	return nil
}

// fileRefused answers a refused upload by why: 413 for a file over its
// limit, 415 for a type not allowed, 400 for the rest (its name, an empty
// file), with the reason for people as the message.
func fileRefused(err error) *apiError {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, eventsv1.ErrFileTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, eventsv1.ErrFileType):
		status = http.StatusUnsupportedMediaType
	}
	return errorf(status, "file_refused", strings.TrimPrefix(err.Error(), files.ErrRefused.Error()+": "))
}

// quotaReached answers an upload past its user's daily quota: 429, with
// Retry-After until the day's end.
func quotaReached(w http.ResponseWriter, quota *files.QuotaError) *apiError {
	w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(quota.RetryAfter.Seconds())), 10))
	return errorf(http.StatusTooManyRequests, "upload_quota", quota.Error())
}

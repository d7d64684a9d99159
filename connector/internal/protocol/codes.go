package protocol

// Error codes of error frames: {"type":"error","id":…,"code":…,"message":…}.
const (
	CodeBadFrame         = "bad_frame"         // malformed or invalid frame; fix the client
	CodeFrameTooLarge    = "frame_too_large"   // above MaxFrameBytes
	CodeUnknownType      = "unknown_type"      // frame type not in protocol v1
	CodeTextTooLong      = "text_too_long"     // above MaxTextChars
	CodeNotAuthenticated = "not_authenticated" // a frame before auth
	CodeInvalidToken     = "invalid_token"     // auth failed; close follows
	CodeNotMember        = "not_a_member"      // not a member of that room
	CodeForbidden        = "forbidden"         // e.g. editing someone else's message
	CodeNotFound         = "not_found"         // no such message
	CodeRateLimited      = "rate_limited"      // slow down; retry_after_ms says when
	CodeUnavailable      = "unavailable"       // a dependency is down; retry the same frame (same client_msg_id)
	CodeInProgress       = "in_progress"       // the same client_msg_id is being sent right now; retry
	CodeSeqOutOfRange    = "seq_out_of_range"  // a seq the room has not reached (or below 0); room_id says which room
)

// Close codes. 4000-4099: reconnect (with backoff). 4400-4499: fix
// something first (a new token, a different client), then reconnect.
const (
	CloseGoingAway       = 4000 // server draining or restarting: reconnect now
	CloseSlowConsumer    = 4001 // the client did not read fast enough: reconnect and resume
	CloseInternal        = 4002 // unexpected server error: reconnect with backoff
	CloseAuthFailed      = 4401 // missing, invalid or expired token: refresh it, then reconnect
	CloseForbidden       = 4403
	CloseAuthTimeout     = 4408 // no auth frame in time
	ClosePolicyViolation = 4429 // flooding far beyond the rate limit
)

// Reconnectable reports whether a client should reconnect after code.
func Reconnectable(code int) bool { return code >= 4000 && code < 4100 || code == 1001 || code == 1006 }

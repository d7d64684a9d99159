package livev1

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
	CodeReactionLimit    = "reaction_limit"    // the message carries MaxReactionEmojis different emoji (or MaxReactions); react with one of them
	CodeBlocked          = "blocked"           // the other person of this 1:1 conversation blocked you; nothing was stored
	CodeNoThread         = "no_thread"         // thread_id is not a visible top-level message of the room
	CodeFileRefused      = "file_refused"      // an attachment is not a finished upload of yours to this room, or breaks the file limits; nothing was stored
)

// CloseCode is the code of a close frame: WebSocket's own (RFC 6455) below
// FirstCloseCode, Parley's from it on.
type CloseCode int

// FirstCloseCode is the first of Parley's close codes. Below it the
// connection failed, not the client (1001 going away, 1006 dropped, 1009
// frame too large…): a client reconnects.
const FirstCloseCode CloseCode = 4000

// Close codes. 4000-4099: reconnect (with backoff). 4400-4499: fix
// something first (a new token, a different client), then reconnect.
const (
	CloseGoingAway       CloseCode = 4000 // server draining or restarting: reconnect now
	CloseSlowConsumer    CloseCode = 4001 // the client did not read fast enough: reconnect and resume
	CloseInternal        CloseCode = 4002 // unexpected server error: reconnect with backoff
	CloseAuthFailed      CloseCode = 4401 // missing, invalid or expired token: refresh it, then reconnect
	CloseForbidden       CloseCode = 4403 // not allowed as is (another user's token on this socket): do not reconnect
	CloseAuthTimeout     CloseCode = 4408 // no auth frame in time
	ClosePolicyViolation CloseCode = 4429 // flooding far beyond the rate limit: back off, then reconnect
)

// reconnectAfter is every close code of this protocol version and whether
// a client reconnects (with backoff and jitter) after it.
var reconnectAfter = map[CloseCode]bool{
	CloseGoingAway: true, CloseSlowConsumer: true, CloseInternal: true,
	CloseAuthFailed: true, CloseForbidden: false, CloseAuthTimeout: true, ClosePolicyViolation: true,
}

// Reconnects is the one reconnect rule (the web client's is generated from
// it): reconnect after WebSocket's own codes and after Parley's that say
// so; not after CloseForbidden, nor after a code this version does not know.
func Reconnects(code CloseCode) bool { return code < FirstCloseCode || reconnectAfter[code] }

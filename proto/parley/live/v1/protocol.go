// Package livev1 is Parley's live contract: the WebSocket protocol v1 (the
// frames both ways, their limits, error codes, close codes and the one
// reconnect rule) and what carries it between services in Redis (every key
// and channel, with the functions that parse them, the envelope on a room's
// channel, the recent-history window). connector/PROTOCOL.md documents it
// for client authors; the web client's types and codes are generated from
// this package (web/src/lib/contract.gen.ts, `make generate`).
package livev1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Subprotocol is negotiated with Sec-WebSocket-Protocol. A client may also
// offer "parley.auth.<access token>" alongside it to authenticate without a
// first frame; the token is never put in the URL.
const (
	Subprotocol        = "parley.v1"
	AuthSubprotoPrefix = "parley.auth."
)

// Limits.
const (
	MaxFrameBytes = 16 << 10              // one WebSocket message from a client
	MaxTextChars  = eventsv1.MaxTextChars // one chat message
	MaxRooms      = 200                   // rooms in one subscribe frame
	MaxHistory    = 100                   // messages in one history page
	MaxIDLen      = 64                    // client-chosen ids (frame id, client_msg_id)
	// Reactions: one emoji of at most MaxEmojiBytes; a message carries at
	// most MaxReactionEmojis different emoji and MaxReactions in all.
	MaxEmojiBytes     = eventsv1.MaxEmojiBytes
	MaxReactionEmojis = eventsv1.MaxReactionEmojis
	MaxReactions      = eventsv1.MaxReactions
)

// Ops of a react frame (and of the reacted frame that tells the room).
const (
	ReactionAdd    = eventsv1.ReactionAdd
	ReactionRemove = eventsv1.ReactionRemove
)

// Client frame types.
const (
	TypeAuth        = "auth"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeSend        = "send"
	TypeEdit        = "edit"
	TypeDelete      = "delete"
	TypeReact       = "react"
	TypeTyping      = "typing"
	TypePresence    = "presence"
	TypeWatch       = "watch"
	TypeRead        = "read"
	TypeHistory     = "history"
)

// Server frame types (besides history, presence, typing, read, which reuse the names above).
const (
	TypeReady      = "ready"
	TypeSubscribed = "subscribed"
	TypeAck        = "ack"
	TypeMessage    = "message"
	TypeEdited     = "edited"
	TypeDeleted    = "deleted"
	TypeReacted    = "reacted"   // ReactedFrame: a member added or removed a reaction
	TypeRedacted   = "redacted"  // MessageFrame: moderation hid the message (persist publishes it)
	TypeRestored   = "restored"  // MessageFrame: a moderator made it visible again (persist)
	TypeThread     = "thread"    // MessageFrame: a thread's root with its new reply summary (persist)
	TypeChanged    = "changed"   // MessageFrame: a message that changed while the client was away (replayed on resume)
	TypeThumbnail  = "thumbnail" // MessageFrame: a message whose image attachment now has its thumbnail (persist)
	TypeReceipt    = "receipt"
	TypeUnread     = "unread"
	TypeThreadRead = "thread_read" // ThreadReadFrame: your read position in a thread moved
	TypeError      = "error"
	TypeNotice     = "notification" // NotificationFrame (the notification function publishes it)
	TypeMembership = "membership"   // MembershipFrame (the notification function publishes it)
)

// RoomCursor is a room to subscribe to and the last seq the client has.
type RoomCursor struct {
	RoomID  string `json:"room_id"`
	LastSeq int64  `json:"last_seq"`
}

// Frame is any client frame; which fields matter depends on Type.
type Frame struct {
	Type        string       `json:"type"`
	ID          string       `json:"id,omitempty"` // echoed in the answer
	Token       string       `json:"token,omitempty"`
	Rooms       []RoomCursor `json:"rooms,omitempty"`
	RoomID      string       `json:"room_id,omitempty"`
	ClientMsgID string       `json:"client_msg_id,omitempty"`
	Text        string       `json:"text,omitempty"`
	MessageID   string       `json:"message_id,omitempty"`
	Seq         int64        `json:"seq,omitempty"`
	BeforeSeq   int64        `json:"before_seq,omitempty"`
	Limit       int          `json:"limit,omitempty"`
	State       string       `json:"state,omitempty"`  // typing: start, stop
	Status      string       `json:"status,omitempty"` // presence: online, away
	UserIDs     []string     `json:"user_ids,omitempty"`
	Emoji       string       `json:"emoji,omitempty"` // react
	Op          string       `json:"op,omitempty"`    // react: ReactionAdd or ReactionRemove
	// ThreadID: send replies in the thread of this root (seq is then the
	// root's seq); history pages that thread's replies; read moves the
	// read position in that thread (seq: the last reply read).
	ThreadID string `json:"thread_id,omitempty"`
	// Attachments: send these uploads with the message (ids from POST
	// /api/v1/rooms/{room}/uploads, uploaded by the sender to this room);
	// the text is then their caption, and may be empty.
	Attachments []string `json:"attachments,omitempty"`
}

// Error is a protocol error: a stable code for programs, a message for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Decode parses and validates one client frame. Every failure is an *Error,
// and nothing about the input can make it panic. On failure the frame's ID
// is still set when one can be read (see PeekID), so the error can name it.
func Decode(data []byte) (Frame, error) {
	f, err := decode(data)
	if err != nil {
		f = Frame{ID: PeekID(data)}
	}
	return f, err
}

// PeekID returns a frame's id for an error about the frame, without
// validating anything else: "" when there is no string id of at most
// MaxIDLen bytes to read (an id the client cannot have sent is not echoed).
func PeekID(data []byte) string {
	if len(data) > MaxFrameBytes {
		return ""
	}
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &v) != nil || len(v.ID) > MaxIDLen || !utf8.ValidString(v.ID) {
		return ""
	}
	return v.ID
}

func decode(data []byte) (Frame, error) {
	var f Frame
	if len(data) > MaxFrameBytes {
		return f, errf(CodeFrameTooLarge, "frames are limited to %d bytes", MaxFrameBytes)
	}
	if !utf8.Valid(data) {
		return f, errf(CodeBadFrame, "frame is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, errf(CodeBadFrame, "frame is not a valid JSON object: %s", trimErr(err))
	}
	if dec.More() {
		return f, errf(CodeBadFrame, "one JSON object per frame")
	}
	return f, f.validate()
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return strings.TrimPrefix(s, "json: ")
}

func (f *Frame) validate() error {
	if len(f.ID) > MaxIDLen {
		return errf(CodeBadFrame, "id is longer than %d", MaxIDLen)
	}
	need := func(cond bool, format string, args ...any) error {
		if !cond {
			return errf(CodeBadFrame, format, args...)
		}
		return nil
	}
	// Every id field is checked here, once; the cases below only ask for
	// the ones they need. A misspelt id gets its own answer.
	for _, id := range [...]struct{ name, value string }{{"room_id", f.RoomID}, {"message_id", f.MessageID}, {"thread_id", f.ThreadID}} {
		if id.value != "" && !eventsv1.ValidID(id.value) {
			return errf(CodeBadFrame, "%s is not an id: ids are lowercase UUIDs", id.name)
		}
	}
	switch f.Type {
	case TypeAuth:
		return need(f.Token != "" && len(f.Token) <= 4096, "auth needs a token")
	case TypeSubscribe:
		if len(f.Rooms) == 0 || len(f.Rooms) > MaxRooms {
			return errf(CodeBadFrame, "subscribe needs 1 to %d rooms", MaxRooms)
		}
		for _, r := range f.Rooms {
			if !eventsv1.ValidID(r.RoomID) || r.LastSeq < 0 {
				return errf(CodeBadFrame, "each room needs a room_id (a lowercase UUID) and last_seq >= 0")
			}
		}
		return nil
	case TypeUnsubscribe:
		return need(f.RoomID != "", "unsubscribe needs room_id")
	case TypeSend:
		if err := need(f.RoomID != "" && f.ClientMsgID != "" && len(f.ClientMsgID) <= MaxIDLen,
			"send needs room_id and client_msg_id"); err != nil {
			return err
		}
		if err := need(f.ThreadID == "" || f.Seq > 0,
			"a reply in a thread needs thread_id and seq, the root's id and seq"); err != nil {
			return err
		}
		if len(f.Attachments) > eventsv1.MaxAttachments {
			return errf(CodeBadFrame, "a message carries at most %d files", eventsv1.MaxAttachments)
		}
		for i, id := range f.Attachments {
			if err := eventsv1.ValidFileID(id); err != nil || slices.Contains(f.Attachments[:i], id) {
				return errf(CodeBadFrame, "attachments are distinct upload ids")
			}
		}
		if len(f.Attachments) > 0 && f.Text == "" {
			return nil // files without a caption
		}
		return ValidText(f.Text)
	case TypeEdit:
		if err := need(f.RoomID != "" && f.MessageID != "" && f.Seq > 0, "edit needs room_id, message_id and seq"); err != nil {
			return err
		}
		return ValidText(f.Text)
	case TypeDelete:
		return need(f.RoomID != "" && f.MessageID != "" && f.Seq > 0, "delete needs room_id, message_id and seq")
	case TypeReact:
		if err := need(f.RoomID != "" && f.MessageID != "" && f.Seq > 0 && (f.Op == ReactionAdd || f.Op == ReactionRemove),
			"react needs room_id, message_id, seq and op %q or %q", ReactionAdd, ReactionRemove); err != nil {
			return err
		}
		if err := eventsv1.ValidEmoji(f.Emoji); err != nil {
			return errf(CodeBadFrame, "%s", err)
		}
		return nil
	case TypeTyping:
		return need(f.RoomID != "" && (f.State == "start" || f.State == "stop"), "typing needs room_id and state start or stop")
	case TypePresence:
		return need(f.Status == "online" || f.Status == "away", "presence status is online or away")
	case TypeWatch:
		if len(f.UserIDs) > 500 {
			return errf(CodeBadFrame, "watch at most 500 users")
		}
		for _, id := range f.UserIDs {
			if !eventsv1.ValidID(id) {
				return errf(CodeBadFrame, "user_ids must be ids")
			}
		}
		return nil
	case TypeRead:
		return need(f.RoomID != "" && f.Seq > 0,
			"read needs room_id, seq > 0 and, for a thread, its root's thread_id")
	case TypeHistory:
		return need(f.RoomID != "" && f.BeforeSeq >= 0 && f.Limit >= 0 && f.Limit <= MaxHistory,
			"history needs room_id, before_seq >= 0, limit 0..%d and, for a thread, its root's thread_id", MaxHistory)
	case "":
		return errf(CodeBadFrame, "frame has no type")
	}
	return errf(CodeUnknownType, "unknown frame type %q", f.Type)
}

// ValidText checks a chat message: 1 to MaxTextChars characters, not only
// spaces, no control characters but newline and tab.
func ValidText(s string) error {
	n := utf8.RuneCountInString(s)
	if n == 0 || strings.TrimSpace(s) == "" {
		return errf(CodeBadFrame, "text is empty")
	}
	if n > MaxTextChars {
		return errf(CodeTextTooLong, "text is longer than %d characters", MaxTextChars)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return errf(CodeBadFrame, "text contains control characters")
	}
	return nil
}

// IsError reports whether err is a protocol error and returns it.
func IsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

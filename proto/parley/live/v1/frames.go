package livev1

import (
	"bytes"
	"encoding/json"
	"time"
)

// Server frames: every frame the connector writes is one of these, so a
// field is named once for the Go side (PROTOCOL.md documents them for
// clients). Frames that carry a message keep it as the JSON it is stored
// as, so it is never decoded and encoded again on the way.

// ReadyFrame answers a successful auth frame.
type ReadyFrame struct {
	Type        string    `json:"type"` // TypeReady
	ID          string    `json:"id,omitempty"`
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
	SessionID   string    `json:"session_id"`
	ConnectorID string    `json:"connector_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// SubscribedFrame answers a room of a subscribe frame: live messages of
// the room after Seq follow.
type SubscribedFrame struct {
	Type   string  `json:"type"` // TypeSubscribed
	ID     string  `json:"id,omitempty"`
	RoomID string  `json:"room_id"`
	Seq    int64   `json:"seq"`
	Unread *Unread `json:"unread,omitempty" ts:"Unread"` // absent when it could not be counted
}

// Unread is how much of a room a user has not read: the messages of
// others after their read position that are neither deleted nor hidden,
// and the seqs of those that mention them (every message of the other
// member in a direct room). Mentions are seqs, not a count, so a client can
// merge the live notifications that cross this frame without counting one
// twice.
type Unread struct {
	ReadSeq  int64 `json:"read_seq"`
	Messages int64 `json:"messages"`
	// More says Messages is a floor: unread messages older than the
	// recent-history window are not counted.
	More bool `json:"more,omitempty"`
	// UpTo is the highest seq Messages covers: a client adds the messages
	// after it as they arrive.
	UpTo     int64   `json:"up_to"`
	Mentions []int64 `json:"mentions"` // ascending
	// Threads are the user's read positions in the room's threads (root
	// id -> the last reply seq read; see ThreadReadsKey), in subscribed
	// frames only: a thread whose root's thread.last_reply_seq is above
	// its position (or that has none) has replies the user has not read.
	Threads map[string]int64 `json:"threads,omitempty"`
}

// UnreadFrame goes to every socket of a user whose read position in a
// room moved, on any connector.
type UnreadFrame struct {
	Type   string `json:"type"` // TypeUnread
	RoomID string `json:"room_id"`
	Unread Unread `json:"unread"`
}

// ThreadReadFrame goes to every socket of a user whose read position in
// a thread moved (a read frame with thread_id), on any connector.
type ThreadReadFrame struct {
	Type     string `json:"type"` // TypeThreadRead
	RoomID   string `json:"room_id"`
	ThreadID string `json:"thread_id"`
	ReadSeq  int64  `json:"read_seq"`
}

// AckFrame answers a send, edit or delete that is durable.
type AckFrame struct {
	Type        string `json:"type"` // TypeAck
	ID          string `json:"id,omitempty"`
	MessageID   string `json:"message_id"`
	Seq         int64  `json:"seq"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// ErrorFrame says why a frame was refused; ID names it when it had one.
type ErrorFrame struct {
	Type         string `json:"type"` // TypeError
	ID           string `json:"id,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RoomID       string `json:"room_id,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// MessageFrame carries a message of a room (an eventsv1.Message as JSON):
// new (TypeMessage), edited, deleted, redacted or restored.
type MessageFrame struct {
	Type    string          `json:"type"`
	RoomID  string          `json:"room_id"`
	Message json.RawMessage `json:"message" ts:"Message"`
	// Reason says why moderation hid the message (eventsv1.FlagReason).
	// Only the redacted frame sent to the author on their UserChannel
	// carries it; the room's members see the message hidden, not why.
	Reason string `json:"reason,omitempty"`
}

// ReactedFrame tells a room a member added or removed a reaction. It is a
// change, not the message's whole list: a client applies it to what it
// holds (adding a reaction it has, or removing one it has not, changes
// nothing), and history pages carry the lists.
type ReactedFrame struct {
	Type      string `json:"type"` // TypeReacted
	RoomID    string `json:"room_id"`
	MessageID string `json:"message_id"`
	Seq       int64  `json:"seq"`
	Emoji     string `json:"emoji"`
	UserID    string `json:"user_id"`
	Op        string `json:"op"` // ReactionAdd or ReactionRemove
}

// TypingFrame tells a room someone is typing.
type TypingFrame struct {
	Type     string `json:"type"` // TypeTyping
	RoomID   string `json:"room_id"`
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	State    string `json:"state"`
}

// ReceiptFrame tells a room how far someone has read.
type ReceiptFrame struct {
	Type   string `json:"type"` // TypeReceipt
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	Seq    int64  `json:"seq"`
}

// PresenceFrame tells a watcher a user's status.
type PresenceFrame struct {
	Type   string `json:"type"` // TypePresence
	UserID string `json:"user_id"`
	Status string `json:"status"`
}

// HistoryFrame answers a history frame.
type HistoryFrame struct {
	Type   string `json:"type"` // TypeHistory
	ID     string `json:"id,omitempty"`
	RoomID string `json:"room_id"`
	// ThreadID names the thread whose replies the page holds ("" for the room).
	ThreadID string            `json:"thread_id,omitempty"`
	Messages []json.RawMessage `json:"messages" ts:"Message[]"`
	More     bool              `json:"more"`
	Receipts map[string]string `json:"receipts"`
	// HiddenReasons tells why moderation hid messages of the page that the
	// reader wrote (message id -> reason); it never names others' messages.
	HiddenReasons map[string]string `json:"hidden_reasons,omitempty"`
}

// Presence returns the presence frame of user.
func Presence(user, status string) PresenceFrame {
	return PresenceFrame{Type: TypePresence, UserID: user, Status: status}
}

// MembershipFrame tells a user's sockets they joined or left a room; the
// notification function publishes it on the user's UserChannel. Each
// connector that hears it forgets its cached answer for that user and
// room, and stops a room left on the user's sockets before passing the
// frame on (a kick takes effect on open sockets), so clients add or drop
// the room without a reload.
type MembershipFrame struct {
	Type   string `json:"type"` // TypeMembership
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	State  string `json:"state"`  // MembershipJoined, MembershipLeft or MembershipChanged
	Reason string `json:"reason"` // as in eventsv1.RoomMember: invited, kicked, …
	By     string `json:"by,omitempty"`
}

// IsMembership reports whether a frame from a UserChannel is a
// MembershipFrame, without decoding it: encoded, a MembershipFrame starts
// with its type (the struct's first field), and no other frame has that
// type.
func IsMembership(frame []byte) bool { return bytes.HasPrefix(frame, membershipPrefix) }

var membershipPrefix = []byte(`{"type":"` + TypeMembership + `"`)

// Membership states.
const (
	MembershipJoined = "joined"
	MembershipLeft   = "left"
	// MembershipChanged: what the user may do in the room changed (the
	// other person of a 1:1 room blocked or unblocked them). Connectors
	// forget their cached answer and do not pass the frame on.
	MembershipChanged = "changed"
)

// NotificationFrame carries a new notification; it is published on the
// user's UserChannel.
type NotificationFrame struct {
	Type         string       `json:"type"` // TypeNotice
	Notification Notification `json:"notification"`
}

// Notification is a notification as clients see it: in NotificationFrame
// and in the connector's REST list.
type Notification struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"` // mention, direct, thread or welcome
	RoomID       string    `json:"room_id,omitempty"`
	MessageID    string    `json:"message_id,omitempty"`
	FromUserID   string    `json:"from_user_id,omitempty"`
	FromUsername string    `json:"from_username,omitempty"`
	Text         string    `json:"text,omitempty"`
	Seq          int64     `json:"seq,omitempty"` // the message's, so a client can tell whether it has read it
	CreatedAt    time.Time `json:"created_at"`
	Read         bool      `json:"read"`
	// ThreadID is the thread a reply was made in (kind thread).
	ThreadID string `json:"thread_id,omitempty"`
}

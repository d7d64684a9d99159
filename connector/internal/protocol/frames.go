package protocol

import (
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
	Type   string `json:"type"` // TypeSubscribed
	ID     string `json:"id,omitempty"`
	RoomID string `json:"room_id"`
	Seq    int64  `json:"seq"`
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

// MessageFrame carries a message of a room: new (TypeMessage), edited,
// deleted, redacted or restored.
type MessageFrame struct {
	Type    string          `json:"type"`
	RoomID  string          `json:"room_id"`
	Message json.RawMessage `json:"message"`
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
	Type     string            `json:"type"` // TypeHistory
	ID       string            `json:"id,omitempty"`
	RoomID   string            `json:"room_id"`
	Messages []json.RawMessage `json:"messages"`
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

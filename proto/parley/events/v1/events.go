// Package eventsv1 defines the JSON payloads (CloudEvent data) of Parley's
// events and their CloudEvent types. Every event carries the `partitionkey`
// extension named on its type, so related events stay in order on one
// Kafka partition.
package eventsv1

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/kafka/cekafka"
)

// CloudEvent types.
const (
	TypeUserCreated      = "parley.user.created"       // partitionkey: user id
	TypeRoomMemberJoined = "parley.room.member.joined" // partitionkey: room id
	TypeRoomMemberLeft   = "parley.room.member.left"   // partitionkey: room id
	TypeMessageSent      = "parley.message.sent"       // partitionkey: room id
	TypeMessageEdited    = "parley.message.edited"     // partitionkey: room id
	TypeMessageDeleted   = "parley.message.deleted"    // partitionkey: room id
	TypeMessageFlagged   = "parley.message.flagged"    // partitionkey: room id
	TypeMessageStored    = "parley.message.stored"     // partitionkey: room id
	TypeReceiptRead      = "parley.receipt.read"       // partitionkey: room id
	TypeMessageRestored  = "parley.message.restored"   // partitionkey: room id
	TypeMessageReacted   = "parley.message.reacted"    // partitionkey: room id
	TypeUserBlocked      = "parley.user.blocked"       // partitionkey: blocker's user id
	TypeUserUnblocked    = "parley.user.unblocked"     // partitionkey: blocker's user id
)

// Emitters: the CloudEvent source each Parley service stamps on what it
// emits. Only the service named here may emit a type (see EmitterOf).
const (
	SourceAuth       = "parley/auth"
	SourceConnector  = "parley/connector/" // + the connector's name
	SourcePersist    = "parley/persist"
	SourceModeration = "parley/moderation"
)

// emitters maps each type to its emitter's source (a prefix for the connector).
var emitters = map[string]string{
	TypeUserCreated:      SourceAuth,
	TypeRoomMemberJoined: SourceAuth,
	TypeRoomMemberLeft:   SourceAuth,
	TypeUserBlocked:      SourceAuth,
	TypeUserUnblocked:    SourceAuth,
	TypeMessageSent:      SourceConnector,
	TypeMessageEdited:    SourceConnector,
	TypeMessageDeleted:   SourceConnector,
	TypeReceiptRead:      SourceConnector,
	TypeMessageReacted:   SourceConnector,
	TypeMessageFlagged:   SourceModeration,
	TypeMessageRestored:  SourceModeration,
	TypeMessageStored:    SourcePersist,
}

// Types lists every event type Parley defines, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(emitters))
}

// EmitterOf is the source (or, for the connector, the source prefix) of
// the service allowed to emit typ; "" for a type Parley does not define.
func EmitterOf(typ string) string { return emitters[typ] }

// CheckEmitter refuses an event whose source is not its type's emitter.
// The Broker's EventPolicies bind each sender's identity to the source it
// may use (knative/base/eventpolicies.yaml), so a consumer checking it
// refuses an event that a sender could only have forged past them.
func CheckEmitter(typ, source string) error {
	want, ok := emitters[typ]
	switch {
	case !ok:
		return fmt.Errorf("event type %q is not a Parley event", typ)
	case want == SourceConnector && strings.HasPrefix(source, want):
		return nil
	case want != SourceConnector && source == want:
		return nil
	}
	return fmt.Errorf("%s may only come from %s, not from source %q", typ, want, source)
}

// New builds one of Parley's events: its id, type, the emitter's source
// (see EmitterOf), the partition key that keeps related events on one Kafka
// partition and so in order, the time and the data as JSON (data that is
// already JSON, as []byte, is kept as it is).
func New(id, typ, source, partitionKey string, at time.Time, data any) (event.Event, error) {
	e := event.New()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(source)
	e.SetTime(at)
	e.SetExtension(cekafka.PartitionKey, partitionKey)
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		return e, fmt.Errorf("%s %s: data: %w", typ, id, err)
	}
	return e, nil
}

// Limits every producer and consumer of these events enforces: the
// connector refuses a longer message from a client, and each function
// refuses (dead-letters) an event beyond them, whoever sent it.
const (
	MaxTextChars = 4000 // characters of one chat message
	// MaxDataBytes bounds an event's data: a message of MaxTextChars
	// characters, each escaped by JSON at worst as \uXXXX, fits.
	MaxDataBytes = 64 << 10
)

// UserCreated is the data of parley.user.created.
type UserCreated struct {
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

// RoomMember is the data of parley.room.member.joined and .left.
type RoomMember struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	// Role is the room role held on joining (owner, admin, member).
	Role string `json:"role"`
	// By is who caused it: the user themself, an inviter or a kicker.
	By string `json:"by"`
	// Reason is "joined", "invited", "created", "direct", "left" or "kicked".
	// "direct" is the opening of a direct conversation, 1:1 or group: every
	// message in it notifies its other members.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Members, on the "direct" joins of a conversation's opening, lists all
	// its people (at most MaxConversationPeople), so a consumer knows them
	// all from whichever of those events it handles first: a message can be
	// handled between them.
	Members []string `json:"members,omitempty"`
}

// MaxConversationPeople bounds a direct conversation (1:1 or group), its
// opener included.
const MaxConversationPeople = 8

// UserBlock is the data of parley.user.blocked and parley.user.unblocked.
// Both of one blocker share a partition, so they apply in order.
type UserBlock struct {
	BlockerID string `json:"blocker_id"`
	BlockedID string `json:"blocked_id"`
	// DirectRoomID is the pair's 1:1 direct room, when there is one, whose
	// cached memberships (and so whether the blocked one may send) change.
	DirectRoomID string    `json:"direct_room_id,omitempty"`
	At           time.Time `json:"at"`
}

// Message is a chat message as clients see it, in history and live. It is
// also the data of parley.message.sent and parley.message.stored.
type Message struct {
	ID          string    `json:"id"` // UUIDv7
	RoomID      string    `json:"room_id"`
	Seq         int64     `json:"seq"` // per-room order
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
	Text        string    `json:"text"`
	ClientMsgID string    `json:"client_msg_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	EditedAt    time.Time `json:"edited_at,omitzero"`
	Deleted     bool      `json:"deleted,omitempty"`
	// Hidden is set when moderation flagged the message; Text is then empty
	// for everyone.
	Hidden bool `json:"hidden,omitempty"`
	// Reactions are the emoji members reacted with, in the order each emoji
	// was first used; absent when there are none, and on a message that is
	// deleted or hidden.
	Reactions []Reaction `json:"reactions,omitempty"`
	// ThreadID is the id of the thread's root when the message is a reply
	// in a thread: a visible top-level message of the same room.
	ThreadID string `json:"thread_id,omitempty"`
	// Thread summarises a root's replies; it is absent until the first one.
	// On parley.message.stored of a reply it is the root's summary with that
	// reply counted, so consumers need not read the root.
	Thread *Thread `json:"thread,omitempty" ts:"Thread"`
	// Attachments are the files the message carries (see files.go); the
	// text is their caption. Absent on a deleted or hidden message.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Reaction is one emoji on a message and who reacted with it, in the order
// they did.
type Reaction struct {
	Emoji   string   `json:"emoji"`
	UserIDs []string `json:"user_ids"`
}

// Thread is the summary of a thread's replies, kept on its root by persist.
type Thread struct {
	ReplyCount int64 `json:"reply_count"`
	// LastReplySeq and the fields after it describe the newest reply.
	LastReplySeq      int64     `json:"last_reply_seq"`
	LastReplyAt       time.Time `json:"last_reply_at"`
	LastReplyUserID   string    `json:"last_reply_user_id"`
	LastReplyUsername string    `json:"last_reply_username"`
	// Participants are the root's author and everyone who replied, at most
	// MaxThreadParticipants of them: the thread's notifications go to them.
	Participants []string `json:"participants"`
}

// MaxThreadParticipants bounds a thread's participant list (and so the
// notifications of one reply); repliers beyond it are not added.
const MaxThreadParticipants = 100

// MessageEdited is the data of parley.message.edited.
type MessageEdited struct {
	MessageID string    `json:"message_id"`
	RoomID    string    `json:"room_id"`
	UserID    string    `json:"user_id"` // who edited
	Text      string    `json:"text"`
	EditedAt  time.Time `json:"edited_at"`
}

// MessageDeleted is the data of parley.message.deleted.
type MessageDeleted struct {
	MessageID string    `json:"message_id"`
	RoomID    string    `json:"room_id"`
	UserID    string    `json:"user_id"` // who deleted
	DeletedAt time.Time `json:"deleted_at"`
}

// MessageFlagged is the data of parley.message.flagged.
type MessageFlagged struct {
	MessageID string             `json:"message_id"`
	RoomID    string             `json:"room_id"`
	Seq       int64              `json:"seq"`
	UserID    string             `json:"user_id"` // the author, who is told
	Labels    []string           `json:"labels"`
	Scores    map[string]float64 `json:"scores"`
	Model     string             `json:"model"`
}

// MessageRestored is the data of parley.message.restored: a moderator
// reviewed a hidden message and made it visible again.
type MessageRestored struct {
	MessageID string    `json:"message_id"`
	RoomID    string    `json:"room_id"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// MessageReacted is the data of parley.message.reacted: a member added or
// removed one reaction of theirs. Op is explicit, so applying the event
// twice (redelivery) has the effect of applying it once.
type MessageReacted struct {
	MessageID string    `json:"message_id"`
	RoomID    string    `json:"room_id"`
	Seq       int64     `json:"seq"`
	UserID    string    `json:"user_id"` // who reacted
	Emoji     string    `json:"emoji"`
	Op        string    `json:"op"` // ReactionAdd or ReactionRemove
	At        time.Time `json:"at"`
}

// ReceiptRead is the data of parley.receipt.read.
type ReceiptRead struct {
	RoomID string    `json:"room_id"`
	UserID string    `json:"user_id"`
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
}

// SeqOf reads the seq of a Message in JSON without decoding the rest.
func SeqOf(raw []byte) int64 {
	var m struct {
		Seq int64 `json:"seq"`
	}
	json.Unmarshal(raw, &m)
	return m.Seq
}

// FlagReason is what the author of a hidden message is told: "flagged as
// toxic", "flagged as toxic and insult".
func FlagReason(labels []string) string {
	switch len(labels) {
	case 0:
		return "flagged"
	case 1:
		return "flagged as " + labels[0]
	}
	return "flagged as " + strings.Join(labels[:len(labels)-1], ", ") + " and " + labels[len(labels)-1]
}

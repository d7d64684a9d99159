// Package eventsv1 defines the JSON payloads (CloudEvent data) of Parley's
// events and their CloudEvent types. Every event carries the `partitionkey`
// extension named on its type, so related events stay in order on one
// Kafka partition.
package eventsv1

import "time"

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
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

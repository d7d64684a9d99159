package eventsv1

import (
	"strings"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// Extension attributes that let Triggers leave out what a subscriber has
// no use for, so it is not woken for it (a Trigger filters on attributes,
// never on data).
const (
	// ExtRoomKind, on parley.message.sent, names the kind of room the
	// message was sent to (an authv1.RoomKind* name), as auth told the
	// connector when it checked the sender's membership.
	ExtRoomKind = "parleyroomkind"
	// ExtQuiet is "true" on a parley.message.stored event of a message
	// that notifies no one (see Quiet): notification's Trigger leaves
	// those out (knative/base/triggers.yaml).
	ExtQuiet = "parleyquiet"
)

// Quiet reports whether notification tells no one of m, sent to a room of
// roomKind. In public and private rooms only those mentioned and a
// thread's participants are told, so a top-level message that cannot
// mention anyone tells no one. Every message of a direct or group room
// tells its other members, and a room of unknown kind (an event from a
// connector that did not say) is never taken for quiet.
func Quiet(m Message, roomKind string) bool {
	return (roomKind == authv1.RoomKindPublic || roomKind == authv1.RoomKindPrivate) &&
		m.ThreadID == "" && !MayMention(m.Text)
}

// MayMention reports whether text can mention anyone: every mention is an
// "@" before a username.
func MayMention(text string) bool { return strings.Contains(text, "@") }

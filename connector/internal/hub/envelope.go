package hub

import (
	"context"
	"errors"
	"strconv"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Envelope kinds on the Redis channel: "m<seq> <frame>" is an ordered
// message, "e <frame>" an ephemeral frame (typing, receipts, edits), and
// "g<seq>" a seq that will never come (its send failed).
const (
	kindMessage   = 'm'
	kindEphemeral = 'e'
	kindGap       = 'g'
)

// Channel is the Redis channel of a room.
func Channel(roomID string) string { return eventsv1.RoomChannel(roomID) }

// PublishMessage appends a message frame to the room's channel. Callers
// publish after the message is durable in Kafka.
func PublishMessage(seq int64, frame []byte) []byte {
	return append(append(strconv.AppendInt([]byte{kindMessage}, seq, 10), ' '), frame...)
}

// EphemeralEnvelope wraps a frame that needs no ordering.
func EphemeralEnvelope(frame []byte) []byte { return eventsv1.RoomFrame(frame) }

// GapEnvelope says seq will never be published.
func GapEnvelope(seq int64) []byte {
	return strconv.AppendInt([]byte{kindGap}, seq, 10)
}

// Publish sends an envelope to a room's channel.
func (h *Hub) Publish(ctx context.Context, roomID string, envelope []byte) error {
	return h.rdb.Publish(ctx, Channel(roomID), envelope).Err()
}

var errBadEnvelope = errors.New("bad envelope")

func parseEnvelope(p string) (kind byte, seq int64, frame []byte, err error) {
	if len(p) < 2 {
		return 0, 0, nil, errBadEnvelope
	}
	kind = p[0]
	rest := p[1:]
	switch kind {
	case kindEphemeral:
		return kind, 0, []byte(rest[1:]), nil
	case kindGap:
		seq, err = strconv.ParseInt(rest, 10, 64)
		return kind, seq, nil, err
	case kindMessage:
		sp := 0
		for sp < len(rest) && rest[sp] != ' ' {
			sp++
		}
		if sp == len(rest) {
			return 0, 0, nil, errBadEnvelope
		}
		seq, err = strconv.ParseInt(rest[:sp], 10, 64)
		return kind, seq, []byte(rest[sp+1:]), err
	}
	return 0, 0, nil, errBadEnvelope
}

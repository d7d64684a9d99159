package livev1

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Redis keys and channels shared by the connectors and the functions. The
// part in braces is the Redis Cluster hash tag: every key of one room (or
// user) lands on one slot, so a script or transaction may touch them
// together. Channels are shard channels: publish with SPUBLISH (in a
// room's transaction too: its channel shares the slot), never PUBLISH,
// which a cluster copies to every node.

// RoomChannel is the Redis channel of a room. Connectors subscribe to the
// rooms their sockets are in; an envelope published there (MessageEnvelope,
// EphemeralEnvelope, GapEnvelope) goes to every member online.
func RoomChannel(roomID string) string { return "room:{" + roomID + "}" }

// RoomOfChannel returns the room whose RoomChannel channel is.
func RoomOfChannel(channel string) (string, bool) { return tagOf("room:{", channel) }

// UserChannel is the Redis channel of one user's personal frames. A
// connector subscribes to it exactly while it holds a socket of that user,
// so the number of receivers of an SPUBLISH there says whether the user is
// online (the notification function relies on it for Web Push). The user's
// membership changes go there too (MembershipFrame): only the connectors
// holding their sockets hear of them, not every connector.
func UserChannel(userID string) string { return "user:{" + userID + "}" }

// UserOfChannel returns the user whose UserChannel channel is.
func UserOfChannel(channel string) (string, bool) { return tagOf("user:{", channel) }

func tagOf(prefix, channel string) (string, bool) {
	rest, ok := strings.CutPrefix(channel, prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}")
}

// PresenceChannel carries changes of one user's overall status as
// PresenceFrames, to the connectors whose sockets watch that user. One
// channel per user, not one for all: at a million sockets every connector
// would otherwise hear every change, and on a Redis Cluster one shard would
// carry them all.
func PresenceChannel(userID string) string { return "presence-changes:{" + userID + "}" }

// UserOfPresenceChannel returns the user whose PresenceChannel channel is.
func UserOfPresenceChannel(channel string) (string, bool) {
	return tagOf("presence-changes:{", channel)
}

// UploadBytesKey counts the bytes of the upload URLs a user was given in
// the UTC day that starts at day, against the connector's daily quota.
func UploadBytesKey(userID string, day time.Time) string {
	return "uploadbytes:{" + userID + "}:" + day.UTC().Format(time.DateOnly)
}

// PresenceKey is the sorted set of a user's sessions, each scored by when
// it expires (Unix ms); PresenceStatusKey is the hash of their statuses.
func PresenceKey(userID string) string { return "presence:{" + userID + "}" }

// PresenceStatusKey is the hash of a user's sessions' statuses, session -> status.
func PresenceStatusKey(userID string) string { return "pstatus:{" + userID + "}" }

// The recent-history window in Redis, shared by the connector (which adds
// every message as it publishes it, so the window is never behind Kafka) and
// persist (which applies edits, deletes and moderation to it and serves
// reads from it before falling back to MongoDB): a sorted set per room,
// scored by seq, each member one Message as JSON.
const HistoryWindow = 500

// HistoryKey is the Redis key of a room's recent-history window.
func HistoryKey(roomID string) string { return "hist:{" + roomID + "}" }

// ReplaceInHistory is the Lua script (KEYS[1] = HistoryKey, KEYS[2] =
// ChangesKey, ARGV[1] = seq, ARGV[2] = message JSON, optional ARGV[3] = the
// entry read before) that swaps a message in the window for its new version
// (edited, deleted, hidden, restored, reacted to, replied to), if the window
// still holds it, and logs the change in ChangesKey so a client that
// resumes the room gets it. It returns 1 when it replaced the entry, 0 when
// the window lacks it, and -1, writing nothing, when ARGV[3] is given and
// the entry is no longer that.
const ReplaceInHistory = `
if ARGV[3] then
  local cur = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
  if cur[1] ~= ARGV[3] then return -1 end
end
local n = redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
if n > 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local low = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], top[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. low[2])
end
return n`

var replaceInHistory = redis.NewScript(ReplaceInHistory)

// rewriteAttempts bounds the attempts of RewriteInWindow. An attempt loses
// only to another writer of the same entry, and each round of writers has
// a winner, so this is far more than a thread's burst of replies or a
// crowd's reactions need; the backoff between attempts spreads the losers.
const (
	rewriteAttempts   = 64
	rewriteBackoffCap = 16 * time.Millisecond
)

// ErrWindowKeptChanging is returned by RewriteInWindow when every attempt
// lost to another writer of the entry.
var ErrWindowKeptChanging = errors.New("the room's window entry kept changing")

// RewriteInWindow rewrites the window's entry of seq in roomID, if the
// window still holds it and it is message id: change gets the held message
// to change in place and says whether to write it back (ReplaceInHistory,
// which logs the change for clients that resume). Writers of one entry race
// (members react at once; persist rewrites what it stored), and a blind
// replace would drop what another wrote in between, so the write is a
// compare-and-swap on the entry as read: only a writer of the same entry
// makes it retry, never a send or a change to another message. Nothing is
// written when the window lacks the entry or holds another message there;
// change's error is returned as it is.
func RewriteInWindow(ctx context.Context, rdb redis.UniversalClient, roomID string, seq int64, id string,
	change func(held *eventsv1.Message) (write bool, err error)) error {
	keys := []string{HistoryKey(roomID), ChangesKey(roomID)}
	backoff := 250 * time.Microsecond
	for range rewriteAttempts {
		vals, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: keys[0], ByScore: true, Start: seq, Stop: seq}).Result()
		if err != nil || len(vals) != 1 {
			return err // not in the window: reads go to persist's store
		}
		var held eventsv1.Message
		if err := json.Unmarshal([]byte(vals[0]), &held); err != nil || held.ID != id {
			return nil
		}
		if write, err := change(&held); err != nil || !write {
			return err
		}
		raw, err := json.Marshal(held)
		if err != nil {
			return err
		}
		n, err := replaceInHistory.Run(ctx, rdb, keys, seq, raw, vals[0]).Int()
		if err != nil || n >= 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(rand.N(backoff)):
		}
		backoff = min(2*backoff, rewriteBackoffCap)
	}
	return ErrWindowKeptChanging
}

// ChangesKey is the sorted set of a room's changed messages: each member
// the seq of a message the window holds that changed (ReplaceInHistory),
// scored by the window's highest seq at the time of its latest change. A
// client that saw up to seq N left when the window's highest seq was N or
// more, so every change it missed has a score of N or more: resuming from
// N, the connector replays those messages as they are now (a changed
// frame). Entries scored below the window's lowest seq are dropped, so it
// holds about as many seqs as the window.
func ChangesKey(roomID string) string { return "changes:{" + roomID + "}" }

// ChangedSince is the Lua script (KEYS[1] = ChangesKey, KEYS[2] =
// HistoryKey, ARGV[1] = a client's last seq N) that returns the window's
// copies of the messages at or below N changed since the window reached N,
// in the order of their latest change. Those above N the client gets
// whole, with their changes, from the replay of history.
const ChangedSince = `
local out = {}
local last = tonumber(ARGV[1])
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], last, '+inf')) do
  if tonumber(s) <= last then
    local m = redis.call('ZRANGEBYSCORE', KEYS[2], s, s)
    if m[1] then out[#out + 1] = m[1] end
  end
end
return out`

// SeqCounterKey is the Redis counter of a room's seqs: the last seq taken.
func SeqCounterKey(roomID string) string { return "seq:{" + roomID + "}" }

// SeqLeaseKey is the hash holding a room's lease: the last seq of its
// reserved block (ceil) and the run_id of the Redis server it is valid on.
func SeqLeaseKey(roomID string) string { return "seqlease:{" + roomID + "}" }

// SendingKey names the sorted set of a room's seqs in flight: taken by a
// sender and not yet published or given up, scored by when they lapse
// (Unix ms). Senders add a seq when they take it (atomically with taking
// it), keep it alive while the send lasts, and remove it in the same
// transaction as they publish the message, or when they give up.
func SendingKey(roomID string) string { return "sending:{" + roomID + "}" }

// DedupKey holds what a user's send with clientMsgID in a room became, so
// a retry of the same client_msg_id is answered, not sent twice, for
// DedupTTL after the send.
func DedupKey(roomID, userID, clientMsgID string) string {
	return "dedup:{" + roomID + "}:" + userID + ":" + clientMsgID
}

// DedupTTL is how long a send's DedupKey lasts: how late a retry of it is
// still recognised. Every message holds its record in Redis this long.
const DedupTTL = 24 * time.Hour

// ReceiptsKey is the Redis hash of a room's read positions, user -> seq.
func ReceiptsKey(roomID string) string { return "receipts:{" + roomID + "}" }

// EnvelopeKind is the first byte of an envelope on a RoomChannel.
type EnvelopeKind byte

// Envelopes on a RoomChannel: "m<seq> <frame>" is an ordered message,
// "e <frame>" an ephemeral frame (typing, receipts, edits, moderation),
// and "g<seq>" a seq that will never come (its send failed).
const (
	EnvelopeMessage   EnvelopeKind = 'm'
	EnvelopeEphemeral EnvelopeKind = 'e'
	EnvelopeGap       EnvelopeKind = 'g'
)

// MessageEnvelope wraps the frame of the message with seq. Senders
// publish it only once the message is durable in Kafka.
func MessageEnvelope(seq int64, frame []byte) []byte {
	return append(append(strconv.AppendInt([]byte{byte(EnvelopeMessage)}, seq, 10), ' '), frame...)
}

// EphemeralEnvelope wraps a frame to deliver as it comes, outside the
// room's seq order.
func EphemeralEnvelope(frame []byte) []byte {
	return append([]byte{byte(EnvelopeEphemeral), ' '}, frame...)
}

// GapEnvelope says seq will never be published.
func GapEnvelope(seq int64) []byte {
	return strconv.AppendInt([]byte{byte(EnvelopeGap)}, seq, 10)
}

// ErrBadEnvelope is returned by ParseEnvelope for anything the envelope
// functions above cannot have written.
var ErrBadEnvelope = errors.New("livev1: bad envelope")

// ParseEnvelope reads what MessageEnvelope, EphemeralEnvelope or
// GapEnvelope wrote: the kind, the seq (messages and gaps) and the frame
// (messages and ephemeral frames).
func ParseEnvelope(p string) (kind EnvelopeKind, seq int64, frame []byte, err error) {
	if len(p) < 2 {
		return 0, 0, nil, ErrBadEnvelope
	}
	kind = EnvelopeKind(p[0])
	rest := p[1:]
	switch kind {
	case EnvelopeEphemeral:
		return kind, 0, []byte(rest[1:]), nil
	case EnvelopeGap:
		seq, err = strconv.ParseInt(rest, 10, 64)
		return kind, seq, nil, err
	case EnvelopeMessage:
		seqText, frameText, ok := strings.Cut(rest, " ")
		if !ok {
			return 0, 0, nil, ErrBadEnvelope
		}
		seq, err = strconv.ParseInt(seqText, 10, 64)
		return kind, seq, []byte(frameText), err
	}
	return 0, 0, nil, ErrBadEnvelope
}

// MentionsKey is the sorted set of the seqs of the messages in a room that
// notified a user (mentions of them; in a direct room, every message of the
// other member), scored by seq. The notification function adds to it; the
// connector counts the seqs above the user's read position as their unread
// mentions and drops the rest when the position moves. It shares the room's
// hash slot with HistoryKey, so one script reads both.
func MentionsKey(roomID, userID string) string { return "mentions:{" + roomID + "}:" + userID }

// BlockedKey is the set of the users whose sends a 1:1 room refuses: the
// other member blocked them. The connector that answers a block (REST)
// adds to it before it answers, and one that answers an unblock removes
// from it, so a send right after either sees it: the send path checks it
// in its claim script, with no extra round trip. It is a fast copy of
// auth's blocks, not the record: sends are also refused on auth's answer
// (cached by each connector until the block's event reaches it), so a
// block made before the set existed, or one Redis lost, still holds; the
// notification function removes entries on unblock events too, so one
// whose removal failed does not outlive its block.
func BlockedKey(roomID string) string { return "blocked:{" + roomID + "}" }

// ThreadReadsKey is the sorted set of a user's read positions in a room's
// threads: each member a thread's root id, scored by the seq of the last
// reply they read there. Positions only move forward; the connector keeps
// the ThreadReadsKept highest (the threads read most recently) and hands
// them to the user's sockets in subscribed frames.
func ThreadReadsKey(roomID, userID string) string { return "threadreads:{" + roomID + "}:" + userID }

// ThreadReadsKept is how many thread read positions a ThreadReadsKey keeps.
const ThreadReadsKept = 200

// MentionsKept is how many seqs a MentionsKey keeps (the newest): the count
// of someone who never reads a room stops there.
const MentionsKept = 1000

// HiddenReasonsKey is the hash (message id -> eventsv1.FlagReason) of a
// room's hidden messages: persist writes it when moderation hides one and
// drops the entry on restore; the connector reads it to tell an author, and
// only them, why their messages in a history page were hidden. It is a
// convenience copy of the flags MongoDB keeps: if Redis loses it, authors
// see "hidden" without the why, nothing more.
func HiddenReasonsKey(roomID string) string { return "hidden-reasons:{" + roomID + "}" }

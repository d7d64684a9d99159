package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// function turns events into notifications. From auth's events it keeps
// the projections it needs (who is called what, who is in which room,
// which rooms are direct), so it never calls another function.
type function struct {
	store   *store
	inserts *insertBatcher
	rdb     redis.UniversalClient
	log     *slog.Logger
	push    *pusher
	// created counts notifications stored, by kind; redeliveries do not count.
	created *prometheus.CounterVec
}

func newCreatedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_notifications_created_total",
		Help: "Notifications created, by kind (mention, direct, welcome).",
	}, []string{"kind"})
	reg.MustRegister(c)
	return c
}

func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	// Limits are enforced here too, whoever sent the event: an oversized
	// one is refused for good (dead-lettered), never retried.
	if err := ksvc.CheckEvent("notification", e); err != nil {
		return nil, err
	}
	switch e.Type() {
	case eventsv1.TypeUserCreated:
		u, err := ksvc.DecodeEvent("notification", e, func(u *eventsv1.UserCreated) bool { return u.UserID != "" && u.Username != "" })
		if err != nil {
			return nil, err
		}
		if err := f.store.putUser(ctx, u.UserID, u.Username); err != nil {
			return nil, err
		}
		return nil, f.notify(ctx, []notificationDoc{{ID: "welcome:" + u.UserID, UserID: u.UserID, Kind: "welcome",
			Text: "Welcome to Parley, " + u.DisplayName + "!", CreatedAt: u.CreatedAt.UTC()}})
	case eventsv1.TypeRoomMemberJoined, eventsv1.TypeRoomMemberLeft:
		m, err := ksvc.DecodeEvent("notification", e, func(m *eventsv1.RoomMember) bool {
			return m.RoomID != "" && m.UserID != "" && len(m.Members) <= eventsv1.MaxConversationPeople
		})
		if err != nil {
			return nil, err
		}
		state := livev1.MembershipJoined
		if e.Type() == eventsv1.TypeRoomMemberLeft {
			state, err = livev1.MembershipLeft, f.store.leave(ctx, m.RoomID, m.UserID)
		} else {
			err = f.store.join(ctx, m.RoomID, m.UserID, m.Reason == "direct", m.Members)
		}
		if err != nil {
			return nil, err
		}
		return nil, f.tellSockets(ctx, m, state)
	case eventsv1.TypeUserBlocked, eventsv1.TypeUserUnblocked:
		b, err := ksvc.DecodeEvent("notification", e, func(b *eventsv1.UserBlock) bool {
			return b.BlockerID != "" && b.BlockedID != "" && !b.At.IsZero()
		})
		if err != nil {
			return nil, err
		}
		if err := f.store.setBlock(ctx, b.BlockerID, b.BlockedID, e.Type() == eventsv1.TypeUserBlocked, b.At.UTC()); err != nil {
			return nil, err
		}
		return nil, f.tellBlock(ctx, b, e.Type() == eventsv1.TypeUserBlocked)
	case eventsv1.TypeMessageStored:
		m, err := ksvc.DecodeEvent("notification", e, func(m *eventsv1.Message) bool { return m.ID != "" && m.RoomID != "" })
		if err != nil {
			return nil, err
		}
		if n := utf8.RuneCountInString(m.Text); n > eventsv1.MaxTextChars {
			return nil, ksvc.Permanent(fmt.Errorf("notification: message %s in room %s: text of %d characters is over the limit of %d",
				m.ID, m.RoomID, n, eventsv1.MaxTextChars))
		}
		docs, err := f.forMessage(ctx, m, time.Since(m.CreatedAt) < projectionWait)
		behind := errors.Is(err, errProjectionBehind)
		if err != nil && !behind {
			return nil, err
		}
		if err := f.notify(ctx, docs); err != nil {
			return nil, err
		}
		if behind { // retryable: the Trigger redelivers it
			return nil, fmt.Errorf("notification: message %s: %w", m.ID, errProjectionBehind)
		}
		return nil, nil
	}
	return nil, ksvc.Permanent(fmt.Errorf("notification: unexpected event type %q", e.Type()))
}

// projectionWait is how long after a message was sent its notifications
// may wait for the membership projection to catch up. The projection is fed
// by auth's events through their own Trigger, so a join (or a new user)
// can reach this function after a message that depends on it: a mention of
// someone who just joined, or the first message of a new direct room.
// notification-feed's retries (7, from 0.2 s doubling: the last
// at 25.4 s) outlast it, so a mention of someone who is really not a member
// is dropped quietly after it instead of dead-lettered.
const projectionWait = 20 * time.Second

// errProjectionBehind says the projection does not yet show a membership
// the message implies or mentions.
var errProjectionBehind = errors.New("membership projection is behind the message; retry")

// forMessage decides who is notified of a message: in a direct room (1:1
// or group) the other members; elsewhere every member mentioned by
// @username. Never the sender, never someone who is not a member, never
// someone who blocked the sender.
//
// While mayWait, a mention that names no known member, or a sender who is
// not yet a member, is taken for a projection that lags: forMessage returns
// the notifications it could resolve with errProjectionBehind, and a
// redelivery resolves the rest (notify skips those already stored).
func (f *function) forMessage(ctx context.Context, m eventsv1.Message, mayWait bool) ([]notificationDoc, error) {
	if m.Hidden || m.Deleted {
		return nil, nil
	}
	direct, err := f.store.isDirect(ctx, m.RoomID, m.UserID, time.Now())
	if errors.Is(err, errProjectionBehind) && !mayWait {
		err = nil // too late to wait: a group room, as far as anyone knows
	}
	if err != nil {
		return nil, err
	}
	kind, behind := "direct", false
	var recipients map[string]bool
	if direct {
		recipients, err = f.store.roomMembers(ctx, m.RoomID, nil)
	} else {
		kind = "mention"
		recipients, behind, err = f.mentioned(ctx, m)
	}
	if err != nil {
		return nil, err
	}
	delete(recipients, m.UserID)
	kinds := make(map[string]string, len(recipients))
	if err := f.tellMembers(ctx, kinds, recipients, m.UserID, kind); err != nil {
		return nil, err
	}
	if err := f.threadParticipants(ctx, m, kinds); err != nil {
		return nil, err
	}
	docs := make([]notificationDoc, 0, len(kinds))
	for id, kind := range kinds {
		docs = append(docs, notificationDoc{ID: kind + ":" + m.ID + ":" + id, UserID: id, Kind: kind, RoomID: m.RoomID,
			MessageID: m.ID, FromUserID: m.UserID, FromUsername: m.Username, Text: snippet(m.Text, 200),
			Seq: m.Seq, CreatedAt: m.CreatedAt.UTC(), ThreadID: m.ThreadID})
	}
	if behind && mayWait {
		return docs, errProjectionBehind
	}
	return docs, nil
}

// threadParticipants adds, as kind "thread", the participants of the
// thread m replies in (its root's author and earlier repliers, carried by
// persist's stored event) who are still members and are not told of m
// already (a mention or a direct message says more), nor blocked the
// replier. Only persist emits the stored event, so the list is persist's;
// membership is checked here all the same.
func (f *function) threadParticipants(ctx context.Context, m eventsv1.Message, kinds map[string]string) error {
	if m.ThreadID == "" || m.Thread == nil {
		return nil
	}
	var ids []string
	for _, id := range m.Thread.Participants {
		if _, told := kinds[id]; !told && id != m.UserID && len(ids) < eventsv1.MaxThreadParticipants {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	members, err := f.store.roomMembers(ctx, m.RoomID, ids)
	if err != nil {
		return err
	}
	return f.tellMembers(ctx, kinds, members, m.UserID, "thread")
}

// tellMembers sets kinds[id] = kind for each of members that is still a
// member (true) and has not blocked the sender: one equality read each.
func (f *function) tellMembers(ctx context.Context, kinds map[string]string, members map[string]bool, sender, kind string) error {
	for id, member := range members {
		if !member {
			continue
		}
		blocked, err := f.store.blocked(ctx, id, sender)
		if err != nil {
			return err
		}
		if !blocked {
			kinds[id] = kind
		}
	}
	return nil
}

// mentioned returns the room's members that m mentions (mapped to true;
// those who left to false), and whether some mentioned name is unknown or
// has never joined, as far as the projection knows yet.
func (f *function) mentioned(ctx context.Context, m eventsv1.Message) (members map[string]bool, unresolved bool, err error) {
	names := mentions(m.Text)
	if len(names) == 0 {
		return nil, false, nil // most messages: no database read at all
	}
	byName, err := f.store.userIDs(ctx, names)
	if err != nil || len(byName) == 0 {
		return nil, true, err
	}
	ids := make([]string, 0, len(byName))
	for _, id := range byName {
		ids = append(ids, id)
	}
	members, err = f.store.roomMembers(ctx, m.RoomID, ids)
	return members, len(members) < len(names), err
}

// tellSockets publishes a membership change on the user's channel, to the
// connectors holding their sockets. A failed publish fails the event, and
// the redelivery publishes again (the projection update before it is
// idempotent): a kick must reach the connectors.
func (f *function) tellSockets(ctx context.Context, m eventsv1.RoomMember, state string) error {
	frame, _ := json.Marshal(livev1.MembershipFrame{Type: livev1.TypeMembership, RoomID: m.RoomID, UserID: m.UserID,
		State: state, Reason: m.Reason, By: m.By})
	if err := f.rdb.SPublish(ctx, livev1.UserChannel(m.UserID), frame).Err(); err != nil {
		return fmt.Errorf("notification: publish membership of %s in %s: %w", m.UserID, m.RoomID, err)
	}
	return nil
}

// tellBlock has the connectors of the one blocked forget their cached
// membership in the pair's 1:1 room (on the user's channel), so a block
// stops their sends at once (not a cache TTL later) and an unblock lets
// them send again. The frame is for the caches only: connectors do not
// pass it on to the one blocked.
func (f *function) tellBlock(ctx context.Context, b eventsv1.UserBlock, blocked bool) error {
	if b.DirectRoomID == "" {
		return nil // no 1:1 room: nothing cached to forget
	}
	if !blocked {
		// The connector that answered the unblock removed the sender from
		// the room's refused set already; this repairs a removal that
		// failed. Blocks are not added here: a late block event must not
		// bring back one lifted since, and the connectors' auth answers
		// refuse the sender regardless.
		if err := f.rdb.SRem(ctx, livev1.BlockedKey(b.DirectRoomID), b.BlockedID).Err(); err != nil {
			return fmt.Errorf("notification: lift the block of %s by %s: %w", b.BlockedID, b.BlockerID, err)
		}
	}
	frame, _ := json.Marshal(livev1.MembershipFrame{Type: livev1.TypeMembership, RoomID: b.DirectRoomID, UserID: b.BlockedID,
		State: livev1.MembershipChanged, Reason: "block"})
	if err := f.rdb.SPublish(ctx, livev1.UserChannel(b.BlockedID), frame).Err(); err != nil {
		return fmt.Errorf("notification: publish the block of %s by %s: %w", b.BlockedID, b.BlockerID, err)
	}
	return nil
}

// notify stores notifications and pushes the new ones to their users'
// sockets, or to their browsers' push services when they are offline. The
// notification waits in their list either way.
func (f *function) notify(ctx context.Context, docs []notificationDoc) error {
	if len(docs) == 0 {
		return nil // most messages: nothing to store, no batch to wait for
	}
	fresh, err := f.inserts.Do(ctx, docs)
	if err != nil {
		return err
	}
	// Every doc, not only the fresh ones: a redelivery after a failed
	// index write repairs it (adding a seq again changes nothing).
	if err := f.indexMentions(ctx, docs); err != nil {
		return err
	}
	for _, d := range fresh {
		f.created.WithLabelValues(d.Kind).Inc()
		frame, _ := json.Marshal(livev1.NotificationFrame{Type: livev1.TypeNotice, Notification: toJSON(d)})
		// PUBLISH answers how many connectors hold a socket of this user
		// (they subscribe to user channels of local users only): none means
		// offline, and their subscribed browsers get a Web Push instead.
		online, err := f.rdb.SPublish(ctx, livev1.UserChannel(d.UserID), frame).Result()
		if err != nil {
			f.log.WarnContext(ctx, "live notification push failed; it stays in the list", "error", err)
			continue
		}
		if online == 0 {
			f.push.push(ctx, d)
		}
	}
	return nil
}

// indexMentions adds the seqs of notifying messages to their recipients'
// livev1.MentionsKey, from which the connector counts unread mentions per
// room against read positions, so reading a room clears them everywhere.
func (f *function) indexMentions(ctx context.Context, docs []notificationDoc) error {
	pipe := f.rdb.Pipeline()
	for _, d := range docs {
		// A thread's replies count in the thread, not as the room's mentions.
		if d.RoomID == "" || d.Seq <= 0 || d.Kind == "thread" {
			continue
		}
		key := livev1.MentionsKey(d.RoomID, d.UserID)
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(d.Seq), Member: d.Seq})
		pipe.ZRemRangeByRank(ctx, key, 0, -livev1.MentionsKept-1)
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("notification: index mentions: %w", err)
	}
	return nil
}

func toJSON(d notificationDoc) livev1.Notification {
	return livev1.Notification{ID: d.ID, Kind: d.Kind, RoomID: d.RoomID, MessageID: d.MessageID, FromUserID: d.FromUserID,
		FromUsername: d.FromUsername, Text: d.Text, Seq: d.Seq, CreatedAt: d.CreatedAt, Read: d.Read, ThreadID: d.ThreadID}
}

func snippet(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func lower(s string) string { return strings.ToLower(s) }

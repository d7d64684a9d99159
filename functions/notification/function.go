package main

import (
	"context"
	"encoding/json"
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
)

// function turns events into notifications. From auth's events it keeps
// the projections it needs (who is called what, who is in which room,
// which rooms are direct), so it never calls another function.
type function struct {
	store *store
	rdb   *redis.Client
	log   *slog.Logger
	push  *pusher
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
	bad := func(err error) error {
		return ksvc.Permanent(fmt.Errorf("notification: bad %s data: %v", e.Type(), err))
	}
	switch e.Type() {
	case eventsv1.TypeUserCreated:
		var u eventsv1.UserCreated
		if err := json.Unmarshal(e.Data(), &u); err != nil || u.UserID == "" || u.Username == "" {
			return nil, bad(err)
		}
		if err := f.store.putUser(ctx, u.UserID, u.Username); err != nil {
			return nil, err
		}
		return nil, f.notify(ctx, []notificationDoc{{ID: "welcome:" + u.UserID, UserID: u.UserID, Kind: "welcome",
			Text: "Welcome to Parley, " + u.DisplayName + "!", CreatedAt: u.CreatedAt.UTC()}})
	case eventsv1.TypeRoomMemberJoined, eventsv1.TypeRoomMemberLeft:
		var m eventsv1.RoomMember
		if err := json.Unmarshal(e.Data(), &m); err != nil || m.RoomID == "" || m.UserID == "" {
			return nil, bad(err)
		}
		if e.Type() == eventsv1.TypeRoomMemberLeft {
			return nil, f.store.leave(ctx, m.RoomID, m.UserID)
		}
		return nil, f.store.join(ctx, m.RoomID, m.UserID, m.Reason == "direct")
	case eventsv1.TypeMessageStored:
		var m eventsv1.Message
		if err := json.Unmarshal(e.Data(), &m); err != nil || m.ID == "" || m.RoomID == "" {
			return nil, bad(err)
		}
		docs, err := f.forMessage(ctx, m)
		if err != nil {
			return nil, err
		}
		return nil, f.notify(ctx, docs)
	}
	return nil, ksvc.Permanent(fmt.Errorf("notification: unexpected event type %q", e.Type()))
}

// forMessage decides who is notified of a message: in a direct room the
// other member; elsewhere every member mentioned by @username. Never the
// sender, never someone who is not a member.
func (f *function) forMessage(ctx context.Context, m eventsv1.Message) ([]notificationDoc, error) {
	if m.Hidden || m.Deleted {
		return nil, nil
	}
	direct, err := f.store.isDirect(ctx, m.RoomID, time.Now())
	if err != nil {
		return nil, err
	}
	recipients := map[string]string{} // user -> kind
	if direct {
		members, err := f.store.roomMembers(ctx, m.RoomID, nil)
		if err != nil {
			return nil, err
		}
		for id := range members {
			recipients[id] = "direct"
		}
	} else {
		names := mentions(m.Text)
		if len(names) == 0 {
			return nil, nil // most messages: no database read at all
		}
		byName, err := f.store.userIDs(ctx, names)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(byName))
		for _, id := range byName {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil, nil
		}
		members, err := f.store.roomMembers(ctx, m.RoomID, ids)
		if err != nil {
			return nil, err
		}
		for id := range members {
			recipients[id] = "mention"
		}
	}
	delete(recipients, m.UserID)
	docs := make([]notificationDoc, 0, len(recipients))
	for id, kind := range recipients {
		docs = append(docs, notificationDoc{ID: kind + ":" + m.ID + ":" + id, UserID: id, Kind: kind, RoomID: m.RoomID,
			MessageID: m.ID, FromUserID: m.UserID, FromUsername: m.Username, Text: snippet(m.Text, 200),
			CreatedAt: m.CreatedAt.UTC()})
	}
	return docs, nil
}

// notify stores notifications and pushes the new ones to their users'
// sockets, or to their browsers' push services when they are offline. The
// notification waits in their list either way.
func (f *function) notify(ctx context.Context, docs []notificationDoc) error {
	fresh, err := f.store.insert(ctx, docs)
	if err != nil {
		return err
	}
	for _, d := range fresh {
		f.created.WithLabelValues(d.Kind).Inc()
		frame, _ := json.Marshal(map[string]any{"type": "notification", "notification": toJSON(d)})
		// PUBLISH answers how many connectors hold a socket of this user
		// (they subscribe to user channels of local users only): none means
		// offline, and their subscribed browsers get a Web Push instead.
		online, err := f.rdb.Publish(ctx, eventsv1.UserChannel(d.UserID), frame).Result()
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

func toJSON(d notificationDoc) eventsv1.Notification {
	return eventsv1.Notification{ID: d.ID, Kind: d.Kind, RoomID: d.RoomID, MessageID: d.MessageID, FromUserID: d.FromUserID,
		FromUsername: d.FromUsername, Text: d.Text, CreatedAt: d.CreatedAt, Read: d.Read}
}

func snippet(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func lower(s string) string { return strings.ToLower(s) }

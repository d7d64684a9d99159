package platform

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMentionReachesTheMentionedMemberLiveAndInTheList(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	b := dial(t, plat.url, bob)
	a := dial(t, plat.url, ada)
	a.sendText(room, "hello @"+bob.name+", see this")
	n := b.expect("notification", func(f frame) bool {
		m, _ := f["notification"].(map[string]any)
		return frame(m).str("kind") == "mention"
	})
	note := frame(n["notification"].(map[string]any))
	if note.str("room_id") != room || note.str("from_user_id") != ada.id || !strings.Contains(note.str("text"), "see this") {
		t.Fatalf("notification %v", note)
	}
	// The welcome comes through another Trigger, which may be slower.
	waitForWelcome(t, bob)

	var list struct {
		Notifications []struct {
			ID, Kind string
			Read     bool
		}
	}
	rest(t, "GET", "/api/v1/notifications?unread=true", bob.token, nil, 200, &list)
	kinds := map[string]string{}
	for _, n := range list.Notifications {
		kinds[n.Kind] = n.ID
	}
	if kinds["mention"] == "" || kinds["welcome"] == "" {
		t.Fatalf("bob's unread notifications: %+v", list)
	}
	var counts struct {
		ByRoom map[string]int `json:"by_room"`
		Total  int
	}
	rest(t, "GET", "/api/v1/notifications/unread", bob.token, nil, 200, &counts)
	if counts.ByRoom[room] != 1 {
		t.Fatalf("unread counts %+v", counts)
	}
	var marked struct{ Marked int }
	rest(t, "POST", "/api/v1/notifications/read", bob.token, map[string]any{"ids": []string{kinds["mention"]}}, 200, &marked)
	if marked.Marked != 1 {
		t.Fatalf("marked %d", marked.Marked)
	}
	counts.ByRoom = nil
	rest(t, "GET", "/api/v1/notifications/unread", bob.token, nil, 200, &counts)
	if counts.ByRoom[room] != 0 || counts.Total != 1 { // the welcome is still unread
		t.Fatalf("unread after marking %+v", counts)
	}
	// Ada's list does not hold bob's notifications, and she cannot mark them.
	rest(t, "POST", "/api/v1/notifications/read", ada.token, map[string]any{"ids": []string{kinds["mention"]}}, 200, &marked)
	if marked.Marked != 0 {
		t.Fatal("a user marked someone else's notification")
	}
	rest(t, "POST", "/api/v1/notifications/read", bob.token, map[string]any{}, 400, nil)
}

// A message that notifies no one (top level, no "@", in a private room)
// never wakes notification: persist marks it quiet and notification-feed
// filters it out. The mention sent after it is the barrier: both stored
// events share the room's partition, so the quiet one's delivery, had it
// passed the filter, would have started first and (with no one to notify)
// ended first, and its span would have been exported no later than the
// mention's.
func TestAQuietMessageNeverReachesNotification(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	b := dial(t, plat.url, bob)
	a := dial(t, plat.url, ada)
	a.sendText(room, "nothing for anyone here")
	a.sendText(room, "but @"+bob.name+" should look")
	b.expect("notification", func(f frame) bool {
		m, _ := f["notification"].(map[string]any)
		return frame(m).str("kind") == "mention" && frame(m).str("room_id") == room
	})

	var quiet, mention []span // each message's whole trace
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !(reached(mention, "notification") && reached(quiet, "persist")) {
		var sends []span
		for _, s := range traces.find("connector", "ws send") {
			if s.room == room {
				sends = append(sends, s)
			}
		}
		if len(sends) == 2 {
			slices.SortFunc(sends, func(x, y span) int { return cmp.Compare(x.start, y.start) })
			quiet, mention = traces.trace(sends[0].trace), traces.trace(sends[1].trace)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !reached(mention, "notification") {
		t.Fatalf("the mention's trace never reached notification: %d spans", len(mention))
	}
	if !reached(quiet, "persist") {
		t.Fatalf("the quiet message's trace never reached persist: %d spans", len(quiet))
	}
	if reached(quiet, "notification") {
		t.Fatal("notification handled a message that notifies no one")
	}
}

// reached says whether a trace has a span from service.
func reached(trace []span, service string) bool {
	return slices.ContainsFunc(trace, func(s span) bool { return s.service == service })
}

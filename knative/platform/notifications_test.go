package platform

import (
	"strings"
	"testing"
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

package platform

import (
	"testing"
	"time"
)

func TestToxicMessageIsHiddenForEveryoneAndRestoredByAModerator(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	fine := a.sendText(room, "good morning team").str("message_id")
	sent := time.Now()
	bad := a.sendText(room, "you are an idiot").str("message_id")
	reasons := map[string]string{}
	for name, c := range map[string]*client{"author": a, "other member": b} {
		r := c.expect("redacted", func(f frame) bool { return f.msg().str("id") == bad })
		if m := r.msg(); m["hidden"] != true || m.str("text") != "" {
			t.Errorf("%s got redaction %v", name, m)
		}
		reasons[name] = r.str("reason")
	}
	t.Logf("redaction reached both clients %s after the send", time.Since(sent).Round(time.Millisecond))
	// The author also gets the frame with why (either may come first); the
	// room's frame, which the other member gets, does not say.
	if reasons["author"] == "" {
		reasons["author"] = a.expect("redacted", func(f frame) bool { return f.msg().str("id") == bad }).str("reason")
	}
	if reasons["author"] != "flagged as toxic" || reasons["other member"] != "" {
		t.Errorf("reasons told: %v, want only the author told \"flagged as toxic\"", reasons)
	}
	a.write(frame{"type": "history", "id": "ha", "room_id": room})
	if why, _ := a.expect("history", func(f frame) bool { return f.str("id") == "ha" })["hidden_reasons"].(map[string]any); why[bad] != "flagged as toxic" {
		t.Errorf("the author's history gives the reasons %v", why)
	}

	// History agrees; the harmless message is untouched.
	b.write(frame{"type": "history", "id": "h", "room_id": room})
	h := b.expect("history", func(f frame) bool { return f.str("id") == "h" })
	if h["hidden_reasons"] != nil {
		t.Errorf("another member's history says why: %v", h["hidden_reasons"])
	}
	for _, raw := range h["messages"].([]any) {
		m := frame(raw.(map[string]any))
		switch m.str("id") {
		case bad:
			if m["hidden"] != true || m.str("text") != "" {
				t.Errorf("history shows the toxic message: %v", m)
			}
		case fine:
			if m["hidden"] == true || m.str("text") != "good morning team" {
				t.Errorf("the harmless message was touched: %v", m)
			}
		}
	}

	// Members cannot see the review queue; moderators can, with the text.
	rest(t, "GET", "/api/v1/moderation/flags", ada.token, nil, 403, nil)
	var flags struct {
		Flags []struct {
			MessageID string `json:"message_id"`
			Text      string
			Labels    []string
			Status    string
		}
	}
	rest(t, "GET", "/api/v1/moderation/flags?status=pending", plat.admin.token, nil, 200, &flags)
	found := false
	for _, f := range flags.Flags {
		if f.MessageID == bad {
			found = true
			if f.Text != "you are an idiot" || len(f.Labels) == 0 || f.Labels[0] != "toxic" {
				t.Errorf("flag %+v", f)
			}
		}
		if f.MessageID == fine {
			t.Error("the harmless message was flagged")
		}
	}
	if !found {
		t.Fatalf("the flag is not in the queue: %+v", flags)
	}

	// A moderator restores it: everyone sees the text again.
	var decided struct {
		Status    string `json:"status"`
		DecidedBy string `json:"decided_by"`
	}
	rest(t, "POST", "/api/v1/moderation/flags/"+bad+"/decision", plat.admin.token,
		map[string]string{"decision": "restore", "reason": "banter between friends"}, 200, &decided)
	if decided.Status != "restored" || decided.DecidedBy != plat.admin.id {
		t.Fatalf("decision %+v", decided)
	}
	for _, c := range []*client{a, b} {
		r := c.expect("restored", func(f frame) bool { return f.msg().str("id") == bad })
		if m := r.msg(); m["hidden"] == true || m.str("text") != "you are an idiot" {
			t.Errorf("restored frame %v", m)
		}
	}
	rest(t, "POST", "/api/v1/moderation/flags/"+bad+"/decision", plat.admin.token, map[string]string{"decision": "maybe"}, 400, nil)
	rest(t, "POST", "/api/v1/moderation/flags/00000000-0000-0000-0000-000000000000/decision", plat.admin.token,
		map[string]string{"decision": "confirm"}, 404, nil)
}

package ws

import (
	"context"
	"encoding/json"
	"testing"

	"google.golang.org/grpc"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// pageHistory is a persist whose every page is the same messages.
type pageHistory struct {
	noHistory
	msgs [][]byte
}

func (p pageHistory) History(context.Context, *persistv1.HistoryRequest, ...grpc.CallOption) (*persistv1.HistoryResponse, error) {
	return &persistv1.HistoryResponse{Messages: p.msgs}, nil
}

// A history page tells its reader why their own hidden messages were
// hidden, and nothing about anyone else's.
func TestHistoryTellsTheAuthorWhyTheirMessageWasHidden(t *testing.T) {
	var msgs [][]byte
	for _, m := range []eventsv1.Message{
		{ID: "ada-hidden", Seq: 1, UserID: "ada", Hidden: true},
		{ID: "bob-hidden", Seq: 2, UserID: "bob", Hidden: true},
		{ID: "ada-shown", Seq: 3, UserID: "ada", Text: `"hidden":true`},
		{ID: "ada-hidden-no-reason", Seq: 4, UserID: "ada", Hidden: true},
	} {
		b, _ := json.Marshal(m)
		msgs = append(msgs, b)
	}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.History = pageHistory{msgs: msgs} })
	room, ada := ts.newRoomWith(t, 4)
	ctx := context.Background()
	ts.rdb.HSet(ctx, livev1.HiddenReasonsKey(room), "ada-hidden", "flagged as toxic", "bob-hidden", "flagged as insult", "ada-shown", "stale")
	t.Cleanup(func() { ts.rdb.Del(ctx, livev1.HiddenReasonsKey(room)) })

	ada.write(frame{"type": "history", "id": "h", "room_id": room})
	got, _ := ada.expect("history", nil)["hidden_reasons"].(map[string]any)
	if len(got) != 1 || got["ada-hidden"] != "flagged as toxic" {
		t.Errorf("ada's page says %v, want only why ada-hidden was hidden", got)
	}
	bob := ts.dial(t, "bob")
	bob.write(frame{"type": "history", "id": "h", "room_id": room})
	if got, _ := bob.expect("history", nil)["hidden_reasons"].(map[string]any); len(got) != 1 || got["bob-hidden"] != "flagged as insult" {
		t.Errorf("bob's page says %v, want only why bob-hidden was hidden", got)
	}
	cy := ts.dial(t, "cy")
	cy.write(frame{"type": "history", "id": "h", "room_id": room})
	if h := cy.expect("history", nil); h["hidden_reasons"] != nil {
		t.Errorf("cy, who wrote none of them, is told %v", h["hidden_reasons"])
	}
}

package ws

import (
	"bytes"
	"context"
	"encoding/json"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

func (s *session) historyPage(ctx context.Context, f livev1.Frame) {
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "before_seq", f.BeforeSeq) {
		return
	}
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	resp, err := s.srv.history.History(ctx, &persistv1.HistoryRequest{RoomId: f.RoomID, BeforeSeq: f.BeforeSeq, Limit: int32(limit),
		ThreadId: f.ThreadID})
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	msgs := make([]json.RawMessage, len(resp.Messages))
	for i, m := range resp.Messages {
		msgs[i] = m
	}
	receipts, _ := s.srv.rdb.HGetAll(ctx, livev1.ReceiptsKey(f.RoomID)).Result()
	s.reply(livev1.HistoryFrame{Type: livev1.TypeHistory, ID: f.ID, RoomID: f.RoomID, ThreadID: f.ThreadID, Messages: msgs,
		More: resp.More, Receipts: receipts, HiddenReasons: s.hiddenReasons(ctx, f.RoomID, msgs)})
}

// hiddenReasons looks up why moderation hid the reader's own messages in
// a page. Most pages hold none, and a cheap byte search skips decoding
// those; a lookup that fails leaves the page without reasons (the
// messages still show as hidden).
func (s *session) hiddenReasons(ctx context.Context, roomID string, msgs []json.RawMessage) map[string]string {
	me := s.identity().UserID
	var ids []string
	for _, raw := range msgs {
		if !bytes.Contains(raw, []byte(`"hidden":true`)) {
			continue
		}
		var m struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
			Hidden bool   `json:"hidden"`
		}
		if json.Unmarshal(raw, &m) == nil && m.Hidden && m.UserID == me {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	vals, err := s.srv.rdb.HMGet(ctx, livev1.HiddenReasonsKey(roomID), ids...).Result()
	if err != nil {
		s.srv.logger.Warn("hidden reasons", "room", roomID, "error", err)
		return nil
	}
	out := map[string]string{}
	for i, v := range vals {
		if why, ok := v.(string); ok {
			out[ids[i]] = why
		}
	}
	return out
}

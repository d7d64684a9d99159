package ws

import (
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
	resp, err := s.srv.history.History(ctx, &persistv1.HistoryRequest{RoomId: f.RoomID, BeforeSeq: f.BeforeSeq, Limit: int32(limit)})
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	msgs := make([]json.RawMessage, len(resp.Messages))
	for i, m := range resp.Messages {
		msgs[i] = m
	}
	receipts, _ := s.srv.rdb.HGetAll(ctx, livev1.ReceiptsKey(f.RoomID)).Result()
	s.reply(livev1.HistoryFrame{Type: livev1.TypeHistory, ID: f.ID, RoomID: f.RoomID, Messages: msgs,
		More: resp.More, Receipts: receipts})
}

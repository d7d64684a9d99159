package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// apiErrors are the errors its gRPC clients see, with their ErrorInfo.
const apiErrors = ksvc.APIErrors("persist.parley")

const maxHistory = 100

// maxPageBytes bounds one History reply well below gRPC's default 4 MiB
// receive limit, so no mix of message sizes can make a room unreadable: a
// page that reaches it ends early with More set.
const maxPageBytes = 1 << 20

// historyServer serves reads: the Redis window first, MongoDB for what is
// older. Membership is the connector's check: persist is cluster-local and
// only the connector calls it.
type historyServer struct {
	persistv1.UnimplementedPersistServiceServer
	store *store
	cache *cache
}

func (h *historyServer) History(ctx context.Context, req *persistv1.HistoryRequest) (*persistv1.HistoryResponse, error) {
	if _, err := uuid.Parse(req.RoomId); err != nil {
		return nil, apiErrors.Invalid("room_id must be a UUID")
	}
	if req.Limit < 0 || req.Limit > maxHistory || req.AfterSeq < 0 || req.BeforeSeq < 0 || (req.AfterSeq > 0 && req.BeforeSeq > 0) {
		return nil, apiErrors.Invalid("want limit 1..%d and either after_seq or before_seq", maxHistory)
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = 50
	}
	if req.ThreadId != "" {
		return h.thread(ctx, req, limit)
	}
	var (
		msgs [][]byte
		err  error
	)
	if req.AfterSeq > 0 {
		msgs, err = h.after(ctx, req.RoomId, req.AfterSeq, limit+1)
	} else {
		msgs, err = h.before(ctx, req.RoomId, req.BeforeSeq, limit+1)
	}
	if err != nil {
		return nil, apiErrors.Unavailable("history is unavailable: retry")
	}
	resp := &persistv1.HistoryResponse{Messages: msgs}
	if len(msgs) > limit {
		resp.More = true
		if req.AfterSeq > 0 {
			resp.Messages = msgs[:limit]
		} else {
			resp.Messages = msgs[1:] // drop the oldest: the page ends at the newest
		}
	}
	resp.Messages, resp.More = fitPage(resp.Messages, req.AfterSeq > 0, resp.More)
	return resp, nil
}

// thread pages a thread's replies back from before_seq, from MongoDB: the
// window holds the room's latest messages, replies and others mixed. A
// reply just sent may not be stored yet; clients get it live.
func (h *historyServer) thread(ctx context.Context, req *persistv1.HistoryRequest, limit int) (*persistv1.HistoryResponse, error) {
	if _, err := uuid.Parse(req.ThreadId); err != nil {
		return nil, apiErrors.Invalid("thread_id must be a message id (a UUID)")
	}
	if req.AfterSeq > 0 {
		return nil, apiErrors.Invalid("a thread is paged back with before_seq, not after_seq")
	}
	docs, err := h.store.threadPage(ctx, req.RoomId, req.ThreadId, req.BeforeSeq, limit+1)
	if err != nil {
		return nil, apiErrors.Unavailable("history is unavailable: retry")
	}
	more := len(docs) > limit
	if more {
		docs = docs[:limit]
	}
	msgs := encodeDocs(docs)
	slices.Reverse(msgs)
	msgs, more = fitPage(msgs, false, more)
	return &persistv1.HistoryResponse{Messages: msgs, More: more}, nil
}

// fitPage trims an ascending page to maxPageBytes, keeping the messages
// nearest to where the reader stands: the oldest when reading forward
// (after a seq), the newest when scrolling back. A page always keeps one
// message, which the data limit keeps far below the transport's.
func fitPage(msgs [][]byte, forward, more bool) ([][]byte, bool) {
	size := 0
	for i := range msgs {
		j := i
		if !forward {
			j = len(msgs) - 1 - i
		}
		size += len(msgs[j])
		if size > maxPageBytes && i > 0 {
			if forward {
				return msgs[:j], true
			}
			return msgs[j+1:], true
		}
	}
	return msgs, more
}

// ReserveSeqs is the durable half of the connectors' seq authority (see
// the connector's seqs package).
func (h *historyServer) ReserveSeqs(ctx context.Context, req *persistv1.ReserveSeqsRequest) (*persistv1.ReserveSeqsResponse, error) {
	if _, err := uuid.Parse(req.RoomId); err != nil {
		return nil, apiErrors.Invalid("room_id must be a UUID")
	}
	if req.Floor < 0 || req.Floor > maxSeq-seqBlock {
		return nil, apiErrors.Invalid("floor must be 0..%d", maxSeq-seqBlock)
	}
	first, last, err := h.store.reserveSeqs(ctx, req.RoomId, req.Floor)
	if errors.Is(err, errBadFloor) {
		return nil, apiErrors.Invalid("%s", err)
	}
	if err != nil {
		return nil, apiErrors.Unavailable("storage unavailable: retry")
	}
	return &persistv1.ReserveSeqsResponse{First: first, Last: last}, nil
}

// after returns up to n messages with seq > after, ascending.
func (h *historyServer) after(ctx context.Context, room string, after int64, n int) ([][]byte, error) {
	cached, low, err := h.cache.window(ctx, room, after, 0, true, n)
	if err != nil {
		return nil, err
	}
	if low != 0 && low <= after+1 {
		return cached, nil // the window covers the whole range
	}
	docs, err := h.store.page(ctx, room, after, low, true, false, n)
	if err != nil {
		return nil, err
	}
	out := encodeDocs(docs)
	out = append(out, cached...)
	return out[:min(len(out), n)], nil
}

// before returns the newest n top-level messages with seq < before (0: the
// latest), ascending. Thread replies are left out: the client shows them
// in their thread, whose history pages them (thread), so a room's page
// holds n messages it shows however busy its threads. Catch-up (after)
// keeps them: they are the room's seqs a client missed.
func (h *historyServer) before(ctx context.Context, room string, before int64, n int) ([][]byte, error) {
	var out [][]byte // newest first
	cursor, low := before, int64(0)
	for len(out) < n {
		cached, l, err := h.cache.window(ctx, room, 0, cursor, false, n)
		if err != nil {
			return nil, err
		}
		low = l
		for _, m := range cached {
			if !isReply(m) && len(out) < n {
				out = append(out, m)
			}
		}
		if len(cached) > 0 {
			cursor = eventsv1.SeqOf(cached[len(cached)-1])
		}
		if len(cached) < n {
			break // the window holds nothing older below cursor
		}
	}
	if len(out) < n && low != 1 {
		older := cursor
		if cursor == before && low > 0 && (before == 0 || low < before) {
			older = low // nothing read: the window lies wholly at or above before
		}
		docs, err := h.store.page(ctx, room, 0, older, false, true, n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, encodeDocs(docs)...)
	}
	slices.Reverse(out)
	return out, nil
}

func (h *historyServer) GetMessage(ctx context.Context, req *persistv1.GetMessageRequest) (*persistv1.GetMessageResponse, error) {
	doc, err := h.store.get(ctx, req.RoomId, req.MessageId)
	if errors.Is(err, errNotStored) {
		return nil, apiErrors.NotFound("no such message in this room")
	}
	if err != nil {
		return nil, apiErrors.Unavailable("storage unavailable: retry")
	}
	b, _ := json.Marshal(doc.public())
	return &persistv1.GetMessageResponse{Message: b}, nil
}

func encodeDocs(docs []messageDoc) [][]byte {
	out := make([][]byte, 0, len(docs))
	for _, d := range docs {
		b, _ := json.Marshal(d.public())
		out = append(out, b)
	}
	return out
}

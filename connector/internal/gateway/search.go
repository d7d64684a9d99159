package gateway

import (
	"net/http"
	"slices"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

// SearchHit is one message a search found, as the REST API returns it.
type SearchHit struct {
	MessageID string     `json:"message_id"`
	RoomID    string     `json:"room_id"`
	Seq       int64      `json:"seq"`
	UserID    string     `json:"user_id"`
	Username  string     `json:"username"`
	CreatedAt time.Time  `json:"created_at"`
	EditedAt  *time.Time `json:"edited_at,omitempty"`
	// Excerpt is plain text in fragments; clients mark the matches
	// themselves and show every fragment as text.
	Excerpt []SearchFragment `json:"excerpt"`
}

// SearchFragment is a piece of an excerpt; Match marks what the query found.
type SearchFragment struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// GET /api/v1/search?q=…&room_id=…&cursor=…&limit=20: the caller's
// messages matching q, newest first. Membership is asked of auth for
// every search, not taken from a cache: a room left a moment ago is
// neither searched nor searchable by name (403 not_a_member).
func (g *Gateway) search(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	if !g.searchLimiter.Allow(c.UserId) {
		w.Header().Set("Retry-After", "1")
		return errRateLimited
	}
	limit, e := queryLimit(r)
	if e != nil {
		return e
	}
	query := r.URL.Query()
	ctx, cancel := g.callCtx(r)
	defer cancel()
	mine, err := g.auth.ListMyRooms(ctx, &authv1.ListMyRoomsRequest{Caller: c})
	if err != nil {
		return fromGRPC(err)
	}
	rooms := make([]string, 0, len(mine.Rooms))
	for _, room := range mine.Rooms {
		rooms = append(rooms, room.Id)
	}
	if only := query.Get("room_id"); only != "" {
		if !slices.Contains(rooms, only) {
			return &apiError{status: http.StatusForbidden, Code: "not_a_member", Field: "room_id",
				Message: "you are not a member of this room"}
		}
		rooms = []string{only}
	}
	resp, err := g.searcher.Search(ctx, &searchv1.SearchRequest{UserId: c.UserId, RoomIds: rooms, Query: query.Get("q"),
		Cursor: query.Get("cursor"), Limit: limit})
	if err != nil {
		return fromGRPC(err)
	}
	hits := make([]SearchHit, 0, len(resp.Hits))
	for _, h := range resp.Hits {
		out := SearchHit{MessageID: h.MessageId, RoomID: h.RoomId, Seq: h.Seq, UserID: h.UserId, Username: h.Username,
			CreatedAt: h.CreatedAt.AsTime(), Excerpt: make([]SearchFragment, 0, len(h.Excerpt))}
		if h.EditedAt != nil {
			t := h.EditedAt.AsTime()
			out.EditedAt = &t
		}
		for _, f := range h.Excerpt {
			out.Excerpt = append(out.Excerpt, SearchFragment{Text: f.Text, Match: f.Match})
		}
		hits = append(hits, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"hits": hits, "next_cursor": resp.NextCursor})
	return nil
}

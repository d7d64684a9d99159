package main

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

// Limits of one search.
const (
	maxQueryChars = 200
	defaultLimit  = 20
	maxLimit      = 50
	maxRooms      = 10_000
)

// searchServer answers searches. The connector vouches for the caller and
// for the rooms they are a member of (it asked auth just before); search
// is cluster-local.
type searchServer struct {
	searchv1.UnimplementedSearchServiceServer
	store *store
	log   *slog.Logger
}

// invalid is an INVALID_ARGUMENT with the ErrorInfo reason the connector
// turns into its REST error code, and the field at fault.
func invalid(reason, field, msg string) error {
	st := status.New(codes.InvalidArgument, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "search.parley",
		Metadata: map[string]string{"field": field}}); err == nil {
		st = d
	}
	return st.Err()
}

func (s *searchServer) Search(ctx context.Context, req *searchv1.SearchRequest) (*searchv1.SearchResponse, error) {
	q := strings.TrimSpace(req.Query)
	limit := int(req.Limit)
	switch {
	case req.UserId == "":
		return nil, invalid("INVALID_ARGUMENT", "user_id", "user_id is required")
	case q == "":
		return nil, invalid("QUERY_EMPTY", "q", "type something to search for")
	case utf8.RuneCountInString(q) > maxQueryChars:
		return nil, invalid("QUERY_TOO_LONG", "q", "the query is longer than "+strconv.Itoa(maxQueryChars)+" characters")
	case limit < 0 || limit > maxLimit:
		return nil, invalid("LIMIT_OUT_OF_RANGE", "limit", "limit must be 1 to "+strconv.Itoa(maxLimit))
	case len(req.RoomIds) > maxRooms:
		return nil, invalid("TOO_MANY_ROOMS", "room_ids", "at most "+strconv.Itoa(maxRooms)+" rooms per search")
	}
	if limit == 0 {
		limit = defaultLimit
	}
	after, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, invalid("BAD_CURSOR", "cursor", "the cursor is not one a search returned")
	}
	ok, err := s.store.queryHasWords(ctx, q)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	if !ok {
		return nil, invalid("QUERY_EMPTY", "q", "the query has no word to look for (punctuation and exclusions alone match nothing)")
	}
	out := &searchv1.SearchResponse{}
	if len(req.RoomIds) == 0 {
		return out, nil // a member of no room finds nothing
	}
	rows, err := s.store.search(ctx, q, req.RoomIds, after, limit+1)
	if err != nil {
		return nil, s.unavailable(ctx, err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		out.NextCursor = encodeCursor(page{createdAt: last.createdAt, id: last.id})
	}
	for _, r := range rows {
		h := &searchv1.Hit{MessageId: r.id, RoomId: r.roomID, Seq: r.seq, UserId: r.userID, Username: r.username,
			CreatedAt: timestamppb.New(r.createdAt), Excerpt: fragments(r.headline)}
		if r.editedAt != nil {
			h.EditedAt = timestamppb.New(*r.editedAt)
		}
		out.Hits = append(out.Hits, h)
	}
	return out, nil
}

func (s *searchServer) unavailable(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	s.log.ErrorContext(ctx, "search failed", "error", err)
	return status.Error(codes.Unavailable, "search is unavailable: retry shortly")
}

// fragments splits ts_headline's output at the match markers.
func fragments(headline string) []*searchv1.Fragment {
	headline = standIns.Replace(headline)
	var out []*searchv1.Fragment
	for headline != "" {
		before, rest, found := strings.Cut(headline, matchStart)
		if before != "" {
			out = append(out, &searchv1.Fragment{Text: before})
		}
		if !found {
			break
		}
		match, after, _ := strings.Cut(rest, matchStop)
		if match != "" {
			out = append(out, &searchv1.Fragment{Text: match, Match: true})
		}
		headline = after
	}
	return out
}

var standIns = strings.NewReplacer(ltStandIn, "<", gtStandIn, ">")

// A cursor is the position of a page's last hit: its time in Unix
// nanoseconds and its id, base64url. Opaque to clients.
func encodeCursor(p page) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.createdAt.UnixNano(), 10) + ":" + p.id))
}

func decodeCursor(c string) (*page, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, err
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" || len(id) > maxIDLen {
		return nil, errors.New("search: malformed cursor")
	}
	return &page{createdAt: time.Unix(0, n).UTC(), id: id}, nil
}

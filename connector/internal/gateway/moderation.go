package gateway

import (
	"net/http"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
)

type handler = func(http.ResponseWriter, *http.Request, *authv1.Caller) *apiError

// moderatorsOnly admits global moderators and admins (from the verified token).
func (g *Gateway) moderatorsOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
		if id, ok := IdentityFrom(r.Context()); !ok || !id.IsModerator() {
			return errorf(http.StatusForbidden, "forbidden", "only moderators and admins review flagged messages")
		}
		return h(w, r, c)
	}
}

type flagJSON struct {
	MessageID string             `json:"message_id"`
	RoomID    string             `json:"room_id"`
	Seq       int64              `json:"seq"`
	UserID    string             `json:"user_id"`
	Text      string             `json:"text"`
	Labels    []string           `json:"labels"`
	Scores    map[string]float32 `json:"scores"`
	Model     string             `json:"model"`
	Status    string             `json:"status"`
	FlaggedAt time.Time          `json:"flagged_at"`
	DecidedBy string             `json:"decided_by,omitempty"`
	DecidedAt time.Time          `json:"decided_at,omitzero"`
}

func flagOut(f *moderationv1.Flag) flagJSON {
	j := flagJSON{MessageID: f.MessageId, RoomID: f.RoomId, Seq: f.Seq, UserID: f.UserId, Text: f.Text, Labels: f.Labels,
		Scores: f.Scores, Model: f.Model, Status: f.Status, FlaggedAt: f.FlaggedAt.AsTime(), DecidedBy: f.DecidedBy}
	if f.DecidedAt != nil {
		j.DecidedAt = f.DecidedAt.AsTime()
	}
	return j
}

// GET /api/v1/moderation/flags?status=pending|confirmed|restored&limit=50
func (g *Gateway) listFlags(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	limit, e := queryLimit(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.moderation.ListFlagged(ctx, &moderationv1.ListFlaggedRequest{Status: r.URL.Query().Get("status"), Limit: limit})
	if err != nil {
		return fromGRPC(err)
	}
	out := make([]flagJSON, 0, len(resp.Flags))
	for _, f := range resp.Flags {
		out = append(out, flagOut(f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"flags": out})
	return nil
}

// POST /api/v1/moderation/flags/{id}/decision {"decision": "restore"|"confirm", "reason": "…"}
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	f, err := g.moderation.Decide(ctx, &moderationv1.DecideRequest{ModeratorId: c.UserId, MessageId: r.PathValue("id"),
		Decision: in.Decision, Reason: in.Reason})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, flagOut(f))
	return nil
}

package gateway

import (
	"net/http"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// GET /api/v1/notifications?unread=true&limit=50, newest first.
func (g *Gateway) listNotifications(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	limit, e := queryLimit(r)
	if e != nil {
		return e
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.notifications.List(ctx, &notificationv1.ListRequest{UserId: c.UserId,
		UnreadOnly: r.URL.Query().Get("unread") == "true", Limit: limit})
	if err != nil {
		return fromGRPC(err)
	}
	out := make([]livev1.Notification, 0, len(resp.Notifications))
	for _, n := range resp.Notifications {
		out = append(out, livev1.Notification{ID: n.Id, Kind: n.Kind, RoomID: n.RoomId, MessageID: n.MessageId,
			FromUserID: n.FromUserId, FromUsername: n.FromUsername, Text: n.Text, CreatedAt: n.CreatedAt.AsTime(), Read: n.Read,
			ThreadID: n.ThreadId})
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": out})
	return nil
}

// GET /api/v1/notifications/unread: unread notifications per room.
func (g *Gateway) unreadCounts(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.notifications.UnreadCounts(ctx, &notificationv1.UnreadCountsRequest{UserId: c.UserId})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"by_room": resp.ByRoom, "total": resp.Total})
	return nil
}

// POST /api/v1/notifications/read {"ids": [...]} or {"all": true}.
func (g *Gateway) markRead(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		IDs []string `json:"ids"`
		All bool     `json:"all"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	if !in.All && (len(in.IDs) == 0 || len(in.IDs) > 500) {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "ids", Message: "give 1 to 500 ids, or all: true"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.notifications.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: c.UserId, Ids: in.IDs, All: in.All})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"marked": resp.Marked})
	return nil
}

// GET /api/v1/push/key: the VAPID key browsers subscribe with.
func (g *Gateway) pushKey(w http.ResponseWriter, r *http.Request, _ *authv1.Caller) *apiError {
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.notifications.PushKey(ctx, &notificationv1.PushKeyRequest{})
	if err != nil {
		return fromGRPC(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"vapid_public_key": resp.VapidPublicKey})
	return nil
}

// pushSubscriptionJSON is what PushSubscription.toJSON() gives.
type pushSubscriptionJSON struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// POST /api/v1/push/subscriptions {endpoint, keys: {p256dh, auth}}: this
// browser gets the caller's notifications while they are offline.
func (g *Gateway) subscribePush(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in pushSubscriptionJSON
	if e := decode(r, &in); e != nil {
		return e
	}
	if in.Endpoint == "" || in.Keys.P256dh == "" || in.Keys.Auth == "" {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Message: "want endpoint, keys.p256dh and keys.auth"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	_, err := g.notifications.AddPushSubscription(ctx, &notificationv1.AddPushSubscriptionRequest{UserId: c.UserId,
		Endpoint: in.Endpoint, P256Dh: in.Keys.P256dh, Auth: in.Keys.Auth})
	if err != nil {
		return fromGRPC(err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// DELETE /api/v1/push/subscriptions {endpoint}.
func (g *Gateway) unsubscribePush(w http.ResponseWriter, r *http.Request, c *authv1.Caller) *apiError {
	var in struct {
		Endpoint string `json:"endpoint"`
	}
	if e := decode(r, &in); e != nil {
		return e
	}
	if in.Endpoint == "" {
		return &apiError{status: http.StatusBadRequest, Code: "invalid_argument", Field: "endpoint", Message: "want endpoint"}
	}
	ctx, cancel := g.callCtx(r)
	defer cancel()
	resp, err := g.notifications.RemovePushSubscription(ctx, &notificationv1.RemovePushSubscriptionRequest{UserId: c.UserId, Endpoint: in.Endpoint})
	if err != nil {
		return fromGRPC(err)
	}
	if !resp.Removed {
		return &apiError{status: http.StatusNotFound, Code: "not_found", Message: "no such subscription"}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parley-chat/parley/functions/notification/webpush"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// maxSubscriptions bounds the browsers one user can have subscribed.
const maxSubscriptions = 10

// pushTimeout bounds one request to a push service.
const pushTimeout = 10 * time.Second

// subscriptionDoc is a browser's push subscription. The id is a hash of the
// endpoint, so subscribing the same browser again replaces its keys.
type subscriptionDoc struct {
	ID        string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	Endpoint  string    `bson:"endpoint"`
	P256dh    []byte    `bson:"p256dh"`
	Auth      []byte    `bson:"auth"`
	CreatedAt time.Time `bson:"created_at"`
}

func subscriptionID(endpoint string) string {
	sum := sha256.Sum256([]byte(endpoint))
	return hex.EncodeToString(sum[:])
}

var errTooManySubscriptions = errors.New("too many push subscriptions")

func (s *store) addSubscription(ctx context.Context, d subscriptionDoc) error {
	n, err := s.subscriptions.CountDocuments(ctx, bson.M{"user_id": d.UserID, "_id": bson.M{"$ne": d.ID}})
	if err != nil {
		return err
	}
	if n >= maxSubscriptions {
		return errTooManySubscriptions
	}
	_, err = s.subscriptions.ReplaceOne(ctx, bson.M{"_id": d.ID}, d, options.Replace().SetUpsert(true))
	return err
}

// removeSubscription deletes an endpoint; with userID set only if it is that user's.
func (s *store) removeSubscription(ctx context.Context, userID, endpoint string) (bool, error) {
	filter := bson.M{"_id": subscriptionID(endpoint)}
	if userID != "" {
		filter["user_id"] = userID
	}
	res, err := s.subscriptions.DeleteOne(ctx, filter)
	if err != nil {
		return false, err
	}
	return res.DeletedCount > 0, nil
}

func (s *store) subscriptionsOf(ctx context.Context, userID string) ([]subscriptionDoc, error) {
	cur, err := s.subscriptions.Find(ctx, bson.M{"user_id": userID}, options.Find().SetLimit(maxSubscriptions))
	if err != nil {
		return nil, err
	}
	var docs []subscriptionDoc
	return docs, cur.All(ctx, &docs)
}

// pusher sends notifications to the browsers of users who are offline.
type pusher struct {
	sender *webpush.Sender // nil: Web Push is not configured
	store  *store
	log    *slog.Logger
}

// payload is what the service worker shows (web/public/sw.js).
func pushPayload(d notificationDoc) []byte {
	title := "Parley"
	switch d.Kind {
	case "mention":
		title = "@" + d.FromUsername + " mentioned you"
	case "direct":
		title = "Message from @" + d.FromUsername
	case "thread":
		title = "@" + d.FromUsername + " replied in a thread"
	}
	url := "/"
	if d.RoomID != "" {
		url = "/#room=" + d.RoomID
	}
	b, _ := json.Marshal(map[string]string{"title": title, "body": d.Text, "url": url, "tag": d.ID})
	return b
}

// push sends d to every browser its user subscribed, concurrently; a
// subscription the push service says is gone is forgotten. Failures are
// logged: the notification is stored either way.
func (p *pusher) push(ctx context.Context, d notificationDoc) {
	if p == nil || p.sender == nil {
		return
	}
	subs, err := p.store.subscriptionsOf(ctx, d.UserID)
	if err != nil {
		p.log.WarnContext(ctx, "web push: reading subscriptions", "error", err)
		return
	}
	payload := pushPayload(d)
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, pushTimeout)
			defer cancel()
			err := p.sender.Send(ctx, webpush.Subscription{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}, payload)
			switch {
			case errors.Is(err, webpush.ErrGone):
				if _, err := p.store.removeSubscription(ctx, "", sub.Endpoint); err != nil {
					p.log.WarnContext(ctx, "web push: forgetting a gone subscription", "error", err)
				}
			case err != nil:
				p.log.WarnContext(ctx, "web push failed", "error", err)
			}
		})
	}
	wg.Wait()
}

func (l *listServer) PushKey(ctx context.Context, _ *notificationv1.PushKeyRequest) (*notificationv1.PushKeyResponse, error) {
	if l.push.sender == nil {
		return nil, status.Error(codes.FailedPrecondition, "web push is not configured (VAPID_PRIVATE_KEY)")
	}
	return &notificationv1.PushKeyResponse{VapidPublicKey: l.push.sender.VAPID.PublicKey()}, nil
}

func (l *listServer) AddPushSubscription(ctx context.Context, req *notificationv1.AddPushSubscriptionRequest) (*notificationv1.AddPushSubscriptionResponse, error) {
	if l.push.sender == nil {
		return nil, status.Error(codes.FailedPrecondition, "web push is not configured (VAPID_PRIVATE_KEY)")
	}
	if req.UserId == "" {
		return nil, status.Error(codes.InvalidArgument, "want user_id")
	}
	if err := l.push.sender.CheckEndpoint(req.Endpoint); err != nil {
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), "webpush: "))
	}
	p256dh, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.P256Dh, "="))
	auth, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Auth, "="))
	sub := webpush.Subscription{Endpoint: req.Endpoint, P256dh: p256dh, Auth: auth}
	if err := errors.Join(err1, err2); err != nil {
		return nil, status.Error(codes.InvalidArgument, "p256dh and auth must be base64url")
	}
	if err := sub.CheckKeys(); err != nil {
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), "webpush: "))
	}
	err := l.store.addSubscription(ctx, subscriptionDoc{ID: subscriptionID(req.Endpoint), UserID: req.UserId,
		Endpoint: req.Endpoint, P256dh: p256dh, Auth: auth, CreatedAt: time.Now().UTC()})
	switch {
	case errors.Is(err, errTooManySubscriptions):
		return nil, status.Errorf(codes.ResourceExhausted, "at most %d browsers per user: unsubscribe one first", maxSubscriptions)
	case err != nil:
		return nil, status.Error(codes.Unavailable, "notifications unavailable: retry")
	}
	return &notificationv1.AddPushSubscriptionResponse{}, nil
}

func (l *listServer) RemovePushSubscription(ctx context.Context, req *notificationv1.RemovePushSubscriptionRequest) (*notificationv1.RemovePushSubscriptionResponse, error) {
	if req.UserId == "" || req.Endpoint == "" {
		return nil, status.Error(codes.InvalidArgument, "want user_id and endpoint")
	}
	removed, err := l.store.removeSubscription(ctx, req.UserId, req.Endpoint)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "notifications unavailable: retry")
	}
	return &notificationv1.RemovePushSubscriptionResponse{Removed: removed}, nil
}

// ensurePushIndexes indexes subscriptions by user.
func (s *store) ensurePushIndexes(ctx context.Context) error {
	_, err := s.subscriptions.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}}})
	return err
}

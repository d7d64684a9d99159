package main

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parley-chat/parley/knative/ksvc"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// apiErrors are the errors its gRPC clients see, with their ErrorInfo.
const apiErrors = ksvc.APIErrors("notification.parley")

// listServer serves a user's notifications. The connector vouches for the
// user id (it verified the caller's token); notification is cluster-local.
type listServer struct {
	notificationv1.UnimplementedNotificationServiceServer
	store *store
	push  *pusher
}

func (l *listServer) List(ctx context.Context, req *notificationv1.ListRequest) (*notificationv1.ListResponse, error) {
	if req.UserId == "" || req.Limit < 0 || req.Limit > 100 {
		return nil, apiErrors.Invalid("want user_id and limit 0..100")
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = 50
	}
	docs, err := l.store.list(ctx, req.UserId, req.UnreadOnly, limit)
	if err != nil {
		return nil, apiErrors.Unavailable("notifications unavailable: retry")
	}
	out := &notificationv1.ListResponse{}
	for _, d := range docs {
		out.Notifications = append(out.Notifications, &notificationv1.Notification{Id: d.ID, Kind: d.Kind, RoomId: d.RoomID,
			MessageId: d.MessageID, FromUserId: d.FromUserID, FromUsername: d.FromUsername, Text: d.Text,
			CreatedAt: timestamppb.New(d.CreatedAt), Read: d.Read, ThreadId: d.ThreadID})
	}
	return out, nil
}

func (l *listServer) MarkRead(ctx context.Context, req *notificationv1.MarkReadRequest) (*notificationv1.MarkReadResponse, error) {
	if req.UserId != "" && req.RoomId != "" {
		if req.UpToSeq <= 0 || req.All || len(req.Ids) > 0 {
			return nil, apiErrors.Invalid("with room_id, want up_to_seq above 0 and neither ids nor all")
		}
		n, err := l.store.markReadInRoom(ctx, req.UserId, req.RoomId, req.UpToSeq)
		if err != nil {
			return nil, apiErrors.Unavailable("notifications unavailable: retry")
		}
		return &notificationv1.MarkReadResponse{Marked: int32(n)}, nil
	}
	if req.UserId == "" || (!req.All && (len(req.Ids) == 0 || len(req.Ids) > 500)) {
		return nil, apiErrors.Invalid("want user_id and 1..500 ids, all, or room_id and up_to_seq")
	}
	n, err := l.store.markRead(ctx, req.UserId, req.Ids, req.All)
	if err != nil {
		return nil, apiErrors.Unavailable("notifications unavailable: retry")
	}
	return &notificationv1.MarkReadResponse{Marked: int32(n)}, nil
}

func (l *listServer) UnreadCounts(ctx context.Context, req *notificationv1.UnreadCountsRequest) (*notificationv1.UnreadCountsResponse, error) {
	if req.UserId == "" {
		return nil, apiErrors.Invalid("want user_id")
	}
	counts, err := l.store.unread(ctx, req.UserId)
	if err != nil {
		return nil, apiErrors.Unavailable("notifications unavailable: retry")
	}
	out := &notificationv1.UnreadCountsResponse{ByRoom: counts}
	for _, n := range counts {
		out.Total += n
	}
	return out, nil
}

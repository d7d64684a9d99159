package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
)

// apiErrors are the errors its gRPC clients see, with their ErrorInfo.
const apiErrors = ksvc.APIErrors("moderation.parley")

// reviewer serves the review queue. Restoring sends
// parley.message.restored to the Broker (persist unhides the message and
// tells the room); the connector has checked the caller moderates.
type reviewer struct {
	moderationv1.UnimplementedModerationServiceServer
	store  *store
	client cloudevents.Client
	broker string
	log    *slog.Logger
}

func newReviewer(st *store, broker, tokenFile string, log *slog.Logger) (*reviewer, error) {
	r := &reviewer{store: st, broker: broker, log: log}
	if broker != "" {
		c, err := ksvc.NewBrokerClient(broker, tokenFile)
		if err != nil {
			return nil, err
		}
		r.client = c
	}
	return r, nil
}

func (r *reviewer) ListFlagged(ctx context.Context, req *moderationv1.ListFlaggedRequest) (*moderationv1.ListFlaggedResponse, error) {
	st := req.Status
	if st == "" {
		st = "pending"
	}
	if st != "pending" && st != "confirmed" && st != "restored" {
		return nil, apiErrors.Invalid("status is pending, confirmed or restored")
	}
	if req.Limit < 0 || req.Limit > 100 {
		return nil, apiErrors.Invalid("limit is 1..100")
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = 50
	}
	docs, err := r.store.list(ctx, st, limit)
	if err != nil {
		return nil, apiErrors.Unavailable("review queue unavailable: retry")
	}
	out := &moderationv1.ListFlaggedResponse{}
	for _, d := range docs {
		out.Flags = append(out.Flags, flagProto(d))
	}
	return out, nil
}

func (r *reviewer) Decide(ctx context.Context, req *moderationv1.DecideRequest) (*moderationv1.Flag, error) {
	if req.ModeratorId == "" || req.MessageId == "" || (req.Decision != "restore" && req.Decision != "confirm") || len(req.Reason) > 500 {
		return nil, apiErrors.Invalid("want moderator_id, message_id, decision restore or confirm, reason up to 500 bytes")
	}
	d, err := r.store.get(ctx, req.MessageId)
	if errors.Is(err, errNoFlag) {
		return nil, apiErrors.NotFound("no such flagged message")
	}
	if err != nil {
		return nil, apiErrors.Unavailable("review queue unavailable: retry")
	}
	now := time.Now().UTC()
	next := "confirmed"
	if req.Decision == "restore" {
		next = "restored"
		if err := r.restore(ctx, d, req.ModeratorId, now); err != nil {
			r.log.WarnContext(ctx, "restore not sent", "message_id", d.MessageID, "error", err)
			return nil, apiErrors.Unavailable("could not restore now: retry")
		}
	}
	d, err = r.store.decide(ctx, d, next, req.ModeratorId, req.Reason, now)
	if err != nil {
		return nil, apiErrors.Unavailable("review queue unavailable: retry")
	}
	r.log.InfoContext(ctx, "moderation decision", "message_id", d.MessageID, "decision", next, "moderator", req.ModeratorId)
	return flagProto(d), nil
}

func (r *reviewer) restore(ctx context.Context, d flagDoc, moderator string, at time.Time) error {
	if r.client == nil {
		return errors.New("BROKER_URL is not set")
	}
	e, err := eventsv1.New(fmt.Sprintf("restored-%s-%d", d.MessageID, at.UnixNano()), eventsv1.TypeMessageRestored,
		eventsv1.SourceModeration, d.RoomID, at, eventsv1.MessageRestored{MessageID: d.MessageID, RoomID: d.RoomID, By: moderator, At: at})
	if err != nil {
		return err
	}
	if res := r.client.Send(cloudevents.ContextWithTarget(ctx, r.broker), e); !cloudevents.IsACK(res) {
		return res
	}
	return nil
}

func flagProto(d flagDoc) *moderationv1.Flag {
	f := &moderationv1.Flag{MessageId: d.MessageID, RoomId: d.RoomID, UserId: d.UserID, Text: d.Text, Labels: d.Labels,
		Scores: map[string]float32{}, Model: d.Model, Status: d.Status, FlaggedAt: timestamppb.New(d.FlaggedAt),
		DecidedBy: d.DecidedBy, Seq: d.Seq}
	for k, v := range d.Scores {
		f.Scores[k] = float32(v)
	}
	if !d.DecidedAt.IsZero() {
		f.DecidedAt = timestamppb.New(d.DecidedAt)
	}
	return f
}

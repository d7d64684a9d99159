package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// function classifies sent messages and flags those over a threshold.
type function struct {
	batcher    *classifyBatcher
	flags      *flagBatcher
	store      *store
	labels     []string
	thresholds map[string]float32
	model      string
	log        *slog.Logger
	metrics    *metrics
}

func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	// Limits are enforced here too, whoever sent the event: an oversized
	// one is refused for good (dead-lettered), never retried.
	if err := ksvc.CheckEvent("moderation", e); err != nil {
		return nil, err
	}
	if e.Type() != eventsv1.TypeMessageSent {
		return nil, ksvc.Permanent(fmt.Errorf("moderation: unexpected event type %q", e.Type()))
	}
	m, err := ksvc.DecodeEvent("moderation", e, func(m *eventsv1.Message) bool { return m.ID != "" && m.RoomID != "" })
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(m.Text); n > eventsv1.MaxTextChars {
		return nil, ksvc.Permanent(fmt.Errorf("moderation: message %s in room %s: text of %d characters is over the limit of %d",
			m.ID, m.RoomID, n, eventsv1.MaxTextChars))
	}
	if err := eventsv1.CheckAttachments(m.Attachments); err != nil {
		return nil, ksvc.Permanent(fmt.Errorf("moderation: message %s in room %s: %w", m.ID, m.RoomID, err))
	}
	scores, err := f.score(ctx, m)
	if err != nil {
		return nil, err
	}
	flag := eventsv1.MessageFlagged{MessageID: m.ID, RoomID: m.RoomID, Seq: m.Seq, UserID: m.UserID,
		Scores: map[string]float64{}, Model: f.model}
	for i, label := range f.labels {
		flag.Scores[label] = float64(scores[i])
		f.metrics.scores.WithLabelValues(label).Observe(float64(scores[i]))
		if scores[i] >= f.thresholds[label] {
			flag.Labels = append(flag.Labels, label)
		}
	}
	if len(flag.Labels) == 0 {
		return nil, nil
	}
	if _, err := f.flags.Do(ctx, newFlag(flag, reviewText(m))); err != nil {
		return nil, err
	}
	for _, label := range flag.Labels {
		f.metrics.flags.WithLabelValues(label).Inc()
	}
	f.log.InfoContext(ctx, "message flagged", "message_id", m.ID, "room_id", m.RoomID, "labels", flag.Labels)
	// The same message always yields the same id: consumers de-duplicate.
	r, err := eventsv1.New("flagged-"+m.ID, eventsv1.TypeMessageFlagged, eventsv1.SourceModeration, m.RoomID, time.Now().UTC(), flag)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// score classifies the caption and each file name of a message apart (the
// model reads a bounded number of tokens: a long caption must not push the
// names out), all in one batch, and keeps each label's highest score: a
// toxic file name hides its message as toxic text does.
func (f *function) score(ctx context.Context, m eventsv1.Message) ([]float32, error) {
	texts := make([]string, 0, 1+len(m.Attachments))
	if m.Text != "" || len(m.Attachments) == 0 {
		texts = append(texts, m.Text)
	}
	for _, a := range m.Attachments {
		texts = append(texts, a.Name)
	}
	if len(texts) == 1 {
		return f.batcher.Do(ctx, texts[0])
	}
	results := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	var wg sync.WaitGroup
	for i, t := range texts {
		wg.Go(func() { results[i], errs[i] = f.batcher.Do(ctx, t) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	top := slices.Clone(results[0])
	for _, r := range results[1:] {
		for i := range top {
			top[i] = max(top[i], r[i])
		}
	}
	return top, nil
}

// reviewText is what moderators review of a message: its caption and the
// names of its files.
func reviewText(m eventsv1.Message) string {
	if len(m.Attachments) == 0 {
		return m.Text
	}
	var b strings.Builder
	b.WriteString(m.Text)
	for _, a := range m.Attachments {
		b.WriteString("\n[file] ")
		b.WriteString(a.Name)
	}
	return b.String()
}
